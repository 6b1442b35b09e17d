#!/bin/sh
# Install every package Keyhold needs to build, run and test, from Debian's
# archive only. Idempotent: safe to run again. Run as root on Debian 12.
set -eu

export DEBIAN_FRONTEND=noninteractive
APT_OPTS="-y -o DPkg::Lock::Timeout=600 --no-install-recommends"

PACKAGES="
  build-essential pkg-config cmake clang libclang-rt-14-dev
  ca-certificates curl openssl
  softhsm2 libsofthsm2 opensc p11-kit libp11-kit-dev
  swtpm swtpm-tools tpm2-tools libtss2-dev
  libraft-dev libuv1-dev liblmdb-dev lmdb-utils
  libmicrohttpd-dev libjansson-dev libssl-dev libmbedtls-dev
  libcurl4-openssl-dev libpq-dev postgresql
  libcmocka-dev wrk python3-hvac python3-requests gnutls-bin
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    apt-get -o DPkg::Lock::Timeout=600 update
    # shellcheck disable=SC2086
    apt-get install $APT_OPTS $missing
else
    echo "install-deps: all packages present"
fi
