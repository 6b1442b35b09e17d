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
BENCH=bench_k8s_login
. "$(dirname "$0")/lib.sh"
FAKE=$REPO/tests/integration/k8s_fake_apiserver.py
bench_setup k8s

# The test API server (generates its CA, certificate and signing keys).
mkdir -p "$TMP/k8s"
/usr/bin/python3 "$FAKE" serve "$TMP/k8s" >"$TMP/k8s.log" 2>&1 &
API_PID=$!
bench_track "$API_PID"
for _ in $(seq 200); do
    [ -s "$TMP/k8s/port" ] && break
    sleep 0.05
done
[ -s "$TMP/k8s/port" ] || { echo "bench_k8s_login: fake API server did not start" >&2; exit 1; }
API_URL=https://127.0.0.1:$(cat "$TMP/k8s/port")

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
bench_start_dev "$PORT" root "$TMP/server.log"
wait_200 "$URL/v1/sys/health" "$KH_PID" "$TMP/server.log"

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
$WRK_LUA_STATUS
LUA
cat >"$TMP/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "root"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"policies":["order-service-production"],"ttl":"10m"}'
$WRK_LUA_STATUS
LUA

declare -A ALL
run() { # name path script
    local rps p99 res
    wrk -t2 -c8 -d"${DURATION}s" --latency -s "$3" "$URL/v1/$2" \
        >"$TMP/wrk-$1.txt"
    res=$(wrk_status_run "$1" "$TMP/wrk-$1.txt" "$TMP/server.log")
    read -r rps p99 <<<"$res"
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
