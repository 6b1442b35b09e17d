#!/bin/sh
# Install what Keyhold needs, build it (release flags), and start keyholdd
# in dev mode: initialised, unsealed through a private SoftHSM2 token, HTTP
# on 127.0.0.1:8200. Extra arguments go to keyholdd (e.g.
# -dev-root-token-id=root). Run as root on Debian 12.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DKH_FUZZ=OFF
cmake --build build -j"$(nproc)"
exec ./build/bin/keyholdd -dev "$@"
