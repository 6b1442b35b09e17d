#!/bin/bash
# run_http.sh - HTTP throughput of keyholdd against a libmicrohttpd
# hello-world started with the same options (tests/bench/mhd_hello.c).
#
# Starts `keyholdd -dev` and mhd_hello on two free ports of 127.0.0.1, warms
# both up, then runs `wrk -t2 -c64 -d<seconds>s --latency` against
# GET /v1/sys/health on keyholdd and GET / on the hello server, alternating
# which goes first, for ROUNDS rounds. Prints req/s, p50 and p99 of every
# run, the medians, and the median of the per-round ratios keyholdd/hello.
# The goal (ratio >= 0.8) is printed, never enforced: the script fails only
# if a server does not start or answers anything but 2xx.
#
# Environment: SECONDS (wrk duration per run, default 10; read from the
# environment only, since bash counts its own SECONDS), ROUNDS (default 3),
# KH_BUILD_DIR (default: build-bench, else build, under the repository),
# KH_TEST_TMP (base of the temporary directory, default /tmp).
# Both processes are stopped by PID on exit.
set -euo pipefail

DURATION=$(printenv SECONDS || echo 10)
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${KH_BUILD_DIR:-}" ]; then
    KH_BUILD_DIR=$REPO/build-bench
    [ -x "$KH_BUILD_DIR/bin/keyholdd" ] || KH_BUILD_DIR=$REPO/build
fi
KEYHOLDD=$KH_BUILD_DIR/bin/keyholdd
HELLO=$KH_BUILD_DIR/bench/mhd_hello
for bin in "$KEYHOLDD" "$HELLO" "$(command -v wrk || echo wrk)"; do
    if [ ! -x "$bin" ]; then
        echo "run_http: missing $bin (build with" \
             "-DCMAKE_BUILD_TYPE=RelWithDebInfo, see README.md)" >&2
        exit 1
    fi
done

BASE=${KH_TEST_TMP:-/tmp}
mkdir -p "$BASE"
TMP=$(mktemp -d "$BASE/kh-bench-http-XXXXXX")
KH_PID=
HELLO_PID=

stop_all() {
    local pid
    for pid in $KH_PID $HELLO_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $KH_PID $HELLO_PID; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap stop_all EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_200 URL PID NAME: poll until URL answers 200 (15 s at most).
wait_200() {
    local _
    for _ in $(seq 1 300); do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "run_http: $3 exited during start-up; log:" >&2
            cat "$TMP/$3.log" >&2
            exit 1
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "run_http: $3 did not answer 200 on $1 within 15 s" >&2
    exit 1
}

KH_PORT=$(free_port)
HELLO_PORT=$(free_port)
while [ "$HELLO_PORT" = "$KH_PORT" ]; do HELLO_PORT=$(free_port); done
KH_URL=http://127.0.0.1:$KH_PORT/v1/sys/health
HELLO_URL=http://127.0.0.1:$HELLO_PORT/

TMPDIR=$TMP "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$KH_PORT" \
    >"$TMP/keyholdd.log" 2>&1 &
KH_PID=$!
"$HELLO" "$HELLO_PORT" >"$TMP/mhd_hello.log" 2>&1 &
HELLO_PID=$!
wait_200 "$KH_URL" "$KH_PID" keyholdd
wait_200 "$HELLO_URL" "$HELLO_PID" mhd_hello

# run_wrk NAME URL SECONDS: one wrk run; prints "req_s p50_ms p99_ms".
run_wrk() {
    local out="$TMP/wrk-$1.txt"
    wrk -t2 -c64 -d"$3"s --latency "$2" >"$out" 2>&1
    if grep -Eq 'Non-2xx or 3xx responses|Socket errors: connect [1-9]' \
        "$out"; then
        echo "run_http: $1 answered errors under load:" >&2
        cat "$out" >&2
        exit 1
    fi
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return -1
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%.0f %.3f %.3f\n", rps, p50, p99
        }' "$out" || { echo "run_http: cannot parse wrk output:" >&2;
                        cat "$out" >&2; exit 1; }
}

# median FORMAT: the median of the numbers on stdin, printf-formatted.
median() {
    sort -g | awk -v f="$1" '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf f "\n", m }'
}

echo "run_http: wrk -t2 -c64 -d${DURATION}s --latency, $ROUNDS rounds;" \
     "keyholdd $KH_URL vs mhd_hello $HELLO_URL"
echo "run_http: load generator and servers share the machine's $(nproc) cores"
run_wrk warmup-keyholdd "$KH_URL" 2 >/dev/null
run_wrk warmup-hello "$HELLO_URL" 2 >/dev/null

RESULTS=$TMP/results.txt
: >"$RESULTS"
printf '%-6s %-9s %10s %9s %9s\n' round server req/s p50_ms p99_ms
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="keyholdd hello"
    else order="hello keyholdd"; fi
    for name in $order; do
        if [ "$name" = keyholdd ]; then url=$KH_URL; else url=$HELLO_URL; fi
        read -r rps p50 p99 < <(run_wrk "$name" "$url" "$DURATION")
        echo "$round $name $rps $p50 $p99" >>"$RESULTS"
        printf '%-6s %-9s %10s %9s %9s\n' "$round" "$name" "$rps" "$p50" \
            "$p99"
    done
done

echo
printf '%-9s %14s %13s %13s\n' server "median req/s" "median p50_ms" \
    "median p99_ms"
for name in keyholdd hello; do
    printf '%-9s %14s %13s %13s\n' "$name" \
        "$(awk -v n=$name '$2 == n { print $3 }' "$RESULTS" | median %.0f)" \
        "$(awk -v n=$name '$2 == n { print $4 }' "$RESULTS" | median %.3f)" \
        "$(awk -v n=$name '$2 == n { print $5 }' "$RESULTS" | median %.3f)"
done
RATIO=$(awk '$2 == "keyholdd" { k[$1] = $3 } $2 == "hello" { h[$1] = $3 }
    END { for (r in k) printf "%.3f\n", k[r] / h[r] }' "$RESULTS" |
    median %.3f)
echo "per-round ratios keyholdd/hello: $(awk '$2 == "keyholdd" { k[$1] = $3 }
    $2 == "hello" { h[$1] = $3 }
    END { for (r = 1; r in k; r++) printf "%.3f ", k[r] / h[r] }' "$RESULTS")"
if awk -v r="$RATIO" 'BEGIN { exit !(r >= 0.8) }'; then verdict=met
else verdict="NOT met"; fi
echo "median ratio keyholdd/hello req/s: $RATIO (goal >= 0.8: $verdict)"
echo "reference: libmicrohttpd hello-world, epoll + pool of 2, on this kind" \
     "of machine: 76-96k req/s"
