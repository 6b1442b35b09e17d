#!/bin/bash
# run_audit.sh - KV read throughput of keyholdd with no audit device, with
# a file device, with file + socket devices, and with file + a blackholed
# socket (a peer that accepts and never reads), in one run; prints req/s
# and p99 of each and the ratios to "none".
#
# Starts `keyholdd -dev` (KEYHOLD_AUDIT_ALLOWED_DIRS = the run's temporary
# directory) and a socket collector (python3, reads and counts lines) on
# free ports of 127.0.0.1, writes one KV v2 secret, then runs
# `wrk -t2 -c32 -d<seconds>s --latency` against GET
# /v1/secret/data/bench for each configuration, enabling the devices
# through sys/audit between runs. At the end it checks the file log with
# `keyhold-audit verify` (build it with tools/audit/CMakeLists.txt).
#
# Environment: SECONDS (wrk duration per run, default 10; read from the
# environment only), FILE_OPTIONS (extra options of the file device as
# JSON members, e.g. '"sync_secrets":"false"'), KH_BUILD_DIR (default: build-bench, else build),
# KH_TEST_TMP (base of the temporary directory, default /tmp). Every
# process is stopped by PID on exit. Fails only if something does not
# start or answers non-2xx.
set -euo pipefail

DURATION=$(printenv SECONDS || echo 10)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${KH_BUILD_DIR:-}" ]; then
    KH_BUILD_DIR=$REPO/build-bench
    [ -x "$KH_BUILD_DIR/bin/keyholdd" ] || KH_BUILD_DIR=$REPO/build
fi
KEYHOLDD=$KH_BUILD_DIR/bin/keyholdd
VERIFY=$KH_BUILD_DIR/bin/keyhold-audit
for bin in "$KEYHOLDD" "$(command -v wrk || echo wrk)"; do
    if [ ! -x "$bin" ]; then
        echo "run_audit: missing $bin" >&2
        exit 1
    fi
done

BASE=${KH_TEST_TMP:-/tmp}
mkdir -p "$BASE"
TMP=$(mktemp -d "$BASE/kh-bench-audit-XXXXXX")
KH_PID=
SINK_PID=
TOKEN=bench-root-token

stop_all() {
    local pid
    for pid in $KH_PID $SINK_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $KH_PID $SINK_PID; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap stop_all EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

api() { # method path [json]
    local args=(-sS -o /dev/null -w '%{http_code}' -X "$1"
                -H "X-Vault-Token: $TOKEN" "http://$ADDR/v1/$2")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
    local code
    code=$(curl "${args[@]}")
    case $code in
        2??) ;;
        *) echo "run_audit: $1 $2 answered $code" >&2; exit 1 ;;
    esac
}

PORT=$(free_port)
SINK_PORT=$(free_port)
ADDR=127.0.0.1:$PORT
KEYHOLD_AUDIT_ALLOWED_DIRS=$TMP "$KEYHOLDD" -dev \
    -dev-listen-address="$ADDR" -dev-root-token-id="$TOKEN" \
    > "$TMP/keyholdd.log" 2>&1 &
KH_PID=$!
BLACKHOLE_PORT=$(free_port)
/usr/bin/python3 - "$SINK_PORT" "$TMP/sink.count" "$BLACKHOLE_PORT" <<'PY' &
import socket, sys, threading
port, out, hole_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def blackhole():  # accepts and never reads
    h = socket.socket(); h.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    h.bind(("127.0.0.1", hole_port)); h.listen(64)
    held = []
    while True:
        held.append(h.accept()[0])
threading.Thread(target=blackhole, daemon=True).start()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
def serve(c):
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += b.count(b"\n")
        open(out, "w").write(str(n))
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
SINK_PID=$!

for _ in $(seq 100); do
    curl -sf "http://$ADDR/v1/sys/health" > /dev/null 2>&1 && break
    sleep 0.1
done
api POST secret/data/bench '{"data":{"password":"bench-canary-secret"}}'

LUA=$TMP/token.lua
echo "wrk.headers[\"X-Vault-Token\"] = \"$TOKEN\"" > "$LUA"

run() { # label
    local out rps p99
    out=$(wrk -t2 -c32 -d"${DURATION}s" --latency -s "$LUA" \
          "http://$ADDR/v1/secret/data/bench")
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$out" >&2
        echo "run_audit: non-2xx answers in '$1'" >&2
        exit 1
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    printf '%-14s %10s req/s   p99 %s\n' "$1" "$rps" "$p99" >&2
    echo "$rps"
}

NONE=$(run "none")
api PUT sys/audit/file "{\"type\":\"file\",\"options\":{\"file_path\":\"$TMP/audit.log\"${FILE_OPTIONS:+,$FILE_OPTIONS}}}"
FILE=$(run "file")
api PUT sys/audit/sock "{\"type\":\"socket\",\"options\":{\"address\":\"127.0.0.1:$SINK_PORT\",\"socket_type\":\"tcp\"}}"
BOTH=$(run "file+socket")
api DELETE sys/audit/sock
api PUT sys/audit/hole "{\"type\":\"socket\",\"options\":{\"address\":\"127.0.0.1:$BLACKHOLE_PORT\",\"socket_type\":\"tcp\"}}"
HOLE=$(run "file+blackhole")
curl -sS -H "X-Vault-Token: $TOKEN" "http://$ADDR/v1/sys/audit" |
    /usr/bin/python3 -c 'import json, sys
s = json.load(sys.stdin)["data"]["hole/"]["keyhold_stats"]
print("blackholed socket: spooled %d, lost %d (counted), written %d" %
      (s["spooled"], s["lost"], s["written"]))'

awk -v n="$NONE" -v f="$FILE" -v b="$BOTH" -v h="$HOLE" 'BEGIN {
    printf "ratio file/none %.2f, file+socket/none %.2f, " \
           "file+blackholed socket/none %.2f\n", f / n, b / n, h / n }'
echo "file log: $(wc -l < "$TMP/audit.log") lines; socket sink:" \
     "$(cat "$TMP/sink.count" 2>/dev/null || echo 0) lines"
if [ -x "$VERIFY" ]; then
    "$VERIFY" verify "$TMP/audit.log"
fi
