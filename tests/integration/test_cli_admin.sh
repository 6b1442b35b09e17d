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

# run_tty INPUT CMD...: CMD on a pseudo-terminal (script(1)), INPUT typed
# once the prompt is up; what the terminal showed (stdout and stderr, with
# any echo) is in $work/out.
run_tty() {
    local input="$1"
    shift
    local cmd
    cmd="$(printf '%q ' "$@")"
    set +e
    (sleep 1.5; printf '%s\n' "$input") |
        timeout 60 script -q -e -c "$cmd" /dev/null >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/out" "$work/err"; then
        fail "no sanitizer report from: $*"
    fi
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

# --- operator init / unseal / seal on a fresh shamir server --------------------

export KEYHOLD_ADDR="$FRESH"

run "$KEYHOLD" operator init -status
expect_rc 2 "init -status of an uninitialized server"
expect_line out '^Keyhold is not initialized$' "init -status says not initialized"

run "$KEYHOLD" operator init -key-shares=2 -key-threshold=3
expect_rc 2 "init with threshold > shares"
expect_line err '^Error initializing: Error making API request' "init error prefix"
expect_line err 'threshold cannot be larger than shares' "init error names the cause"

run "$KEYHOLD" operator init -key-shares=x
expect_rc 1 "init with a non-numeric -key-shares"

run "$KEYHOLD" operator init -key-shares=3 -key-threshold=2
expect_rc 0 "operator init -key-shares=3 -key-threshold=2"
expect_line out '^Unseal Key 1: [A-Za-z0-9+/]+=*$' "init prints Unseal Key 1"
expect_line out '^Unseal Key 3: ' "init prints Unseal Key 3"
expect_no_line out '^Unseal Key 4: ' "init prints exactly 3 keys"
expect_line out '^Initial Root Token: [^ ]+$' "init prints the Initial Root Token"
expect_line out 'initialized with 3 key shares and a key threshold of 2' "init summary"
key1="$(sed -nE 's/^Unseal Key 1: //p' "$work/out")"
key2="$(sed -nE 's/^Unseal Key 2: //p' "$work/out")"
key3="$(sed -nE 's/^Unseal Key 3: //p' "$work/out")"
fresh_root="$(sed -nE 's/^Initial Root Token: //p' "$work/out")"

run "$KEYHOLD" operator init
expect_rc 2 "init of an initialized server"
expect_line err 'already initialized' "second init is refused"

run "$KEYHOLD" operator init -status
expect_rc 0 "init -status of an initialized server"

run "$KEYHOLD" operator unseal "$key1"
expect_rc 0 "operator unseal KEY (1 of 2)"
expect_line out '^Sealed +true$' "still sealed after one key"
expect_line out '^Unseal Progress +1/2$' "unseal progress 1/2"

run "$KEYHOLD" operator unseal -reset
expect_rc 0 "operator unseal -reset"
expect_line out '^Unseal Progress +0/2$' "reset clears the progress"

run "$KEYHOLD" operator unseal -reset "$key1"
expect_rc 1 "unseal -reset with a key"

run "$KEYHOLD" operator unseal not-a-key
expect_rc 2 "unseal with a malformed key"
expect_line err '^Error unsealing: Error making API request' "unseal error prefix"

run_in "$key2"$'\n' "$KEYHOLD" operator unseal
expect_rc 0 "unseal with the key prompted for (stdin)"
expect_line err '^Unseal Key \(will be hidden\): ' "unseal prompts for the key"
expect_no_line err "$key2" "the prompted key is not echoed"
expect_line out '^Unseal Progress +1/2$' "prompted key counted"

run "$KEYHOLD" operator unseal "$key3"
expect_rc 0 "unseal with the second key"
expect_line out '^Sealed +false$' "unsealed after the threshold"

run "$KEYHOLD" operator unseal -format=json "$key3"
expect_rc 0 "unseal of an unsealed server"
json_check 'd["sealed"] is False and d["t"] == 2 and d["n"] == 3' "unseal -format=json prints the status object"

run "$KEYHOLD" operator seal
expect_rc 2 "seal without a token"

export KEYHOLD_TOKEN="$fresh_root"

run "$KEYHOLD" operator key-status
expect_rc 0 "operator key-status"
expect_line out '^Key Term +1$' "key-status Key Term 1"
expect_line out '^Install Time +[0-9]{2} [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2} UTC$' "key-status install time (RFC822)"
expect_line out '^Encryption Count +[0-9]+$' "key-status encryption count"
expect_no_line out '^Key +Value' "key-status has no header row"

run "$KEYHOLD" operator rotate
expect_rc 0 "operator rotate"
expect_line out '^Success! Rotated key$' "rotate says Success"
expect_line out '^Key Term +2$' "rotate shows the new term"

run "$KEYHOLD" operator key-status -format=json
json_check 'd["term"] == 2' "key-status -format=json"

run env KEYHOLD_TOKEN=bogus-token "$KEYHOLD" operator rotate
expect_rc 2 "rotate with a bad token"
expect_line err '^Error rotating key: .*' "rotate error prefix"

run "$KEYHOLD" operator seal
expect_rc 0 "operator seal"
expect_line out '^Success! Keyhold is sealed\.$' "seal says Success"
run "$KEYHOLD" status
expect_rc 2 "status after operator seal"
run "$KEYHOLD" operator key-status
expect_rc 2 "key-status while sealed"
expect_line err '^\* Vault is sealed$' "key-status while sealed says so"
run_tty "$key3" "$KEYHOLD" operator unseal
expect_rc 0 "unseal with the key typed on a terminal"
expect_line out '^Unseal Key \(will be hidden\): ' "terminal prompt for the key"
expect_no_line out "$key3" "the typed key is not echoed on the terminal"
expect_line out '^Unseal Progress +1/2' "typed key counted"
run "$KEYHOLD" operator unseal "$key1"
expect_line out '^Sealed +false$' "unsealed again with keys 3 and 1"

# --- generate-root end to end ---------------------------------------------------

run "$KEYHOLD" operator generate-root -status
expect_rc 0 "generate-root -status"
expect_line out '^Started +false$' "no attempt yet"
expect_line out '^OTP Length +[0-9]+$' "status shows the OTP length"
otp_len="$(value 'OTP Length')"

run "$KEYHOLD" operator generate-root -generate-otp
expect_rc 0 "generate-root -generate-otp"
otp="$(head -1 "$work/out")"
if [[ "$otp" =~ ^[A-Za-z0-9]+$ && "${#otp}" -eq "$otp_len" ]]; then
    pass "OTP is $otp_len base62 characters"
else
    fail "OTP is $otp_len base62 characters (got '$otp')"
fi

run "$KEYHOLD" operator generate-root -init -otp=short
expect_rc 2 "generate-root -init with a wrong-length OTP"
expect_line err '^Error initializing root generation: ' "init error prefix"

run "$KEYHOLD" operator generate-root -init -otp="$otp"
expect_rc 0 "generate-root -init -otp"
expect_line out '^Started +true$' "attempt started"
expect_line out '^Progress +0/2$' "progress 0/2"
nonce="$(value Nonce)"

run "$KEYHOLD" operator generate-root -init -otp="$otp"
expect_rc 2 "a second -init while one is running"

run "$KEYHOLD" operator generate-root -init -status
expect_rc 1 "two modes at once"

run "$KEYHOLD" operator generate-root -nonce=wrong-nonce "$key1"
expect_rc 2 "generate-root with a wrong nonce"

run "$KEYHOLD" operator generate-root -nonce="$nonce" "$key1"
expect_rc 0 "generate-root -nonce=N KEY"
expect_line out '^Progress +1/2$' "progress 1/2"
expect_line out '^Complete +false$' "not complete yet"

run_in "$key2"$'\n' "$KEYHOLD" operator generate-root
expect_rc 0 "generate-root with the key prompted for (running nonce)"
expect_line out '^Complete +true$' "generation complete"
encoded="$(value 'Encoded Token')"
if [[ -n "$encoded" ]]; then pass "encoded token printed"; else fail "encoded token printed"; fi

run "$KEYHOLD" operator generate-root -decode="$encoded" -otp="${otp}x"
expect_rc 1 "decode with an OTP of the wrong length"

run "$KEYHOLD" operator generate-root -decode="$encoded"
expect_rc 1 "decode without -otp"
expect_line err '^Missing -otp flag' "decode asks for -otp"

run "$KEYHOLD" operator generate-root -decode="$encoded" -otp="$otp"
expect_rc 0 "generate-root -decode -otp"
new_root="$(cat "$work/out")"
if [[ -n "$new_root" && "$new_root" != "$fresh_root" && "${#new_root}" -eq "$otp_len" ]]; then
    pass "decoded a new token of the OTP's length"
else
    fail "decoded a new token of the OTP's length (got '$new_root')"
fi

run_in "$encoded" "$KEYHOLD" operator generate-root -decode=- -otp="$otp" -format=json
json_check "d['token'] == '$new_root'" "decode from stdin, -format=json"

run env KEYHOLD_TOKEN="$new_root" "$KEYHOLD" operator rotate
expect_rc 0 "the generated root token can rotate (sudo)"

run "$KEYHOLD" operator generate-root -init
expect_rc 0 "generate-root -init without -otp"
expect_line out '^OTP +[A-Za-z0-9]+$' "the server's OTP is printed"
expect_line err 'One-Time-Password has been generated' "OTP warning"
run "$KEYHOLD" operator generate-root -cancel
expect_rc 0 "generate-root -cancel"
expect_line out '^Success! Root token generation canceled' "cancel says Success"
run "$KEYHOLD" operator generate-root -status
expect_line out '^Started +false$' "cancel stopped the attempt"

unset KEYHOLD_TOKEN
stop_pid "$fresh_pid"
fresh_pid=""

# --- policy ---------------------------------------------------------------------

export KEYHOLD_ADDR="$DEV"
export KEYHOLD_TOKEN="$ROOT_TOKEN"

cat >"$work/app.hcl" <<'HCL'
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
HCL

run "$KEYHOLD" policy write App "$work/app.hcl"
expect_rc 0 "policy write NAME FILE"
expect_out='Success! Uploaded policy: app'
expect_line out "^$expect_out\$" "policy write lowercases and says Success"

run_in 'path "sys/mounts" { capabilities = ["read"] }' "$KEYHOLD" policy write mounts-read -
expect_rc 0 "policy write NAME - (stdin)"

run "$KEYHOLD" policy write broken "$work/no-such-file.hcl"
expect_rc 1 "policy write of a missing file"
expect_line err '^Error opening policy file' "missing policy file is explained"

run_in 'path "x" {' "$KEYHOLD" policy write broken -
expect_rc 2 "policy write of an unparsable policy"
expect_line err '^Error uploading policy: ' "parse error prefix"

run "$KEYHOLD" policy read app
expect_rc 0 "policy read"
if diff <(cat "$work/app.hcl") "$work/out" >/dev/null; then
    pass "policy read prints the text as written"
else
    fail "policy read prints the text as written"
fi

run "$KEYHOLD" policy read -format=json app
json_check '"secret/data/app/*" in d["data"]["policy"]' "policy read -format=json"

run "$KEYHOLD" policy read no-such-policy
expect_rc 2 "policy read of a missing policy"
expect_line err '^No policy named: no-such-policy$' "missing policy is named"

run "$KEYHOLD" policy list
expect_rc 0 "policy list"
expect_line out '^app$' "list has app"
expect_line out '^default$' "list has default"
expect_line out '^mounts-read$' "list has mounts-read"

run "$KEYHOLD" policy list -format=json
json_check '"app" in d and "root" in d' "policy list -format=json is the names"

run "$KEYHOLD" policy delete mounts-read
expect_rc 0 "policy delete"
expect_line out '^Success! Deleted policy: mounts-read$' "delete says Success"
run "$KEYHOLD" policy list
expect_no_line out '^mounts-read$' "deleted policy is gone"

run "$KEYHOLD" policy delete root
expect_rc 2 "policy delete root is refused"

run "$KEYHOLD" policy read
expect_rc 1 "policy read without a name"

# --- secrets --------------------------------------------------------------------

run "$KEYHOLD" secrets list
expect_rc 0 "secrets list"
expect_line out '^Path +Type +Accessor +Description$' "secrets list header"
expect_line out '^secret/ +kv ' "dev server has secret/ (kv)"

run "$KEYHOLD" secrets enable -path=kv2 -version=2 -description="team kv" kv
expect_rc 0 "secrets enable -path -version=2 kv"
expect_line out '^Success! Enabled the kv secrets engine at: kv2/$' "enable says Success"

run "$KEYHOLD" secrets enable -path=kv1 kv
expect_rc 0 "secrets enable kv (v1)"

run "$KEYHOLD" secrets enable kv-v2
expect_rc 0 "secrets enable kv-v2 (shorthand)"
expect_line out '^Success! Enabled the kv-v2 secrets engine at: kv-v2/$' "kv-v2 mounts at kv-v2/"
run "$KEYHOLD" secrets list -format=json
json_check 'd["kv-v2/"]["type"] == "kv" and d["kv-v2/"]["options"]["version"] == "2"' "kv-v2 is kv version 2"

run "$KEYHOLD" secrets enable -path=kv2 kv
expect_rc 2 "secrets enable on a used path"
expect_line err '^Error enabling: Error making API request' "enable conflict error"

run "$KEYHOLD" secrets enable no-such-engine-type
expect_rc 2 "secrets enable of an unknown type"

run "$KEYHOLD" secrets list -detailed
expect_rc 0 "secrets list -detailed"
expect_line out '^Path +Plugin +Accessor +Default TTL +Max TTL ' "detailed header"
expect_line out '^kv2/ +kv .*map\[version:2\] +team kv ' "detailed row shows options and description"

run "$KEYHOLD" secrets list -format=json
json_check 'd["kv2/"]["type"] == "kv" and d["kv2/"]["options"]["version"] == "2"' "secrets list -format=json"

run "$KEYHOLD" secrets tune -default-lease-ttl=1h -max-lease-ttl=2h kv2
expect_rc 0 "secrets tune"
expect_line out '^Success! Tuned the secrets engine at: kv2/$' "tune says Success"
run "$KEYHOLD" read -format=json sys/mounts/kv2/tune
json_check 'd["data"]["default_lease_ttl"] == 3600 and d["data"]["max_lease_ttl"] == 7200' "tune took effect"

run "$KEYHOLD" secrets tune -default-lease-ttl=1h no-such-mount
expect_rc 2 "secrets tune of a missing mount"

run "$KEYHOLD" secrets disable kv2
expect_rc 0 "secrets disable"
expect_line out '^Success! Disabled the secrets engine \(if it existed\) at: kv2/$' "disable says Success"
run "$KEYHOLD" secrets list
expect_no_line out '^kv2/' "disabled mount is gone"

run env KEYHOLD_TOKEN=bogus-token "$KEYHOLD" secrets disable kv1
expect_rc 2 "secrets disable with a bad token"
expect_line err '^Error disabling secrets engine at kv1/: ' "disable error prefix"

run "$KEYHOLD" secrets enable
expect_rc 1 "secrets enable without a type"

# --- auth -------------------------------------------------------------------------

run "$KEYHOLD" auth enable userpass
expect_rc 0 "auth enable userpass"
expect_line out '^Success! Enabled userpass auth method at: userpass/$' "auth enable says Success"

run "$KEYHOLD" auth enable -path=apps -description="app logins" approle
expect_rc 0 "auth enable -path approle"

run "$KEYHOLD" auth enable userpass
expect_rc 2 "auth enable on a used path"

run "$KEYHOLD" auth list
expect_rc 0 "auth list"
expect_line out '^token/ +token ' "auth list has token/"
expect_line out '^userpass/ +userpass ' "auth list has userpass/"
expect_line out '^apps/ +approle +[^ ]+ +app logins$' "auth list has apps/ with its description"

run "$KEYHOLD" auth list -detailed
expect_line out '^Path +Plugin +Accessor +Default TTL +Max TTL +Token Type ' "auth list -detailed header"

run "$KEYHOLD" auth disable token
expect_rc 2 "auth disable token is refused"

# --- token ------------------------------------------------------------------------

run "$KEYHOLD" token create -policy=app -ttl=1h -display-name=ci -metadata=team=blue
expect_rc 0 "token create -policy -ttl -display-name -metadata"
expect_line out '^token +[^ ]+$' "create prints token"
expect_line out '^token_accessor +[^ ]+$' "create prints token_accessor"
expect_line out '^token_duration +1h$' "create prints token_duration 1h"
expect_line out '^token_renewable +true$' "create prints token_renewable"
expect_line out '^token_policies +\["app" "default"\]$' "create prints token_policies"
expect_line out '^token_meta_team +blue$' "create prints token metadata"
child="$(value token)"
child_accessor="$(value token_accessor)"

run "$KEYHOLD" token create -field=token -policy=app -orphan -renewable=false -use-limit=5
expect_rc 0 "token create -orphan -renewable=false -use-limit -field=token"
orphan="$(cat "$work/out")"

run "$KEYHOLD" token create -format=json -period=30m -policy=app
json_check 'd["auth"]["client_token"] and d["auth"]["lease_duration"] == 1800' "token create -period -format=json"

run "$KEYHOLD" token create -ttl=notaduration
expect_rc 2 "token create with a bad -ttl"
expect_line err '^Error creating token: ' "create error prefix"

run "$KEYHOLD" token lookup "$child"
expect_rc 0 "token lookup TOKEN"
expect_line out '^display_name +token-ci$' "lookup shows display_name"
expect_line out '^policies +\[app default\]$' "lookup shows policies"
expect_line out '^meta +map\[team:blue\]$' "lookup shows meta"

run "$KEYHOLD" token lookup -format=json "$orphan"
json_check 'd["data"]["orphan"] is True and d["data"]["renewable"] is False and d["data"]["num_uses"] == 5' "orphan token properties"

run "$KEYHOLD" token lookup -accessor "$child_accessor"
expect_rc 0 "token lookup -accessor A"
expect_line out "^accessor +$child_accessor\$" "lookup by accessor"

run "$KEYHOLD" token lookup
expect_rc 0 "token lookup (self)"
expect_line out '^policies +\[root\]$' "lookup-self of the root token"

run "$KEYHOLD" token lookup not-a-real-token
expect_rc 2 "token lookup of an unknown token"
expect_line err '^Error looking up token: ' "lookup error prefix"

run "$KEYHOLD" token lookup -accessor
expect_rc 1 "token lookup -accessor without an accessor"

run "$KEYHOLD" token renew -increment=2h "$child"
expect_rc 0 "token renew TOKEN -increment"
expect_line out '^token_duration +[0-9]' "renew prints the new duration"

run env KEYHOLD_TOKEN="$child" "$KEYHOLD" token renew
expect_rc 0 "token renew (self)"

run "$KEYHOLD" token renew "$orphan"
expect_rc 2 "token renew of a non-renewable token"
expect_line err '^Error renewing token: ' "renew error prefix"

run "$KEYHOLD" token revoke "$child"
expect_rc 0 "token revoke TOKEN"
expect_line out '^Success! Revoked token \(if it existed\)$' "revoke says Success"
run "$KEYHOLD" token lookup "$child"
expect_rc 2 "a revoked token is gone"

accessor="$("$KEYHOLD" token create -field=token_accessor -policy=app || true)"
run "$KEYHOLD" token revoke -accessor "$accessor"
expect_rc 0 "token revoke -accessor"

self_token="$("$KEYHOLD" token create -field=token -policy=app || true)"
run env KEYHOLD_TOKEN="$self_token" "$KEYHOLD" token revoke -self
expect_rc 0 "token revoke -self"
run "$KEYHOLD" token lookup "$self_token"
expect_rc 2 "the self-revoked token is gone"

parent="$("$KEYHOLD" token create -field=token -policy=app || true)"
kid="$(env KEYHOLD_TOKEN="$parent" "$KEYHOLD" token create -field=token -policy=app || true)"
run "$KEYHOLD" token revoke -mode=orphan "$parent"
expect_rc 0 "token revoke -mode=orphan"
run "$KEYHOLD" token lookup -format=json "$kid"
json_check 'd["data"]["orphan"] is True' "the child survives as an orphan"

run "$KEYHOLD" token revoke -mode=path "$kid"
expect_rc 1 "token revoke -mode=path is not supported"
run "$KEYHOLD" token revoke
expect_rc 1 "token revoke without a token"
run "$KEYHOLD" token revoke -self extra
expect_rc 1 "token revoke -self with a token"

# --- login ------------------------------------------------------------------------

run "$KEYHOLD" write auth/userpass/users/alice password=s3cret token_policies=app
expect_rc 0 "create userpass user alice"

token_file="$work/token-file"
run env -u KEYHOLD_TOKEN KEYHOLD_TOKEN_FILE="$token_file" "$KEYHOLD" login -method=userpass username=alice password=s3cret
expect_rc 0 "login -method=userpass username password"
expect_line out '^Success! You are now authenticated\.' "login says Success"
expect_line out '^token_policies +\["app" "default"\]$' "login prints token_policies"
expect_line out '^token_meta_username +alice$' "login prints the username metadata"
alice_token="$(value token)"
if [[ -f "$token_file" && "$(cat "$token_file")" == "$alice_token" ]]; then
    pass "login stored the token in KEYHOLD_TOKEN_FILE"
else
    fail "login stored the token in KEYHOLD_TOKEN_FILE"
fi
if [[ "$(stat -c %a "$token_file" 2>/dev/null)" == "600" ]]; then
    pass "token file is mode 0600"
else
    fail "token file is mode 0600"
fi
run env -u KEYHOLD_TOKEN KEYHOLD_TOKEN_FILE="$token_file" "$KEYHOLD" token lookup -format=json
json_check 'd["data"]["meta"]["username"] == "alice"' "the stored token is used by later commands"

run_in $'s3cret\n' env -u KEYHOLD_TOKEN "$KEYHOLD" login -method=userpass username=alice
expect_rc 0 "login -method=userpass with the password prompted for"
expect_line err '^Password \(will be hidden\): ' "login prompts for the password"
expect_no_line err 's3cret' "the password is not echoed"
if [[ "$(cat "$HOME/.vault-token")" == "$(value token)" ]]; then
    pass "without KEYHOLD_TOKEN_FILE the token goes to ~/.vault-token"
else
    fail "without KEYHOLD_TOKEN_FILE the token goes to ~/.vault-token"
fi

run_tty s3cret env -u KEYHOLD_TOKEN "$KEYHOLD" login -no-store -method=userpass username=alice
expect_rc 0 "login -method=userpass with the password typed on a terminal"
expect_no_line out 's3cret' "the typed password is not echoed on the terminal"
expect_line out '^token_meta_username +alice' "terminal login succeeded"

run env -u KEYHOLD_TOKEN "$KEYHOLD" login -method=userpass username=alice password=wrong
expect_rc 2 "login with a wrong password"
expect_line err '^Error authenticating: ' "login error prefix"

run "$KEYHOLD" login -method=userpass password=x
expect_rc 1 "userpass login without a username"

rm -f "$HOME/.vault-token"
run env -u KEYHOLD_TOKEN "$KEYHOLD" login -no-store "$alice_token"
expect_rc 0 "login TOKEN -no-store"
expect_line out "^token +$alice_token\$" "token login prints the token"
expect_line out '^token_policies +\["app" "default"\]$' "token login prints its policies"
expect_line err 'not stored' "-no-store warns the token was not stored"
if [[ ! -e "$HOME/.vault-token" ]]; then pass "-no-store stores nothing"; else fail "-no-store stores nothing"; fi

run env -u KEYHOLD_TOKEN "$KEYHOLD" login "$ROOT_TOKEN"
expect_rc 0 "login TOKEN"
if [[ "$(cat "$HOME/.vault-token")" == "$ROOT_TOKEN" ]]; then
    pass "token login stored the token"
else
    fail "token login stored the token"
fi
rm -f "$HOME/.vault-token"

run_in "$ROOT_TOKEN"$'\n' env -u KEYHOLD_TOKEN "$KEYHOLD" login -no-store
expect_rc 0 "login with the token prompted for"
expect_line err '^Token \(will be hidden\): ' "login prompts for the token"

run env -u KEYHOLD_TOKEN "$KEYHOLD" login not-a-real-token
expect_rc 2 "login with an unknown token"
if [[ ! -e "$HOME/.vault-token" ]]; then pass "a failed login stores nothing"; else fail "a failed login stores nothing"; fi

run "$KEYHOLD" write auth/apps/role/ci token_policies=app
expect_rc 0 "create approle role"
role_id="$("$KEYHOLD" read -field=role_id auth/apps/role/ci/role-id || true)"
secret_id="$("$KEYHOLD" write -f -field=secret_id auth/apps/role/ci/secret-id || true)"
run env -u KEYHOLD_TOKEN "$KEYHOLD" login -method=approle -path=apps -token-only role_id="$role_id" secret_id="$secret_id"
expect_rc 0 "login -method=approle -path -token-only"
approle_token="$(cat "$work/out")"
run "$KEYHOLD" token lookup -format=json "$approle_token"
json_check '"app" in d["data"]["policies"]' "the approle token has the role's policies"

run env -u KEYHOLD_TOKEN "$KEYHOLD" login -method=approle -path=apps role_id="$role_id" secret_id=wrong
expect_rc 2 "approle login with a wrong secret_id"

run "$KEYHOLD" auth disable userpass
expect_rc 0 "auth disable"
expect_line out '^Success! Disabled the auth method \(if it existed\) at: userpass/$' "auth disable says Success"
run "$KEYHOLD" auth list
expect_no_line out '^userpass/' "disabled auth method is gone"

# --- lease ------------------------------------------------------------------------

run "$KEYHOLD" lease lookup no/such/lease
expect_rc 2 "lease lookup of an unknown lease"
expect_line err '^Error looking up lease id no/such/lease: ' "lease lookup error prefix"

run "$KEYHOLD" lease renew -increment=1h no/such/lease
expect_rc 2 "lease renew of an unknown lease"
expect_line err '^Error renewing no/such/lease: ' "lease renew error prefix"

run "$KEYHOLD" lease revoke no/such/lease
expect_rc 0 "lease revoke of an unknown lease"
expect_line out '^Success! Revoked lease: no/such/lease$' "lease revoke says Success"

run "$KEYHOLD" lease revoke -prefix no/such
expect_rc 0 "lease revoke -prefix"
expect_line out '^Success! Revoked any leases with prefix: no/such$' "revoke -prefix says Success"

run "$KEYHOLD" lease revoke -prefix -force no/such
expect_rc 0 "lease revoke -prefix -force"
expect_line out '^Success! Force revoked any leases with prefix: no/such$' "revoke -force says Success"

run "$KEYHOLD" lease revoke -force no/such
expect_rc 1 "lease revoke -force without -prefix"

run env KEYHOLD_TOKEN="$orphan" "$KEYHOLD" lease revoke -prefix no/such
expect_rc 2 "lease revoke -prefix without sudo"

# Keyhold keeps token lifetimes in the token store, not as leases, so a dev
# server has no lease to look up; an unknown one is a remote error. Lease
# success paths are covered by tests/unit/test_lease.c and the database
# engine's integration test.
run "$KEYHOLD" lease lookup no/such/lease
expect_rc 2 "lease lookup of an unknown lease"

# --- kv (v2 at secret/, v1 at kv1/) -----------------------------------------------------

run "$KEYHOLD" kv put secret/app/db user=admin pass=one
expect_rc 0 "kv put MOUNT/PATH"
expect_line out '^=+ Secret Path =+$' "put prints the Secret Path header"
expect_line out '^secret/data/app/db$' "put prints the data path"
expect_line out '^=+ Metadata =+$' "put prints the Metadata header"
expect_line out '^version +1$' "put created version 1"

run "$KEYHOLD" kv put -mount=secret app/db user=admin pass=two
expect_rc 0 "kv put -mount=secret PATH"
expect_line out '^version +2$' "-mount put created version 2"

run "$KEYHOLD" kv get secret/app/db
expect_rc 0 "kv get"
if "$PYTHON" - "$work/out" <<'PY'
import sys
def pad(title, width):
    # Vault's padEqualSigns.
    signs = width - (len(title) + 2)
    signs = 4 if signs <= 0 else signs + signs % 2
    return "=" * (signs // 2) + " " + title + " " + "=" * (signs // 2)
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == pad("Secret Path", len("secret/data/app/db")), lines[0]
assert lines[1] == "secret/data/app/db" and lines[2] == "", lines[:3]
assert lines[3] == pad("Metadata", len("custom_metadata") + 9), lines[3]
assert lines[3] == "======= Metadata =======", lines[3]
assert lines[4].split() == ["Key", "Value"] and lines[5].split() == ["---", "-----"]
i = lines.index(pad("Data", len("pass") + 9))
assert lines[i - 1] == "", lines[i - 1]
assert lines[i + 3].split() == ["pass", "two"] and lines[i + 4].split() == ["user", "admin"], lines[i:]
PY
then pass "kv get sections like vault (Secret Path, Metadata, Data)"; else fail "kv get sections like vault (Secret Path, Metadata, Data)"; fi
expect_line out '^custom_metadata +<nil>$' "metadata row custom_metadata"
expect_line out '^deletion_time +n/a$' "metadata row deletion_time"

run "$KEYHOLD" kv get -field=pass secret/app/db
expect_rc 0 "kv get -field"
if [[ "$(cat "$work/out")" == "two" ]]; then pass "-field prints the raw value"; else fail "-field prints the raw value"; fi

run "$KEYHOLD" kv get -version=1 -field=pass -mount=secret app/db
if [[ "$(cat "$work/out")" == "one" ]]; then pass "kv get -version=1"; else fail "kv get -version=1"; fi

run "$KEYHOLD" kv get -format=json secret/app/db
json_check 'd["data"]["data"]["user"] == "admin" and d["data"]["metadata"]["version"] == 2' "kv get -format=json"

run "$KEYHOLD" kv get -field=nope secret/app/db
expect_rc 1 "kv get -field of a missing field"

run "$KEYHOLD" kv get secret/app/missing
expect_rc 2 "kv get of a missing key"
expect_line err '^No value found at secret/data/app/missing$' "missing key message"

run "$KEYHOLD" kv get nosuchmount/x
expect_rc 2 "kv get under no mount"

run "$KEYHOLD" kv put -cas=1 secret/app/db user=x
expect_rc 2 "kv put with a stale -cas"
expect_line err 'check-and-set parameter did not match' "cas mismatch is explained"

run "$KEYHOLD" kv put -cas=2 secret/app/db user=admin pass=three
expect_rc 0 "kv put with the right -cas"
expect_line out '^version +3$' "cas put created version 3"

run "$KEYHOLD" kv put secret/app/db
expect_rc 1 "kv put without data"

run "$KEYHOLD" kv patch secret/app/db extra=1
expect_rc 0 "kv patch"
expect_line out '^version +4$' "patch created version 4"
run "$KEYHOLD" kv get -format=json secret/app/db
json_check 'd["data"]["data"] == {"user": "admin", "pass": "three", "extra": "1"}' "patch merged the data"

run "$KEYHOLD" kv patch -method=rw secret/app/db extra=2
expect_rc 0 "kv patch -method=rw"
expect_line out '^version +5$' "rw patch created version 5"

run "$KEYHOLD" kv patch secret/app/missing a=b
expect_rc 2 "kv patch of a missing key"

run "$KEYHOLD" kv metadata get secret/app/db
expect_rc 0 "kv metadata get"
expect_line out '^=+ Metadata Path =+$' "metadata get path header"
expect_line out '^secret/metadata/app/db$' "metadata get path"
expect_line out '^current_version +5$' "metadata current_version"
expect_line out '^=+ Version 1 =+$' "metadata Version 1 section"
expect_line out '^=+ Version 5 =+$' "metadata Version 5 section"
expect_no_line out '^versions ' "versions are sections, not a row"

run "$KEYHOLD" kv metadata put -max-versions=7 -custom-metadata=owner=ops -custom-metadata=tier=1 secret/app/db
expect_rc 0 "kv metadata put"
expect_line out '^Success! Data written to: secret/metadata/app/db$' "metadata put says Success"
run "$KEYHOLD" kv metadata get -format=json secret/app/db
json_check 'd["data"]["max_versions"] == 7 and d["data"]["custom_metadata"] == {"owner": "ops", "tier": "1"}' "metadata put took effect"

run "$KEYHOLD" kv metadata put -max-versions=many secret/app/db
expect_rc 1 "kv metadata put with a bad -max-versions"

run "$KEYHOLD" kv delete secret/app/db
expect_rc 0 "kv delete (current version)"
expect_line out '^Success! Data deleted \(if it existed\) at: secret/data/app/db$' "delete says Success"
run "$KEYHOLD" kv get -format=json secret/app/db
json_check 'd["data"]["data"] is None and d["data"]["metadata"]["deletion_time"] != ""' "the current version is soft-deleted"

run "$KEYHOLD" kv undelete -versions=5 secret/app/db
expect_rc 0 "kv undelete -versions"
expect_line out '^Success! Data written to: secret/undelete/app/db$' "undelete says Success"
run "$KEYHOLD" kv get -field=extra secret/app/db
if [[ "$(cat "$work/out")" == "2" ]]; then pass "undelete restored version 5"; else fail "undelete restored version 5"; fi

run "$KEYHOLD" kv undelete secret/app/db
expect_rc 1 "kv undelete without -versions"

run "$KEYHOLD" kv delete -versions=1 secret/app/db
expect_rc 0 "kv delete -versions=1"

run "$KEYHOLD" kv destroy -versions=2 secret/app/db
expect_rc 0 "kv destroy -versions"
expect_line out '^Success! Data written to: secret/destroy/app/db$' "destroy says Success"
run "$KEYHOLD" kv metadata get -format=json secret/app/db
json_check 'd["data"]["versions"]["2"]["destroyed"] is True and d["data"]["versions"]["1"]["deletion_time"] != ""' "version 2 destroyed, version 1 deleted"

run "$KEYHOLD" kv destroy -versions=x secret/app/db
expect_rc 1 "kv destroy with bad -versions"

run "$KEYHOLD" kv rollback -version=3 secret/app/db
expect_rc 0 "kv rollback -version=3"
expect_line out '^version +6$' "rollback wrote version 6"
run "$KEYHOLD" kv get -format=json secret/app/db
json_check 'd["data"]["data"] == {"user": "admin", "pass": "three"}' "rollback restored version 3's data"

run "$KEYHOLD" kv rollback -version=2 secret/app/db
expect_rc 2 "kv rollback to a destroyed version"
expect_line err 'destroyed' "rollback refusal is explained"
run "$KEYHOLD" kv rollback -version=1 secret/app/db
expect_rc 2 "kv rollback to a deleted version"
run "$KEYHOLD" kv rollback secret/app/db
expect_rc 1 "kv rollback without -version"

run "$KEYHOLD" kv put secret/app/other k=v
run "$KEYHOLD" kv list secret/app
expect_rc 0 "kv list"
expect_line out '^Keys$' "kv list header"
expect_line out '^db$' "kv list shows db"
expect_line out '^other$' "kv list shows other"
run "$KEYHOLD" kv list -mount=secret -format=json app
json_check 'sorted(d) == ["db", "other"]' "kv list -mount -format=json"
run "$KEYHOLD" kv list secret/nothing-here
expect_rc 2 "kv list of an empty prefix"

run "$KEYHOLD" kv metadata delete secret/app/db
expect_rc 0 "kv metadata delete"
expect_line out '^Success! Data deleted \(if it existed\) at: secret/metadata/app/db$' "metadata delete says Success"
run "$KEYHOLD" kv metadata get secret/app/db
expect_rc 2 "metadata of a deleted key"
expect_line err '^No value found at secret/metadata/app/db$' "metadata 404 message"

run env KEYHOLD_TOKEN="$orphan" "$KEYHOLD" kv get secret/app/other
expect_rc 2 "kv get without permission"

# KV version 1.
run "$KEYHOLD" kv put kv1/conf a=1 b=2
expect_rc 0 "kv put on a v1 mount"
expect_line out '^Success! Data written to: kv1/conf$' "v1 put says Success"
run "$KEYHOLD" kv get kv1/conf
expect_rc 0 "kv get on a v1 mount"
expect_no_line out 'Secret Path' "v1 get has no Secret Path"
expect_line out '^=+ Data =+$' "v1 get has a Data section"
expect_line out '^a +1$' "v1 data row"
run "$KEYHOLD" kv list kv1
expect_line out '^conf$' "kv list on a v1 mount"
run "$KEYHOLD" kv patch kv1/conf c=3
expect_rc 2 "kv patch on a v1 mount"
expect_line err 'must be version 2' "v1 patch refusal is explained"
run "$KEYHOLD" kv metadata get kv1/conf
expect_rc 1 "kv metadata on a v1 mount"
run "$KEYHOLD" kv delete kv1/conf
expect_rc 0 "kv delete on a v1 mount"
run "$KEYHOLD" kv get kv1/conf
expect_rc 2 "deleted v1 key is gone"

# --- the older verbs still work ---------------------------------------------------------

run "$KEYHOLD" read -field=term sys/key-status
expect_rc 0 "read still works"
run "$KEYHOLD" write -f sys/rotate
expect_rc 0 "write still works"
run "$KEYHOLD" list sys/policies/acl
expect_line out '^app$' "list still works"
run "$KEYHOLD" delete sys/policies/acl/app
expect_rc 0 "delete still works"
run "$KEYHOLD" status
expect_rc 0 "status still works"

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
