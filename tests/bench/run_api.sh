#!/bin/bash
# run_api.sh - what authentication, policy checks and the KV engine cost
# per request, each against sys/health (the HTTP ceiling of the same
# server) in the same run:
#
#   health       GET sys/health              (reference: no token, no ACL)
#   lookup-self  GET auth/token/lookup-self  (token lookup + policy check)
#   kv-read      GET secret/data/bench       (+ barrier decrypt, KV v2)
#   kv-write     POST secret/data/bench-N    (+ one durable LMDB commit)
#   token-create POST auth/token/create      (tokens created per second)
#
# All requests use a non-root token with a policy, so the ACL is evaluated
# for real. wrk -t2 -c16; load generator and server share the 2 cores.
# Prints req/s and p99 for each, and the ratio to health. Never fails on a
# number; fails if a request answers anything but 2xx.
#
# Environment: SECONDS (per run, default 5), KH_BUILD_DIR (default
# build-bench, else build), KH_TEST_TMP.
set -euo pipefail

DURATION=$(printenv SECONDS || echo 5)
BENCH=run_api
. "$(dirname "$0")/lib.sh"
bench_setup api

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
bench_start_dev "$PORT" root "$TMP/server.log"
wait_200 "$URL/v1/sys/health" "$KH_PID" "$TMP/server.log"

api() {
    curl -sf -H 'X-Vault-Token: root' -H 'Content-Type: application/json' \
        "$@"
}
api -X PUT "$URL/v1/sys/policy/bench" -d '{"policy":
  "path \"secret/*\" { capabilities = [\"create\",\"read\",\"update\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }"}'
TOKEN=$(api -X POST "$URL/v1/auth/token/create" \
    -d '{"policies":["bench"],"ttl":"1h"}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["auth"]["client_token"])')
api -X POST "$URL/v1/secret/data/bench" -d '{"data":{"k":"v"}}' >/dev/null

cat >"$TMP/get.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$TOKEN"
$WRK_LUA_STATUS
LUA
cat >"$TMP/write.lua" <<LUA
local n = 0
wrk.headers["X-Vault-Token"] = "$TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/secret/data/bench-" .. (n % 1000),
                    nil, '{"data":{"k":"value-' .. n .. '"}}')
end
$WRK_LUA_STATUS
LUA
cat >"$TMP/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "$TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"policies":["bench"],"ttl":"10m"}'
$WRK_LUA_STATUS
LUA

run() { # name path script
    local rps p99 res
    wrk -t2 -c16 -d"${DURATION}s" --latency -s "$3" "$URL/v1/$2" \
        >"$TMP/wrk-$1.txt"
    res=$(wrk_status_run "$1" "$TMP/wrk-$1.txt")
    read -r rps p99 <<<"$res"
    printf '%-14s %12s req/s   p99 %s\n' "$1" "$rps" "$p99"
    eval "RPS_${1//-/_}=$rps"
}

echo "run_api: wrk -t2 -c16 -d${DURATION}s, keyholdd $KEYHOLDD"
echo "(load generator and server share this machine's cores)"
run health sys/health "$TMP/get.lua"
run lookup-self auth/token/lookup-self "$TMP/get.lua"
run kv-read secret/data/bench "$TMP/get.lua"
run kv-write secret/data/x "$TMP/write.lua"
run token-create auth/token/create "$TMP/create.lua"
for name in lookup_self kv_read kv_write token_create; do
    eval "v=\$RPS_$name"
    /usr/bin/python3 -c "print('%-14s ratio to health %.2f' % ('$name', $v / $RPS_health))"
done
