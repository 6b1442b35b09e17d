#!/bin/bash
# test_fw_pkcs11.sh - the Keyhold device through its PKCS#11 module
# (libkeyhold-fw-pkcs11.so), end to end, against keyhold-fw-sim on a temp
# unix socket, or with KH_FW_QEMU=1 against the real mps2-an385 firmware
# image in qemu-system-arm (its UART on a unix-socket chardev):
#
#   1. fwctl sets the device PIN; pkcs11-tool lists the slot, logs in,
#      generates an AES-256 key "kek" inside the device, lists it as
#      sensitive and never extractable, cannot read its value, and is
#      refused with a wrong PIN; generates a P-256 key pair "sig" in the
#      device and signs a SHA-256 hash with CKM_ECDSA, which openssl
#      verifies with the module's CKA_EC_POINT and pkcs11-tool --verify
#      accepts through the module (C_Verify, the device's VERIFY), while
#      a signature with a flipped byte or over another hash is reported
#      invalid; --list-mechanisms shows wrap, unwrap and verify;
#   2. keyholdd with seal "pkcs11" on the module (generate_key = false,
#      the key from step 1) initialises with recovery keys, restarts and
#      auto-unseals through the device (the start-to-unsealed time is
#      printed as fw_autounseal_ms);
#   3. the device stops: keyholdd keeps serving and sys/seal-status
#      reports "seal_healthy": false; the device starts again on the same
#      NV: healthy again; a second restart of keyholdd auto-unseals;
#   4. keyholdd with generate_key = true and a new key label creates its
#      key in the device through C_GenerateKey.
#
# Every process is stopped by its PID; the temp dir is removed. keyholdd
# must exit 0 with no sanitizer report. Skips (exit 0, "SKIP") without
# pkcs11-tool, or in QEMU mode without qemu or the ARM toolchain.
# Run: KH_BIN=<build>/bin bash tests/integration/test_fw_pkcs11.sh
set -u

SRC=${KH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${KH_BIN:-$SRC/build/bin}
MODULE=${KH_FW_PKCS11:-$BIN/../lib/libkeyhold-fw-pkcs11.so}
QEMU=${KH_FW_QEMU:-0}
PIN=2468
for tool in pkcs11-tool curl python3 openssl; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 0; }
done
if [ "$QEMU" = 1 ]; then
    for tool in qemu-system-arm arm-none-eabi-gcc; do
        command -v "$tool" >/dev/null ||
            { echo "SKIP: $tool not installed"; exit 0; }
    done
fi
for f in "$BIN/keyholdd" "$BIN/fwctl" "$BIN/keyhold-fw-sim" "$MODULE"; do
    [ -e "$f" ] || { echo "FAIL: $f not built"; exit 1; }
done

base=${KH_TEST_TMP:-/tmp}
mkdir -p "$base"
TMP=$(mktemp -d "$base/fwp11.XXXXXX")
DEV_PID=
KH_PID=
cleanup() {
    if [ -n "$KH_PID" ]; then kill -KILL "$KH_PID" 2>/dev/null; wait "$KH_PID" 2>/dev/null; fi
    if [ -n "$DEV_PID" ]; then kill -KILL "$DEV_PID" 2>/dev/null; wait "$DEV_PID" 2>/dev/null; fi
    if [ "${KH_KEEP_TMP:-0}" != 1 ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }

SOCK=$TMP/dev.sock
export KEYHOLD_FW_DEVICE=unix:$SOCK

# An ASan-built module needs the ASan runtime in a host (pkcs11-tool)
# that was not built with it.
P11_ENV=()
if nm -D "$MODULE" 2>/dev/null | grep -q ' U __asan_init'; then
    rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
    [ -f "$rt" ] || { echo "SKIP: ASan module without the clang runtime"; exit 0; }
    P11_ENV=(LD_PRELOAD="$rt" ASAN_OPTIONS=detect_leaks=0)
fi
p11() { env "${P11_ENV[@]}" pkcs11-tool --module "$MODULE" "$@"; }
fw() { "$BIN/fwctl" --socket "$SOCK" "$@"; }

# --- the device: the simulator, or the firmware image in QEMU ---------
if [ "$QEMU" = 1 ]; then
    OUT=${KH_FW_CROSS_OUT:-$(cd "$BIN/.." && pwd)/fw-cross}
    make -s -C "$SRC/firmware/cross" O="$OUT" >"$TMP/make.log" 2>&1 || {
        cat "$TMP/make.log"; fail "cross build"; }
    ELF=$OUT/keyhold-fw-mps2-an385.elf
    NV=$TMP/state.bin
    truncate -s 16M "$NV"
    head -c 32 /dev/urandom |
        dd of="$NV" bs=1 seek=64 conv=notrunc status=none
else
    NV=$TMP/nv
fi

dev_start() {
    rm -f "$SOCK"
    if [ "$QEMU" = 1 ]; then
        qemu-system-arm -M mps2-an385,memory-backend=ps \
            -object "memory-backend-file,id=ps,size=16M,share=on,mem-path=$NV" \
            -nographic -monitor none -kernel "$ELF" \
            -chardev socket,id=u0,path="$SOCK",server=on,wait=off \
            -serial chardev:u0 >>"$TMP/dev.log" 2>&1 &
    else
        "$BIN/keyhold-fw-sim" --nv "$NV" --socket "$SOCK" \
            >>"$TMP/dev.log" 2>&1 &
    fi
    DEV_PID=$!
    for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.025; done
    [ -S "$SOCK" ] && kill -0 "$DEV_PID" 2>/dev/null ||
        { cat "$TMP/dev.log"; fail "device socket"; }
}

dev_stop() {
    kill -KILL "$DEV_PID" 2>/dev/null
    wait "$DEV_PID" 2>/dev/null
    DEV_PID=
}

# --- keyholdd ---------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ADDR=http://127.0.0.1:$PORT

write_config() { # key_label generate_key
    cat >"$TMP/kh.hcl" <<EOF
listener "tcp" {
  address = "127.0.0.1:$PORT"
  tls_disable = true
}
storage "lmdb" {
  path = "$TMP/kh-data"
}
seal "pkcs11" {
  lib = "$MODULE"
  token_label = "keyhold-fw"
  pin = "$PIN"
  key_label = "$1"
  generate_key = $2
}
disable_mlock = true
EOF
}

kh_start() {
    "$BIN/keyholdd" -config="$TMP/kh.hcl" >>"$TMP/kh.log" 2>&1 &
    KH_PID=$!
}

kh_stop() {
    kill -TERM "$KH_PID"
    wait "$KH_PID"
    local rc=$?
    KH_PID=
    [ "$rc" = 0 ] || { tail -40 "$TMP/kh.log"; fail "keyholdd exited $rc"; }
    if grep -q Sanitizer "$TMP/kh.log"; then
        tail -60 "$TMP/kh.log"; fail "sanitizer report"
    fi
}

# GET/PUT against keyholdd; body in $TMP/body, status printed.
api() { # METHOD PATH [JSON] [TOKEN]
    local args=(-s -m 30 -o "$TMP/body" -w '%{http_code}' -X "$1")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data "$3")
    [ -n "${4:-}" ] && args+=(-H "X-Vault-Token: $4")
    curl "${args[@]}" "$ADDR/v1/$2"
}

json() { # FIELD: print a top-level field of $TMP/body
    python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if isinstance(v, (bool, dict, list)) else v)' "$TMP/body" "$1"
}

# Wait until seal-status has field == value; prints the ms it took.
wait_status() { # FIELD VALUE TIMEOUT_S
    local t0 now
    t0=$(date +%s%N)
    while :; do
        if [ "$(api GET sys/seal-status 2>/dev/null)" = 200 ] &&
            [ "$(json "$1")" = "$2" ]; then
            now=$(date +%s%N)
            echo $(( (now - t0) / 1000000 ))
            return 0
        fi
        now=$(date +%s%N)
        [ $(( (now - t0) / 1000000000 )) -lt "$3" ] || return 1
        if [ -n "$KH_PID" ] && ! kill -0 "$KH_PID" 2>/dev/null; then
            return 1
        fi
        sleep 0.01
    done
}

# === 1. the device and pkcs11-tool ====================================
dev_start
fw init-pin "$PIN" >/dev/null || fail "fwctl init-pin"
p11 --list-slots 2>&1 | tee "$TMP/slots.txt" | grep -q 'token label *: keyhold-fw' ||
    { cat "$TMP/slots.txt"; fail "slot list"; }
grep -q 'PIN initialized' "$TMP/slots.txt" || fail "token flags"
pass "pkcs11-tool --list-slots: token keyhold-fw"
p11 --login --pin "$PIN" --keygen --key-type AES:32 --label kek \
    >"$TMP/keygen.txt" 2>&1 || { cat "$TMP/keygen.txt"; fail "--keygen"; }
p11 --login --pin "$PIN" --list-objects >"$TMP/objs.txt" 2>&1 ||
    { cat "$TMP/objs.txt"; fail "--list-objects"; }
grep -q 'label: *kek' "$TMP/objs.txt" || { cat "$TMP/objs.txt"; fail "no kek"; }
grep -q 'never extractable' "$TMP/objs.txt" ||
    { cat "$TMP/objs.txt"; fail "kek is not never-extractable"; }
grep -q 'AES length 32' "$TMP/objs.txt" || fail "kek is not AES-256"
pass "--keygen AES:32 kek; --list-objects: sensitive, never extractable"
if p11 --login --pin "$PIN" --read-object --type secrkey --label kek \
    >/dev/null 2>&1; then
    fail "the key value was read"
fi
p11 --list-objects 2>/dev/null | grep -q 'kek' &&
    fail "key visible without login"
if p11 --login --pin 1111 --list-objects >/dev/null 2>&1; then
    fail "wrong PIN accepted"
fi
p11 --login --pin "$PIN" --generate-random 32 >"$TMP/rand" 2>/dev/null &&
    [ "$(stat -c %s "$TMP/rand")" = 32 ] || fail "--generate-random"
pass "value unreadable, hidden before login, wrong PIN refused, random"

# P-256 in the device: key pair, CKM_ECDSA over a SHA-256 hash, verified
# by openssl with the public key read back through the module.
p11 --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --label sig \
    >"$TMP/kpgen.txt" 2>&1 || { cat "$TMP/kpgen.txt"; fail "--keypairgen"; }
printf 'keyhold pkcs11 ecdsa' | openssl dgst -sha256 -binary >"$TMP/hash.bin"
t0=$(date +%s%N)
p11 --login --pin "$PIN" --sign --mechanism ECDSA --label sig \
    --signature-format openssl -i "$TMP/hash.bin" -o "$TMP/sig.der" \
    >"$TMP/sign.txt" 2>&1 || { cat "$TMP/sign.txt"; fail "--sign ECDSA"; }
t1=$(date +%s%N)
# The public key from its CKA_EC_POINT as pkcs11-tool printed it (its
# --read-object --type pubkey frees the curve name before using it,
# OpenSC 0.23 with OpenSSL 3, which ASan reports in an ASan module's host).
point=$(sed -n 's/^ *EC_POINT: *0441\(04[0-9a-f]\{128\}\)$/\1/p' "$TMP/kpgen.txt")
[ ${#point} = 130 ] || { cat "$TMP/kpgen.txt"; fail "no EC_POINT"; }
python3 -c 'import sys; open(sys.argv[2], "wb").write(bytes.fromhex(
    "3059301306072a8648ce3d020106082a8648ce3d030107034200" + sys.argv[1]))' \
    "$point" "$TMP/sigpub.der"
openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/sigpub.der" \
    -in "$TMP/hash.bin" -sigfile "$TMP/sig.der" >/dev/null 2>&1 ||
    fail "openssl rejected the device's ECDSA signature"
printf 'other' | openssl dgst -sha256 -binary >"$TMP/hash2.bin"
if openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/sigpub.der" \
    -in "$TMP/hash2.bin" -sigfile "$TMP/sig.der" >/dev/null 2>&1; then
    fail "a signature verified over another hash"
fi
grep -q 'Access: *sensitive, always sensitive, never extractable' \
    "$TMP/kpgen.txt" || fail "the EC private key is not sensitive"
echo "fw_p11_ecdsa_sign_ms=$(( (t1 - t0) / 1000000 )) (pkcs11-tool process, login included)"
pass "--keypairgen EC:prime256v1, --sign ECDSA verified by openssl"

# C_Verify through the module: the public key "sig", the same signature
# (DER, as openssl has it, and raw r || s), then a flipped byte and
# another hash, which pkcs11-tool reports as invalid.
verify() { # HASH SIGFILE [pkcs11-tool options]
    local h=$1 f=$2
    shift 2
    p11 --login --pin "$PIN" --verify --mechanism ECDSA --label sig \
        -i "$h" --signature-file "$f" "$@" 2>&1
}
t0=$(date +%s%N)
verify "$TMP/hash.bin" "$TMP/sig.der" --signature-format openssl \
    >"$TMP/verify.txt" || { cat "$TMP/verify.txt"; fail "--verify ECDSA"; }
t1=$(date +%s%N)
grep -q 'Signature is valid' "$TMP/verify.txt" ||
    { cat "$TMP/verify.txt"; fail "--verify rejected the device's signature"; }
p11 --login --pin "$PIN" --sign --mechanism ECDSA --label sig \
    -i "$TMP/hash.bin" -o "$TMP/sig.raw" >"$TMP/sign2.txt" 2>&1 ||
    { cat "$TMP/sign2.txt"; fail "--sign ECDSA (raw)"; }
[ "$(stat -c %s "$TMP/sig.raw")" = 64 ] || fail "raw signature is not r || s"
verify "$TMP/hash.bin" "$TMP/sig.raw" | grep -q 'Signature is valid' ||
    fail "--verify rejected the raw signature"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read())
b[40] ^= 1; open(sys.argv[2], "wb").write(b)' "$TMP/sig.raw" "$TMP/sig.bad"
verify "$TMP/hash.bin" "$TMP/sig.bad" >"$TMP/verify-bad.txt"
grep -q 'Invalid signature' "$TMP/verify-bad.txt" ||
    { cat "$TMP/verify-bad.txt"; fail "--verify accepted a flipped byte"; }
verify "$TMP/hash2.bin" "$TMP/sig.raw" >"$TMP/verify-bad.txt"
grep -q 'Invalid signature' "$TMP/verify-bad.txt" ||
    { cat "$TMP/verify-bad.txt"; fail "--verify accepted another hash"; }
p11 --list-mechanisms >"$TMP/mechs.txt" 2>&1 || fail "--list-mechanisms"
grep -q 'AES-GCM.*encrypt, decrypt, wrap, unwrap' "$TMP/mechs.txt" &&
    grep -q 'ECDSA,.*sign, verify' "$TMP/mechs.txt" ||
    { cat "$TMP/mechs.txt"; fail "mechanism flags"; }
echo "fw_p11_ecdsa_verify_ms=$(( (t1 - t0) / 1000000 )) (pkcs11-tool process, login included)"
pass "--verify ECDSA: the device's signature valid; flipped byte, other hash not"
if grep -l 'Sanitizer' "$TMP"/*.txt; then
    fail "sanitizer report in pkcs11-tool"
fi

# === 2. keyholdd: init, restart, auto-unseal ==========================
write_config kek false
kh_start
wait_status initialized false 30 >/dev/null || { tail -30 "$TMP/kh.log"; fail "keyholdd start"; }
[ "$(api PUT sys/init '{"recovery_shares": 3, "recovery_threshold": 2}')" = 200 ] ||
    { cat "$TMP/body"; fail "sys/init"; }
ROOT=$(json root_token)
[ "$(json recovery_keys | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] ||
    fail "recovery keys"
wait_status sealed false 30 >/dev/null || fail "unsealed after init"
[ "$(api GET sys/key-status '' "$ROOT")" = 200 ] || fail "key-status"
pass "keyholdd initialised through the device (3 recovery keys)"
kh_stop

kh_start
ms=$(wait_status sealed false 30) || { tail -30 "$TMP/kh.log"; fail "auto-unseal"; }
[ "$(api GET sys/key-status '' "$ROOT")" = 200 ] || fail "key-status after restart"
echo "fw_autounseal_ms=$ms"
pass "keyholdd restarted and auto-unsealed through the device"

# === 3. device down and back ==========================================
wait_status seal_healthy true 15 >/dev/null || fail "seal not healthy"
dev_stop
ms=$(wait_status seal_healthy false 20) || fail "seal_healthy stayed true with the device down"
[ "$(api GET sys/key-status '' "$ROOT")" = 200 ] || fail "stopped serving with the device down"
api GET sys/seal-status >/dev/null
[ "$(json sealed)" = false ] || fail "sealed with the device down"
pass "device down: keyholdd serves, seal_healthy false (after ${ms} ms)"
dev_start
ms=$(wait_status seal_healthy true 20) || { tail -20 "$TMP/kh.log"; fail "seal_healthy did not recover"; }
pass "device back: seal_healthy true (after ${ms} ms)"
kh_stop
kh_start
wait_status sealed false 30 >/dev/null || fail "auto-unseal after the device restart"
pass "auto-unseal after the device restart"
kh_stop

# === 4. generate_key = true ===========================================
rm -rf "$TMP/kh-data"
write_config kh-kek2 true
kh_start
wait_status initialized false 30 >/dev/null || { tail -30 "$TMP/kh.log"; fail "keyholdd start (generate)"; }
[ "$(api PUT sys/init '{"recovery_shares": 1, "recovery_threshold": 1}')" = 200 ] ||
    { cat "$TMP/body"; tail -20 "$TMP/kh.log"; fail "sys/init (generate)"; }
wait_status sealed false 30 >/dev/null || fail "unsealed after init (generate)"
kh_stop
fw login "$PIN" wrap-list | grep -q 'label=kh-kek2' ||
    fail "generate_key did not create kh-kek2 in the device"
kh_start
wait_status sealed false 30 >/dev/null || fail "auto-unseal (generate)"
kh_stop
pass "generate_key = true: kh-kek2 created in the device; auto-unseal"

dev_stop
echo "PASS"
