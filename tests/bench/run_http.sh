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
BENCH=run_http
. "$(dirname "$0")/lib.sh"
HELLO=$KH_BUILD_DIR/bench/mhd_hello
bench_need "$KEYHOLDD" "$HELLO" "$(command -v wrk || echo wrk)"
bench_setup http

KH_PORT=$(free_port)
HELLO_PORT=$(free_port)
while [ "$HELLO_PORT" = "$KH_PORT" ]; do HELLO_PORT=$(free_port); done
KH_URL=http://127.0.0.1:$KH_PORT/v1/sys/health
HELLO_URL=http://127.0.0.1:$HELLO_PORT/

bench_start_dev "$KH_PORT" "" "$TMP/keyholdd.log"
"$HELLO" "$HELLO_PORT" >"$TMP/mhd_hello.log" 2>&1 &
HELLO_PID=$!
bench_track "$HELLO_PID"
wait_200 "$KH_URL" "$KH_PID" "$TMP/keyholdd.log"
wait_200 "$HELLO_URL" "$HELLO_PID" "$TMP/mhd_hello.log"

# run_wrk NAME URL SECONDS: one wrk run; prints "req_s p50_ms p99_ms".
run_wrk() {
    wrk -t2 -c64 -d"$3"s --latency "$2" >"$TMP/wrk-$1.txt" 2>&1
    wrk_summary "$1" "$TMP/wrk-$1.txt"
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
        "$(median_of "$RESULTS" "$name" 3 %.0f)" \
        "$(median_of "$RESULTS" "$name" 4 %.3f)" \
        "$(median_of "$RESULTS" "$name" 5 %.3f)"
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
