#!/bin/bash
# test_transit_envelope.sh - the appliance's signature workflow, envelope
# encryption, from the outside with curl and openssl against a real
# `keyholdd -dev` (pkcs11 dev seal on SoftHSM2):
#
#   1. create a KEK (a software key, then the same with managed_key=true,
#      which lives in the HSM);
#   2. datakey/wrapped gives a wrapped-only key; datakey/plaintext gives a
#      data key in both forms;
#   3. encrypt the data locally with openssl and the plaintext data key,
#      then forget the plaintext key: only the wrapped key is stored;
#   4. rotate the KEK; rewrap the stored wrapped key (only the key: the
#      data file is never touched); retire the old KEK version;
#   5. decrypt the wrapped key with the new version and decrypt the data
#      locally with openssl: same bytes, data file unchanged since step 3.
#
# Also: signatures made by transit (ecdsa-p256, rsa-2048 PSS and
# PKCS#1 v1.5, ed25519) verified by `openssl` from the published public
# keys. The server is stopped by PID and must exit 0 with no sanitizer
# report. Run: KH_BIN=/path/to/build/bin bash test_transit_envelope.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
BIN=${KH_BIN:-$here/../../build/bin}
KEYHOLDD=$BIN/keyholdd
base=${KH_TEST_TMP:-/tmp}
mkdir -p "$base"
work=$(mktemp -d "$base/envelope-XXXXXX")
TOKEN=envelope-root
dev_pid=
passed=0
failed=0

cleanup() {
    if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
        kill -KILL "$dev_pid" 2>/dev/null
        wait "$dev_pid" 2>/dev/null
    fi
    if [ "${KH_KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

fail() {
    echo "    $*" >&2
    return 1
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# api METHOD PATH [JSON]: the response body; the status in $work/status.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-s -m 30 -o "$work/body" -w '%{http_code}' -X "$method"
        -H "X-Vault-Token: $TOKEN")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data "$body")
    fi
    curl "${args[@]}" "$ADDR/v1/$path" >"$work/status"
    cat "$work/body"
}

status() { cat "$work/status"; }

# b64 FILE / unb64: standard base64 without line breaks.
b64() { base64 -w0 "$1"; }
hex_of_b64() { printf '%s' "$1" | base64 -d | od -An -tx1 -v | tr -d ' \n'; }

start_dev() {
    local port log=$work/keyholdd.log
    port=$(free_port)
    ADDR=http://127.0.0.1:$port
    TMPDIR=$work "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$port" \
        -dev-root-token-id="$TOKEN" >"$log" 2>&1 &
    dev_pid=$!
    for _ in $(seq 1 300); do
        if grep -q "Development mode should NOT" "$log"; then
            api POST sys/mounts/transit '{"type":"transit"}' >/dev/null
            [ "$(status)" = 204 ] || [ "$(status)" = 200 ] ||
                fail "enable transit: $(status) $(cat "$work/body")" || return 1
            return 0
        fi
        kill -0 "$dev_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "keyholdd did not start: $(cat "$log")"
}

stop_dev() {
    local rc log=$work/keyholdd.log
    kill -TERM "$dev_pid"
    wait "$dev_pid"
    rc=$?
    dev_pid=
    [ "$rc" -eq 0 ] || fail "keyholdd exited $rc: $(tail -20 "$log")" || return 1
    if grep -q "Sanitizer\|runtime error:" "$log"; then
        fail "sanitizer report: $(grep -A20 Sanitizer "$log" | head -40)"
        return 1
    fi
}

run() {
    if "$@"; then
        echo "ok   $*"
        passed=$((passed + 1))
    else
        echo "FAIL $*"
        failed=$((failed + 1))
    fi
}

# envelope KEK CREATE_BODY: the whole workflow with one KEK.
envelope() {
    local kek=$1 create=$2 dir=$work/$1 resp dk wrapped key_hex iv_hex
    mkdir -p "$dir"
    api POST "transit/keys/$kek" "$create" >/dev/null
    [ "$(status)" = 200 ] || fail "create $kek: $(status) $(cat "$work/body")" || return 1

    # datakey/wrapped: only the wrapped form comes back.
    resp=$(api POST "transit/datakey/wrapped/$kek" '{"bits":256}')
    [ "$(status)" = 200 ] || fail "datakey/wrapped: $resp" || return 1
    [ "$(jq -r '.data.plaintext' <<<"$resp")" = null ] || fail "wrapped has plaintext" || return 1
    jq -e '.data.ciphertext | startswith("vault:v1:")' <<<"$resp" >/dev/null || fail "$resp" || return 1

    # The data key for this object, in both forms.
    resp=$(api POST "transit/datakey/plaintext/$kek" '{}')
    [ "$(status)" = 200 ] || fail "datakey/plaintext: $resp" || return 1
    dk=$(jq -r '.data.plaintext' <<<"$resp")
    wrapped=$(jq -r '.data.ciphertext' <<<"$resp")
    [ "$(printf '%s' "$dk" | base64 -d | wc -c)" = 32 ] || fail "data key is not 32 bytes" || return 1

    # Encrypt the data locally; store data + wrapped key; forget dk.
    head -c 100000 /dev/urandom >"$dir/original.bin"
    key_hex=$(hex_of_b64 "$dk")
    iv_hex=$(openssl rand -hex 16)
    openssl enc -aes-256-ctr -K "$key_hex" -iv "$iv_hex" \
        -in "$dir/original.bin" -out "$dir/data.enc" || fail "openssl enc" || return 1
    printf '%s' "$iv_hex" >"$dir/data.iv"
    printf '%s' "$wrapped" >"$dir/data.key.wrapped"
    sha256sum "$dir/data.enc" >"$dir/data.enc.sha256"
    grep -rqF "$dk" "$dir" && { fail "the plaintext data key was stored"; return 1; }
    dk= key_hex= resp=

    # Rotate the KEK, rewrap the stored key only, retire version 1.
    api POST "transit/keys/$kek/rotate" >/dev/null
    [ "$(status)" = 200 ] || fail "rotate: $(cat "$work/body")" || return 1
    resp=$(api POST "transit/rewrap/$kek" "{\"ciphertext\":\"$(cat "$dir/data.key.wrapped")\"}")
    [ "$(status)" = 200 ] || fail "rewrap: $resp" || return 1
    jq -e '.data.ciphertext | startswith("vault:v2:")' <<<"$resp" >/dev/null || fail "rewrap: $resp" || return 1
    jq -r '.data.ciphertext' <<<"$resp" | tr -d '\n' >"$dir/data.key.wrapped"
    api POST "transit/keys/$kek/config" '{"min_decryption_version":2}' >/dev/null
    [ "$(status)" = 200 ] || fail "config: $(cat "$work/body")" || return 1
    api POST "transit/decrypt/$kek" "{\"ciphertext\":\"$wrapped\"}" >/dev/null
    [ "$(status)" = 400 ] || fail "v1 wrapped key still decrypts: $(status)" || return 1

    # Unwrap with version 2 and decrypt the untouched data locally.
    sha256sum -c --quiet "$dir/data.enc.sha256" || fail "data file changed" || return 1
    resp=$(api POST "transit/decrypt/$kek" "{\"ciphertext\":\"$(cat "$dir/data.key.wrapped")\"}")
    [ "$(status)" = 200 ] || fail "decrypt wrapped key: $resp" || return 1
    key_hex=$(hex_of_b64 "$(jq -r '.data.plaintext' <<<"$resp")")
    openssl enc -d -aes-256-ctr -K "$key_hex" -iv "$(cat "$dir/data.iv")" \
        -in "$dir/data.enc" -out "$dir/decrypted.bin" || fail "openssl dec" || return 1
    cmp -s "$dir/original.bin" "$dir/decrypted.bin" || fail "decrypted data differs" || return 1
}

test_envelope_software_kek() {
    envelope kek-soft '{"type":"aes256-gcm96"}'
}

test_envelope_managed_kek() {
    envelope kek-hsm '{"managed_key":true}' || return 1
    local resp
    resp=$(api GET transit/keys/kek-hsm)
    jq -e '.data.managed_key == true and .data.latest_version == 2' <<<"$resp" >/dev/null ||
        fail "key info: $resp" || return 1
    # Uses per version: v1 wrapped two data keys, v2 one (the rewrap).
    jq -e '.data.managed_key_uses["2"] == 1' <<<"$resp" >/dev/null || fail "uses: $resp" || return 1
}

# sign_and_verify KEY TYPE SIGN_BODY_EXTRA OPENSSL_ARGS...
sign_and_verify() {
    local key=$1 type=$2 extra=$3 resp sig pub
    shift 3
    api POST "transit/keys/$key" "{\"type\":\"$type\"}" >/dev/null
    [ "$(status)" = 200 ] || fail "create $key: $(cat "$work/body")" || return 1
    printf 'signed by keyhold transit\n' >"$work/$key.msg"
    resp=$(api POST "transit/sign/$key" "{\"input\":\"$(b64 "$work/$key.msg")\"$extra}")
    [ "$(status)" = 200 ] || fail "sign: $resp" || return 1
    sig=$(jq -r '.data.signature' <<<"$resp")
    printf '%s' "${sig#vault:v1:}" | base64 -d >"$work/$key.sig"
    pub=$(api GET "transit/keys/$key" | jq -r '.data.keys["1"].public_key')
    if [ "$type" = ed25519 ]; then
        # Raw 32-byte key: wrap it in an Ed25519 SubjectPublicKeyInfo.
        { printf '302a300506032b6570032100' | xxd -r -p
          printf '%s' "$pub" | base64 -d; } >"$work/$key.pub.der"
        openssl pkey -pubin -inform DER -in "$work/$key.pub.der" -out "$work/$key.pub.pem" 2>/dev/null ||
            fail "ed25519 public key" || return 1
        openssl pkeyutl -verify -pubin -inkey "$work/$key.pub.pem" -rawin \
            -in "$work/$key.msg" -sigfile "$work/$key.sig" >/dev/null ||
            fail "openssl rejects the $type signature" || return 1
    else
        printf '%s\n' "$pub" >"$work/$key.pub.pem"
        openssl dgst -sha256 "$@" -verify "$work/$key.pub.pem" \
            -signature "$work/$key.sig" "$work/$key.msg" >/dev/null ||
            fail "openssl rejects the $type signature" || return 1
    fi
    # A changed message fails with openssl too.
    printf 'tampered\n' >>"$work/$key.msg"
    if [ "$type" = ed25519 ]; then
        ! openssl pkeyutl -verify -pubin -inkey "$work/$key.pub.pem" -rawin \
            -in "$work/$key.msg" -sigfile "$work/$key.sig" >/dev/null 2>&1
    else
        ! openssl dgst -sha256 "$@" -verify "$work/$key.pub.pem" \
            -signature "$work/$key.sig" "$work/$key.msg" >/dev/null 2>&1
    fi
}

test_signatures_verified_by_openssl() {
    sign_and_verify sig-ec ecdsa-p256 '' || return 1
    sign_and_verify sig-pss rsa-2048 '' -sigopt rsa_padding_mode:pss \
        -sigopt rsa_pss_saltlen:-2 || return 1
    sign_and_verify sig-v15 rsa-2048 ',"signature_algorithm":"pkcs1v15"' || return 1
    sign_and_verify sig-ed ed25519 ''
}

test_stop_clean() {
    stop_dev
}

start_dev || exit 1
run test_envelope_software_kek
run test_envelope_managed_kek
run test_signatures_verified_by_openssl
run test_stop_clean
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
