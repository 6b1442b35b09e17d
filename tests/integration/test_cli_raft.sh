#!/usr/bin/env bash
# test_cli_raft.sh - `keyhold operator raft ...` and `operator step-down`.
#
# Three parts, each check printing "ok"/"not ok"; the script ends with
# "N passed, N failed" and fails if any check did:
#   1. snapshot inspect, offline, on snapshot files built here with
#      python3 (struct + hashlib): a good one (every printed field), and
#      bit-flipped, truncated, bad-magic, bad-version, oversized-length,
#      trailing-bytes, bad-record and too-large files (exit 1, clear text).
#   2. every HTTP verb against a small HTTP stub that answers what the raft
#      spec says keyholdd answers and logs each request it gets: request
#      shapes (method, path, token, body), table/json output, exit codes,
#      streaming save (FILE.tmp, rename, verification, overwrite), restore
#      refusing a corrupt file before sending anything, and the progress
#      display on a terminal (script(1)) but not on a pipe.
#   3. the same verbs against real keyholdd nodes with `storage "raft"`
#      (three nodes sharing one SoftHSM2 token). Skipped with a SKIP line
#      while keyholdd does not start with a raft stanza.
# Needs: KH_BIN (directory with keyholdd and keyhold), curl, python3,
# script(1), softhsm2-util.
set -euo pipefail

: "${KH_BIN:?KH_BIN must name the directory holding keyholdd and keyhold}"
KEYHOLD="$KH_BIN/keyhold"
KEYHOLDD="$KH_BIN/keyholdd"
PYTHON=/usr/bin/python3
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
STUB_TOKEN="stub-token-$$"

mkdir -p "${KH_TEST_TMP:-/tmp}"
work="$(mktemp -d "${KH_TEST_TMP:-/tmp}/test_cli_raft.XXXXXX")"
stub_pid=""
node_pids=()
passed=0
failed=0

stop_pid() {
    if [[ -n "$1" ]]; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

cleanup() {
    local pid
    stop_pid "$stub_pid"
    for pid in "${node_pids[@]}"; do
        stop_pid "$pid"
    done
    if [[ "${KH_KEEP_TMP:-}" != 1 ]]; then
        rm -rf "$work"
    fi
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
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/out" "$work/err"; then
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

# run_tty CMD...: CMD on a pseudo-terminal (script(1)); what the terminal
# showed (stdout and stderr) is in $work/out.
run_tty() {
    local cmd
    cmd="$(printf '%q ' "$@")"
    set +e
    timeout 120 script -q -e -c "$cmd" /dev/null >"$work/out" 2>"$work/err" </dev/null
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
    sed -nE "s|^$1 {2,}(.*)$|\\1|p" "$work/out" | head -1
}

expect_value() {
    local got
    got="$(value "$1")"
    if [[ "$got" == "$2" ]]; then pass "$3"; else fail "$3 (row $1 is '$got', wanted '$2')"; fi
}

# json_check EXPR NAME: a python expression over d = json of $work/out.
json_check() {
    if "$PYTHON" -c "import json,sys; d = json.load(open(sys.argv[1])); assert $1" "$work/out" 2>/dev/null; then
        pass "$2"
    else
        fail "$2"
    fi
}

# stub_check EXPR NAME: a python expression over reqs = the stub's
# request log (a list of dicts: method, path, token, ctype, len, sha256,
# json).
stub_check() {
    if "$PYTHON" -c "import json,sys; reqs = [json.loads(l) for l in open(sys.argv[1])]; assert $1" "$work/stub/requests.log" 2>/dev/null; then
        pass "$2"
    else
        fail "$2"
        sed 's/^/#   request: /' "$work/stub/requests.log" | tail -5
    fi
}

stub_requests() {
    wc -l <"$work/stub/requests.log"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Raft binds its cluster port only at bootstrap or join, long after it was
# picked: take one below the ephemeral range (raftcluster.py's rule).
cluster_port() {
    PYTHONPATH="$(dirname "$0")" "$PYTHON" -c 'import raftcluster; print(raftcluster.cluster_port())'
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

for bin in "$KEYHOLD" "$KEYHOLDD"; do
    if [[ ! -x "$bin" ]]; then
        echo "missing binary: $bin (build targets keyhold and keyholdd)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# --- snapshot files ------------------------------------------------------------

# mksnap.py DIR: every fixture of part 1 and 2 into DIR.
cat >"$work/mksnap.py" <<'PY'
import hashlib, os, struct, sys

out = sys.argv[1]

def data(records, magic=0x4B48534E, version=1, applied=1234):
    d = struct.pack(">IIQ", magic, version, applied)
    for key, value in records:
        d += struct.pack(">H", len(key)) + key + struct.pack(">I", len(value)) + value
    return d

def snap(payload, index=1234, term=7, created=1700000000, magic=b"KHSNAP01",
         version=1, length=None):
    head = magic + struct.pack(">IQQQQ", version, index, term, created,
                               len(payload) if length is None else length)
    body = head + payload
    return body + hashlib.sha256(body).digest()

def write(name, blob):
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)

# The order a server's folder walk produces: not globally sorted.
records = [
    (b"sys/token/id/abc", b"v1"),
    (b"sys/policy/default", b"x" * 100),
    (b"core/keyring", b"k" * 64),
    (b"core/seal-config", b"{}"),
    (b"logical/11111111-2222/foo", b"secret"),
    (b"plainkey", b""),
    (b"bin\x01/x", b"z"),
]
good = snap(data(records))
write("good.snap", good)
write("empty.snap", snap(data([]), index=5, term=1, created=0))
flip = bytearray(good); flip[44 + 30] ^= 0x04; write("flip.snap", bytes(flip))
flip = bytearray(good); flip[-1] ^= 0x80; write("flipsum.snap", bytes(flip))
flip = bytearray(good); flip[13] ^= 0x01; write("fliphead.snap", bytes(flip))
write("trunc.snap", good[:-10])
write("trunc_header.snap", good[:20])
write("zero.snap", b"")
write("magic.snap", snap(data(records), magic=b"KHSNAP99"))
write("version.snap", snap(data(records), version=2))
write("huge_len.snap", snap(data(records), length=1 << 62))
write("longer_len.snap", snap(data(records), length=len(data(records)) + 100))
write("limit_len.snap", snap(data(records), length=64 * 1024 * 1024 + 1))
write("trailing.snap", good + b"\0" * 5)
write("datamagic.snap", snap(data(records, magic=0x4B48534F)))
bad = data(records) + struct.pack(">H", 3) + b"abc" + struct.pack(">I", 1000) + b"short"
write("badrec.snap", snap(bad))
write("zerokey.snap", snap(data(records + [(b"", b"v")])))
write("nulkey.snap", snap(data(records + [(b"a\0b", b"v")])))
write("longkey.snap", snap(data([(b"k" * 4097, b"v")])))
write("maxkey.snap", snap(data([(b"k" * 4096, b"v")])))
# About 5 MiB, for streaming and progress.
big = [(b"logical/big/%04d" % i, bytes([i % 251]) * (64 * 1024)) for i in range(80)]
write("big.snap", snap(data(records + big), index=99, term=3))
PY
mkdir -p "$work/snaps"
"$PYTHON" "$work/mksnap.py" "$work/snaps"
S="$work/snaps"

# --- part 1: snapshot inspect (offline) ----------------------------------------

run "$KEYHOLD" operator raft snapshot inspect "$S/good.snap"
expect_rc 0 "inspect a good snapshot"
expect_value Index 1234 "inspect: Index"
expect_value Term 7 "inspect: Term"
expect_value Created 2023-11-14T22:13:20Z "inspect: Created in RFC 3339 UTC"
expect_value Size "$(stat -c %s "$S/good.snap")" "inspect: Size is the file's size"
expect_value Keys 7 "inspect: Keys counts every record"
expect_line out '^Prefix +Count$' "inspect: prefix table header"
expect_value 'core/' 2 "inspect: core/ holds 2 keys"
expect_value 'sys/' 2 "inspect: sys/ holds 2 keys"
expect_value 'logical/' 1 "inspect: logical/ holds 1 key"
expect_value 'plainkey' 1 "inspect: a key without '/' is its own prefix"
expect_value 'bin\\x01/' 1 "inspect: a control byte in a prefix is escaped"
if [[ "$(sed -nE '/^Prefix/,$p' "$work/out" | sed -n '3,$p' | cut -d' ' -f1 | tr '\n' ' ')" == 'bin\x01/ core/ logical/ plainkey sys/ ' ]]; then
    pass "inspect: prefixes sorted"
else
    fail "inspect: prefixes sorted"
fi

run "$KEYHOLD" operator raft snapshot inspect -format=json "$S/good.snap"
expect_rc 0 "inspect -format=json"
json_check 'd["index"] == 1234 and d["term"] == 7 and d["created"] == "2023-11-14T22:13:20Z" and d["keys"] == 7' "inspect json: index, term, created, keys"
json_check 'd["prefixes"] == {"core/": 2, "sys/": 2, "logical/": 1, "plainkey": 1, "bin\\x01/": 1}' "inspect json: prefix counts"

run "$KEYHOLD" operator raft snapshot inspect "$S/empty.snap"
expect_rc 0 "inspect a snapshot without keys"
expect_value Keys 0 "inspect empty: Keys 0"
expect_value Created 1970-01-01T00:00:00Z "inspect empty: Created at the epoch"
expect_no_line out '^Prefix' "inspect empty: no prefix table"

run "$KEYHOLD" operator raft snapshot inspect "$S/maxkey.snap"
expect_rc 0 "inspect: a 4096-byte key is accepted"

# inspect_bad FILE REGEX NAME: exit 1 with the reason on stderr, nothing on
# stdout.
inspect_bad() {
    run "$KEYHOLD" operator raft snapshot inspect "$S/$1"
    expect_rc 1 "$3"
    expect_line err "^Error inspecting the snapshot: .*$1 is not a valid snapshot: $2" "$3: message"
    if [[ -s "$work/out" ]]; then fail "$3: nothing on stdout"; fi
}
inspect_bad flip.snap 'SHA-256 mismatch' "inspect: a bit flipped in the data"
inspect_bad flipsum.snap 'SHA-256 mismatch' "inspect: a bit flipped in the checksum"
inspect_bad fliphead.snap 'SHA-256 mismatch' "inspect: a bit flipped in the header's index"
inspect_bad trunc.snap 'truncated: the header announces' "inspect: a truncated file"
inspect_bad trunc_header.snap 'truncated: 20 bytes' "inspect: a file cut inside its header"
inspect_bad zero.snap 'truncated: 0 bytes' "inspect: an empty file"
inspect_bad magic.snap 'not a Keyhold snapshot \(bad magic\)' "inspect: bad magic"
inspect_bad version.snap 'unsupported snapshot version 2' "inspect: unknown version"
inspect_bad huge_len.snap 'the data length 4611686018427387904 exceeds the limit' "inspect: an oversized length field"
inspect_bad limit_len.snap 'the data length 67108865 exceeds the limit of 67108864 bytes' "inspect: a length one over the limit"
inspect_bad longer_len.snap 'truncated: the header announces' "inspect: a length field longer than the file"
inspect_bad trailing.snap 'trailing bytes' "inspect: bytes after the checksum"
inspect_bad datamagic.snap 'the data does not start with' "inspect: bad data magic (checksum valid)"
inspect_bad badrec.snap 'record 8: its value runs past the end' "inspect: a value length past the end (checksum valid)"
inspect_bad zerokey.snap 'record 8: key length 0 is outside' "inspect: an empty key"
inspect_bad nulkey.snap 'record 8: the key holds a NUL' "inspect: a key with a NUL byte"
inspect_bad longkey.snap 'record 1: key length 4097 is outside' "inspect: a key over 4096 bytes"

truncate -s 66M "$S/oversize.snap"
run "$KEYHOLD" operator raft snapshot inspect "$S/oversize.snap"
expect_rc 1 "inspect: a file over 65 MiB"
expect_line err 'is larger than 68157440 bytes' "inspect: a file over 65 MiB: message"

run "$KEYHOLD" operator raft snapshot inspect "$S/absent.snap"
expect_rc 1 "inspect: a missing file"
expect_line err 'cannot read .*absent.snap: No such file or directory' "inspect: a missing file: message"

run "$KEYHOLD" operator raft snapshot inspect
expect_rc 1 "inspect without a file"
expect_line err 'Not enough arguments \(expected 1, got 0\)' "inspect without a file: message"

run "$KEYHOLD" operator raft snapshot inspect -h
expect_rc 0 "inspect -h"
expect_line out 'Usage: keyhold operator raft snapshot inspect' "inspect -h: usage"

# --- verb groups and help ------------------------------------------------------

run "$KEYHOLD" operator raft
expect_rc 127 "operator raft without a subcommand"
for sub in autopilot join list-peers remove-peer snapshot; do
    expect_line err "^ +$sub " "operator raft lists $sub"
done
run "$KEYHOLD" operator raft snapshot
expect_rc 127 "operator raft snapshot without a subcommand"
for sub in inspect restore save; do
    expect_line err "^ +$sub " "operator raft snapshot lists $sub"
done
run "$KEYHOLD" operator -h
expect_line out '^ +raft +' "operator lists raft"
expect_line out '^ +step-down +' "operator lists step-down"
for verb in "raft list-peers" "raft join" "raft remove-peer" "raft autopilot state" \
    "raft snapshot save" "raft snapshot restore" "step-down"; do
    # shellcheck disable=SC2086
    run "$KEYHOLD" operator $verb -h
    if [[ "$rc" -eq 0 ]] && grep -q "Usage: keyhold operator $verb" "$work/out"; then
        pass "help text of operator $verb"
    else
        fail "help text of operator $verb"
    fi
done

# --- part 2: the HTTP verbs against a stub ------------------------------------

cat >"$work/stub.py" <<'PY'
"""Answers what the raft spec says keyholdd answers; logs every request."""
import hashlib, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, state, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CONFIG = {"data": {"config": {"index": 42, "servers": [
    {"node_id": "n1", "address": "127.0.0.1:8201", "leader": True,
     "protocol_version": "3", "voter": True},
    {"node_id": "n2", "address": "127.0.0.1:8211", "leader": False,
     "protocol_version": "3", "voter": True},
    {"node_id": "n3", "address": "127.0.0.1:8221", "leader": False,
     "protocol_version": "3", "voter": False}]}}}
def server(name, status, index):
    return {"id": name, "name": name, "address": "127.0.0.1:82%s1" % name[1],
            "node_status": "alive", "last_contact": "0s", "last_term": 3,
            "last_index": index, "healthy": True, "status": status}
AUTOPILOT = {"data": {"healthy": True, "failure_tolerance": 1, "leader": "n1",
                      "voters": ["n1", "n2", "n3"], "servers": {
                          "n2": server("n2", "voter", 40),
                          "n1": server("n1", "leader", 42),
                          "n3": server("n3", "voter", 41)}}}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        entry = {"method": self.command, "path": self.path,
                 "token": self.headers.get("X-Vault-Token"),
                 "ctype": self.headers.get("Content-Type"),
                 "len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        try:
            entry["json"] = json.loads(body) if body and b"{" == body[:1] else None
        except ValueError:
            entry["json"] = None
        with open(os.path.join(state, "requests.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")
        path = self.path
        if path == "/v1/sys/storage/raft/join" and self.command in ("POST", "PUT"):
            return self.answer(200, {"joined": True})
        if entry["token"] != token:
            return self.answer(403, {"errors": ["permission denied"]})
        fail = os.path.join(state, "fail.status")
        if os.path.exists(fail):
            return self.answer(int(open(fail).read()), {"errors": ["stub failure for " + path]})
        if path == "/v1/sys/storage/raft/configuration" and self.command == "GET":
            return self.answer(200, CONFIG)
        if path == "/v1/sys/storage/raft/autopilot/state" and self.command == "GET":
            return self.answer(200, AUTOPILOT)
        if path == "/v1/sys/storage/raft/remove-peer" and self.command in ("POST", "PUT"):
            if (entry["json"] or {}).get("server_id") == "ghost":
                return self.answer(400, {"errors": ["no server named ghost"]})
            return self.answer(204)
        if path == "/v1/sys/step-down" and self.command == "PUT":
            return self.answer(204)
        if path == "/v1/sys/storage/raft/snapshot" and self.command == "GET":
            with open(os.path.join(state, "serve.snap"), "rb") as f:
                return self.answer(200, raw=f.read())
        if path in ("/v1/sys/storage/raft/snapshot",
                    "/v1/sys/storage/raft/snapshot-force") and self.command == "POST":
            return self.answer(204)
        return self.answer(404, {"errors": []})

    do_GET = do_PUT = do_POST = do_DELETE = handle_any

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY

mkdir -p "$work/stub"
: >"$work/stub/requests.log"
stub_port="$(free_port)"
"$PYTHON" "$work/stub.py" "$stub_port" "$work/stub" "$STUB_TOKEN" >"$work/stub.log" 2>&1 &
stub_pid=$!
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$stub_port/v1/x"; then break; fi
    sleep 0.05
done
: >"$work/stub/requests.log"
export KEYHOLD_ADDR="http://127.0.0.1:$stub_port"
export KEYHOLD_TOKEN="$STUB_TOKEN"
echo "# stub on $KEYHOLD_ADDR (pid $stub_pid)"

run "$KEYHOLD" operator raft list-peers
expect_rc 0 "list-peers"
expect_line out '^Node +Address +State +Voter$' "list-peers: header"
expect_line out '^----  +-------  +-----  +-----$' "list-peers: underline"
expect_line out '^n1 +127\.0\.0\.1:8201 +leader +true$' "list-peers: the leader row"
expect_line out '^n2 +127\.0\.0\.1:8211 +follower +true$' "list-peers: a follower row"
expect_line out '^n3 +127\.0\.0\.1:8221 +follower +false$' "list-peers: a non-voter row"
stub_check 'reqs[-1]["method"] == "GET" and reqs[-1]["path"] == "/v1/sys/storage/raft/configuration" and reqs[-1]["token"] == "'"$STUB_TOKEN"'"' "list-peers: GET configuration with the token"

run "$KEYHOLD" operator raft list-peers -format=json
expect_rc 0 "list-peers -format=json"
json_check 'd["data"]["config"]["index"] == 42 and len(d["data"]["config"]["servers"]) == 3' "list-peers json: the response as received"

run "$KEYHOLD" operator raft list-peers extra
expect_rc 1 "list-peers with an argument"

KEYHOLD_TOKEN=wrong run "$KEYHOLD" operator raft list-peers
expect_rc 2 "list-peers refused by the server"
expect_line err '^Error reading the raft cluster configuration: Error making API request' "list-peers refused: Vault's error"
expect_line err 'Code: 403' "list-peers refused: the status"

run "$KEYHOLD" operator raft join -retry -leader-ca-cert="-----BEGIN CERTIFICATE-----" http://10.0.0.1:8200
expect_rc 0 "join"
expect_line out '^Key +Value$' "join: table header"
expect_line out '^Joined +true$' "join: Joined true"
stub_check 'reqs[-1]["method"] == "POST" and reqs[-1]["path"] == "/v1/sys/storage/raft/join" and reqs[-1]["json"] == {"leader_api_addr": "http://10.0.0.1:8200", "leader_ca_cert": "-----BEGIN CERTIFICATE-----", "retry": True}' "join: the request body"

printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$work/ca.pem"
run "$KEYHOLD" operator raft join -format=json -leader-ca-cert="@$work/ca.pem" http://10.0.0.1:8200
expect_rc 0 "join -leader-ca-cert=@FILE -format=json"
json_check 'd == {"joined": True}' "join json: the answer's data"
stub_check 'reqs[-1]["json"]["leader_ca_cert"] == open("'"$work/ca.pem"'").read() and reqs[-1]["json"]["retry"] is False' "join: the CA file's contents are sent, retry false"

n_before="$(stub_requests)"
run "$KEYHOLD" operator raft join -leader-ca-cert="@$work/absent.pem" http://10.0.0.1:8200
expect_rc 1 "join with a missing CA file"
expect_line err '^Failed to parse leader CA certificate: .*absent.pem: No such file' "join with a missing CA file: message"
if [[ "$(stub_requests)" == "$n_before" ]]; then pass "join with a missing CA file: nothing sent"; else fail "join with a missing CA file: nothing sent"; fi

run "$KEYHOLD" operator raft join
expect_rc 1 "join without an address"
run "$KEYHOLD" operator raft join -bogus http://x
expect_rc 1 "join with an unknown option"

run "$KEYHOLD" operator raft remove-peer n3
expect_rc 0 "remove-peer"
expect_line out '^Peer removed successfully!$' "remove-peer: message"
stub_check 'reqs[-1]["method"] == "POST" and reqs[-1]["path"] == "/v1/sys/storage/raft/remove-peer" and reqs[-1]["json"] == {"server_id": "n3"}' "remove-peer: the request body"

run "$KEYHOLD" operator raft remove-peer ghost
expect_rc 2 "remove-peer of an unknown server"
expect_line err '^Error removing the peer from raft cluster: Error making API request' "remove-peer unknown: Vault's error"
expect_line err '\* no server named ghost' "remove-peer unknown: the server's reason"

run "$KEYHOLD" operator raft remove-peer
expect_rc 1 "remove-peer without a server id"

run "$KEYHOLD" operator raft autopilot state
expect_rc 0 "autopilot state"
expect_line out '^Healthy: +true$' "autopilot: Healthy"
expect_line out '^Failure Tolerance: +1$' "autopilot: Failure Tolerance"
expect_line out '^Leader: +n1$' "autopilot: Leader"
if [[ "$(sed -n '/^Voters:/,/^Servers:/p' "$work/out" | tr -s ' ' | tr '\n' '|')" == "Voters:| n1| n2| n3|Servers:|" ]]; then
    pass "autopilot: Voters listed"
else
    fail "autopilot: Voters listed"
fi
if [[ "$(sed -n '/^Servers:/,$p' "$work/out" | grep -E '^   n[0-9]$' | tr -d ' ' | tr '\n' ' ')" == "n1 n2 n3 " ]]; then
    pass "autopilot: one block per server, sorted by id"
else
    fail "autopilot: one block per server, sorted by id"
fi
expect_line out '^      Status: +leader$' "autopilot: a server's Status"
expect_line out '^      Node Status: +alive$' "autopilot: a server's Node Status"
expect_line out '^      Last Index: +42$' "autopilot: a server's Last Index"
expect_line out '^      Last Contact: +0s$' "autopilot: a server's Last Contact"
run "$KEYHOLD" operator raft autopilot state -format=json
expect_rc 0 "autopilot state -format=json"
json_check 'd["failure_tolerance"] == 1 and sorted(d["servers"]) == ["n1", "n2", "n3"]' "autopilot json: the state object"

run "$KEYHOLD" operator step-down
expect_rc 0 "step-down"
expect_line out "^Success! Stepped down: $KEYHOLD_ADDR\$" "step-down: message"
stub_check 'reqs[-1]["method"] == "PUT" and reqs[-1]["path"] == "/v1/sys/step-down"' "step-down: PUT sys/step-down"
KEYHOLD_TOKEN=wrong run "$KEYHOLD" operator step-down
expect_rc 2 "step-down refused"
expect_line err '^Error stepping down: Error making API request' "step-down refused: message"

# snapshot save
cp "$S/good.snap" "$work/stub/serve.snap"
run "$KEYHOLD" operator raft snapshot save "$work/saved.snap"
expect_rc 0 "snapshot save"
if cmp -s "$S/good.snap" "$work/saved.snap"; then pass "save: the file is the served snapshot"; else fail "save: the file is the served snapshot"; fi
if [[ ! -e "$work/saved.snap.tmp" ]]; then pass "save: no FILE.tmp left"; else fail "save: no FILE.tmp left"; fi
if [[ "$(stat -c %a "$work/saved.snap")" == 600 ]]; then pass "save: the file is private (0600)"; else fail "save: the file is private (0600)"; fi
stub_check 'reqs[-1]["method"] == "GET" and reqs[-1]["path"] == "/v1/sys/storage/raft/snapshot" and reqs[-1]["token"] == "'"$STUB_TOKEN"'"' "save: GET snapshot with the token"

cp "$S/big.snap" "$work/stub/serve.snap"
run "$KEYHOLD" operator raft snapshot save "$work/saved.snap"
expect_rc 0 "save overwrites an existing file"
if cmp -s "$S/big.snap" "$work/saved.snap"; then pass "save: 5 MiB streamed intact"; else fail "save: 5 MiB streamed intact"; fi
expect_no_line err 'Downloading' "save: no progress when stderr is not a terminal"

rm -f "$work/saved2.snap"
run_tty "$KEYHOLD" operator raft snapshot save "$work/saved2.snap"
expect_rc 0 "save on a terminal"
expect_line out 'Downloading snapshot: [0-9.]+ MiB / 5\.[0-9] MiB \(100%\)' "save: progress with the total on a terminal"
if cmp -s "$S/big.snap" "$work/saved2.snap"; then pass "save on a terminal: file intact"; else fail "save on a terminal: file intact"; fi

cp "$S/good.snap" "$work/stub/serve.snap"
rm -f "$work/small.snap"
run_tty "$KEYHOLD" operator raft snapshot save "$work/small.snap"
expect_no_line out 'Downloading' "save: no progress under 1 MiB"

cp "$S/flip.snap" "$work/stub/serve.snap"
cp "$S/good.snap" "$work/keep.snap"
run "$KEYHOLD" operator raft snapshot save "$work/keep.snap"
expect_rc 2 "save: a corrupt snapshot from the server"
expect_line err '^Error taking the snapshot: .*keep.snap.tmp is not a valid snapshot: SHA-256 mismatch' "save corrupt: message"
if cmp -s "$S/good.snap" "$work/keep.snap" && [[ ! -e "$work/keep.snap.tmp" ]]; then
    pass "save corrupt: the existing file is untouched, FILE.tmp removed"
else
    fail "save corrupt: the existing file is untouched, FILE.tmp removed"
fi

echo 500 >"$work/stub/fail.status"
run "$KEYHOLD" operator raft snapshot save "$work/never.snap"
expect_rc 2 "save: the server fails"
expect_line err '^Error taking the snapshot: Error making API request' "save fails: Vault's error"
expect_line err 'Code: 500' "save fails: the status"
expect_line err 'stub failure for /v1/sys/storage/raft/snapshot' "save fails: the server's reason"
if [[ ! -e "$work/never.snap" && ! -e "$work/never.snap.tmp" ]]; then pass "save fails: no file left"; else fail "save fails: no file left"; fi
rm -f "$work/stub/fail.status"

run "$KEYHOLD" operator raft snapshot save "$work/no-such-dir/x.snap"
expect_rc 1 "save into a missing directory"
expect_line err '^Error opening output file .*x.snap.tmp: No such file or directory' "save into a missing directory: message"

closed_port="$(free_port)"
run "$KEYHOLD" -address="http://127.0.0.1:$closed_port" operator raft snapshot save "$work/never.snap"
expect_rc 2 "save: no server"
expect_line err "^Error taking the snapshot: Get \"http://127.0.0.1:$closed_port/v1/sys/storage/raft/snapshot\": " "save: no server: Go's url.Error"

# snapshot restore
run "$KEYHOLD" operator raft snapshot restore "$S/good.snap"
expect_rc 0 "snapshot restore"
stub_check 'reqs[-1]["method"] == "POST" and reqs[-1]["path"] == "/v1/sys/storage/raft/snapshot" and reqs[-1]["sha256"] == "'"$(sha256_of "$S/good.snap")"'" and reqs[-1]["ctype"] == "application/octet-stream" and reqs[-1]["token"] == "'"$STUB_TOKEN"'"' "restore: the file's bytes POSTed to sys/storage/raft/snapshot"

run "$KEYHOLD" operator raft snapshot restore -force "$S/good.snap"
expect_rc 0 "snapshot restore -force"
stub_check 'reqs[-1]["path"] == "/v1/sys/storage/raft/snapshot-force"' "restore -force: sys/storage/raft/snapshot-force"

n_before="$(stub_requests)"
for bad in flip.snap trunc.snap magic.snap huge_len.snap badrec.snap oversize.snap; do
    run "$KEYHOLD" operator raft snapshot restore "$S/$bad"
    expect_rc 1 "restore refuses $bad"
    expect_line err "^Error installing the snapshot: .*$bad" "restore refuses $bad: message"
done
if [[ "$(stub_requests)" == "$n_before" ]]; then pass "restore: nothing sent for a bad file"; else fail "restore: nothing sent for a bad file"; fi

run "$KEYHOLD" operator raft snapshot restore "$S/big.snap"
expect_rc 0 "restore 5 MiB"
expect_no_line err 'Uploading' "restore: no progress when stderr is not a terminal"
stub_check 'reqs[-1]["len"] == '"$(stat -c %s "$S/big.snap")" "restore: 5 MiB sent whole"
run_tty "$KEYHOLD" operator raft snapshot restore "$S/big.snap"
expect_rc 0 "restore on a terminal"
expect_line out 'Uploading snapshot: [0-9.]+ MiB / 5\.[0-9] MiB \(100%\)' "restore: progress with the total on a terminal"

echo 400 >"$work/stub/fail.status"
run "$KEYHOLD" operator raft snapshot restore "$S/good.snap"
expect_rc 2 "restore refused by the server"
expect_line err '^Error installing the snapshot: Error making API request' "restore refused: Vault's error"
expect_line err 'Code: 400' "restore refused: the status"
rm -f "$work/stub/fail.status"

run "$KEYHOLD" operator raft snapshot restore
expect_rc 1 "restore without a file"

stop_pid "$stub_pid"
stub_pid=""
unset KEYHOLD_ADDR KEYHOLD_TOKEN

# --- part 3: real keyholdd nodes with raft storage -----------------------------

# softhsm: one token shared by every node (one seal key, auto-unseal).
mkdir -p "$work/softhsm/tokens"
cat >"$work/softhsm/softhsm2.conf" <<EOF
directories.tokendir = $work/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$work/softhsm/softhsm2.conf"

# node_config NAME API_PORT CLUSTER_PORT: NAME.hcl with a raft stanza.
node_config() {
    cat >"$work/$1.hcl" <<EOF
storage "raft" {
  path        = "$work/$1"
  node_id     = "$1"
  tls_disable = "true"
  election_ms = "500"
}
listener "tcp" {
  address     = "127.0.0.1:$2"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:$2"
cluster_addr  = "https://127.0.0.1:$3"
disable_mlock = true
seal "pkcs11" {
  lib          = "$SOFTHSM_MODULE"
  token_label  = "keyhold"
  pin          = "1234"
  key_label    = "keyhold-kek"
  generate_key = "true"
}
EOF
    mkdir -p "$work/$1"
}

# start_node NAME: start keyholdd on NAME.hcl; the pid goes to node_pids
# and $node_pid. Returns 1 when it exits or does not listen.
start_node() {
    local port i
    port="$(sed -nE 's/^  address += "127\.0\.0\.1:([0-9]+)"/\1/p' "$work/$1.hcl")"
    "$KEYHOLDD" -config="$work/$1.hcl" >"$work/$1.log" 2>&1 &
    node_pid=$!
    node_pids+=("$node_pid")
    for i in $(seq 1 150); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/v1/sys/health"; then
            return 0
        fi
        if ! kill -0 "$node_pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# wait_status URL CODE...: until sys/health answers one of the codes.
wait_status() {
    local url="$1" i code want
    shift
    for i in $(seq 1 300); do
        code="$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/sys/health" || true)"
        for want in "$@"; do
            if [[ "$code" == "$want" ]]; then return 0; fi
        done
        sleep 0.1
    done
    return 1
}

softhsm2-util --init-token --free --label keyhold --so-pin 87654321 --pin 1234 >/dev/null
declare -A api cluster
for n in n1 n2 n3; do
    api[$n]="$(free_port)"
    cluster[$n]="$(cluster_port)"
    node_config "$n" "${api[$n]}" "${cluster[$n]}"
done
N1="http://127.0.0.1:${api[n1]}"
N2="http://127.0.0.1:${api[n2]}"
N3="http://127.0.0.1:${api[n3]}"

if ! start_node n1; then
    fail "node n1 starts with storage \"raft\""
    tail -20 "$work/n1.log" | sed 's/^/#   /'
    echo "$passed passed, $failed failed"
    exit 1
fi
echo "# raft node n1 on $N1"

init_json="$(curl -s -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$N1/v1/sys/init")"
ROOT="$(printf '%s' "$init_json" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' 2>/dev/null || true)"
if [[ -n "$ROOT" ]] && wait_status "$N1" 200; then pass "n1 initialised and active"; else fail "n1 initialised and active ($init_json)"; fi
export KEYHOLD_TOKEN="$ROOT"

run "$KEYHOLD" -address="$N1" operator raft list-peers
expect_rc 0 "raft: list-peers on a one-node cluster"
expect_line out "^n1 +127\\.0\\.0\\.1:${cluster[n1]} +leader +true\$" "raft: n1 leads and votes"

# n2 joins through the CLI, n3 through the CLI with -retry.
start_node n2 || fail "node n2 starts"
run "$KEYHOLD" -address="$N2" operator raft join "$N1"
expect_rc 0 "raft: join n2"
expect_line out '^Joined +true$' "raft: n2 joined"
start_node n3 || fail "node n3 starts"
run "$KEYHOLD" -address="$N3" operator raft join -retry "$N1"
expect_rc 0 "raft: join -retry n3"
wait_status "$N2" 200 429 || fail "n2 unsealed as a standby"
wait_status "$N3" 200 429 || fail "n3 unsealed as a standby"

run "$KEYHOLD" -address="$N2" operator raft list-peers
expect_rc 0 "raft: list-peers through a standby"
if [[ "$(grep -cE '^n[123] ' "$work/out")" == 3 && "$(grep -cE ' leader +true$' "$work/out")" == 1 ]]; then
    pass "raft: three peers, one leader"
else
    fail "raft: three peers, one leader"
fi

run "$KEYHOLD" -address="$N1" operator raft autopilot state
expect_rc 0 "raft: autopilot state"
expect_line out '^Leader: +n1$' "raft: autopilot names the leader"
expect_line out '^Failure Tolerance: +1$' "raft: three voters tolerate one failure"

# A policy is state: saved in the snapshot, gone after restoring an older one.
printf 'path "secret/*" { capabilities = ["read"] }\n' >"$work/p1.hcl"
run "$KEYHOLD" -address="$N1" policy write raft-p1 "$work/p1.hcl"
expect_rc 0 "raft: write a policy"
run "$KEYHOLD" -address="$N1" operator raft snapshot save "$work/before.snap"
expect_rc 0 "raft: snapshot save"
run "$KEYHOLD" operator raft snapshot inspect "$work/before.snap"
expect_rc 0 "raft: the saved snapshot inspects"
expect_line out '^core/ +[0-9]+$' "raft: the snapshot holds core/ keys"
printf 'path "secret/*" { capabilities = ["list"] }\n' >"$work/p2.hcl"
run "$KEYHOLD" -address="$N1" policy write raft-p2 "$work/p2.hcl"
expect_rc 0 "raft: write a second policy"
run "$KEYHOLD" -address="$N1" operator raft snapshot restore "$work/before.snap"
expect_rc 0 "raft: snapshot restore"
run "$KEYHOLD" -address="$N1" policy read raft-p2
expect_rc 2 "raft: the policy written after the snapshot is gone"
run "$KEYHOLD" -address="$N2" policy read raft-p1
expect_rc 0 "raft: the policy in the snapshot is there (read on a standby)"
cp "$work/before.snap" "$work/corrupt.snap"
printf '\xff' | dd of="$work/corrupt.snap" bs=1 seek=60 conv=notrunc status=none
run "$KEYHOLD" -address="$N1" operator raft snapshot restore "$work/corrupt.snap"
expect_rc 1 "raft: restore refuses a corrupt file"

run "$KEYHOLD" -address="$N1" operator raft remove-peer n3
expect_rc 0 "raft: remove-peer n3"
run "$KEYHOLD" -address="$N1" operator raft list-peers
expect_no_line out '^n3 ' "raft: n3 is gone from the peers"
run "$KEYHOLD" -address="$N1" operator raft remove-peer ghost
expect_rc 2 "raft: remove-peer of an unknown server"

run "$KEYHOLD" -address="$N1" operator step-down
expect_rc 0 "raft: step-down"
leader_moved=false
for _ in $(seq 1 100); do
    if "$KEYHOLD" -address="$N2" operator raft list-peers 2>/dev/null | grep -qE '^n2 .* leader +true$'; then
        leader_moved=true
        break
    fi
    sleep 0.1
done
if $leader_moved; then pass "raft: after step-down n2 leads"; else fail "raft: after step-down n2 leads"; fi

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
