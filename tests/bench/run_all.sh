#!/bin/bash
# run_all.sh - every benchmark under tests/bench/, one after the other
# (never in parallel: they would compete for the same two cores), then a
# summary of their headline figures.
#
# Brings the release build up to date first (keyholdd, bench_barrier,
# mhd_hello in KH_BUILD_DIR, default <repo>/build-bench; if that fails, it
# warns and runs the binaries already built) and says so if that build is
# not a release build, whose figures would mean nothing.
# Passes the environment on (SECONDS, ROUNDS, N, KH_TEST_TMP; see
# README.md). Exits non-zero if any benchmark failed to run; the figures
# themselves never fail it.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export KH_BUILD_DIR=${KH_BUILD_DIR:-$REPO/build-bench}

if [ ! -f "$KH_BUILD_DIR/CMakeCache.txt" ]; then
    echo "run_all: no build in $KH_BUILD_DIR; configure one with" >&2
    echo "  cmake -S $REPO -B $KH_BUILD_DIR -DCMAKE_BUILD_TYPE=RelWithDebInfo" \
         "-DCMAKE_C_COMPILER=clang -DKH_FUZZ=OFF" >&2
    exit 1
fi
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' \
    "$KH_BUILD_DIR/CMakeCache.txt")
case $BUILD_TYPE in
    Release|RelWithDebInfo) ;;
    *) echo "run_all: WARNING: $KH_BUILD_DIR is a '$BUILD_TYPE' build;" \
            "figures are only meaningful from Release/RelWithDebInfo" >&2 ;;
esac
if ! cmake --build "$KH_BUILD_DIR" --target keyholdd bench_barrier \
    mhd_hello -j2 >"$KH_BUILD_DIR/bench-build.log" 2>&1; then
    for bin in bin/keyholdd bench/bench_barrier bench/mhd_hello; do
        if [ ! -x "$KH_BUILD_DIR/$bin" ]; then
            echo "run_all: build failed, see $KH_BUILD_DIR/bench-build.log" >&2
            exit 1
        fi
    done
    echo "run_all: WARNING: build failed (see $KH_BUILD_DIR/bench-build.log);" \
         "running the binaries already built" >&2
fi

LOGS=$(mktemp -d "${KH_TEST_TMP:-/tmp}/kh-bench-all-XXXXXX")
trap 'rm -rf "$LOGS"' EXIT
failed=0

# bench NAME COMMAND...: run one benchmark, show and keep its output.
bench() {
    local name=$1
    shift
    echo "===== $name ($(date -u +%H:%M:%S) UTC)"
    if "$@" 2>&1 | tee "$LOGS/$name.txt"; then
        echo "$name: ok" >>"$LOGS/status"
    else
        echo "$name: FAILED" >>"$LOGS/status"
        failed=1
    fi
    echo
}

bench barrier "$KH_BUILD_DIR/bench/bench_barrier"
bench http bash "$HERE/run_http.sh"
bench unseal bash "$HERE/run_unseal.sh"

echo "===== summary ($BUILD_TYPE build, $(nproc) cores shared by load and" \
     "server, $(uname -m))"
cat "$LOGS/status"
echo
echo "-- storage barrier vs raw LMDB (bench_barrier, medians):"
sed -n '/^operation/,/^ratio =/p' "$LOGS/barrier.txt"
echo
echo "-- HTTP, keyholdd /v1/sys/health vs libmicrohttpd hello (run_http.sh):"
sed -n '/^server /,$p' "$LOGS/http.txt"
echo
echo "-- start to unsealed (run_unseal.sh):"
sed -n '/^start to 200/,$p' "$LOGS/unseal.txt"
exit $failed
