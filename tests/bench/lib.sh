# tests/bench/lib.sh - shell shared by the benchmark scripts, sourced
# after `set -euo pipefail`: the build directory, a private temporary
# directory removed on exit, free ports, `keyholdd -dev` started and
# stopped by PID, start-up waits, and wrk output parsing and medians.
#
# It never measures anything itself and never kills a process it did not
# start: bench_track records every PID the script starts, and the EXIT
# trap stops exactly those (SIGTERM, then wait) before removing $TMP.
#
# Usage:  BENCH=run_http; . "$(dirname "$0")/lib.sh"; bench_setup http
# BENCH prefixes every message.

HERE=$(cd "$(dirname "${BASH_SOURCE[1]:-$0}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${KH_BUILD_DIR:-}" ]; then
    KH_BUILD_DIR=$REPO/build-bench
    [ -x "$KH_BUILD_DIR/bin/keyholdd" ] || KH_BUILD_DIR=$REPO/build
fi
KEYHOLDD=$KH_BUILD_DIR/bin/keyholdd
BENCH_PIDS=()

# bench_setup TAG: $TMP = a fresh directory kh-bench-TAG-* under
# $KH_TEST_TMP (default /tmp), removed with the tracked processes on exit.
bench_setup() {
    local base=${KH_TEST_TMP:-/tmp}
    mkdir -p "$base"
    TMP=$(mktemp -d "$base/kh-bench-$1-XXXXXX")
    trap bench_stop_all EXIT
}

# bench_track PID: stop PID on exit.
bench_track() {
    BENCH_PIDS+=("$1")
}

bench_stop_all() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}

# bench_need FILE...: fail unless every FILE is executable.
bench_need() {
    local bin
    for bin in "$@"; do
        if [ ! -x "$bin" ]; then
            echo "$BENCH: missing $bin (build with" \
                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo, see README.md)" >&2
            exit 1
        fi
    done
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_start_dev PORT TOKEN LOG: start `keyholdd -dev` on 127.0.0.1:PORT
# with root token TOKEN (empty: keyholdd picks one), temporary files under
# $TMP, output to LOG; $KH_PID is its PID (tracked).
bench_start_dev() {
    TMPDIR=$TMP "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$1" \
        ${2:+-dev-root-token-id="$2"} >"$3" 2>&1 &
    KH_PID=$!
    bench_track "$KH_PID"
}

# wait_200 URL PID LOG: poll until URL answers 200 (15 s at most); fail
# with LOG if PID exits first or the time runs out.
wait_200() {
    local _
    for _ in $(seq 1 300); do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "$BENCH: $(basename "$3" .log) exited during start-up;" \
                 "log:" >&2
            cat "$3" >&2
            exit 1
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "$BENCH: $(basename "$3" .log) did not answer 200 on $1 within" \
         "15 s" >&2
    exit 1
}

# wrk_summary NAME OUT: fail if wrk's output file OUT shows non-2xx answers
# or connect errors, else print "req_s p50_ms p99_ms".
wrk_summary() {
    if grep -Eq 'Non-2xx or 3xx responses|Socket errors: connect [1-9]' \
        "$2"; then
        echo "$BENCH: $1 answered errors under load:" >&2
        cat "$2" >&2
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
        }' "$2" || { echo "$BENCH: cannot parse wrk output:" >&2;
                      cat "$2" >&2; exit 1; }
}

# wrk_lua_status: the Lua done() hook that prints "non2xx N".
WRK_LUA_STATUS='done = function(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end'

# wrk_status_run NAME OUT LOG: wrk's output OUT from a run with
# $WRK_LUA_STATUS; fail (showing the end of LOG when given) on any non-2xx
# answer, else print "req_s p99".
wrk_status_run() {
    local bad
    bad=$(awk '/^non2xx/ {print $2}' "$2")
    if [ "${bad:-0}" != "0" ]; then
        echo "$BENCH: $1 answered $bad non-2xx responses" >&2
        [ -z "${3:-}" ] || tail -5 "$3" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {r = $2} $1 == "99%" {p = $2}
         END {print r, p}' "$2"
}

# median FORMAT: the median of the numbers on stdin, printf-formatted.
median() {
    sort -g | awk -v f="$1" '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf f "\n", m }'
}

# median_of RESULTS NAME COLUMN FORMAT: the median of COLUMN over the
# lines "round name ..." of RESULTS whose name is NAME.
median_of() {
    awk -v n="$2" -v c="$3" '$2 == n { print $c }' "$1" | median "$4"
}
