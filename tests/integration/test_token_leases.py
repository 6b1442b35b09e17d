#!/usr/bin/python3
"""Revoking a token revokes the leases created with it (Vault API: "when a
token is revoked, all leases created with it are revoked"), through
python3-hvac against a real `keyholdd -dev` and the database engine on a
real, private PostgreSQL 15.

Covers: dynamic credentials read with a child token and that token revoked
by auth/token/revoke, revoke-self and revoke-accessor (the PostgreSQL
role is dropped, i.e. the lease's revocation ran, and sys/leases/lookup
says the lease is gone); revoke-orphan (the token's own lease goes, its
child's lease and the child stay); a parent's tree (every descendant's
lease goes, an unrelated token's stays); use-limit exhaustion; the
token's TTL bounding the lease's; PostgreSQL down while a token is
revoked (the revoke answers at once, the lease stays visible with ttl 0,
attempts and the error until PostgreSQL is back, then the role goes).

PostgreSQL and keyholdd are stopped by PID at the end (keyholdd must exit
0: the Asan build exits non-zero on a leak) and the temporary directories
removed. Run: KH_BIN=/path/to/build/bin /usr/bin/python3 \
test_token_leases.py
"""
import os
import sys
import time

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests  # noqa: E402
from pgtest import Postgres  # noqa: E402

ROOT = "tl-root-token"
ADMIN_PW = "tl-admin-password"
SRV = None
PG = None

CREATE = ('CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\' '
          'VALID UNTIL \'{{expiration}}\';')
POLICY = ('path "database/creds/*" { capabilities = ["read"] }\n'
          'path "auth/token/create" { capabilities = ["update"] }')


def root():
    return hvac.Client(url=SRV.url, token=ROOT)


def as_token(token):
    return hvac.Client(url=SRV.url, token=token)


def child(parent=None, **kw):
    """A token with the creds policy (and default), made by parent (root
    when None); returns its auth block."""
    kw.setdefault("policies", ["creds"])
    client = root() if parent is None else as_token(parent)
    return client.auth.token.create(**kw)["auth"]


def creds(token):
    """Dynamic credentials read with token: (lease id, username, response)."""
    got = as_token(token).secrets.database.generate_credentials("app")
    user = got["data"]["username"]
    check(PG.role_exists(user), "role %s created" % user)
    return got["lease_id"], user, got


def lease_status(lease_id):
    status, body, _ = SRV.request("PUT", "sys/leases/lookup", {"lease_id": lease_id},
                                  token=ROOT)
    return status, body


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def wait_revoked(lease_id, user, timeout=15):
    wait_for(lambda: not PG.role_exists(user), timeout, "role %s to be dropped" % user)
    wait_for(lambda: lease_status(lease_id)[0] == 400, timeout, "lease %s gone" % lease_id)
    try:
        root().sys.read_lease(lease_id)
    except hvac.exceptions.InvalidRequest as e:
        check("invalid lease" in str(e), str(e))
    else:
        raise AssertionError("hvac read_lease of a revoked lease must fail")


def still_there(lease_id, user):
    time.sleep(2.5)  # a couple of expiry passes
    check(PG.role_exists(user), "role %s must survive" % user)
    status, body = lease_status(lease_id)
    check(status == 200 and body["data"]["ttl"] > 0, body)


# ---- tests ----

def test_setup():
    client = root()
    client.sys.enable_secrets_engine("database", path="database")
    client.sys.create_or_update_policy("creds", POLICY)
    client.secrets.database.configure(
        "pg", "postgresql-database-plugin", allowed_roles=["app"],
        connection_url=("postgresql://{{username}}:{{password}}@127.0.0.1:%d/orders"
                        "?sslmode=disable" % PG.port),
        username="tl_admin", password=ADMIN_PW)
    client.secrets.database.create_role("app", "pg", creation_statements=[CREATE],
                                        default_ttl="1h", max_ttl="24h")


def test_revoke_token_revokes_its_lease():
    """auth/token/revoke answers at once; the lease's revocation drops the
    role and the lease is gone."""
    auth = child(ttl="1h")
    lease_id, user, got = creds(auth["client_token"])
    check(got["lease_duration"] == 3600, got)
    status, body = lease_status(lease_id)
    check(status == 200 and body["data"]["ttl"] > 3500, body)
    t0 = time.time()
    root().auth.token.revoke(auth["client_token"])
    check(time.time() - t0 < 2, "revoke answered in %.1fs" % (time.time() - t0))
    wait_revoked(lease_id, user)


def test_revoke_self_and_accessor():
    me = child()
    lease_me, user_me, _ = creds(me["client_token"])
    other = child()
    lease_other, user_other, _ = creds(other["client_token"])
    as_token(me["client_token"]).auth.token.revoke_self()
    wait_revoked(lease_me, user_me)
    check(PG.role_exists(user_other), "another token's role survives")
    root().auth.token.revoke_accessor(other["accessor"])
    wait_revoked(lease_other, user_other)


def test_revoke_orphan():
    """revoke-orphan revokes the token's own leases, not its child's."""
    parent = child()
    kid = child(parent=parent["client_token"])
    lease_p, user_p, _ = creds(parent["client_token"])
    lease_k, user_k, _ = creds(kid["client_token"])
    root().auth.token.revoke_and_orphan_children(parent["client_token"])
    wait_revoked(lease_p, user_p)
    still_there(lease_k, user_k)
    data = as_token(kid["client_token"]).auth.token.lookup_self()["data"]
    check(data["orphan"] is True, data)
    root().auth.token.revoke(kid["client_token"])
    wait_revoked(lease_k, user_k)


def test_parent_tree():
    """Revoking a parent revokes the leases of all its descendants."""
    parent = child()
    kid = child(parent=parent["client_token"])
    grandkid = child(parent=kid["client_token"])
    bystander = child()
    leases = [creds(t["client_token"]) for t in (parent, kid, grandkid)]
    lease_b, user_b, _ = creds(bystander["client_token"])
    root().auth.token.revoke(parent["client_token"])
    for lease_id, user, _ in leases:
        wait_revoked(lease_id, user)
    still_there(lease_b, user_b)
    root().auth.token.revoke(bystander["client_token"])
    wait_revoked(lease_b, user_b)


def test_use_limit_exhaustion():
    """The use that exhausts a use-limited token revokes its leases."""
    auth = child(num_uses=2)
    lease_id, user, _ = creds(auth["client_token"])
    as_token(auth["client_token"]).auth.token.lookup_self()
    wait_revoked(lease_id, user)


def test_token_ttl_bounds_lease():
    auth = child(ttl="30s")
    lease_id, user, got = creds(auth["client_token"])
    check(25 <= got["lease_duration"] <= 30, got)
    renewed = root().sys.renew_lease(lease_id, increment=3600)
    check(renewed["lease_duration"] <= 30, renewed)
    root().auth.token.revoke(auth["client_token"])
    wait_revoked(lease_id, user)


def test_database_down_while_revoking():
    """PostgreSQL down: the revoke still answers at once; the lease stays
    visible as pending (ttl 0, attempts, error) and is retried until the
    role is dropped."""
    auth = child()
    lease_id, user, _ = creds(auth["client_token"])
    PG.stop()
    try:
        t0 = time.time()
        root().auth.token.revoke(auth["client_token"])
        check(time.time() - t0 < 2, "revoke answered in %.1fs" % (time.time() - t0))

        def pending():
            status, body = lease_status(lease_id)
            return (status == 200 and body["data"]["revoke_attempts"] >= 1
                    and body["data"]["ttl"] == 0
                    and body["data"]["last_revoke_error"] != "")
        wait_for(pending, 15, "a failed revocation to be recorded")
        try:
            root().sys.renew_lease(lease_id)
        except hvac.exceptions.InvalidRequest:
            pass
        else:
            raise AssertionError("a lease pending revocation must not renew")
    finally:
        PG.start()
    wait_revoked(lease_id, user, timeout=60)


def main():
    global SRV, PG
    tmp = TestDir("kh-tl")
    PG = Postgres()
    try:
        PG.start()
        PG.sql("CREATE ROLE tl_admin WITH LOGIN CREATEROLE PASSWORD '%s'" % ADMIN_PW)
        PG.sql("CREATE DATABASE orders OWNER tl_admin")
        SRV = DevServer(tmp, token=ROOT, ready="sys/mounts").start()
        code = 1
        try:
            run_tests([test_setup, test_revoke_token_revokes_its_lease,
                       test_revoke_self_and_accessor, test_revoke_orphan,
                       test_parent_tree, test_use_limit_exhaustion,
                       test_token_ttl_bounds_lease, test_database_down_while_revoking])
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
