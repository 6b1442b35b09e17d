#!/usr/bin/python3
"""The database secrets engine (Vault API: database engine, §3.10) against a real,
private PostgreSQL 15 and a real `keyholdd -dev`.

Covers: the operator runbook of issue 9 (config, role, creds) with the
fields typed as the CLI sends them; login as the generated user and its
grants; the runbook's bare DROP ROLE failing on a schema with grants (the
lease shows the error and is retried) and the documented statements
working; revoke terminating open sessions; the default revocation; a role
dropped by hand counting as revoked; expiry of a 3 s lease; renew moving
VALID UNTIL; revoke-prefix; PostgreSQL stopped while leases expire (the
lease shows attempts and the error, and everything is dropped once it is
back); rotate-root (the old admin password stops working); static roles and
their rotation; hvac secrets.database.*; error answers; no password in the
server log.

PostgreSQL and keyholdd are stopped by PID at the end and the temporary
directories removed. Run: KH_BIN=/path/to/build/bin /usr/bin/python3 \
test_database_pg.py
"""
import os
import re
import subprocess
import sys
import time

import hvac

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests  # noqa: E402
from pgtest import Postgres  # noqa: E402

ROOT = "db-root-token"
ADMIN_PW = "initial-password"
SRV = None
PG = None
ISSUED_PASSWORDS = []

RUNBOOK_CREATE = ('CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\' '
                  'VALID UNTIL \'{{expiration}}\'; '
                  'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";')
RUNBOOK_REVOKE = 'DROP ROLE IF EXISTS "{{name}}";'
DOC_REVOKE = ('REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}"; '
              'DROP OWNED BY "{{name}}"; DROP ROLE IF EXISTS "{{name}}";')


def api(method, path, body=None):
    return SRV.request(method, path, body=body, token=ROOT)


def ok(method, path, body=None, want=(200, 204)):
    status, data, _ = api(method, path, body)
    check(status in want, "%s %s -> %s %r" % (method, path, status, data))
    return data


def url(db="orders"):
    return ("postgresql://{{username}}:{{password}}@127.0.0.1:%d/%s?sslmode=disable"
            % (PG.port, db))


def creds(role):
    data = ok("GET", "database/creds/" + role)
    ISSUED_PASSWORDS.append(data["data"]["password"])
    return data


def lookup(lease_id):
    return api("PUT", "sys/leases/lookup", {"lease_id": lease_id})


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def make_role(name, revoke=None, ttl="1h", max_ttl="24h", create=RUNBOOK_CREATE, **kw):
    body = {"db_name": "orders-db", "creation_statements": create,
            "default_ttl": ttl, "max_ttl": max_ttl}
    if revoke is not None:
        body["revocation_statements"] = revoke
    body.update(kw)
    ok("POST", "database/roles/" + name, body)


# ---- tests ----

def test_runbook():
    """The runbook of issue 9, as `keyhold write` sends it (all strings)."""
    ok("POST", "sys/mounts/database", {"type": "database"})
    ok("POST", "database/config/orders-db", {
        "plugin_name": "postgresql-database-plugin", "connection_url": url(),
        "allowed_roles": "order-service-readonly,order-service-readwrite,short,renew,"
                         "prefix,outage,handdrop,sessions,hv-*",
        "username": "vault_admin", "password": ADMIN_PW})
    make_role("order-service-readonly", revoke=RUNBOOK_REVOKE)
    got = creds("order-service-readonly")
    user, pw = got["data"]["username"], got["data"]["password"]
    check(got["lease_id"].startswith("database/creds/order-service-readonly/"), got)
    check(got["lease_duration"] == 3600 and got["renewable"] is True, got)
    check(re.match(r"^v-root-order-se-[A-Za-z0-9]{20}-\d{10}$", user), user)
    check(len(user) <= 63, user)
    check(len(pw) >= 20 and re.match(r"^[A-Za-z0-9-]+$", pw), "password shape")
    rc, out, err = PG.psql("SELECT count(*) FROM items", user=user, password=pw, db="orders")
    check(rc == 0 and out == "3", "login/select as %s: %s %s" % (user, out, err))
    rc, _, err = PG.psql("INSERT INTO items VALUES (9)", user=user, password=pw, db="orders")
    check(rc != 0 and "permission denied" in err, "insert must be refused: %s" % err)
    until = PG.sql("SELECT rolvaliduntil IS NOT NULL FROM pg_roles WHERE rolname='%s'" % user)
    check(until == "t", "VALID UNTIL set")
    conf = ok("GET", "database/config/orders-db")["data"]
    check("password" not in conf["connection_details"], conf)
    check(ADMIN_PW not in str(conf), "config read leaks the password")
    check(conf["allowed_roles"][0] == "order-service-readonly", conf)
    role = ok("GET", "database/roles/order-service-readonly")["data"]
    check(role["default_ttl"] == 3600 and role["max_ttl"] == 86400, role)
    check(ok("LIST", "database/roles")["data"]["keys"] == ["order-service-readonly"], "list")
    test_runbook.lease = got["lease_id"]
    test_runbook.user = user
    test_runbook.pw = pw


def test_runbook_revoke_fails_on_grants_then_fixed():
    """A bare DROP ROLE fails while the user holds grants: the lease keeps
    the error and is retried; the documented statements then work."""
    lease, user, pw = test_runbook.lease, test_runbook.user, test_runbook.pw
    status, body, _ = api("PUT", "sys/leases/revoke", {"lease_id": lease})
    check(status >= 400, "revoke must fail: %s %r" % (status, body))
    status, info, _ = lookup(lease)
    check(status == 200, info)
    check(info["data"]["revoke_attempts"] >= 1, info)
    check("depend" in info["data"]["last_revoke_error"], info)
    check(pw not in str(info), "lease lookup leaks the password")
    # locked out already, although not yet dropped
    rc, _, _ = PG.psql("SELECT 1", user=user, password=pw, db="orders")
    check(rc != 0, "a half-revoked user must not log in")
    check(PG.role_exists(user), "role still there until the fix")
    make_role("order-service-readonly", revoke=DOC_REVOKE)
    ok("PUT", "sys/leases/revoke", {"lease_id": lease})
    check(not PG.role_exists(user), "dropped with the documented statements")
    check(lookup(lease)[0] == 400, "lease gone")


def test_revoke_terminates_sessions():
    """Revocation (default statements) ends open sessions; login then fails."""
    make_role("sessions", create=RUNBOOK_CREATE + ' GRANT INSERT ON items TO "{{name}}";')
    got = creds("sessions")
    user, pw = got["data"]["username"], got["data"]["password"]
    rc, _, err = PG.psql("INSERT INTO items VALUES (4)", user=user, password=pw, db="orders")
    check(rc == 0, "granted INSERT works: %s" % err)
    session = PG.session(user, pw, "orders")
    wait_for(lambda: PG.sql("SELECT count(*) FROM pg_stat_activity WHERE usename='%s'"
                            % user) == "1", 10, "the session to start")
    t0 = time.time()
    ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
    session.wait(10)
    check(session.returncode != 0, "session must be terminated")
    check(time.time() - t0 < 5, "terminated promptly")
    rc, _, _ = PG.psql("SELECT 1", user=user, password=pw, db="orders")
    check(rc != 0, "login after revoke must fail")
    check(not PG.role_exists(user), "role dropped")


def test_dropped_by_hand_counts_as_revoked():
    make_role("handdrop")
    got = creds("handdrop")
    user = got["data"]["username"]
    PG.sql('DROP OWNED BY "%s"; DROP ROLE "%s"' % (user, user), db="orders")
    ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
    check(lookup(got["lease_id"])[0] == 400, "lease gone")


def test_expiry():
    """A 3 s lease is revoked by the lease manager within a few seconds."""
    make_role("short", ttl="3s", max_ttl="10s")
    got = creds("short")
    check(got["lease_duration"] == 3, got)
    user = got["data"]["username"]
    check(PG.role_exists(user), "created")
    wait_for(lambda: not PG.role_exists(user), 10, "expiry to drop %s" % user)
    wait_for(lambda: lookup(got["lease_id"])[0] == 400, 5, "the lease to go")


def valid_until(user):
    return int(float(PG.sql("SELECT extract(epoch from rolvaliduntil) FROM pg_roles "
                            "WHERE rolname='%s'" % user)))


def test_renew():
    """Renew extends VALID UNTIL, capped by max_ttl."""
    make_role("renew", ttl="60s", max_ttl="300s")
    got = creds("renew")
    user = got["data"]["username"]
    before = valid_until(user)
    check(abs(before - (time.time() + 60)) < 5, "VALID UNTIL = expiry")
    data = ok("PUT", "sys/leases/renew", {"lease_id": got["lease_id"], "increment": 200})
    check(data["lease_duration"] > 190, data)
    after = valid_until(user)
    check(after - before > 130, "VALID UNTIL moved: %d -> %d" % (before, after))
    data = ok("PUT", "sys/leases/renew", {"lease_id": got["lease_id"], "increment": 9999})
    check(data["lease_duration"] <= 300, "capped by max_ttl: %r" % data)
    ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
    check(not PG.role_exists(user), "dropped")


def test_revoke_prefix():
    make_role("prefix")
    users = [creds("prefix")["data"]["username"] for _ in range(3)]
    check(all(PG.role_exists(u) for u in users), "created")
    ok("PUT", "sys/leases/revoke-prefix/database/creds/prefix", {"prefix": "x"})
    check(not any(PG.role_exists(u) for u in users), "all dropped")


def test_outage():
    """PostgreSQL down while leases expire: retries are visible, and every
    user is dropped once it is back."""
    make_role("outage", ttl="2s", max_ttl="10s")
    got = [creds("outage") for _ in range(2)]
    users = [g["data"]["username"] for g in got]
    PG.stop()
    try:
        def failing():
            status, info, _ = lookup(got[0]["lease_id"])
            return (status == 200 and info["data"]["revoke_attempts"] >= 1
                    and info["data"]["last_revoke_error"] != "")
        wait_for(failing, 15, "a failed revocation to be recorded")
        status, info, _ = lookup(got[0]["lease_id"])
        check("connect" in info["data"]["last_revoke_error"], info)
        # other requests still answer while the database is down
        status, _, _ = api("GET", "database/roles/outage")
        check(status == 200, "engine answers during the outage")
        time.sleep(2)
    finally:
        PG.start()
    wait_for(lambda: all(lookup(g["lease_id"])[0] == 400 for g in got), 60,
             "leases to be revoked after the outage")
    check(not any(PG.role_exists(u) for u in users), "users dropped after the outage")


def test_rotate_root():
    """rotate-root: the old admin password stops working, Keyhold keeps going."""
    PG.sql("CREATE ROLE rot_admin WITH LOGIN CREATEROLE PASSWORD 'rot-initial'")
    PG.sql("GRANT CONNECT ON DATABASE orders TO rot_admin")
    PG.sql("GRANT SELECT ON items TO rot_admin WITH GRANT OPTION", db="orders")
    ok("POST", "database/config/rotdb", {
        "plugin_name": "postgresql-database-plugin", "connection_url": url(),
        "allowed_roles": "rot", "username": "rot_admin", "password": "rot-initial"})
    ok("POST", "database/roles/rot", {"db_name": "rotdb",
                                      "creation_statements": RUNBOOK_CREATE})
    rc, _, _ = PG.psql("SELECT 1", user="rot_admin", password="rot-initial", db="orders")
    check(rc == 0, "initial admin password works")
    ok("POST", "database/rotate-root/rotdb")
    rc, _, err = PG.psql("SELECT 1", user="rot_admin", password="rot-initial", db="orders")
    check(rc != 0 and "password authentication failed" in err, err)
    got = creds("rot")
    rc, _, _ = PG.psql("SELECT 1", user=got["data"]["username"],
                       password=got["data"]["password"], db="orders")
    check(rc == 0, "creds still work after rotate-root")
    ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
    ok("POST", "database/reset/rotdb")
    ok("POST", "database/rotate-root/rotdb")  # twice: uses the rotated one
    check(not PG.role_exists(got["data"]["username"]), "revoked")


def test_static_role():
    """Static roles: rotated at creation, on the period, and on demand."""
    PG.sql("CREATE ROLE static_app WITH LOGIN PASSWORD 'static-initial'")
    PG.sql("GRANT CONNECT ON DATABASE orders TO static_app")
    ok("POST", "database/config/orders-db", {"allowed_roles":
       "order-service-readonly,order-service-readwrite,short,renew,prefix,outage,"
       "handdrop,sessions,hv-*,app", "verify_connection": False})
    ok("POST", "database/static-roles/app", {"db_name": "orders-db", "username": "static_app",
                                             "rotation_period": "5s"})
    rc, _, _ = PG.psql("SELECT 1", user="static_app", password="static-initial", db="orders")
    check(rc != 0, "initial password rotated away at creation")
    first = ok("GET", "database/static-creds/app")["data"]
    ISSUED_PASSWORDS.append(first["password"])
    check(first["username"] == "static_app" and first["rotation_period"] == 5, first)
    check(0 < first["ttl"] <= 5, first)
    rc, _, err = PG.psql("SELECT 1", user="static_app", password=first["password"], db="orders")
    check(rc == 0, "static password works: %s" % err)
    role = ok("GET", "database/static-roles/app")["data"]
    check("password" not in role, role)

    def rotated():
        now = ok("GET", "database/static-creds/app")["data"]
        return now["password"] != first["password"]
    wait_for(rotated, 12, "rotation on the period")
    second = ok("GET", "database/static-creds/app")["data"]
    ISSUED_PASSWORDS.append(second["password"])
    check(second["last_vault_rotation"] != first["last_vault_rotation"], second)
    rc, _, _ = PG.psql("SELECT 1", user="static_app", password=first["password"], db="orders")
    check(rc != 0, "old static password refused")
    ok("POST", "database/rotate-role/app")
    third = ok("GET", "database/static-creds/app")["data"]
    ISSUED_PASSWORDS.append(third["password"])
    check(third["password"] != second["password"], "rotate-role changed it")
    rc, _, _ = PG.psql("SELECT 1", user="static_app", password=third["password"], db="orders")
    check(rc == 0, "rotated password works")
    ok("DELETE", "database/static-roles/app")


def test_hvac():
    """hvac 0.11.2 secrets.database.* (Vault API: hvac calls)."""
    client = hvac.Client(url=SRV.url, token=ROOT)
    PG.sql("CREATE ROLE hv_admin WITH LOGIN CREATEROLE PASSWORD 'hv-initial'")
    PG.sql("GRANT CONNECT ON DATABASE orders TO hv_admin")
    PG.sql("GRANT SELECT ON items TO hv_admin WITH GRANT OPTION", db="orders")
    db = client.secrets.database
    db.configure("hvpg", "postgresql-database-plugin", allowed_roles=["hv-ro"],
                 connection_url=url(), username="hv_admin", password="hv-initial")
    db.create_role("hv-ro", "hvpg", creation_statements=[RUNBOOK_CREATE],
                   default_ttl="1h", max_ttl="24h")
    got = db.generate_credentials("hv-ro")
    ISSUED_PASSWORDS.append(got["data"]["password"])
    rc, _, err = PG.psql("SELECT count(*) FROM items", user=got["data"]["username"],
                         password=got["data"]["password"], db="orders")
    check(rc == 0, "hvac creds log in: %s" % err)
    resp = db.rotate_root_credentials("hvpg")
    check(resp.status_code == 204, resp)
    rc, _, _ = PG.psql("SELECT 1", user="hv_admin", password="hv-initial", db="orders")
    check(rc != 0, "old hv_admin password refused")
    client.sys.revoke_lease(got["lease_id"])
    check(not PG.role_exists(got["data"]["username"]), "hvac revoke dropped the user")


def test_errors():
    status, body, _ = api("GET", "database/creds/nope")
    check(status == 400 and "unknown role: nope" in body["errors"][0], body)
    ok("POST", "database/roles/notallowed", {"db_name": "orders-db",
                                             "creation_statements": RUNBOOK_CREATE})
    status, body, _ = api("GET", "database/creds/notallowed")
    check(status == 500 and "is not an allowed role" in body["errors"][0], body)
    status, body, _ = api("POST", "database/config/bad", {
        "plugin_name": "postgresql-database-plugin", "connection_url": url(),
        "username": "vault_admin", "password": "wrong-password", "allowed_roles": "*"})
    check(status == 400 and body["errors"][0].startswith("error creating database object"),
          body)
    check("wrong-password" not in str(body), "error leaks the password")
    status, body, _ = api("POST", "database/config/bad", {
        "plugin_name": "mysql-database-plugin", "connection_url": url()})
    check(status == 400, body)
    status, body, _ = api("GET", "database/config/absent")
    check(status == 404, body)
    status, body, _ = api("POST", "database/roles/x", {"db_name": "orders-db"})
    check(status == 400 and "creation_statements" in body["errors"][0], body)
    # a literal password in the URL is accepted with a warning
    lit = "postgresql://vault_admin:%s@127.0.0.1:%d/orders" % (ADMIN_PW, PG.port)
    status, body, _ = api("POST", "database/config/literal", {
        "plugin_name": "postgresql-database-plugin", "connection_url": lit,
        "verify_connection": False})
    check(status == 200 and body["warnings"], body)
    status, body, _ = api("POST", "database/rotate-root/literal")
    check(status == 400, body)
    ok("DELETE", "database/config/literal")


def test_scram_password_authentication():
    """password_authentication=scram-sha-256: only a verifier reaches the server."""
    ok("POST", "database/config/orders-db", {"password_authentication": "scram-sha-256",
                                             "verify_connection": False})
    got = creds("order-service-readonly")
    user = got["data"]["username"]
    stored = PG.sql("SELECT rolpassword FROM pg_authid WHERE rolname='%s'" % user)
    check(stored.startswith("SCRAM-SHA-256$"), "a SCRAM verifier is stored")
    rc, _, err = PG.psql("SELECT 1", user=user, password=got["data"]["password"], db="orders")
    check(rc == 0, "login with the SCRAM-hashed password: %s" % err)
    ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
    ok("POST", "database/config/orders-db", {"password_authentication": "password",
                                             "verify_connection": False})


def test_broken_statement_is_500_without_password():
    ok("POST", "database/roles/hv-broken", {"db_name": "orders-db", "creation_statements":
       "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' BOGUS"})
    status, body, _ = api("GET", "database/creds/hv-broken")
    check(status == 500 and "unrecognized role option" in body["errors"][0], body)
    check("LINE" not in body["errors"][0] and "PASSWORD" not in body["errors"][0],
          "the statement is not echoed: %r" % body)
    check(PG.sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-root-hv-broke%'") == "0",
          "rolled back")


def test_stuck_database_does_not_stall_others():
    """A database that accepts TCP but never answers holds only its own
    requests (for the connect timeout); other connections keep working."""
    import socket
    import threading
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)  # never accepts: the handshake completes, nothing answers
    try:
        stuck_url = ("postgresql://{{username}}:{{password}}@127.0.0.1:%d/x"
                     % hole.getsockname()[1])
        ok("POST", "database/config/stuck", {
            "plugin_name": "postgresql-database-plugin", "connection_url": stuck_url,
            "username": "u", "password": "p", "allowed_roles": "*",
            "verify_connection": False})
        ok("POST", "database/roles/stuckrole", {"db_name": "stuck",
                                                "creation_statements": RUNBOOK_CREATE})
        result = {}

        def slow():
            t0 = time.time()
            result["status"] = api("GET", "database/creds/stuckrole")[0]
            result["took"] = time.time() - t0
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.5)
        t0 = time.time()
        got = creds("prefix")
        fast = time.time() - t0
        check(fast < 2, "other database answered in %.1fs" % fast)
        th.join(30)
        check(result.get("status") == 500 and result["took"] < 15, result)
        ok("PUT", "sys/leases/revoke", {"lease_id": got["lease_id"]})
        ok("DELETE", "database/config/stuck")
    finally:
        hole.close()


def test_disable_mount_revokes():
    """Disabling the mount revokes its leases first."""
    got = creds("prefix")
    user = got["data"]["username"]
    ok("DELETE", "sys/mounts/database")
    check(not PG.role_exists(user), "disable revoked the user")


def test_no_secret_in_log():
    log = SRV.read_log()
    for pw in ISSUED_PASSWORDS + [ADMIN_PW, "rot-initial", "hv-initial"]:
        check(pw not in log, "a password reached the server log")


def main():
    global SRV, PG
    tmp = TestDir("kh-db")
    PG = Postgres()
    try:
        PG.start()
        PG.sql("CREATE ROLE vault_admin WITH LOGIN CREATEROLE PASSWORD '%s'" % ADMIN_PW)
        PG.sql("CREATE DATABASE orders OWNER vault_admin")
        rc, _, err = PG.psql("CREATE TABLE items (id int); INSERT INTO items VALUES (1),(2),(3)",
                             user="vault_admin", password=ADMIN_PW, db="orders")
        check(rc == 0, err)
        SRV = DevServer(tmp, token=ROOT, ready="sys/mounts").start()
        code = 1
        try:
            run_tests([test_runbook, test_runbook_revoke_fails_on_grants_then_fixed,
                       test_revoke_terminates_sessions, test_dropped_by_hand_counts_as_revoked,
                       test_expiry, test_renew, test_revoke_prefix, test_outage,
                       test_rotate_root, test_static_role, test_hvac, test_errors,
                       test_scram_password_authentication,
                       test_broken_statement_is_500_without_password,
                       test_stuck_database_does_not_stall_others,
                       test_disable_mount_revokes, test_no_secret_in_log])
        except SystemExit as e:
            code = e.code
        finally:
            rc = SRV.stop()
            if rc != 0:
                print("keyholdd exited with %s:\n%s" % (rc, SRV.read_log()[-4000:]))
                code = 1
    finally:
        PG.cleanup()
        tmp.cleanup()
    sys.exit(code)


if __name__ == "__main__":
    main()
