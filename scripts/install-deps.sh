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
  libcmocka-dev wrk python3-hvac python3-requests gnutls-bin etcd-server
  python3-jwt python3-cryptography jq xxd iproute2 bsdutils nodejs
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm dpkg-dev
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

# node-vault (the Node.js Vault client the tests drive) comes from the npm
# registry through npm. Debian's nodejs ships npm separately; a NodeSource
# nodejs already carries it, and Debian's npm package would conflict with it.
if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing: npm"
    apt-get -o DPkg::Lock::Timeout=600 update
    # shellcheck disable=SC2086
    apt-get install $APT_OPTS npm
fi

# The firmware's cross build compiles mbedTLS 2.28.3 from Debian's source
# package (never committed). Fetched once into a cache outside the
# repository, with a private deb-src list so the system's apt sources stay
# untouched.
MBEDTLS_DIR=/var/cache/keyhold/mbedtls
if [ ! -f "$MBEDTLS_DIR/src/mbedtls-2.28.3/library/aes.c" ]; then
    mkdir -p "$MBEDTLS_DIR/aptetc" "$MBEDTLS_DIR/lists/partial" \
        "$MBEDTLS_DIR/src"
    cat > "$MBEDTLS_DIR/aptetc/src.sources" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    APTO="-o Dir::Etc::sourcelist=$MBEDTLS_DIR/aptetc/src.sources"
    APTO="$APTO -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$MBEDTLS_DIR/lists"
    # shellcheck disable=SC2086
    apt-get $APTO -o DPkg::Lock::Timeout=600 update
    # shellcheck disable=SC2086
    (cd "$MBEDTLS_DIR/src" &&
        apt-get $APTO source --download-only mbedtls=2.28.3-1 &&
        dpkg-source -x mbedtls_2.28.3-1.dsc)
fi
