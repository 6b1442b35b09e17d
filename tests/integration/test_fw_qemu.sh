#!/bin/bash
# test_fw_qemu.sh - the real Keyhold firmware image (mps2-an385) in
# qemu-system-arm, driven over its UART (a unix-socket chardev) by fwctl:
# info, PIN, key generation, wrap/unwrap, P-256 sign verified by openssl,
# counter, all inside a v4 session (fwctl opens it; a plaintext LOGIN is
# refused with NOSESSION and spends no PIN try); then kill -9 of qemu and a restart on the same file-backed NV:
# keys, wrapped data and the counter survive. Also checks that the idle
# firmware sleeps in WFI (qemu well under a core). qemu is stopped by its
# own PID. Then the benchmarks: sign and wrap/unwrap round trips, the
# device side of an auto-unseal (login + unwrap of the barrier key), and
# exact guest instruction counts of one SESSION_OPEN and one sign under
# -icount shift=0 (the STATS command: one virtual ns per instruction). Finally the mps2-an505
# (Cortex-M33) image: info, PIN, key generation, sign verified by openssl,
# and its instruction count (skipped with a reason if qemu lacks the
# machine). Skips (exit 0, "SKIP") without the ARM toolchain or qemu.
set -euo pipefail

SRC=${KH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${KH_BIN:-$SRC/build/bin}
FWCTL=$BIN/fwctl
for tool in qemu-system-arm arm-none-eabi-gcc openssl python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not installed"; exit 0
    fi
done
[ -x "$FWCTL" ] || { echo "FAIL: $FWCTL not built"; exit 1; }

TMP=$(mktemp -d "${KH_TEST_TMP:-/tmp}/fwqemu.XXXXXX")
QPID=
cleanup() {
    if [ -n "$QPID" ]; then kill -9 "$QPID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Build the image into the temp dir's sibling cache (mbedTLS objects reused).
OUT=${KH_FW_CROSS_OUT:-$BIN/../fw-cross}
make -s -C "$SRC/firmware/cross" O="$OUT" >"$TMP/make.log" 2>&1 || {
    cat "$TMP/make.log"; echo "FAIL: cross build"; exit 1; }
ELF=$OUT/keyhold-fw-mps2-an385.elf
MACHINE=mps2-an385
QEMU_EXTRA=()

# NV file: 16 MiB board RAM; the test-only entropy seed goes at 0x40.
truncate -s 16M "$TMP/state.bin"
head -c 32 /dev/urandom | dd of="$TMP/state.bin" bs=1 seek=64 conv=notrunc \
    status=none
SOCK=$TMP/uart.sock
NV=$TMP/state.bin

start_qemu() {
    rm -f "$SOCK"
    qemu-system-arm -M "$MACHINE,memory-backend=ps" "${QEMU_EXTRA[@]}" \
        -object "memory-backend-file,id=ps,size=16M,share=on,mem-path=$NV" \
        -nographic -monitor none -kernel "$ELF" \
        -chardev socket,id=u0,path="$SOCK",server=on,wait=off \
        -serial chardev:u0 >"$TMP/qemu.log" 2>&1 &
    QPID=$!
    for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
    [ -S "$SOCK" ] || {
        cat "$TMP/qemu.log"; echo "FAIL: qemu socket"; exit 1; }
}

fw() { "$FWCTL" --socket "$SOCK" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

# r||s hex + uncompressed point hex -> DER files; openssl verifies.
verify_sig() { # pubhex sighex hashhex
    python3 - "$1" "$2" "$3" "$TMP" <<'PY'
import sys
pub, sig, h, d = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), \
    bytes.fromhex(sys.argv[3]), sys.argv[4]
def integer(b):
    b = b.lstrip(b'\0') or b'\0'
    if b[0] & 0x80: b = b'\0' + b
    return b'\x02' + bytes([len(b)]) + b
body = integer(sig[:32]) + integer(sig[32:])
open(d + '/sig.der', 'wb').write(b'\x30' + bytes([len(body)]) + body)
spki = bytes.fromhex('3059301306072a8648ce3d020106082a8648ce3d030107034200')
open(d + '/pub.der', 'wb').write(spki + pub)
open(d + '/hash.bin', 'wb').write(h)
PY
    openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/pub.der" \
        -in "$TMP/hash.bin" -sigfile "$TMP/sig.der" >/dev/null
}

HASH=$(printf 'keyhold firmware' | sha256sum | cut -c1-64)
SECRET=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# --- first boot ---
t0=$(date +%s%N)
start_qemu
INFO=$(fw info)
t1=$(date +%s%N)
echo "$INFO"
echo "$INFO" | grep -q 'state=0 .*flags=1 ' ||
    fail "fresh device / test-entropy flag"
echo "boot_to_info_ms=$(( (t1 - t0) / 1000000 ))"
DEVPUB=$(echo "$INFO" | sed -n 's/^devpub=//p')

OUT1=$(fw init-pin 2468 login 2468 gen-ec 0 gen-wrap 0 \
       wrap 0 kh-barrier "$SECRET" counter-inc sign 0 "$HASH")
mapfile -t L <<<"$OUT1"
PUB=${L[2]} BLOB=${L[4]} C1=${L[5]} SIG=${L[6]}
[ ${#PUB} -eq 130 ] || fail "gen-ec output"
[ "$C1" = 1 ] || fail "first counter is $C1"
verify_sig "$PUB" "$SIG" "$HASH" || fail "openssl rejected the signature"
echo "sign verified by openssl"
PT=$(fw login 2468 unwrap 0 kh-barrier "$BLOB" | tail -1)
[ "$PT" = "$SECRET" ] || fail "unwrap round trip"
if fw login 2468 unwrap 0 kh-other "$BLOB" 2>/dev/null; then
    fail "unwrap with the wrong AAD succeeded"
fi
# Protocol v4: the PIN only crosses the link sealed in a session.
if "$FWCTL" --plain --socket "$SOCK" login 2468 2>"$TMP/plain.err"; then
    fail "plaintext LOGIN accepted"
fi
grep -q "status $((16))" "$TMP/plain.err" ||
    fail "plaintext LOGIN: want NOSESSION, got $(cat "$TMP/plain.err")"
echo "plaintext LOGIN refused (NOSESSION)"
if fw login 1111 2>/dev/null; then fail "wrong PIN accepted"; fi

# Idle: the firmware sleeps in WFI, so qemu stays well under a core.
ticks() { awk '{print $14 + $15}' "/proc/$QPID/stat"; }
a=$(ticks); sleep 2; b=$(ticks)
idle_pct=$(( (b - a) * 100 / $(getconf CLK_TCK) / 2 ))
echo "idle_qemu_cpu_pct=$idle_pct"
[ "$idle_pct" -lt 50 ] || fail "idle firmware burns ${idle_pct}% CPU"

# --- kill -9 and restart on the same NV ---
kill -9 "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=
start_qemu
INFO2=$(fw info)
echo "$INFO2" | grep -q "devpub=$DEVPUB" || fail "device key changed"
echo "$INFO2" | grep -q 'state=1 tries=4 ' || fail "PIN state/tries lost"
OUT2=$(fw login 2468 get-pub 0 unwrap 0 kh-barrier "$BLOB" counter-inc \
       sign 0 "$HASH")
mapfile -t M <<<"$OUT2"
[ "${M[1]}" = "$PUB" ] || fail "EC key lost over restart"
[ "${M[2]}" = "$SECRET" ] || fail "wrapping key lost over restart"
[ "${M[3]}" = 2 ] || fail "counter after restart is ${M[3]}, want 2"
[ "${M[4]}" = "$SIG" ] || fail "deterministic signature changed"
echo "restart: keys and counter survived (counter=${M[3]})"

# --- benchmarks (QEMU timings are indicative only) ---
fw login 2468 bench-sign 0 20
fw login 2468 bench-wrap 0 20
# What keyholdd's auto-unseal asks of the device: login, unwrap the
# barrier key (one connection, as the PKCS#11 module does).
t0=$(date +%s%N)
fw login 2468 unwrap 0 kh-barrier "$BLOB" >/dev/null
t1=$(date +%s%N)
echo "unseal_device_ms=$(( (t1 - t0) / 1000000 )) (fwctl start, connect, session, login, unwrap)"
kill -9 "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=

# Exact counts: -icount shift=0 makes one virtual ns one instruction.
icount_sign() { # label
    QEMU_EXTRA=(-icount shift=0)
    start_qemu
    # the first stats runs right after the SESSION_OPEN fwctl sends
    mapfile -t I < <(fw stats login 2468 sign 0 "$HASH" stats get-pub 0 \
                     stats unwrap 0 kh-barrier "$BLOB" stats)
    kill -9 "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=
    QEMU_EXTRA=()
    [ "${I[2]}" = "$SIG" ] || fail "$1: signature differs under icount"
    echo "$1 instructions: session_open=${I[0]} sign=${I[3]}" \
         "get_pub=${I[5]} unwrap=${I[7]}"
}
icount_sign mps2-an385

# --- mps2-an505 (Cortex-M33, secure state) ---
if ! qemu-system-arm -M help | grep -q '^mps2-an505 '; then
    echo "SKIP an505: this qemu-system-arm has no mps2-an505 machine"
    echo "PASS"
    exit 0
fi
MACHINE=mps2-an505
ELF=$OUT/keyhold-fw-mps2-an505.elf
NV=$TMP/state505.bin
truncate -s 16M "$NV"
head -c 32 /dev/urandom | dd of="$NV" bs=1 seek=64 conv=notrunc status=none
start_qemu
INFO5=$(fw info)
echo "$INFO5" | head -1
echo "$INFO5" | grep -q 'state=0 .*flags=1 ' || fail "an505: fresh device"
OUT5=$(fw init-pin 2468 login 2468 gen-ec 0 gen-wrap 0 \
       wrap 0 kh-barrier "$SECRET" sign 0 "$HASH")
mapfile -t N <<<"$OUT5"
BLOB=${N[4]}
verify_sig "${N[2]}" "${N[5]}" "$HASH" ||
    fail "an505: openssl rejected the signature"
PT=$(fw login 2468 unwrap 0 kh-barrier "$BLOB" | tail -1)
[ "$PT" = "$SECRET" ] || fail "an505: unwrap round trip"
echo "an505: sign verified by openssl, wrap/unwrap round trip"
fw login 2468 bench-sign 0 10
kill -9 "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=
SIG=${N[5]}
icount_sign mps2-an505
echo "PASS"
