"""Integration tests of the shamir seal: sys/init, sys/unseal, sys/seal,
sys/seal-status, restart, and the hvac client, against real keyholdd
processes (Vault API: sys/init and sys/health).

Run: KH_BIN=<build>/bin /usr/bin/python3 tests/integration/test_seal_shamir.py
"""
import base64
import itertools
import os
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import Server, TestDir, check, run_tests  # noqa: E402

SEALED_ERRORS = {"errors": ["Vault is sealed"]}


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


def init(srv, shares=5, threshold=3):
    st, body, _ = srv.request("PUT", "sys/init", {"secret_shares": shares,
                                                  "secret_threshold": threshold})
    check(st == 200, "init %d/%d answered %s %r" % (shares, threshold, st, body))
    return body


def unseal(srv, key):
    return srv.request("PUT", "sys/unseal", {"key": key})


def unseal_all(srv, keys):
    body = None
    for k in keys:
        st, body, _ = unseal(srv, k)
        check(st == 200, "unseal answered %s %r" % (st, body))
    check(body["sealed"] is False, "still sealed after %d keys: %r" % (len(keys), body))
    return body


def key_status(srv, token):
    return srv.request("GET", "sys/key-status", token=token)


# --- GF(2^8) Shamir (Vault's field, 0x11b) to check shares independently ---

def gf_mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11b
        b >>= 1
    return r


def gf_inv(a):
    r = 1
    for _ in range(254):  # a^254 = a^-1
        r = gf_mul(r, a)
    return r


def shamir_combine(shares):
    """Interpolate 33-byte shares (y-bytes || x) at x = 0."""
    xs = [s[-1] for s in shares]
    out = bytearray(len(shares[0]) - 1)
    for i, si in enumerate(shares):
        basis = 1
        for j, xj in enumerate(xs):
            if i != j:
                basis = gf_mul(basis, gf_mul(xj, gf_inv(xs[i] ^ xj)))
        for k in range(len(out)):
            out[k] ^= gf_mul(si[k], basis)
    return bytes(out)


def is_lower_hex(text):
    return all(c in string.hexdigits and not c.isupper() for c in text)


# Before init: GET sys/init false, seal-status uninitialised, health 501,
# unseal refused, protected paths 503.
def test_uninitialized_state():
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        st, body, _ = srv.request("GET", "sys/init")
        check(st == 200 and body == {"initialized": False}, "GET sys/init: %s %r" % (st, body))
        s = status(srv)
        check(s["initialized"] is False and s["sealed"] is True and s["t"] == 0 and s["n"] == 0,
              "uninitialised seal-status: %r" % s)
        check(s["type"] == "shamir" and s["recovery_seal"] is False, "seal type: %r" % s)
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 501 and body["initialized"] is False, "health: %s %r" % (st, body))
        st, body, _ = unseal(srv, "00" * 33)
        check(st == 400 and "not initialized" in errors_of(body), "unseal before init: %s %r" % (st, body))
        st, body, _ = srv.request("GET", "sys/key-status", token="hvs.whatever")
        check(st == 503 and body == SEALED_ERRORS, "key-status before init: %s %r" % (st, body))
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# Init 5/3: five 66-char hex shares with matching base64, a root token, still
# sealed; progress counts up under one nonce; 3 shares (hex and base64 mixed)
# unseal; any 3 of the 5 shares combine to the same key (checked in Python).
def test_init_and_unseal():
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        body = init(srv)
        keys, keys_b64, root = body["keys"], body["keys_base64"], body["root_token"]
        check(len(keys) == 5 and len(keys_b64) == 5, "5 shares expected: %r" % body)
        for h, b in zip(keys, keys_b64):
            check(len(h) == 66 and is_lower_hex(h), "share is not 66 lowercase hex chars: %r" % h)
            check(base64.b64decode(b, validate=True) == bytes.fromhex(h),
                  "base64 share does not match hex share: %r %r" % (h, b))
        check(len(set(keys)) == 5, "shares are not distinct")
        check(len({bytes.fromhex(h)[-1] for h in keys}) == 5, "x-coordinates not distinct")
        check(root.startswith("hvs.") and len(root) > 10, "root token: %r" % root)
        raw = [bytes.fromhex(h) for h in keys]
        combined = {shamir_combine(list(c)) for c in itertools.combinations(raw, 3)}
        check(len(combined) == 1, "3-subsets of the shares combine to %d keys" % len(combined))
        check(shamir_combine(raw[:2]) not in combined, "2 shares reconstruct the key")

        s = status(srv)
        check(s["initialized"] is True and s["sealed"] is True, "after init: %r" % s)
        check(s["t"] == 3 and s["n"] == 5 and s["progress"] == 0 and s["nonce"] == "",
              "after init: %r" % s)
        st, body, _ = srv.request("GET", "sys/init")
        check(st == 200 and body == {"initialized": True}, "GET sys/init: %s %r" % (st, body))
        st, body, _ = key_status(srv, root)
        check(st == 503 and body == SEALED_ERRORS, "key-status while sealed: %s %r" % (st, body))
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 503 and body["sealed"] is True, "health while sealed: %s %r" % (st, body))

        st, b1, _ = unseal(srv, keys[0])
        check(st == 200 and b1["sealed"] and b1["progress"] == 1 and b1["nonce"],
              "after share 1: %s %r" % (st, b1))
        st, b2, _ = unseal(srv, keys_b64[3])
        check(st == 200 and b2["sealed"] and b2["progress"] == 2 and b2["nonce"] == b1["nonce"],
              "after share 2: %s %r" % (st, b2))
        check(status(srv)["progress"] == 2, "seal-status does not show progress 2")
        st, b3, _ = unseal(srv, keys[4])
        check(st == 200 and b3["sealed"] is False and b3["progress"] == 0 and b3["nonce"] == "",
              "after share 3: %s %r" % (st, b3))
        check(b3["cluster_name"] and b3["cluster_id"], "unsealed status lacks cluster: %r" % b3)

        st, body, _ = srv.request("GET", "sys/health")
        check(st == 200 and body["sealed"] is False, "health unsealed: %s %r" % (st, body))
        st, body, _ = key_status(srv, root)
        check(st == 200 and body["data"]["term"] == 1, "key-status: %s %r" % (st, body))
        # Unsealing an unsealed node just returns the status.
        st, body, _ = unseal(srv, keys[1])
        check(st == 200 and body["sealed"] is False, "unseal when unsealed: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/unseal", {"reset": True})
        check(st == 400 and "unsealed" in errors_of(body), "reset when unsealed: %s %r" % (st, body))
        # Init again is refused.
        st, body, _ = srv.request("PUT", "sys/init", {"secret_shares": 5, "secret_threshold": 3})
        check(st == 400 and body == {"errors": ["Vault is already initialized"]},
              "second init: %s %r" % (st, body))
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# Wrong shares at threshold: 400, progress reset, still sealed; the same share
# twice: 400; malformed keys: 400; reset clears progress; the right shares
# still unseal after all that.
def test_wrong_shares_and_reset():
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        body = init(srv)
        keys = body["keys"]
        raw = [bytes.fromhex(h) for h in keys]

        # Two good shares and one with a flipped y-byte.
        bad = bytearray(raw[2])
        bad[0] ^= 0x01
        for k in (keys[0], keys[1]):
            st, _, _ = unseal(srv, k)
            check(st == 200, "good share refused")
        st, body, _ = unseal(srv, bytes(bad).hex())
        check(st == 400, "wrong share at threshold answered %s %r" % (st, body))
        s = status(srv)
        check(s["sealed"] is True and s["progress"] == 0 and s["nonce"] == "",
              "after failed attempt: %r" % s)

        # Three well-formed random shares (distinct nonzero x).
        for x in (7, 99, 200):
            share = os.urandom(32) + bytes([x])
            st, body, _ = unseal(srv, base64.b64encode(share).decode())
        check(st == 400, "random shares at threshold answered %s %r" % (st, body))
        check(status(srv)["progress"] == 0, "progress not reset after random shares")

        # The same share twice.
        st, b1, _ = unseal(srv, keys[0])
        st, body, _ = unseal(srv, keys[0])
        check(st == 400 and "already been provided" in errors_of(body),
              "same share twice (hex): %s %r" % (st, body))
        st, body, _ = unseal(srv, body_b64(raw[0]))
        check(st == 400, "same share twice (base64 of the same bytes): %s %r" % (st, body))
        s = status(srv)
        check(s["progress"] == 1 and s["nonce"] == b1["nonce"], "duplicate changed progress: %r" % s)

        # Malformed keys: not hex or base64, wrong length, missing.
        for key in ("not a key!", "abcd", "00" * 32):
            st, body, _ = unseal(srv, key)
            check(st == 400, "malformed key %r answered %s %r" % (key, st, body))
        st, body, _ = srv.request("PUT", "sys/unseal", {})
        check(st == 400 and "must be specified" in errors_of(body), "empty unseal: %s %r" % (st, body))
        check(status(srv)["progress"] == 1, "malformed keys changed progress")

        # reset:true clears the progress.
        st, body, _ = srv.request("PUT", "sys/unseal", {"reset": True})
        check(st == 200 and body["progress"] == 0 and body["sealed"] is True,
              "reset: %s %r" % (st, body))
        check(status(srv)["nonce"] == "", "nonce survives reset")

        unseal_all(srv, [keys[2], keys[3], keys[0]])
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


def body_b64(raw):
    return base64.b64encode(raw).decode()


# Init validation: threshold > shares, threshold 1 with several shares,
# 0 shares, 256 shares, recovery_* with shamir: 400 and still uninitialised;
# then 1/1 gives a single 64-hex-char key that unseals.
def test_init_validation_and_single_share():
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        bad = [
            ({"secret_shares": 3, "secret_threshold": 5}, "threshold cannot be larger than shares"),
            ({"secret_shares": 5, "secret_threshold": 1}, "threshold must be greater than one"),
            ({"secret_shares": 0, "secret_threshold": 0}, ""),
            ({"secret_shares": 0, "secret_threshold": 1}, ""),
            ({"secret_shares": 256, "secret_threshold": 3}, ""),
            ({"secret_shares": 5, "secret_threshold": 0}, ""),
            ({"secret_shares": -1, "secret_threshold": 3}, ""),
            ({"secret_shares": 5, "secret_threshold": 3, "recovery_shares": 3,
              "recovery_threshold": 2}, "not applicable to seal type shamir"),
            ({"recovery_shares": 3, "recovery_threshold": 2}, ""),
        ]
        for req, text in bad:
            st, body, _ = srv.request("PUT", "sys/init", req)
            check(st == 400, "init %r answered %s %r" % (req, st, body))
            check(text in errors_of(body), "init %r: error %r lacks %r" % (req, body, text))
        st, body, _ = srv.request("GET", "sys/init")
        check(body == {"initialized": False}, "a refused init initialised the store: %r" % body)

        body = init(srv, 1, 1)
        check(len(body["keys"]) == 1 and len(body["keys"][0]) == 64 and is_lower_hex(body["keys"][0]),
              "1/1 key is not 64 hex chars: %r" % body)
        check(base64.b64decode(body["keys_base64"][0]) == bytes.fromhex(body["keys"][0]),
              "1/1 base64 does not match")
        s = status(srv)
        check(s["t"] == 1 and s["n"] == 1 and s["sealed"] is True, "1/1 status: %r" % s)
        st, bad_body, _ = unseal(srv, os.urandom(32).hex())
        check(st == 400 and status(srv)["sealed"], "wrong single key: %s %r" % (st, bad_body))
        st, body2, _ = unseal(srv, body["keys_base64"][0])
        check(st == 200 and body2["sealed"] is False, "1/1 unseal (base64): %s %r" % (st, body2))
        st, ks, _ = key_status(srv, body["root_token"])
        check(st == 200, "key-status after 1/1 unseal: %s %r" % (st, ks))
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# sys/seal: 403 without or with a wrong token, 204 with the root token, then
# everything protected answers 503 "Vault is sealed"; a restart comes back
# sealed with the same identity and other shares unseal it; the root token
# still authenticates.
def test_seal_and_restart():
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        body = init(srv)
        keys, root = body["keys"], body["root_token"]
        unsealed = unseal_all(srv, keys[:3])
        cluster_id = unsealed["cluster_id"]

        st, body, _ = srv.request("PUT", "sys/seal")
        check(st == 403, "seal without token: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/seal", token="hvs.notatoken0000000000000")
        check(st == 403, "seal with a wrong token: %s %r" % (st, body))
        st, body, _ = key_status(srv, "hvs.notatoken0000000000000")
        check(st == 403, "key-status with a wrong token: %s %r" % (st, body))
        check(status(srv)["sealed"] is False, "a refused seal sealed the node")
        st, body, _ = srv.request("PUT", "sys/seal", token=root)
        check(st == 204, "seal with root token: %s %r" % (st, body))
        st, body, _ = key_status(srv, root)
        check(st == 503 and body == SEALED_ERRORS, "key-status after seal: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/rotate", token=root)
        check(st == 503 and body == SEALED_ERRORS, "rotate after seal: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/seal", token=root)
        check(st == 503, "seal when sealed: %s %r" % (st, body))
        s = status(srv)
        check(s["sealed"] is True and s["progress"] == 0 and "cluster_id" not in s, "after seal: %r" % s)

        # Unseal again in the same process, rotate, then restart.
        unseal_all(srv, keys[1:4])
        st, _, _ = srv.request("PUT", "sys/rotate", token=root)
        check(st == 204, "rotate: %s" % st)
        stop_ok(srv)

        srv.start()
        s = status(srv)
        check(s["initialized"] is True and s["sealed"] is True and s["t"] == 3 and s["n"] == 5,
              "after restart: %r" % s)
        st, body, _ = key_status(srv, root)
        check(st == 503, "key-status after restart: %s %r" % (st, body))
        # A partial attempt does not survive a restart.
        unseal(srv, keys[0])
        stop_ok(srv)
        srv.start()
        check(status(srv)["progress"] == 0, "unseal progress survived a restart")
        body = unseal_all(srv, [keys[4], keys[2], keys[3]])
        check(body["cluster_id"] == cluster_id, "cluster id changed across restart")
        st, body, _ = key_status(srv, root)
        check(st == 200 and body["data"]["term"] == 2, "key-status after restart: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        check(st == 400, "init after restart: %s %r" % (st, body))
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# hvac against a shamir node: is_initialized, initialize, submit_unseal_keys,
# read_seal_status, seal, rotate_encryption_key, get_encryption_key_status.
def test_hvac_shamir():
    import hvac
    tmp = TestDir("kh-shamir")
    srv = Server(tmp)
    try:
        srv.start()
        client = hvac.Client(url=srv.url)
        check(client.sys.is_initialized() is False, "hvac is_initialized before init")
        result = client.sys.initialize(secret_shares=5, secret_threshold=3)
        check(len(result["keys"]) == 5 and result["root_token"], "hvac initialize: %r" % result)
        check(client.sys.is_initialized() is True, "hvac is_initialized after init")
        check(client.sys.is_sealed() is True, "hvac is_sealed after init")
        client.token = result["root_token"]
        st = client.sys.submit_unseal_keys(result["keys"][:3])
        check(st["sealed"] is False, "hvac submit_unseal_keys: %r" % st)
        st = client.sys.read_seal_status()
        check(st["sealed"] is False and st["t"] == 3 and st["n"] == 5, "hvac read_seal_status: %r" % st)
        ks = client.sys.get_encryption_key_status()
        check(ks["data"]["term"] == 1, "hvac key status: %r" % ks)
        client.sys.rotate_encryption_key()
        client.sys.rotate_encryption_key()
        ks = client.sys.get_encryption_key_status()
        check(ks["data"]["term"] == 3, "hvac key status after 2 rotations: %r" % ks)
        client.sys.seal()
        check(client.sys.is_sealed() is True, "hvac seal did not seal")
        try:
            client.sys.get_encryption_key_status()
            check(False, "key status answered while sealed")
        except hvac.exceptions.VaultDown:
            pass
        st = client.sys.submit_unseal_keys(result["keys_base64"][2:])
        check(st["sealed"] is False, "hvac unseal with base64 keys: %r" % st)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([
        test_uninitialized_state,
        test_init_and_unseal,
        test_wrong_shares_and_reset,
        test_init_validation_and_single_share,
        test_seal_and_restart,
        test_hvac_shamir,
    ])
