#!/bin/sh
# Install what the tests need, check that the tree also builds warning-free
# with gcc, build Keyhold with AddressSanitizer and UndefinedBehaviorSanitizer
# (clang, which also builds the libFuzzer targets), and run the whole test
# suite. Run from anywhere, as root, on
# Debian 12. This is the README's test command and what .ci/run runs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/install-deps.sh
cmake -S . -B build-gcc-check -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=gcc -DKH_FUZZ=OFF
cmake --build build-gcc-check -j"$(nproc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Asan -DCMAKE_C_COMPILER=clang -DKH_FUZZ=ON
cmake --build build -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build --output-on-failure -j2 "$@"
