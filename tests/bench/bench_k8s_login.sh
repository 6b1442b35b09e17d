#!/bin/bash
# bench_k8s_login.sh - Kubernetes logins per second (POST auth/<mount>/login
# with a really signed RS256 service-account JWT), three ways in the same
# run of one `keyholdd -dev`:
#
#   token-create  POST auth/token/create   (reference: a token issued
#                                           without any login work)
#   local         auth/k8s-local/login     (pem_keys: OpenSSL EVP verify)
#   tokenreview   auth/k8s-review/login    (TokenReview over TLS against
#                                           tests/integration/
#                                           k8s_fake_apiserver.py, the login
#                                           JWT as bearer)
#
# Vault's published figure for its Kubernetes auth method is 74 logins/s.
# The TokenReview figure includes a new TLS connection to the (Python,
# single-process) test API server per login, so it measures Keyhold plus
# that server; a real API server answers faster. Every login issues a
# token (one durable LMDB commit), which bounds all three.
#
# wrk -t2 -c8; load generator, fake API server and keyholdd share the 2
# cores. ROUNDS rounds (default 3) alternating the order; prints every
# round and the medians. Never fails on a number; fails if a login answers
# anything but 2xx.
#
# Environment: KH_BENCH_SECONDS (per run, default 5), ROUNDS,
# KH_BUILD_DIR (default build-bench, else build), KH_TEST_TMP.
set -euo pipefail

DURATION=${KH_BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${KH_BUILD_DIR:-}" ]; then
    KH_BUILD_DIR=$REPO/build-bench
    [ -x "$KH_BUILD_DIR/bin/keyholdd" ] || KH_BUILD_DIR=$REPO/build
fi
KEYHOLDD=$KH_BUILD_DIR/bin/keyholdd
FAKE=$REPO/tests/integration/k8s_fake_apiserver.py
BASE=${KH_TEST_TMP:-/tmp}
mkdir -p "$BASE"
TMP=$(mktemp -d "$BASE/kh-bench-k8s-XXXXXX")
KH_PID=
API_PID=

stop_all() {
    if [ -n "$KH_PID" ]; then
        kill -TERM "$KH_PID" 2>/dev/null || true
        wait "$KH_PID" 2>/dev/null || true
    fi
    if [ -n "$API_PID" ]; then
        kill -TERM "$API_PID" 2>/dev/null || true
        wait "$API_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap stop_all EXIT

# The test API server (generates its CA, certificate and signing keys).
mkdir -p "$TMP/k8s"
/usr/bin/python3 "$FAKE" serve "$TMP/k8s" >"$TMP/k8s.log" 2>&1 &
API_PID=$!
for _ in $(seq 200); do
    [ -s "$TMP/k8s/port" ] && break
    sleep 0.05
done
[ -s "$TMP/k8s/port" ] || { echo "bench_k8s_login: fake API server did not start" >&2; exit 1; }
API_URL=https://127.0.0.1:$(cat "$TMP/k8s/port")

PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
TMPDIR=$TMP "$KEYHOLDD" -dev -dev-root-token-id=root \
    -dev-listen-address=127.0.0.1:$PORT >"$TMP/server.log" 2>&1 &
KH_PID=$!
for _ in $(seq 100); do
    curl -sf "$URL/v1/sys/health" >/dev/null && break
    sleep 0.1
done

api() {
    curl -sf -H 'X-Vault-Token: root' -H 'Content-Type: application/json' "$@"
}
api -X POST "$URL/v1/sys/auth/k8s-local" -d '{"type":"kubernetes"}'
api -X POST "$URL/v1/sys/auth/k8s-review" -d '{"type":"kubernetes"}'
/usr/bin/python3 - "$TMP/k8s" "$API_URL" >"$TMP/configs.json" <<'PY'
import json, sys
d, url = sys.argv[1], sys.argv[2]
ca = open(d + "/ca.crt").read()
pems = [open(d + "/sa-rs256.pub").read(), open(d + "/sa-es256.pub").read()]
print(json.dumps({
    "local": {"kubernetes_host": url, "kubernetes_ca_cert": ca, "pem_keys": pems,
              "disable_local_ca_jwt": True},
    "review": {"kubernetes_host": url, "kubernetes_ca_cert": ca,
               "disable_local_ca_jwt": True}}))
PY
for m in local review; do
    /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))" \
        "$TMP/configs.json" $m | api -X POST "$URL/v1/auth/k8s-$m/config" -d @-
    api -X POST "$URL/v1/auth/k8s-$m/role/order-service" -d '{
        "bound_service_account_names": "order-service",
        "bound_service_account_namespaces": "production",
        "policies": "order-service-production", "ttl": "10m"}'
done
JWT=$(/usr/bin/python3 "$FAKE" mint "$TMP/k8s" production order-service)
# one login each way must work before anything is measured
for m in local review; do
    curl -sf -X POST "$URL/v1/auth/k8s-$m/login" \
        -d "{\"role\":\"order-service\",\"jwt\":\"$JWT\"}" >/dev/null ||
        { echo "bench_k8s_login: $m login failed"; tail -5 "$TMP/server.log"; exit 1; } >&2
done

cat >"$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"role":"order-service","jwt":"$JWT"}'
done = function(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA
cat >"$TMP/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "root"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"policies":["order-service-production"],"ttl":"10m"}'
done = function(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA

declare -A ALL
run() { # name path script
    local out rps p99 bad
    out=$(wrk -t2 -c8 -d"${DURATION}s" --latency -s "$3" "$URL/v1/$2")
    bad=$(echo "$out" | awk '/^non2xx/ {print $2}')
    if [ "${bad:-0}" != "0" ]; then
        echo "bench_k8s_login: $1 answered $bad non-2xx responses" >&2
        tail -5 "$TMP/server.log" >&2
        exit 1
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    printf '  %-13s %10s logins/s   p99 %s\n' "$1" "$rps" "$p99"
    ALL[$1]="${ALL[$1]:-} $rps"
}

echo "bench_k8s_login: wrk -t2 -c8 -d${DURATION}s x $ROUNDS rounds, keyholdd $KEYHOLDD"
echo "(load generator, test API server and keyholdd share this machine's cores)"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    if [ $((round % 2)) -eq 1 ]; then
        order="token-create local tokenreview"
    else
        order="tokenreview local token-create"
    fi
    for name in $order; do
        case $name in
        token-create) run token-create auth/token/create "$TMP/create.lua" ;;
        local) run local auth/k8s-local/login "$TMP/login.lua" ;;
        tokenreview) run tokenreview auth/k8s-review/login "$TMP/login.lua" ;;
        esac
    done
done
echo "medians (Vault's published figure: 74 logins/s)"
for name in token-create local tokenreview; do
    /usr/bin/python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[2].split()]
m = statistics.median(v)
print('  %-13s %10.1f logins/s   %.1fx Vault\'s 74/s' % (sys.argv[1], m, m / 74))" \
        "$name" "${ALL[$name]}"
done
