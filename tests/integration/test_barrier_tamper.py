"""Integration tests of the storage barrier on disk: nothing secret in clear
in the LMDB files, every edit of a stored record detected (bit flips,
truncation, records moved to another key, deletion), keyring rotation
across restarts, and a kill -9 in the middle of rotations.

The LMDB store is edited while keyholdd is stopped, with mdb_dump/mdb_load
(lmdb-utils): the records are dumped in hex, changed in Python, and loaded
into a fresh data.mdb that replaces the original.

Run: KH_BIN=<build>/bin /usr/bin/python3 tests/integration/test_barrier_tamper.py
"""
import base64
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import Server, TestDir, check, run_tests  # noqa: E402
from test_seal_shamir import shamir_combine  # noqa: E402

SEALED_ERRORS = {"errors": ["Vault is sealed"]}
KEYRING = b"core/keyring"
CLUSTER = b"core/cluster"
SEAL_CONFIG = b"core/seal/config"
ROOT_KEY = b"core/seal/root-key"
SALT = b"sys/token/salt"
TOKEN_ID = b"sys/token/id/"
TOKEN_ACCESSOR = b"sys/token/accessor/"
HEADER_BYTES = 4 + 1 + 12  # term, version, nonce (barrier.h)


def stop_ok(srv):
    """SIGTERM the server and require exit status 0 and a clean ASan log."""
    rc = srv.stop()
    log = srv.read_log()
    check(rc == 0, "keyholdd exited %r on SIGTERM; log:\n%s" % (rc, log[-6000:]))
    check("Sanitizer" not in log, "sanitizer report in the log:\n%s" % log[-6000:])


def errors_of(body):
    return " ".join(body.get("errors", [])) if isinstance(body, dict) else str(body)


def status(srv):
    st, body, _ = srv.request("GET", "sys/seal-status")
    check(st == 200, "seal-status answered %s %r" % (st, body))
    return body


def unseal_with(srv, keys):
    """Submit keys; (status, body) of the last answer."""
    st, body = None, None
    for k in keys:
        st, body, _ = srv.request("PUT", "sys/unseal", {"key": k})
        if st != 200:
            break
    return st, body


# --- the LMDB store as records, through mdb_dump / mdb_load --------------

def store_dump(data_dir):
    """(header lines, {key: value}) of a stopped server's store, in order."""
    out = subprocess.run(["mdb_dump", data_dir], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    head, body = out.split("HEADER=END\n", 1)
    # mdb_load of lmdb-utils 0.9 does not know db_pagesize: keep it quiet.
    head = "".join(line + "\n" for line in head.splitlines()
                   if not line.startswith("db_pagesize="))
    lines = body.split("DATA=END")[0].splitlines()
    check(len(lines) % 2 == 0, "odd mdb_dump output")
    records = {}
    for i in range(0, len(lines), 2):
        records[bytes.fromhex(lines[i].strip())] = bytes.fromhex(lines[i + 1].strip())
    return head + "HEADER=END\n", records


def store_load(tmp, data_dir, header, records):
    """Replace the store in data_dir by exactly these records."""
    dump = tmp.join("edited.dump")
    with open(dump, "w") as f:
        f.write(header)
        for k in sorted(records):
            f.write(" %s\n %s\n" % (k.hex(), records[k].hex()))
        f.write("DATA=END\n")
    fresh = tmp.join("loaded")
    shutil.rmtree(fresh, ignore_errors=True)
    os.makedirs(fresh)
    subprocess.run(["mdb_load", "-f", dump, fresh], check=True, timeout=30)
    for name in ("data.mdb", "lock.mdb"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            os.unlink(path)
    shutil.copyfile(os.path.join(fresh, "data.mdb"), os.path.join(data_dir, "data.mdb"))
    os.chmod(os.path.join(data_dir, "data.mdb"), 0o600)


def flip(value, index, bit=0):
    b = bytearray(value)
    b[index % len(b)] ^= 1 << bit
    return bytes(b)


def token_key(records):
    keys = [k for k in records if k.startswith(TOKEN_ID)]
    check(len(keys) == 1, "one token entry expected: %r" % keys)
    return keys[0]


def accessor_key(records):
    keys = [k for k in records if k.startswith(TOKEN_ACCESSOR)]
    check(len(keys) == 1, "one accessor entry expected: %r" % keys)
    return keys[0]


class Fixture:
    """One initialised, unsealed-once shamir store and its pristine dump."""

    def __init__(self, shares=5, threshold=3):
        self.tmp = TestDir("kh-tamper")
        self.srv = Server(self.tmp)
        self.srv.start()
        st, body, _ = self.srv.request("PUT", "sys/init", {"secret_shares": shares,
                                                           "secret_threshold": threshold})
        check(st == 200, "init: %s %r" % (st, body))
        self.init = body
        self.keys = body["keys"]
        self.root = body["root_token"]
        st, s = unseal_with(self.srv, self.keys[:threshold])
        check(st == 200 and s["sealed"] is False, "unseal: %s %r" % (st, s))
        self.cluster_id = s["cluster_id"]
        self.cluster_name = s["cluster_name"]
        stop_ok(self.srv)
        self.header, self.records = store_dump(self.srv.data_dir)

    def load(self, records):
        store_load(self.tmp, self.srv.data_dir, self.header, records)

    def edited(self, **changes):
        """A copy of the pristine records with key=value changes."""
        return dict(self.records, **changes)

    def cleanup(self):
        self.srv.stop()
        self.tmp.cleanup()


def expect_unseal_refused(fx, records, what, keys=None, codes=(400, 500)):
    """Load records, start, unseal with the right shares: refused (400 or
    500), still sealed, protected paths 503. Returns the error text."""
    fx.load(records)
    fx.srv.start()
    try:
        st, body = unseal_with(fx.srv, keys or fx.keys[:3])
        check(st in codes, "%s: unseal answered %s %r" % (what, st, body))
        s = status(fx.srv)
        check(s["sealed"] is True and s["progress"] == 0, "%s: after unseal: %r" % (what, s))
        st2, body2, _ = fx.srv.request("GET", "sys/key-status", token=fx.root)
        check(st2 == 503 and body2 == SEALED_ERRORS, "%s: key-status %s %r" % (what, st2, body2))
        stop_ok(fx.srv)
        return errors_of(body)
    finally:
        fx.srv.stop()


def expect_token_refused(fx, records, what):
    """Load records, start, unseal (works), the root token is refused."""
    fx.load(records)
    fx.srv.start()
    try:
        st, body = unseal_with(fx.srv, fx.keys[:3])
        check(st == 200 and body["sealed"] is False, "%s: unseal %s %r" % (what, st, body))
        for path, method in (("sys/key-status", "GET"), ("sys/rotate", "PUT")):
            st, body, _ = fx.srv.request(method, path, token=fx.root)
            check(st in (403, 500), "%s: %s with the root token answered %s %r"
                  % (what, path, st, body))
        stop_ok(fx.srv)
    finally:
        fx.srv.stop()


def expect_serving(fx, records, what):
    fx.load(records)
    fx.srv.start()
    try:
        st, body = unseal_with(fx.srv, fx.keys[2:5])
        check(st == 200 and body["sealed"] is False, "%s: unseal %s %r" % (what, st, body))
        check(body["cluster_id"] == fx.cluster_id, "%s: cluster id changed" % what)
        st, body, _ = fx.srv.request("GET", "sys/key-status", token=fx.root)
        check(st == 200, "%s: key-status %s %r" % (what, st, body))
        stop_ok(fx.srv)
        return body["data"]
    finally:
        fx.srv.stop()


# No secret on disk in clear: not the root token, not a key share (hex,
# base64 or raw), not the reconstructed unseal key, not the cluster identity,
# not token-entry JSON; only the seal configuration is readable. The log does
# not carry the token or the shares either.
def test_no_plaintext_on_disk():
    fx = Fixture()
    try:
        srv = fx.srv
        srv.start()
        unseal_with(srv, fx.keys[1:4])
        st, _, _ = srv.request("PUT", "sys/rotate", token=fx.root)
        check(st == 204, "rotate: %s" % st)
        stop_ok(srv)
        header, records = store_dump(srv.data_dir)
        names = sorted(records)
        print("    stored keys: %s" % ", ".join(k.decode() for k in names), flush=True)
        for k in (KEYRING, CLUSTER, SEAL_CONFIG, ROOT_KEY, SALT):
            check(k in records, "no %r in the store" % k)
        token_key(records)

        raw_shares = [bytes.fromhex(h) for h in fx.keys]
        unseal_key = shamir_combine(raw_shares[:3])
        token = fx.root.encode()
        needles = {
            "root token": token,
            "root token body": token[len("hvs."):],
            "unseal key": unseal_key,
            "unseal key hex": unseal_key.hex().encode(),
            "unseal key base64": base64.b64encode(unseal_key),
            "cluster id": fx.cluster_id.encode(),
            "cluster name": fx.cluster_name.encode(),
            "token JSON root": b'"root"',
            "auth/token/root": b"auth/token/root",
            "policies": b"policies",
            "hvs. prefix": b"hvs.",
        }
        for i, (h, b) in enumerate(zip(fx.keys, fx.init["keys_base64"])):
            needles["share %d hex" % i] = h.encode()
            needles["share %d HEX" % i] = h.upper().encode()
            needles["share %d base64" % i] = b.encode()
            needles["share %d raw" % i] = raw_shares[i]
        files = []
        for dirpath, _, filenames in os.walk(srv.data_dir):
            files += [os.path.join(dirpath, f) for f in filenames]
        check(files, "no files in the data dir")
        seen_config = False
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            # Positive control: the scan does see what is stored in clear.
            seen_config = seen_config or b'"secret_threshold":3' in data
            for name, needle in needles.items():
                check(needle not in data, "%s found in clear in %s" % (name, path))
        check(seen_config, "the scan did not find the clear seal configuration")
        log = srv.read_log().encode()
        for name, needle in needles.items():
            if name.startswith("share") or name.startswith("root token") or name.startswith("unseal"):
                check(needle not in log, "%s found in the server log" % name)
        for k, v in records.items():
            if k == SEAL_CONFIG:
                check(v.startswith(b'{"recovery_shares":0'), "seal config: %r" % v)
                continue
            check(not v.startswith(b"{") and len(v) > HEADER_BYTES + 16,
                  "%r is not a sealed record: %r" % (k, v[:40]))
        # Every barrier record names a term the keyring holds (1 or 2).
        for k, v in records.items():
            if k not in (SEAL_CONFIG, ROOT_KEY, KEYRING):
                term = int.from_bytes(v[:4], "big")
                check(term in (1, 2), "%r under term %d" % (k, term))
        check(int.from_bytes(records[KEYRING][:4], "big") == 0, "keyring not under the root key")
    finally:
        fx.cleanup()


# The dump/load tooling itself changes nothing (control for the tamper tests).
def test_dump_load_roundtrip_control():
    fx = Fixture()
    try:
        fx.load(fx.records)
        header, again = store_dump(fx.srv.data_dir)
        check(again == fx.records, "dump/load round trip changed the records")
        data = expect_serving(fx, fx.records, "round trip")
        check(data["term"] == 1, "term after round trip: %r" % data)
    finally:
        fx.cleanup()


# Keyring tampering: bit flips in term, nonce, ciphertext and tag;
# truncation; deletion; another record's value moved in. Unseal with the
# right shares is refused and the node stays sealed; the pristine store
# still unseals afterwards.
def test_keyring_tamper_detected():
    fx = Fixture()
    try:
        kr = fx.records[KEYRING]
        cases = [
            ("term bit", flip(kr, 3)),
            ("version byte", flip(kr, 4, 1)),
            ("nonce bit", flip(kr, 9, 5)),
            ("ciphertext bit", flip(kr, len(kr) // 2, 7)),
            ("tag bit", flip(kr, -1)),
            ("truncated by 1", kr[:-1]),
            ("truncated to half", kr[:len(kr) // 2]),
            ("truncated to header", kr[:HEADER_BYTES]),
            ("cluster record moved in", fx.records[CLUSTER]),
            ("root-key blob moved in", fx.records[ROOT_KEY]),
            ("empty", b""),
        ]
        for what, value in cases:
            records = dict(fx.records)
            records[KEYRING] = value
            expect_unseal_refused(fx, records, "keyring " + what)
        records = dict(fx.records)
        del records[KEYRING]
        # No keyring under a seal configuration: the barrier says
        # uninitialised, which the HTTP layer renders as 503 "Vault is sealed".
        expect_unseal_refused(fx, records, "keyring deleted", codes=(400, 500, 503))
        expect_serving(fx, fx.records, "pristine after keyring tampering")
    finally:
        fx.cleanup()


# The wrapped root key and the cluster identity: tampering refuses unseal.
# The clear seal configuration: lowering the threshold does not let fewer
# shares unseal.
def test_root_key_cluster_and_config_tamper_detected():
    fx = Fixture()
    try:
        rk, cl = fx.records[ROOT_KEY], fx.records[CLUSTER]
        for what, key, value in [
                ("root-key bit", ROOT_KEY, flip(rk, len(rk) // 2)),
                ("root-key truncated", ROOT_KEY, rk[:-4]),
                ("root-key from keyring", ROOT_KEY, fx.records[KEYRING]),
                ("cluster bit", CLUSTER, flip(cl, 20)),
                ("cluster tag bit", CLUSTER, flip(cl, -3, 2)),
                ("cluster truncated", CLUSTER, cl[:len(cl) - 8]),
                ("cluster from salt", CLUSTER, fx.records[SALT]),
                ("cluster from token entry", CLUSTER, fx.records[token_key(fx.records)])]:
            records = dict(fx.records)
            records[key] = value
            expect_unseal_refused(fx, records, what)
        config = fx.records[SEAL_CONFIG]
        check(b'"secret_threshold":3' in config, "unexpected seal config %r" % config)
        records = dict(fx.records)
        records[SEAL_CONFIG] = config.replace(b'"secret_threshold":3', b'"secret_threshold":2')
        expect_unseal_refused(fx, records, "threshold lowered to 2", keys=fx.keys[:2])
        expect_serving(fx, fx.records, "pristine after root-key/cluster tampering")
    finally:
        fx.cleanup()


# Token records: a flipped bit, a truncation, a value moved from the
# accessor record or the salt, a changed salt, a deleted entry: the node
# unseals but the root token no longer authenticates (403 or 500, never 200).
def test_token_tamper_detected():
    fx = Fixture()
    try:
        tk, ak = token_key(fx.records), accessor_key(fx.records)
        entry, salt = fx.records[tk], fx.records[SALT]
        cases = [
            ("entry bit", {tk: flip(entry, len(entry) // 2)}),
            ("entry term", {tk: flip(entry, 3, 1)}),
            ("entry tag", {tk: flip(entry, -1, 6)}),
            ("entry truncated", {tk: entry[:len(entry) - 20]}),
            ("entry truncated to header", {tk: entry[:HEADER_BYTES]}),
            ("accessor record moved to entry", {tk: fx.records[ak]}),
            ("cluster record moved to entry", {tk: fx.records[CLUSTER]}),
            ("salt bit", {SALT: flip(salt, HEADER_BYTES + 1)}),
            ("salt truncated", {SALT: salt[:-1]}),
            ("entry moved to salt", {SALT: entry}),
        ]
        for what, change in cases:
            records = dict(fx.records)
            records.update(change)
            expect_token_refused(fx, records, what)
        records = dict(fx.records)
        del records[tk]
        expect_token_refused(fx, records, "entry deleted")
        # The entry moved to another token's path does not authenticate as
        # that token either (the path is the AAD).
        records = dict(fx.records)
        records[tk[:-1] + (b"0" if tk[-1:] != b"0" else b"1")] = entry
        del records[tk]
        expect_token_refused(fx, records, "entry moved to another id")
        expect_serving(fx, fx.records, "pristine after token tampering")
    finally:
        fx.cleanup()


# A keyring that fails authentication is reported as a damaged store, not
# as wrong key shares: the operator holds the right shares and must be told
# so (the wrapped root key opened with them).
def test_corrupt_keyring_not_blamed_on_shares():
    fx = Fixture()
    try:
        wrong = expect_unseal_refused(fx, fx.records, "wrong shares",
                                      keys=[fx.keys[0], fx.keys[1], flip(bytes.fromhex(fx.keys[2]), 0).hex()])
        records = dict(fx.records)
        records[KEYRING] = flip(fx.records[KEYRING], -1)
        corrupt = expect_unseal_refused(fx, records, "keyring tag bit")
        print("    wrong shares -> %r" % wrong, flush=True)
        print("    corrupt keyring, right shares -> %r" % corrupt, flush=True)
        check(corrupt != wrong, "a corrupt keyring is reported exactly like wrong key shares: %r" % corrupt)
        check("do not reconstruct" not in corrupt,
              "a corrupt keyring is blamed on the key shares: %r" % corrupt)
    finally:
        fx.cleanup()


# Three rotations reach term 4; after a restart and unseal, key-status still
# says 4 and the root token, written under term 1, still authenticates.
def test_rotations_survive_restart():
    fx = Fixture()
    try:
        srv = fx.srv
        srv.start()
        unseal_with(srv, fx.keys[:3])
        before = fx.records[KEYRING]
        for _ in range(3):
            st, body, _ = srv.request("PUT", "sys/rotate", token=fx.root)
            check(st == 204, "rotate: %s %r" % (st, body))
        st, body, _ = srv.request("GET", "sys/key-status", token=fx.root)
        check(st == 200 and body["data"]["term"] == 4, "key-status: %s %r" % (st, body))
        stop_ok(srv)
        header, records = store_dump(srv.data_dir)
        check(records[KEYRING] != before, "keyring not rewritten by rotation")
        check(int.from_bytes(records[token_key(records)][:4], "big") == 1,
              "token entry no longer under term 1")
        srv.start()
        st, body = unseal_with(srv, fx.keys[2:])
        check(st == 200 and body["sealed"] is False, "unseal after rotations: %s %r" % (st, body))
        st, body, _ = srv.request("GET", "sys/key-status", token=fx.root)
        check(st == 200 and body["data"]["term"] == 4, "key-status after restart: %s %r" % (st, body))
        st, _, _ = srv.request("PUT", "sys/rotate", token=fx.root)
        check(st == 204, "rotate after restart: %s" % st)
        stop_ok(srv)
    finally:
        fx.cleanup()


class RotateHammer(threading.Thread):
    """Calls sys/rotate in a loop until the server stops answering."""

    def __init__(self, srv, token):
        super().__init__(daemon=True)
        self.srv, self.token = srv, token
        self.acked = self.attempts = 0
        self.other = []

    def run(self):
        while True:
            self.attempts += 1
            try:
                st, body, _ = self.srv.request("PUT", "sys/rotate", token=self.token)
            except Exception:  # connection refused or reset: killed
                return
            if st == 204:
                self.acked += 1
            else:
                self.other.append((st, body))
                return


# kill -9 in the middle of a stream of rotations: the store unseals and
# serves, every acknowledged rotation is kept (term >= 1 + acked), and the
# root token still authenticates. Three different kill points.
def test_kill9_during_rotations():
    fx = Fixture()
    try:
        srv = fx.srv
        term = 1
        for delay in (0.15, 0.4, 0.9):
            srv.start()
            st, body = unseal_with(srv, fx.keys[:3])
            check(st == 200 and body["sealed"] is False, "unseal before kill: %s %r" % (st, body))
            hammer = RotateHammer(srv, fx.root)
            hammer.start()
            time.sleep(delay)
            deadline = time.time() + 10
            while hammer.acked == 0 and hammer.is_alive() and time.time() < deadline:
                time.sleep(0.01)
            srv.kill9()
            hammer.join(30)
            check(not hammer.is_alive(), "rotation thread hung")
            check(not hammer.other, "rotate failed before the kill: %r" % hammer.other[:3])
            check(hammer.acked > 0, "no rotation acknowledged within %ss" % delay)
            srv.start()
            st, body = unseal_with(srv, fx.keys[1:4])
            check(st == 200 and body["sealed"] is False,
                  "unseal after kill -9 (delay %s): %s %r\n%s" % (delay, st, body, srv.read_log()[-3000:]))
            st, ks, _ = srv.request("GET", "sys/key-status", token=fx.root)
            check(st == 200, "key-status after kill -9: %s %r" % (st, ks))
            new_term = ks["data"]["term"]
            print("    kill -9 after %.2fs: %d rotations acknowledged, %d attempted, term %d -> %d"
                  % (delay, hammer.acked, hammer.attempts, term, new_term), flush=True)
            check(new_term >= term + hammer.acked, "acknowledged rotations lost: term %d, expected >= %d"
                  % (new_term, term + hammer.acked))
            check(new_term <= term + hammer.attempts, "term %d beyond attempts" % new_term)
            st, _, _ = srv.request("PUT", "sys/rotate", token=fx.root)
            check(st == 204, "rotate after recovery: %s" % st)
            term = new_term + 1
            stop_ok(srv)
    finally:
        fx.cleanup()


if __name__ == "__main__":
    run_tests([
        test_no_plaintext_on_disk,
        test_dump_load_roundtrip_control,
        test_keyring_tamper_detected,
        test_root_key_cluster_and_config_tamper_detected,
        test_token_tamper_detected,
        test_corrupt_keyring_not_blamed_on_shares,
        test_rotations_survive_restart,
        test_kill9_during_rotations,
    ])
