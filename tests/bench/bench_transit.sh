#!/bin/bash
# bench_transit.sh - transit encrypt and decrypt requests per second with
# a software key and with a managed (SoftHSM2-resident) key, against a KV
# v2 read on the same server, in the same run.
#
# Starts `keyholdd -dev` (pkcs11 dev seal on SoftHSM2) on a free port of
# 127.0.0.1, enables transit/, creates an aes256-gcm96 key "soft" and a
# managed key "hsm" (managed_key=true), writes one KV v2 secret, and
# checks every target answers 200 once. Then, for ROUNDS rounds, runs
# `wrk -t2 -c64 -d<SECONDS>s --latency` against each of: KV read,
# encrypt/soft, decrypt/soft, encrypt/hsm, decrypt/hsm (32-byte
# plaintext), rotating which goes first. Prints every run, the medians,
# and the median per-round ratios soft/KV, hsm/soft, hsm/KV, with the
# references: vault-benchmark's published transit encrypt 1,785 req/s
# (other hardware) and SoftHSM2's raw AES-GCM rate on this kind of
# machine (about 132k/s measured here). Fails only if a server does
# not start or a target answers anything but 2xx.
#
# Environment: SECONDS (wrk duration per run, default 10; read from the
# environment only), ROUNDS (default 3), KH_BUILD_DIR (default
# build-bench, else build), KH_TEST_TMP (default /tmp). keyholdd is
# stopped by PID on exit. Load generator and server share the cores.
set -euo pipefail

DURATION=$(printenv SECONDS || echo 10)
ROUNDS=${ROUNDS:-3}
BENCH=bench_transit
. "$(dirname "$0")/lib.sh"
bench_need "$KEYHOLDD" "$(command -v wrk || echo wrk)" \
    "$(command -v jq || echo jq)"
bench_setup transit
TOKEN=bench-transit-root

PORT=$(free_port)
URL=http://127.0.0.1:$PORT/v1
bench_start_dev "$PORT" "$TOKEN" "$TMP/keyholdd.log"
for _ in $(seq 1 300); do
    grep -q "Development mode should NOT" "$TMP/keyholdd.log" && break
    if ! kill -0 "$KH_PID" 2>/dev/null; then
        echo "bench_transit: keyholdd exited; log:" >&2
        cat "$TMP/keyholdd.log" >&2
        exit 1
    fi
    sleep 0.05
done

# api METHOD PATH [JSON]: require 2xx, print the body.
api() {
    local code
    code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" \
        -H "X-Vault-Token: $TOKEN" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$URL/$2")
    case $code in 2??) ;; *)
        echo "bench_transit: $1 $2 -> $code $(cat "$TMP/body")" >&2
        exit 1 ;;
    esac
    cat "$TMP/body"
}

PLAIN=$(head -c 32 /dev/urandom | base64 -w0)
api POST sys/mounts/transit '{"type":"transit"}' >/dev/null
api POST transit/keys/soft '{"type":"aes256-gcm96"}' >/dev/null
api POST transit/keys/hsm '{"managed_key":true}' >/dev/null
api POST secret/data/bench '{"data":{"user":"bench","password":"s3cret-value"}}' \
    >/dev/null
CT_SOFT=$(api POST transit/encrypt/soft "{\"plaintext\":\"$PLAIN\"}" |
    jq -r .data.ciphertext)
CT_HSM=$(api POST transit/encrypt/hsm "{\"plaintext\":\"$PLAIN\"}" |
    jq -r .data.ciphertext)
[ "$(api POST transit/decrypt/hsm "{\"ciphertext\":\"$CT_HSM\"}" |
    jq -r .data.plaintext)" = "$PLAIN" ] ||
    { echo "bench_transit: managed round trip differs" >&2; exit 1; }

# lua NAME METHOD PATH [BODY]: a wrk script with the token (and body).
lua() {
    {
        echo "wrk.method = \"$2\""
        echo "wrk.path = \"/v1/$3\""
        echo "wrk.headers[\"X-Vault-Token\"] = \"$TOKEN\""
        if [ -n "${4:-}" ]; then
            echo "wrk.headers[\"Content-Type\"] = \"application/json\""
            echo "wrk.body = '$4'"
        fi
    } >"$TMP/$1.lua"
}
lua kv GET secret/data/bench
lua enc_soft POST transit/encrypt/soft "{\"plaintext\":\"$PLAIN\"}"
lua dec_soft POST transit/decrypt/soft "{\"ciphertext\":\"$CT_SOFT\"}"
lua enc_hsm POST transit/encrypt/hsm "{\"plaintext\":\"$PLAIN\"}"
lua dec_hsm POST transit/decrypt/hsm "{\"ciphertext\":\"$CT_HSM\"}"
TARGETS="kv enc_soft dec_soft enc_hsm dec_hsm"

# run_wrk NAME SECONDS: prints "req_s p50_ms p99_ms".
run_wrk() {
    wrk -t2 -c64 -d"$2"s --latency -s "$TMP/$1.lua" \
        "http://127.0.0.1:$PORT" >"$TMP/wrk-$1.txt" 2>&1
    wrk_summary "$1" "$TMP/wrk-$1.txt"
}

echo "bench_transit: wrk -t2 -c64 -d${DURATION}s --latency, $ROUNDS rounds," \
     "32-byte plaintext; load generator and server share $(nproc) cores"
for t in $TARGETS; do run_wrk "$t" 2 >/dev/null; done

RESULTS=$TMP/results.txt
: >"$RESULTS"
printf '%-6s %-9s %10s %9s %9s\n' round target req/s p50_ms p99_ms
set -- $TARGETS
for round in $(seq 1 "$ROUNDS"); do
    order=$(printf '%s\n' "$@" | awk -v r="$round" -v n=$# \
        '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[(i + r - 1) % n + 1] }')
    for name in $order; do
        read -r rps p50 p99 < <(run_wrk "$name" "$DURATION")
        echo "$round $name $rps $p50 $p99" >>"$RESULTS"
        printf '%-6s %-9s %10s %9s %9s\n' "$round" "$name" "$rps" "$p50" "$p99"
    done
done

echo
printf '%-9s %14s %13s %13s\n' target "median req/s" "median p50_ms" \
    "median p99_ms"
for name in $TARGETS; do
    printf '%-9s %14s %13s %13s\n' "$name" \
        "$(median_of "$RESULTS" "$name" 3 %.0f)" \
        "$(median_of "$RESULTS" "$name" 4 %.3f)" \
        "$(median_of "$RESULTS" "$name" 5 %.3f)"
done

# ratio A B: median over rounds of A/B.
ratio() {
    awk -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 }
        END { for (r in x) printf "%.3f\n", x[r] / y[r] }' "$RESULTS" |
        median %.3f
}
echo
echo "median per-round ratios:"
echo "  encrypt soft / KV read     $(ratio enc_soft kv)"
echo "  decrypt soft / KV read     $(ratio dec_soft kv)"
echo "  encrypt hsm / encrypt soft $(ratio enc_hsm enc_soft)"
echo "  decrypt hsm / decrypt soft $(ratio dec_hsm dec_soft)"
echo "  encrypt hsm / KV read      $(ratio enc_hsm kv)"
ENC_SOFT=$(awk '$2 == "enc_soft" { print $3 }' "$RESULTS" | median %.0f)
ENC_HSM=$(awk '$2 == "enc_hsm" { print $3 }' "$RESULTS" | median %.0f)
echo
echo "references: vault-benchmark transit encrypt 1,785 req/s (published," \
     "other hardware): soft = $(awk -v s="$ENC_SOFT" 'BEGIN { printf "%.1fx", s / 1785 }')"
echo "            SoftHSM2 raw AES-GCM 32 B ~132k/s on this kind of machine:" \
     "managed encrypt = $(awk -v s="$ENC_HSM" 'BEGIN { printf "%.1f%%", 100 * s / 132000 }') of it"
USES=$(api GET transit/keys/hsm | jq -r '.data.managed_key_uses["1"]')
echo "managed key version 1 use count after the run: $USES"
