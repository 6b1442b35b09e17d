#!/usr/bin/env bash
# test_cli.sh - the keyhold CLI against a real `keyholdd -dev` server.
#
# Starts keyholdd in dev mode on a free loopback port and drives
# $KH_BIN/keyhold through every verb, flag and exit code that the server
# can answer today: status (table/json/yaml, sealed and unsealed), read of
# raw and envelope responses, -field, 404 and API error formatting, write
# (k=v, k=@file, k=-, JSON from stdin, -force), list, delete, usage errors,
# environment precedence (KEYHOLD_* over VAULT_*, flags over both, the
# ~/.vault-token file) and an unreachable server. Each check prints
# "ok"/"not ok"; the script ends with "N passed, N failed" and fails if any
# check did. Needs: KH_BIN (directory with keyholdd and keyhold), curl and
# python3 (free port, JSON checks).
set -euo pipefail

: "${KH_BIN:?KH_BIN must name the directory holding keyholdd and keyhold}"
KEYHOLD="$KH_BIN/keyhold"
KEYHOLDD="$KH_BIN/keyholdd"
PYTHON=/usr/bin/python3
ROOT_TOKEN="root-$$-token"

mkdir -p "${KH_TEST_TMP:-/tmp}"
work="$(mktemp -d "${KH_TEST_TMP:-/tmp}/test_cli.XXXXXX")"
server_pid=""
passed=0
failed=0

cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A clean environment: no address, token or format from the caller, and a
# HOME of our own so a real ~/.vault-token cannot leak in.
unset VAULT_ADDR VAULT_TOKEN VAULT_CACERT VAULT_FORMAT VAULT_SKIP_VERIFY
unset KEYHOLD_ADDR KEYHOLD_TOKEN KEYHOLD_CACERT KEYHOLD_FORMAT
unset KEYHOLD_SKIP_VERIFY
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

# run CMD...: run with stdout/stderr captured in $work/out, $work/err and
# the exit code in $rc. A sanitizer report is a failure whatever the code.
run() {
    set +e
    "$@" >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    set -e
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/err"; then
        fail "no sanitizer report from: $*"
    fi
}

# run_in INPUT CMD...: like run, with INPUT on standard input.
run_in() {
    local input="$1"
    shift
    set +e
    printf '%s' "$input" | "$@" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/err"; then
        fail "no sanitizer report from: $*"
    fi
}

expect_rc() {
    if [[ "$rc" -eq "$1" ]]; then pass "$2 (exit $1)"; else fail "$2 (exit $rc, wanted $1)"; fi
}

# expect_line FILE REGEX NAME: some line of out/err matches REGEX.
expect_line() {
    if grep -qE -- "$2" "$work/$1"; then pass "$3"; else fail "$3 ($1 has no line matching /$2/)"; fi
}

expect_no_line() {
    if grep -qE -- "$2" "$work/$1"; then fail "$3 ($1 matches /$2/)"; else pass "$3"; fi
}

expect_out_exact() {
    if [[ "$(cat "$work/out"; printf x)" == "$1x" ]]; then
        pass "$2"
    else
        fail "$2 (stdout is not exactly '$1')"
    fi
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
    local attempt code i
    for attempt in 1 2 3; do
        port="$(free_port)"
        "$KEYHOLDD" -dev -dev-listen-address="127.0.0.1:$port" \
            -dev-root-token-id="$ROOT_TOKEN" >"$work/server.log" 2>&1 &
        server_pid=$!
        for i in $(seq 1 100); do
            code="$(curl -s -o /dev/null -w '%{http_code}' \
                "http://127.0.0.1:$port/v1/sys/health" || true)"
            if [[ "$code" == "200" ]]; then
                return 0
            fi
            if ! kill -0 "$server_pid" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        echo "# keyholdd did not come up on port $port (attempt $attempt):"
        sed 's/^/#   /' "$work/server.log" | tail -20
    done
    return 1
}

for bin in "$KEYHOLD" "$KEYHOLDD"; do
    if [[ ! -x "$bin" ]]; then
        echo "missing binary: $bin (build targets keyhold and keyholdd)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if ! start_server; then
    echo "0 passed, 1 failed"
    exit 1
fi
ADDR="http://127.0.0.1:$port"
DEAD_ADDR="http://127.0.0.1:$(free_port)"
echo "# keyholdd -dev on $ADDR (pid $server_pid)"

# --- Local behaviour: no server needed --------------------------------------

run "$KEYHOLD" version
expect_rc 0 "version"
expect_line out '^Keyhold v[0-9]+\.[0-9]+\.[0-9]+' "version prints Keyhold vX.Y.Z"

run "$KEYHOLD" -h
expect_rc 0 "keyhold -h"
expect_line out '^Usage: keyhold <command>' "keyhold -h prints usage"
expect_line out '^ +status +' "usage lists status"

run "$KEYHOLD" read -h
expect_rc 0 "keyhold read -h"
expect_line out '^Usage: keyhold read \[options\] PATH' "read -h prints read usage"
expect_line out '^  -format=<string>' "read -h lists -format"

run "$KEYHOLD" write --help
expect_rc 0 "keyhold write --help"
expect_line out '^Usage: keyhold write' "write --help prints write usage"

run "$KEYHOLD"
expect_rc 127 "no command"
expect_line err '^Usage: keyhold' "no command prints usage on stderr"

run "$KEYHOLD" frobnicate
expect_rc 127 "unknown command"
expect_line err '^Unknown command: frobnicate' "unknown command is named"

export KEYHOLD_ADDR="$ADDR"

run "$KEYHOLD" read
expect_rc 1 "read without a path"
expect_line err '^Not enough arguments \(expected 1, got 0\)$' "read: not enough arguments"

run "$KEYHOLD" read a b
expect_rc 1 "read with two paths"
expect_line err '^Too many arguments \(expected 1, got 2\)$' "read: too many arguments"

run "$KEYHOLD" status extra
expect_rc 1 "status with an argument"

run "$KEYHOLD" read -no-such-flag sys/seal-status
expect_rc 1 "unknown flag"
expect_line err '^flag provided but not defined: -no-such-flag$' "unknown flag is named"

run "$KEYHOLD" read -field
expect_rc 1 "flag without its value"
expect_line err '^flag needs an argument: -field$' "missing flag value is named"

run "$KEYHOLD" status -format=xml
expect_rc 1 "bad -format"
expect_line err '^Invalid output format: xml$' "bad -format is named"

run "$KEYHOLD" write sys/rotate
expect_rc 1 "write without data or -force"
expect_line err '^Must supply data or use -force$' "write asks for data or -force"

run "$KEYHOLD" write sys/rotate novalue
expect_rc 1 "write with a malformed pair"
expect_line err '^Failed to parse K=V data: format must be key=value' "malformed pair is explained"

run "$KEYHOLD" write sys/unseal key=@"$work/no-such-file"
expect_rc 1 "write with a missing @file"
expect_line err '^Failed to parse K=V data: error reading .*no-such-file: No such file' "missing @file is explained"

run "$KEYHOLD" -address=ftp://example.invalid status
expect_rc 1 "non-http address"
expect_line err 'must start with http:// or https://' "non-http address is refused"

# --- status -------------------------------------------------------------------

run "$KEYHOLD" status
expect_rc 0 "status of an unsealed server"
expect_line out '^Key +Value$' "status table header"
expect_line out '^--- +-----$' "status table underline"
for row in 'Seal Type' 'Initialized +true' 'Sealed +false' \
    'Total (Recovery )?Shares +[0-9]+' 'Threshold +[0-9]+' 'Version +[0-9]' \
    'Build Date' 'Storage Type' 'HA Enabled +(true|false)'; do
    expect_line out "^$row" "status row /$row/"
done
expect_no_line out '^Unseal Progress' "no unseal progress while unsealed"
# Columns are aligned: every value starts at the same offset as "Value".
if "$PYTHON" - "$work/out" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
col = lines[0].index("Value")
for line in lines[2:]:
    assert line[col - 4:col] == "    " and line[col] != " ", line
EOF
then pass "status columns aligned"; else fail "status columns aligned"; fi

run "$KEYHOLD" status -format=json
expect_rc 0 "status -format=json"
if "$PYTHON" -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["sealed"] is False and d["initialized"] is True and "ha_enabled" in d' "$work/out"; then
    pass "status json has sealed/initialized/ha_enabled"
else
    fail "status json has sealed/initialized/ha_enabled"
fi

run env KEYHOLD_FORMAT=yaml "$KEYHOLD" status
expect_rc 0 "status with KEYHOLD_FORMAT=yaml"
expect_line out '^sealed: false$' "yaml status has sealed: false"
expect_line out '^initialized: true$' "yaml status has initialized: true"

run env VAULT_FORMAT=json KEYHOLD_FORMAT=table "$KEYHOLD" status
expect_line out '^Key +Value$' "KEYHOLD_FORMAT wins over VAULT_FORMAT"

run env VAULT_FORMAT=json "$KEYHOLD" status -format=table
expect_line out '^Key +Value$' "-format wins over VAULT_FORMAT"

# --- read of raw (non-envelope) endpoints ----------------------------------------

curl -s "$ADDR/v1/sys/seal-status" >"$work/curl.json"
run "$KEYHOLD" read -format=json sys/seal-status
expect_rc 0 "read sys/seal-status -format=json"
# The body as the server sent it, indented by two spaces, order kept.
if "$PYTHON" - "$work/curl.json" "$work/out" <<'EOF'
import json, sys
want = json.dumps(json.load(open(sys.argv[1])), indent=2) + "\n"
got = open(sys.argv[2]).read()
assert got == want, (got, want)
EOF
then pass "json output is the response, 2-space indented"; else fail "json output is the response, 2-space indented"; fi

run "$KEYHOLD" read sys/seal-status
expect_rc 0 "read sys/seal-status (table)"
expect_line out '^Key +Value$' "raw endpoint table header"
expect_line out '^sealed +false$' "raw endpoint keys become rows"
expect_line out '^nonce +n/a$' "empty value prints n/a"
# Rows are sorted by key.
if cut -d' ' -f1 "$work/out" | tail -n +3 | sort -c 2>/dev/null; then
    pass "table rows sorted by key"
else
    fail "table rows sorted by key"
fi

run "$KEYHOLD" read -field=sealed sys/seal-status
expect_rc 0 "read -field=sealed"
expect_out_exact "false" "-field prints the raw value with no newline when piped"

want_version="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$work/curl.json")"
run "$KEYHOLD" read sys/seal-status -field=version
expect_out_exact "$want_version" "-field after the path"

run "$KEYHOLD" read -field=no_such_field sys/seal-status
expect_rc 1 "-field of a missing field"
expect_line err '^Field "no_such_field" not present in secret$' "missing field is named"

run "$KEYHOLD" read -format=yaml sys/seal-status
expect_rc 0 "read -format=yaml"
expect_line out '^type: ' "yaml rendering of a raw response"

# --- 404s and API errors -----------------------------------------------------------

# With a token: the ACL gate answers 403 before routing otherwise.
run env KEYHOLD_TOKEN="$ROOT_TOKEN" "$KEYHOLD" read nomount/missing
expect_rc 2 "read of an unknown path"
expect_line err '^No value found at nomount/missing$' "404 is 'No value found'"

run env KEYHOLD_TOKEN="$ROOT_TOKEN" "$KEYHOLD" read /nomount/missing/
expect_line err '^No value found at nomount/missing$' "path slashes are trimmed"

run env KEYHOLD_TOKEN="$ROOT_TOKEN" "$KEYHOLD" write nomount/foo a=b
expect_rc 2 "write to a path with no handler"
if "$PYTHON" - "$work/err" "$ADDR" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
want = ["Error writing data to nomount/foo: Error making API request.",
        "",
        "URL: POST %s/v1/nomount/foo" % sys.argv[2],
        "Code: 404. Errors:",
        ""]
assert lines[:5] == want, lines
assert lines[5].startswith("* "), lines
EOF
then pass "API error in Vault's format"; else fail "API error in Vault's format"; fi

run "$KEYHOLD" read secret/data/missing
expect_rc 2 "read without a token"
expect_line err '^Code: 403\. Errors:$' "no token is a 403"

run env KEYHOLD_TOKEN=not-the-token-xyz "$KEYHOLD" read sys/key-status
expect_rc 2 "read with a bad token"
expect_line err '^Code: 403\. Errors:$' "bad token is a 403"
expect_line err '^\* permission denied$' "403 lists permission denied"
expect_no_line err 'not-the-token-xyz' "the token is never printed"

run "$KEYHOLD" list no-such-mount
expect_rc 2 "list of an unknown path"
expect_line err '^No value found at no-such-mount/$' "list 404 names PATH/"

run "$KEYHOLD" list -format=json no-such-mount
expect_rc 2 "list -format=json of an unknown path"
expect_out_exact $'{}\n' "list json of nothing is {}"

run "$KEYHOLD" delete sys/key-status
expect_rc 2 "delete of a read-only path"
expect_line err '^Error deleting sys/key-status: Error making API request\.$' "delete error prefix"
expect_line err '^URL: DELETE .*/v1/sys/key-status$' "delete error URL"
expect_line err '^Code: 405\. ' "delete error code"

# --- tokens and addresses from the environment --------------------------------------

export KEYHOLD_TOKEN="$ROOT_TOKEN"
run "$KEYHOLD" read sys/key-status
expect_rc 0 "authenticated read"
expect_line out '^Key +Value$' "envelope table header"
expect_line out '^term +[0-9]+$' "envelope data rows"
expect_no_line out '^request_id' "envelope fields are not data rows"

run "$KEYHOLD" read -format=json sys/key-status
if "$PYTHON" -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["data"]["term"] >= 1 and "request_id" in d' "$work/out"; then
    pass "envelope json keeps request_id and data"
else
    fail "envelope json keeps request_id and data"
fi

run env VAULT_TOKEN=not-the-token "$KEYHOLD" read sys/key-status
expect_rc 0 "KEYHOLD_TOKEN wins over VAULT_TOKEN"
run env -u KEYHOLD_TOKEN VAULT_TOKEN="$ROOT_TOKEN" "$KEYHOLD" read sys/key-status
expect_rc 0 "VAULT_TOKEN is used without KEYHOLD_TOKEN"
printf '  %s\n' "$ROOT_TOKEN" >"$HOME/.vault-token"
run env -u KEYHOLD_TOKEN "$KEYHOLD" read sys/key-status
expect_rc 0 "token from ~/.vault-token"
rm -f "$HOME/.vault-token"
run env -u KEYHOLD_TOKEN "$KEYHOLD" read sys/key-status
expect_rc 2 "no token at all is refused by the server"

run env KEYHOLD_ADDR="$ADDR" VAULT_ADDR="$DEAD_ADDR" "$KEYHOLD" status
expect_rc 0 "KEYHOLD_ADDR wins over VAULT_ADDR"
run env -u KEYHOLD_ADDR VAULT_ADDR="$ADDR" "$KEYHOLD" status
expect_rc 0 "VAULT_ADDR is used without KEYHOLD_ADDR"
run env KEYHOLD_ADDR="$DEAD_ADDR" "$KEYHOLD" -address="$ADDR" status
expect_rc 0 "-address=URL wins over the environment"
run env KEYHOLD_ADDR="$DEAD_ADDR" "$KEYHOLD" status -address "$ADDR"
expect_rc 0 "-address URL after the verb"

# --- an unreachable server -------------------------------------------------------------

run "$KEYHOLD" -address="$DEAD_ADDR" status
expect_rc 1 "status of a server that is down"
expect_line err "^Error checking seal status: Get \"$DEAD_ADDR/v1/sys/seal-status\": .*" "status names the failed URL"
expect_line err '[Cc]onnection refused' "status says connection refused"

run "$KEYHOLD" -address="$DEAD_ADDR" read secret/x
expect_rc 2 "read from a server that is down"
expect_line err '^Error reading secret/x: Get ' "read transport error prefix"

run env -u KEYHOLD_ADDR "$KEYHOLD" status
if [[ "$rc" -ne 0 ]]; then
    expect_line err 'https://127\.0\.0\.1:8200/v1/sys/seal-status' "default address is https://127.0.0.1:8200"
else
    pass "default address is https://127.0.0.1:8200 (something answers there)"
fi

# --- write: -force, request bodies from files and stdin, seal and unseal ------------

term_before="$("$KEYHOLD" read -field=term sys/key-status)"
run "$KEYHOLD" write -f sys/rotate
expect_rc 0 "write -f sys/rotate"
expect_out_exact $'Success! Data written to: sys/rotate\n' "write 204 prints Success"
run "$KEYHOLD" read -field=term sys/key-status
expect_out_exact "$((term_before + 1))" "rotate took effect (term $term_before -> $((term_before + 1)))"

run "$KEYHOLD" write -format=json -force sys/rotate
expect_rc 0 "write -format=json of a 204"
expect_out_exact "" "no Success line outside table format"

unseal_key="$(sed -nE 's/^(Unseal|Recovery) Key: *//p' "$work/server.log" | head -1)"
if [[ -z "$unseal_key" ]]; then
    fail "dev banner prints an unseal or recovery key"
fi

# seal, check status, unseal with the key given as ARG.
seal_cycle() {
    local how="$1"
    shift
    run "$KEYHOLD" write -f sys/seal
    expect_rc 0 "seal ($how)"
    run "$KEYHOLD" status
    expect_rc 2 "status of a sealed server ($how)"
    expect_line out '^Sealed +true$' "status shows Sealed true ($how)"
    expect_line out '^Unseal Progress +0/[0-9]+$' "status shows unseal progress ($how)"
    run "$KEYHOLD" read sys/key-status
    expect_rc 2 "read while sealed ($how)"
    expect_line err '^\* Vault is sealed$' "read while sealed says so ($how)"
    if [[ "$how" == "stdin" || "$how" == "json-stdin" ]]; then
        run_in "$1" "$KEYHOLD" write sys/unseal "${@:2}"
    else
        run "$KEYHOLD" write sys/unseal "$@"
    fi
    expect_rc 0 "unseal ($how)"
    expect_line out '^sealed +false$' "unseal answer printed as a table ($how)"
    run "$KEYHOLD" status
    expect_rc 0 "status after unseal ($how)"
}

if [[ -n "$unseal_key" ]]; then
    seal_cycle "k=v" "key=$unseal_key"
    printf '%s' "$unseal_key" >"$work/key.txt"
    seal_cycle "k=@file" "key=@$work/key.txt"
    seal_cycle "stdin" "$unseal_key" "key=-"
    seal_cycle "json-stdin" "{\"key\": \"$unseal_key\"}" "-"
fi

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
