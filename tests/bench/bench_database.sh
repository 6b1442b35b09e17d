#!/bin/bash
# bench_database.sh - dynamic PostgreSQL credentials: how many users
# Keyhold's database engine issues and revokes per second, against the time
# PostgreSQL itself takes for the same statements driven by psql, in the
# same run.
#
# Starts a private PostgreSQL 15 (tests/integration/pgtest.py: initdb via
# runuser into a temporary directory, a free port, fsync off) and
# `keyholdd -dev`, enables database/, and configures the runbook role
# (CREATE ROLE ... VALID UNTIL + GRANT SELECT; default revocation). Then,
# for ROUNDS rounds, alternating which side goes first:
#
#   keyhold   N x GET database/creds/bench over one keep-alive HTTP
#             connection (user created, lease registered in the barrier),
#             then N x PUT sys/leases/revoke (sessions locked out and
#             terminated, REASSIGN/DROP OWNED, DROP ROLE, lease deleted);
#   psql      the same CREATE ROLE + GRANTs (incl. the admin's membership)
#             for N users in one
#             psql session as the admin, then the same default revocation
#             statements (REASSIGN OWNED, DROP OWNED, DROP ROLE): what
#             PostgreSQL alone costs;
#   psql -c   one psql process per user (connect, create; connect, drop):
#             what a shell script driving psql costs.
#
# Prints creds/s and revokes/s of every run, the medians and the ratios
# keyhold/psql. Figures, not a test: it fails only when something does not
# work. Environment: N (users per run, default 200), ROUNDS (default 3),
# KH_BUILD_DIR (default build-bench, else build), KH_TEST_TMP (default /tmp).
# PostgreSQL and keyholdd are stopped by PID on exit.
set -euo pipefail

BENCH=bench_database
. "$(dirname "$0")/lib.sh"
export KH_BIN=${KH_BIN:-$KH_BUILD_DIR/bin}
export N=${N:-200} ROUNDS=${ROUNDS:-3}
export PYTHONPATH=$REPO/tests/integration
[ -x "$KH_BIN/keyholdd" ] || { echo "no keyholdd in $KH_BIN" >&2; exit 1; }

exec /usr/bin/python3 - <<'PY'
import http.client
import json
import os
import statistics
import subprocess
import time

from khtest import KEYHOLDD, TestDir, check, free_port
from pgtest import PSQL, Postgres

N = int(os.environ["N"])
ROUNDS = int(os.environ["ROUNDS"])
ROOT = "bench-root"
ADMIN_PW = "bench-admin-pw"
CREATE = ("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}'; "
          "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";")
# Keyhold also makes the admin a member of each new user (PostgreSQL 15
# needs it for DROP OWNED and terminating sessions): so does the baseline.
GRANT = 'GRANT "{{name}}" TO CURRENT_USER;'
REVOKE = ('REASSIGN OWNED BY "{{name}}" TO CURRENT_USER; DROP OWNED BY "{{name}}"; '
          'DROP ROLE IF EXISTS "{{name}}";')


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Vault-Token": ROOT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, "/v1/" + path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read()
        check(resp.status in (200, 204), "%s %s -> %s %s" % (method, path, resp.status, text))
        return json.loads(text) if text else None


def admin_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = ADMIN_PW
    return env


def psql_script(pg, sql):
    p = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(pg.port), "-U", "vault_admin", "-d", "orders"],
                       input=sql.encode(), env=admin_env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    check(p.returncode == 0, p.stderr.decode())


def render(tmpl, name):
    return (tmpl.replace("{{name}}", name).replace("{{password}}", "Bench-pw-0123456789ab")
            .replace("{{expiration}}", "2099-01-01 00:00:00+0000"))


def run_keyhold(api):
    leases = []
    t0 = time.perf_counter()
    for _ in range(N):
        leases.append(api.call("GET", "database/creds/bench")["lease_id"])
    t1 = time.perf_counter()
    for lease in leases:
        api.call("PUT", "sys/leases/revoke", {"lease_id": lease})
    t2 = time.perf_counter()
    return N / (t1 - t0), N / (t2 - t1)


def run_psql_session(pg, rnd):
    names = ["bench-%d-%d" % (rnd, i) for i in range(N)]
    create = "".join(render(CREATE + GRANT, n) + "\n" for n in names)
    drop = "".join(render(REVOKE, n) + "\n" for n in names)
    t0 = time.perf_counter()
    psql_script(pg, create)
    t1 = time.perf_counter()
    psql_script(pg, drop)
    t2 = time.perf_counter()
    return N / (t1 - t0), N / (t2 - t1)


def run_psql_each(pg, rnd):
    n = max(1, N // 4)  # a process per user is slow: a quarter of N
    names = ["each-%d-%d" % (rnd, i) for i in range(n)]
    t0 = time.perf_counter()
    for name in names:
        psql_script(pg, render(CREATE + GRANT, name))
    t1 = time.perf_counter()
    for name in names:
        psql_script(pg, render(REVOKE, name))
    t2 = time.perf_counter()
    return n / (t1 - t0), n / (t2 - t1)


def main():
    tmp = TestDir("kh-bench-db")
    pg = Postgres()
    srv = log = None
    try:
        pg.start()
        pg.sql("CREATE ROLE vault_admin WITH LOGIN CREATEROLE PASSWORD '%s'" % ADMIN_PW)
        pg.sql("CREATE DATABASE orders OWNER vault_admin")
        psql_script(pg, "CREATE TABLE items (id int); INSERT INTO items VALUES (1);")
        port = free_port()
        log = open(tmp.join("dev.log"), "ab")
        srv = subprocess.Popen([KEYHOLDD, "-dev", "-dev-listen-address=127.0.0.1:%d" % port,
                                "-dev-root-token-id=" + ROOT], stdout=log,
                               stderr=subprocess.STDOUT, env=dict(os.environ, TMPDIR=tmp.path))
        deadline = time.time() + 15
        while True:
            try:
                api = Api(port)
                api.call("GET", "sys/mounts")
                break
            except (OSError, AssertionError):
                check(time.time() < deadline and srv.poll() is None, "keyholdd did not start")
                time.sleep(0.1)
        api.call("POST", "sys/mounts/database", {"type": "database"})
        api.call("POST", "database/config/orders-db", {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:%d/orders"
                              "?sslmode=disable" % pg.port,
            "allowed_roles": "bench", "username": "vault_admin", "password": ADMIN_PW})
        api.call("POST", "database/roles/bench", {"db_name": "orders-db",
                                                  "creation_statements": CREATE,
                                                  "default_ttl": "1h"})
        for _ in range(10):  # warm-up: pool connections, caches
            lease = api.call("GET", "database/creds/bench")["lease_id"]
            api.call("PUT", "sys/leases/revoke", {"lease_id": lease})
        results = {"keyhold": [], "psql": [], "psql -c": []}
        print("N=%d users per run, %d rounds" % (N, ROUNDS))
        print("%-6s %-9s %12s %12s" % ("round", "side", "creds/s", "revokes/s"))
        for rnd in range(ROUNDS):
            order = ["keyhold", "psql", "psql -c"]
            if rnd % 2:
                order.reverse()
            for side in order:
                if side == "keyhold":
                    res = run_keyhold(api)
                elif side == "psql":
                    res = run_psql_session(pg, rnd)
                else:
                    res = run_psql_each(pg, rnd)
                results[side].append(res)
                print("%-6d %-9s %12.1f %12.1f" % (rnd + 1, side, res[0], res[1]), flush=True)
        left = pg.sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'")
        check(left == "0", "%s dynamic users left behind" % left)
        med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
               for k, v in results.items()}
        print("\nmedians           creds/s    revokes/s")
        for k, (a, b) in med.items():
            print("%-14s %10.1f %12.1f" % (k, a, b))
        print("\nratio keyhold / psql (one session):  creds %.2f  revokes %.2f"
              % (med["keyhold"][0] / med["psql"][0], med["keyhold"][1] / med["psql"][1]))
        print("ratio keyhold / psql -c (per user):  creds %.2f  revokes %.2f"
              % (med["keyhold"][0] / med["psql -c"][0], med["keyhold"][1] / med["psql -c"][1]))
    finally:
        if srv is not None:
            srv.terminate()
            srv.wait(15)
        if log is not None:
            log.close()
        pg.cleanup()
        tmp.cleanup()


main()
PY
