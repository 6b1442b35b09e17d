#!/usr/bin/env bash
# test_cli_admin.sh - the keyhold CLI's administrative verbs against real
# keyholdd servers: operator init/unseal/seal/rotate/key-status and
# generate-root end to end on a fresh (non-dev, shamir) server; policy,
# secrets, auth, token, login, lease and kv on a `keyholdd -dev` server.
# Every verb has a success check and at least one failure check (exit code
# and message). Each check prints "ok"/"not ok"; the script ends with
# "N passed, N failed" and fails if any check did. Needs: KH_BIN (directory
# with keyholdd and keyhold), curl and python3.
set -euo pipefail

: "${KH_BIN:?KH_BIN must name the directory holding keyholdd and keyhold}"
KEYHOLD="$KH_BIN/keyhold"
KEYHOLDD="$KH_BIN/keyholdd"
PYTHON=/usr/bin/python3
ROOT_TOKEN="root-$$-admin"

mkdir -p "${KH_TEST_TMP:-/tmp}"
work="$(mktemp -d "${KH_TEST_TMP:-/tmp}/test_cli_admin.XXXXXX")"
dev_pid=""
fresh_pid=""
passed=0
failed=0

stop_pid() {
    if [[ -n "$1" ]]; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

cleanup() {
    stop_pid "$dev_pid"
    stop_pid "$fresh_pid"
    rm -rf "$work"
}
trap cleanup EXIT

unset VAULT_ADDR VAULT_TOKEN VAULT_CACERT VAULT_FORMAT VAULT_SKIP_VERIFY
unset KEYHOLD_ADDR KEYHOLD_TOKEN KEYHOLD_CACERT KEYHOLD_FORMAT
unset KEYHOLD_SKIP_VERIFY KEYHOLD_TOKEN_FILE
export HOME="$work/home"
mkdir -p "$HOME"

pass() {
    passed=$((passed + 1))
    echo "ok - $1"
}

fail() {
    failed=$((failed + 1))
    echo "not ok - $1"
    if [[ -f "$work/out" ]]; then
        sed 's/^/#   stdout: /' "$work/out" | head -20
        sed 's/^/#   stderr: /' "$work/err" | head -20
    fi
}

sanitizer_check() {
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/err"; then
        fail "no sanitizer report from: $*"
    fi
}

# run CMD...: stdout/stderr in $work/out, $work/err, the exit code in $rc.
run() {
    set +e
    "$@" >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    set -e
    sanitizer_check "$@"
}

# run_in INPUT CMD...: like run, with INPUT on standard input.
run_in() {
    local input="$1"
    shift
    set +e
    printf '%s' "$input" | "$@" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    sanitizer_check "$@"
}

expect_rc() {
    if [[ "$rc" -eq "$1" ]]; then pass "$2 (exit $1)"; else fail "$2 (exit $rc, wanted $1)"; fi
}

expect_line() {
    if grep -qE -- "$2" "$work/$1"; then pass "$3"; else fail "$3 ($1 has no line matching /$2/)"; fi
}

expect_no_line() {
    if grep -qE -- "$2" "$work/$1"; then fail "$3 ($1 matches /$2/)"; else pass "$3"; fi
}

# value KEY: the Value column of the table row KEY in $work/out.
value() {
    sed -nE "s/^$1 {2,}(.*)$/\\1/p" "$work/out" | head -1
}

# json_check EXPR NAME: a python expression over d = json of $work/out.
json_check() {
    if "$PYTHON" -c "import json,sys; d = json.load(open(sys.argv[1])); assert $1" "$work/out" 2>/dev/null; then
        pass "$2"
    else
        fail "$2"
    fi
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT PID: until sys/health answers anything.
wait_http() {
    local i code
    for i in $(seq 1 150); do
        code="$(curl -s -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$1/v1/sys/health" || true)"
        if [[ "$code" != "000" ]]; then
            return 0
        fi
        if ! kill -0 "$2" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

start_dev() {
    dev_port="$(free_port)"
    "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$dev_port" \
        -dev-root-token-id="$ROOT_TOKEN" >"$work/dev.log" 2>&1 &
    dev_pid=$!
    wait_http "$dev_port" "$dev_pid"
}

start_fresh() {
    fresh_port="$(free_port)"
    mkdir -p "$work/fresh-data"
    cat >"$work/fresh.hcl" <<HCL
listener "tcp" {
  address = "127.0.0.1:$fresh_port"
  tls_disable = true
}
storage "lmdb" {
  path = "$work/fresh-data"
}
disable_mlock = true
HCL
    "$KEYHOLDD" -config="$work/fresh.hcl" >"$work/fresh.log" 2>&1 &
    fresh_pid=$!
    wait_http "$fresh_port" "$fresh_pid"
}

for bin in "$KEYHOLD" "$KEYHOLDD"; do
    if [[ ! -x "$bin" ]]; then
        echo "missing binary: $bin (build targets keyhold and keyholdd)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if ! start_fresh || ! start_dev; then
    echo "# a server did not come up:"
    tail -20 "$work/fresh.log" "$work/dev.log" | sed 's/^/#   /'
    echo "0 passed, 1 failed"
    exit 1
fi
FRESH="http://127.0.0.1:$fresh_port"
DEV="http://127.0.0.1:$dev_port"
echo "# fresh keyholdd on $FRESH (pid $fresh_pid), dev on $DEV (pid $dev_pid)"

# --- verb groups and options -------------------------------------------------

run "$KEYHOLD" operator
expect_rc 127 "a verb group without a subcommand"
expect_line err '^ +generate-root +Generate a new root token' "group usage lists its subcommands"

run "$KEYHOLD" kv metadata -h
expect_rc 0 "kv metadata -h"
expect_line out '^Usage: keyhold kv metadata' "nested group help"

run "$KEYHOLD" kv frob x
expect_rc 127 "unknown subcommand"
expect_line err '^Unknown subcommand: frob' "unknown subcommand is named"

run "$KEYHOLD" -address="$DEV" read -mount=secret secret/x
expect_rc 1 "a verb option on a verb that does not take it"
expect_line err '^flag provided but not defined: -mount$' "foreign verb option is named"
