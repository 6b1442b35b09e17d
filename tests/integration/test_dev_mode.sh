#!/bin/bash
# test_dev_mode.sh - `keyholdd -dev` from the outside: the banner, the root
# token flag, the shamir dev seal, cleanup of the temporary directory on
# SIGTERM and SIGINT (exit 0, no sanitizer report), and the command-line
# errors (exit 2 with usage; address in use -> non-zero with a message).
#
# Every keyholdd started here is stopped by its PID; the work directory
# (also TMPDIR for keyholdd, so dev directories land in it) is removed.
# Run: KH_BIN=/path/to/build/bin bash test_dev_mode.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
BIN=${KH_BIN:-$here/../../build/bin}
KEYHOLDD=$BIN/keyholdd
base=${KH_TEST_TMP:-/tmp}
mkdir -p "$base"
work=$(mktemp -d "$base/devmode-XXXXXX")
pids=()
passed=0
failed=0

cleanup() {
    local p
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null
            wait "$p" 2>/dev/null
        fi
    done
    if [ "${KH_KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fail() {
    echo "    $*" >&2
    return 1
}

# start_dev LOG ARGS...: start keyholdd -dev in the background (PID in $dev_pid)
# and wait until its banner is complete or it exits.
start_dev() {
    local log=$1
    shift
    TMPDIR=$work "$KEYHOLDD" -dev "$@" >"$log" 2>&1 &
    dev_pid=$!
    pids+=("$dev_pid")
    for _ in $(seq 1 300); do
        grep -q "Development mode should NOT" "$log" && return 0
        kill -0 "$dev_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# stop_dev SIGNAL LOG: signal $dev_pid, wait, require exit 0 and no
# sanitizer report in the log.
stop_dev() {
    local sig=$1 log=$2 rc
    kill "-$sig" "$dev_pid"
    wait "$dev_pid"
    rc=$?
    [ "$rc" -eq 0 ] || fail "keyholdd exited $rc on SIG$sig: $(tail -20 "$log")" || return 1
    if grep -q "Sanitizer\|runtime error:" "$log"; then
        fail "sanitizer report: $(grep -A20 Sanitizer "$log" | head -40)"
        return 1
    fi
    return 0
}

http_code() {  # http_code URL [curl args...]
    local url=$1
    shift
    curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" "$url"
}

run() {
    local name=$1
    if "$name"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

# The banner names the address, the token and the directory, with two
# export lines; the token works; SIGTERM exits 0 and removes the directory.
test_banner_and_sigterm() {
    local port log token dir addr
    port=$(free_port)
    addr=127.0.0.1:$port
    log=$work/banner.log
    start_dev "$log" -dev-listen-address="$addr" || fail "no banner: $(cat "$log")" || return 1
    grep -q "^    \$ export VAULT_ADDR='http://$addr'\$" "$log" || fail "no VAULT_ADDR line" || return 1
    [ "$(grep -c '^    \$ export ' "$log")" -eq 2 ] || fail "not two export lines" || return 1
    token=$(sed -n "s/^    \$ export VAULT_TOKEN='\(.*\)'\$/\1/p" "$log")
    [ -n "$token" ] || fail "no VAULT_TOKEN line: $(cat "$log")" || return 1
    grep -q "^Root Token: $token\$" "$log" || fail "Root Token line differs" || return 1
    grep -q "^Recovery Key: [0-9a-f]\{64\}\$" "$log" || fail "no Recovery Key (pkcs11 seal)" || return 1
    grep -q "listening on $addr" "$log" || fail "no listening line" || return 1
    dir=$(sed -n 's/^directory (\([^)]*\)).*/\1/p' "$log")
    [ -n "$dir" ] && [ -d "$dir" ] || fail "temporary directory '$dir' not found" || return 1
    case $dir in "$work"/keyhold-dev-*) ;; *) fail "directory $dir not under TMPDIR" || return 1 ;; esac
    [ "$(http_code "http://$addr/v1/sys/key-status" -H "X-Vault-Token: $token")" = 200 ] \
        || fail "root token refused" || return 1
    [ "$(http_code "http://$addr/v1/sys/key-status" -H "X-Vault-Token: x$token")" = 403 ] \
        || fail "wrong token not 403" || return 1
    curl -s "http://$addr/v1/sys/seal-status" | grep -q '"type":"pkcs11".*"sealed":false' \
        || fail "default dev seal is not pkcs11/unsealed: $(curl -s "http://$addr/v1/sys/seal-status")" \
        || return 1
    stop_dev TERM "$log" || return 1
    [ ! -e "$dir" ] || fail "$dir still exists after SIGTERM" || return 1
}

# -dev-root-token-id=xyz: exactly that token works.
test_root_token_id() {
    local port log
    port=$(free_port)
    log=$work/token.log
    start_dev "$log" -dev-listen-address="127.0.0.1:$port" -dev-root-token-id=xyz \
        || fail "no banner: $(cat "$log")" || return 1
    grep -q "^Root Token: xyz\$" "$log" || fail "banner token is not xyz" || return 1
    grep -q "export VAULT_TOKEN='xyz'" "$log" || fail "export line token is not xyz" || return 1
    [ "$(http_code "http://127.0.0.1:$port/v1/sys/key-status" -H "X-Vault-Token: xyz")" = 200 ] \
        || fail "xyz refused" || return 1
    [ "$(http_code "http://127.0.0.1:$port/v1/sys/key-status" -H "Authorization: Bearer xyz")" = 200 ] \
        || fail "Bearer xyz refused" || return 1
    [ "$(http_code "http://127.0.0.1:$port/v1/sys/key-status" -H "X-Vault-Token: xy")" = 403 ] \
        || fail "prefix xy accepted" || return 1
    stop_dev TERM "$log"
}

# -dev-seal=shamir: an Unseal Key line, unsealed, seal type shamir; the
# key unseals the node again after sys/seal. SIGINT stops cleanly too.
test_shamir_and_sigint() {
    local port log key status dir
    port=$(free_port)
    log=$work/shamir.log
    start_dev "$log" -dev-listen-address="127.0.0.1:$port" -dev-root-token-id=root -dev-seal=shamir \
        || fail "no banner: $(cat "$log")" || return 1
    key=$(sed -n 's/^Unseal Key: \([0-9a-f]\{64\}\)$/\1/p' "$log")
    [ -n "$key" ] || fail "no 64-hex Unseal Key line: $(cat "$log")" || return 1
    ! grep -q "Recovery Key" "$log" || fail "shamir banner shows a Recovery Key" || return 1
    status=$(curl -s "http://127.0.0.1:$port/v1/sys/seal-status")
    echo "$status" | grep -q '"type":"shamir"' || fail "type not shamir: $status" || return 1
    echo "$status" | grep -q '"sealed":false' || fail "not unsealed: $status" || return 1
    echo "$status" | grep -q '"t":1,"n":1' || fail "not 1-of-1: $status" || return 1
    [ "$(http_code "http://127.0.0.1:$port/v1/sys/seal" -X PUT -H "X-Vault-Token: root" \
        -H "Content-Type: application/json" -d '{}')" = 204 ] || fail "seal failed" || return 1
    [ "$(http_code "http://127.0.0.1:$port/v1/sys/health")" = 503 ] || fail "not sealed" || return 1
    curl -s -X PUT "http://127.0.0.1:$port/v1/sys/unseal" -d "{\"key\":\"$key\"}" \
        | grep -q '"sealed":false' || fail "the banner key does not unseal" || return 1
    dir=$(sed -n 's/^directory (\([^)]*\)).*/\1/p' "$log")
    stop_dev INT "$log" || return 1
    [ -n "$dir" ] && [ ! -e "$dir" ] || fail "$dir still exists after SIGINT" || return 1
    grep -q "shutdown: signal 2" "$log" || fail "no shutdown log line for SIGINT" || return 1
}

# expect_usage RC ARGS...: keyholdd exits with RC and prints the usage.
expect_usage() {
    local want=$1 rc out
    shift
    out=$(TMPDIR=$work timeout 20 "$KEYHOLDD" "$@" 2>&1)
    rc=$?
    [ "$rc" -eq "$want" ] || fail "keyholdd $*: exit $rc, want $want: $out" || return 1
    echo "$out" | grep -q "Usage: keyholdd" || fail "keyholdd $*: no usage: $out" || return 1
}

# Command-line errors: exit 2 with the usage text.
test_bad_arguments() {
    local out
    expect_usage 2 -dev -bogus-flag || return 1
    out=$(TMPDIR=$work "$KEYHOLDD" -dev -bogus-flag 2>&1)
    echo "$out" | grep -q 'unknown argument "-bogus-flag"' || fail "unnamed argument: $out" || return 1
    expect_usage 2 stray || return 1
    expect_usage 2 -dev -config="$work/x.hcl" || return 1
    expect_usage 2 -config="$work/x.hcl" -dev || return 1
    expect_usage 2 || return 1
    expect_usage 2 -dev -dev-seal=bogus || return 1
    expect_usage 0 -help || return 1
    out=$("$KEYHOLDD" -version 2>&1) || fail "-version failed" || return 1
    echo "$out" | grep -q "^Keyhold v" || fail "-version: $out" || return 1
    # none of these left a dev directory behind
    ! ls -d "$work"/keyhold-dev-* >/dev/null 2>&1 || fail "left: $(ls -d "$work"/keyhold-dev-*)" \
        || return 1
}

# The address is in use: non-zero exit, a message naming the address, and
# the dev directory is removed.
test_port_in_use() {
    local port log rc holder before after
    port=$(free_port)
    /usr/bin/python3 -c "
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(1); print('ready', flush=True); time.sleep(60)" \
        >"$work/holder.out" 2>&1 &
    holder=$!
    pids+=("$holder")
    for _ in $(seq 1 100); do
        grep -q ready "$work/holder.out" && break
        sleep 0.05
    done
    before=$(find "$work" -maxdepth 1 -name "keyhold-dev-*" | wc -l)
    log=$work/inuse.log
    TMPDIR=$work timeout 30 "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$port" >"$log" 2>&1
    rc=$?
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    after=$(find "$work" -maxdepth 1 -name "keyhold-dev-*" | wc -l)
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "exit $rc with the port in use" || return 1
    grep -q "127.0.0.1:$port" "$log" || fail "message does not name the address: $(cat "$log")" \
        || return 1
    grep -qi "in use" "$log" || fail "message does not say in use: $(cat "$log")" || return 1
    ! grep -q "Root Token" "$log" || fail "banner printed although not listening" || return 1
    ! grep -q "Sanitizer" "$log" || fail "sanitizer report: $(cat "$log")" || return 1
    [ "$after" -eq "$before" ] || fail "dev directory left behind" || return 1
}

# The default address is 127.0.0.1:8200 (only checked when it is free).
test_default_address() {
    local log
    if ! /usr/bin/python3 -c 'import socket; socket.socket().bind(("127.0.0.1", 8200))' 2>/dev/null; then
        echo "    skipped: 127.0.0.1:8200 is busy"
        return 0
    fi
    log=$work/default.log
    start_dev "$log" || fail "no banner: $(cat "$log")" || return 1
    grep -q "export VAULT_ADDR='http://127.0.0.1:8200'" "$log" || fail "not 8200: $(cat "$log")" \
        || { stop_dev TERM "$log"; return 1; }
    [ "$(http_code http://127.0.0.1:8200/v1/sys/health)" = 200 ] || fail "health on 8200" \
        || { stop_dev TERM "$log"; return 1; }
    stop_dev TERM "$log"
}

[ -x "$KEYHOLDD" ] || { echo "no keyholdd at $KEYHOLDD" >&2; exit 1; }
run test_banner_and_sigterm
run test_root_token_id
run test_shamir_and_sigint
run test_bad_arguments
run test_port_in_use
run test_default_address
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
