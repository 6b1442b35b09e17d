"""Integration tests of the pkcs11 seal with real SoftHSM2 tokens: init with
recovery keys, the KEK's attributes, auto-unseal at start, manual seal and
recovery-key unseal, device failures (PIN, key, token, library), both
mechanisms, a foreign token, and the hvac client.

Run: KH_BIN=<build>/bin /usr/bin/python3 tests/integration/test_seal_pkcs11.py
"""
import base64
import os
import re
import subprocess
import sys
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import SOFTHSM_MODULE, Server, SoftHSM, TestDir, check, run_tests  # noqa: E402

SEALED_ERRORS = {"errors": ["Vault is sealed"]}
PKCS11_SPY = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"


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


def log_tail(srv, offset):
    return srv.read_log()[offset:]


def node(tmp, hsm, env=None, **stanza):
    """The one node of a test ("node-data" survives reconfiguration)."""
    return Server(tmp, seal_stanza=hsm.seal_stanza(**stanza),
                  env=env if env is not None else hsm.env, name="node")


def init_recovery(srv, shares=3, threshold=2):
    st, body, _ = srv.request("PUT", "sys/init", {"recovery_shares": shares,
                                                  "recovery_threshold": threshold})
    check(st == 200, "init answered %s %r" % (st, body))
    return body


def key_status(srv, token):
    return srv.request("GET", "sys/key-status", token=token)


def check_serving(srv, root):
    st, body, _ = key_status(srv, root)
    check(st == 200 and body["data"]["term"] >= 1, "key-status: %s %r" % (st, body))


def start_timed(srv, timeout=15):
    """Start and return seconds from spawn until seal-status says unsealed."""
    t0 = time.monotonic()
    srv.start(wait=False)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        check(srv.proc.poll() is None, "keyholdd exited:\n%s" % srv.read_log())
        try:
            st, body, _ = srv.request("GET", "sys/seal-status")
            if st == 200 and body["sealed"] is False:
                return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.005)
    raise AssertionError("not auto-unsealed within %ss:\n%s" % (timeout, srv.read_log()))


MECH_BYTE_GCM, MECH_BYTE_KWP = 1, 2  # hsm.h enum hsm_mechanism


def root_key_blob(data_dir):
    """The stored pkcs11 blob of core/seal/root-key (server stopped)."""
    out = subprocess.run(["mdb_dump", data_dir], capture_output=True, text=True, check=True).stdout
    lines = out.split("HEADER=END\n", 1)[1].splitlines()
    want = b"core/seal/root-key".hex()
    for i in range(0, len(lines) - 1, 2):
        if lines[i].strip() == want:
            return bytes.fromhex(lines[i + 1].strip())
    raise AssertionError("no core/seal/root-key in the store")


def list_secret_keys(hsm, token_label, pin):
    out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token_label,
                          "--login", "--pin", pin, "--list-objects", "--type", "secrkey"],
                         env=hsm.env, capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "pkcs11-tool failed: %s %s" % (out.stdout, out.stderr))
    return out.stdout


def check_stays_sealed(srv, initialized, message, root=None):
    """Running, sealed, answering seal-status; health 503; log says why."""
    s = status(srv)
    check(s["sealed"] is True and s["initialized"] is initialized and s["type"] == "pkcs11",
          "seal-status: %r" % s)
    st, body, _ = srv.request("GET", "sys/health")
    want = 503 if initialized else 501
    check(st == want and body["sealed"] is True, "health: %s %r" % (st, body))
    if root:
        st, body, _ = key_status(srv, root)
        check(st == 503 and body == SEALED_ERRORS, "key-status: %s %r" % (st, body))
    log = srv.read_log()
    check(message in log, "log lacks %r:\n%s" % (message, log[-4000:]))


# Init with recovery 3/2: recovery keys only, unsealed at once; the KEK in the
# token is sensitive and never extractable; restarts auto-unseal with no
# operator action (timed).
def test_init_kek_and_auto_unseal():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        s = status(srv)
        check(s["initialized"] is False and s["sealed"] is True and s["recovery_seal"] is True,
              "before init: %r" % s)
        body = init_recovery(srv)
        check(body["keys"] == [] and body["keys_base64"] == [], "unseal keys given out: %r" % body)
        rk, rk64, root = body["recovery_keys"], body["recovery_keys_base64"], body["root_token"]
        check(len(rk) == 3 and len(rk64) == 3, "3 recovery keys expected: %r" % body)
        for h, b in zip(rk, rk64):
            check(len(h) == 66 and base64.b64decode(b) == bytes.fromhex(h), "recovery key %r/%r" % (h, b))
        check(root.startswith("hvs."), "root token %r" % root)
        s = status(srv)
        check(s["sealed"] is False and s["t"] == 2 and s["n"] == 3 and s["type"] == "pkcs11",
              "after init: %r" % s)
        st, _, _ = srv.request("GET", "sys/health")
        check(st == 200, "health after init: %s" % st)
        check_serving(srv, root)
        st, body, _ = srv.request("PUT", "sys/init", {"recovery_shares": 3, "recovery_threshold": 2})
        check(st == 400 and "already initialized" in errors_of(body), "second init: %s %r" % (st, body))
        stop_ok(srv)

        blob = root_key_blob(srv.data_dir)
        check(blob[0] == 1 and blob[1] == MECH_BYTE_GCM and len(blob) == 2 + 12 + 32 + 16,
              "root key blob is not a version-1 GCM blob: %s" % blob.hex())
        # The KEK, inspected while keyholdd is stopped.
        out = list_secret_keys(hsm, hsm.label, hsm.pin)
        objects = [o for o in out.split("Secret Key Object") if o.strip()]
        check(len(objects) == 1, "one secret key expected:\n%s" % out)
        obj = objects[0]
        check("AES length 32" in obj and "keyhold-kek" in obj, "KEK type/label:\n%s" % obj)
        access = re.search(r"Access:\s*(.*)", obj)
        check(access, "no Access line:\n%s" % obj)
        flags = [f.strip() for f in access.group(1).split(",")]
        check("sensitive" in flags and "never extractable" in flags, "KEK access flags: %r" % flags)
        check("always sensitive" in flags and "local" in flags, "KEK access flags: %r" % flags)
        check("extractable" not in flags, "KEK is extractable: %r" % flags)
        usage = re.search(r"Usage:\s*(.*)", obj).group(1)
        check("wrap" in usage and "sign" not in usage, "KEK usage: %r" % usage)

        times = []
        for _ in range(3):
            times.append(start_timed(srv))
            check_serving(srv, root)
            stop_ok(srv)
        print("    auto-unseal start-to-unsealed: %s s (ASan build)"
              % ", ".join("%.3f" % t for t in times), flush=True)
        check(min(times) < 10, "auto-unseal too slow: %r" % times)
        # No second KEK was generated by the restarts.
        out = list_secret_keys(hsm, hsm.label, hsm.pin)
        check(out.count("Secret Key Object") == 1, "restarts created keys:\n%s" % out)
    finally:
        srv.stop()
        tmp.cleanup()


# Recovery-key validation, default 5/3 recovery keys when none are given.
def test_init_recovery_validation_and_defaults():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        for req in ({"recovery_shares": 2, "recovery_threshold": 3},
                    {"recovery_shares": 3, "recovery_threshold": 1},
                    {"recovery_shares": 256, "recovery_threshold": 3},
                    {"recovery_shares": 0, "recovery_threshold": 2}):
            st, body, _ = srv.request("PUT", "sys/init", req)
            check(st == 400, "init %r answered %s %r" % (req, st, body))
        check(status(srv)["initialized"] is False, "a refused init initialised the store")
        st, body, _ = srv.request("PUT", "sys/init", {})
        check(st == 200 and len(body["recovery_keys"]) == 5, "default init: %s %r" % (st, body))
        s = status(srv)
        check(s["t"] == 3 and s["n"] == 5 and s["sealed"] is False, "default init status: %r" % s)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# After a manual sys/seal the node stays sealed (no auto-unseal behind the
# operator's back); wrong recovery keys: 400 and sealed; a quorum of recovery
# keys (hex + base64) unseals; a restart auto-unseals again.
def test_manual_seal_and_recovery_unseal():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        body = init_recovery(srv)
        rk, rk64, root = body["recovery_keys"], body["recovery_keys_base64"], body["root_token"]
        st, _, _ = srv.request("PUT", "sys/seal")
        check(st == 403, "seal without token: %s" % st)
        st, _, _ = srv.request("PUT", "sys/seal", token=root)
        check(st == 204, "seal: %s" % st)
        time.sleep(2.5)  # longer than the auto-unseal retry back-off
        check_stays_sealed(srv, True, "core: sealed", root)
        s = status(srv)
        check(s["t"] == 2 and s["n"] == 3 and s["progress"] == 0, "sealed status: %r" % s)

        # Two random recovery shares.
        for x in (3, 250):
            st, body, _ = srv.request("PUT", "sys/unseal", {"key": (os.urandom(32) + bytes([x])).hex()})
        check(st == 400, "random recovery keys: %s %r" % (st, body))
        check(status(srv)["sealed"] and status(srv)["progress"] == 0, "after random keys")
        # One good share and one altered share.
        bad = bytearray(bytes.fromhex(rk[1]))
        bad[5] ^= 0x80
        srv.request("PUT", "sys/unseal", {"key": rk[0]})
        st, body, _ = srv.request("PUT", "sys/unseal", {"key": bytes(bad).hex()})
        check(st == 400 and status(srv)["sealed"], "altered recovery key: %s %r" % (st, body))
        # The same share twice.
        srv.request("PUT", "sys/unseal", {"key": rk[2]})
        st, body, _ = srv.request("PUT", "sys/unseal", {"key": rk64[2]})
        check(st == 400 and "already been provided" in errors_of(body), "duplicate: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/unseal", {"reset": True})
        check(st == 200 and body["progress"] == 0, "reset: %s %r" % (st, body))

        st, body, _ = srv.request("PUT", "sys/unseal", {"key": rk[2]})
        check(st == 200 and body["sealed"] and body["progress"] == 1 and body["nonce"], "first: %r" % body)
        st, body, _ = srv.request("PUT", "sys/unseal", {"key": rk64[0]})
        check(st == 200 and body["sealed"] is False, "quorum of recovery keys: %s %r" % (st, body))
        check_serving(srv, root)

        # Sealed again, then restarted: auto-unseals.
        st, _, _ = srv.request("PUT", "sys/seal", token=root)
        check(st == 204, "second seal: %s" % st)
        stop_ok(srv)
        srv.start()
        check(status(srv)["sealed"] is False, "restart after manual seal did not auto-unseal")
        check_serving(srv, root)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# Wrong PIN in the configuration: the node starts, stays sealed, answers
# seal-status, health 503, logs that the PIN is incorrect (never the PIN);
# KEYHOLD_HSM_PIN, and VAULT_HSM_PIN, override it and the restart unseals.
def test_wrong_pin_then_env_pin():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    wrong = "wrong-pin-6150"
    try:
        srv.start()
        root = init_recovery(srv)["root_token"]
        stop_ok(srv)

        srv = node(tmp, hsm, pin=wrong)
        srv.start()
        check_stays_sealed(srv, True, "incorrect PIN (CKR_PIN_INCORRECT)", root)
        check(wrong not in srv.read_log(), "the PIN is in the log")
        stop_ok(srv)

        for var in ("KEYHOLD_HSM_PIN", "VAULT_HSM_PIN"):
            srv = node(tmp, hsm, env=dict(hsm.env, **{var: hsm.pin}), pin=wrong)
            srv.start()
            check(status(srv)["sealed"] is False, "%s did not override the PIN" % var)
            check_serving(srv, root)
            stop_ok(srv)
        # KEYHOLD_HSM_PIN wins over VAULT_HSM_PIN.
        srv = node(tmp, hsm, env=dict(hsm.env, KEYHOLD_HSM_PIN=wrong, VAULT_HSM_PIN=hsm.pin))
        srv.start()
        check(status(srv)["sealed"] is True, "VAULT_HSM_PIN won over KEYHOLD_HSM_PIN")
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


def spy_env(hsm, spy_log):
    """pkcs11-spy never frees the function lists it mallocs in C_Initialize
    (552 and 744 bytes per load), so LeakSanitizer is off for spied runs
    only; the same paths run leak-checked without the spy elsewhere."""
    env = dict(hsm.env, PKCS11SPY=SOFTHSM_MODULE, PKCS11SPY_OUTPUT=spy_log)
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
    return env


# A PIN the token rejected is not tried again by the background auto-unseal
# retry: real HSMs lock the user PIN after a few failed logins (hardware.md
# 2.4). Counted with OpenSC's pkcs11-spy between keyholdd and SoftHSM2.
def test_wrong_pin_not_retried():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        init_recovery(srv)
        stop_ok(srv)
        spy_log = tmp.join("spy.log")
        stanza = hsm.seal_stanza(pin="wrong-pin-6150").replace(SOFTHSM_MODULE, PKCS11_SPY)
        srv = Server(tmp, seal_stanza=stanza, env=spy_env(hsm, spy_log), name="node")
        srv.start()
        time.sleep(4.0)  # the retry back-off starts at 1 s and doubles
        check(status(srv)["sealed"] is True, "unsealed with a wrong PIN")
        stop_ok(srv)
        with open(spy_log, errors="replace") as f:
            spy = f.read()
        logins = len(re.findall(r"C_Login", spy))
        incorrect = spy.count("CKR_PIN_INCORRECT")
        print("    C_Login calls with a wrong PIN in 4 s: %d (%d CKR_PIN_INCORRECT)"
              % (logins, incorrect), flush=True)
        check(logins >= 1, "pkcs11-spy saw no C_Login:\n%s" % spy[-2000:])
        check(incorrect <= 1, "keyholdd retried a PIN the token rejected: %d failed logins in 4 s "
              "(a real HSM locks the user PIN after a few)" % incorrect)
    finally:
        srv.stop()
        tmp.cleanup()


# generate_key = false with a key label that does not exist: sealed with a
# clear message, both before init (init answers 503) and after init.
def test_missing_key():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm, key_label="absent-kek", generate_key=False)
    try:
        srv.start()
        check_stays_sealed(srv, False, 'no key labelled "absent-kek"')
        st, body, _ = srv.request("PUT", "sys/init", {"recovery_shares": 3, "recovery_threshold": 2})
        check(st == 503 and "absent-kek" in errors_of(body), "init without key: %s %r" % (st, body))
        check(status(srv)["initialized"] is False, "init without key initialised the store")
        stop_ok(srv)
        check(list_secret_keys(hsm, hsm.label, hsm.pin).count("Secret Key Object") == 0,
              "generate_key=false created a key")

        srv = node(tmp, hsm)
        srv.start()
        body = init_recovery(srv)
        stop_ok(srv)
        srv = node(tmp, hsm, key_label="missing-kek", generate_key=False)
        srv.start()
        check_stays_sealed(srv, True, 'no key labelled "missing-kek"', body["root_token"])
        # Recovery keys cannot open it either: the HSM is still needed.
        for k in body["recovery_keys"][:2]:
            st, resp, _ = srv.request("PUT", "sys/unseal", {"key": k})
        check(st != 200 and status(srv)["sealed"], "recovery keys without KEK: %s %r" % (st, resp))
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# A token label that no token has: sealed, clear message.
def test_absent_token():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        root = init_recovery(srv)["root_token"]
        stop_ok(srv)
        srv = node(tmp, hsm, token_label="no-such-token")
        srv.start()
        check_stays_sealed(srv, True, 'no token labelled "no-such-token"', root)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# A library path that does not exist: the node starts (no clean exit), stays
# sealed and says it cannot load the module; before init, init answers 503.
def test_missing_library():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    missing = tmp.join("no-such-pkcs11.so")
    srv = Server(tmp, seal_stanza=hsm.seal_stanza().replace(SOFTHSM_MODULE, missing),
                 env=hsm.env, name="fresh")
    try:
        srv.start()
        check_stays_sealed(srv, False, "cannot load module %s" % missing)
        st, body, _ = srv.request("PUT", "sys/init", {"recovery_shares": 3, "recovery_threshold": 2})
        check(st == 503 and "cannot load module" in errors_of(body), "init: %s %r" % (st, body))
        stop_ok(srv)

        srv = node(tmp, hsm)
        srv.start()
        root = init_recovery(srv)["root_token"]
        stop_ok(srv)
        srv = Server(tmp, seal_stanza=hsm.seal_stanza().replace(SOFTHSM_MODULE, missing),
                     env=hsm.env, name="node")
        srv.start()
        check_stays_sealed(srv, True, "cannot load module %s" % missing, root)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# CKM_AES_KEY_WRAP_PAD: init, restart with auto-unseal, recovery unseal.
def test_key_wrap_pad_cycle():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm, mechanism="CKM_AES_KEY_WRAP_PAD")
    try:
        srv.start()
        body = init_recovery(srv)
        root, rk = body["root_token"], body["recovery_keys"]
        check(status(srv)["sealed"] is False, "not unsealed after init")
        st, _, _ = srv.request("PUT", "sys/rotate", token=root)
        check(st == 204, "rotate: %s" % st)
        stop_ok(srv)
        t = start_timed(srv)
        print("    auto-unseal with CKM_AES_KEY_WRAP_PAD: %.3f s" % t, flush=True)
        st, ks, _ = key_status(srv, root)
        check(st == 200 and ks["data"]["term"] == 2, "key-status: %s %r" % (st, ks))
        st, _, _ = srv.request("PUT", "sys/seal", token=root)
        check(st == 204, "seal: %s" % st)
        for k in rk[1:]:
            st, resp, _ = srv.request("PUT", "sys/unseal", {"key": k})
        check(st == 200 and resp["sealed"] is False, "recovery unseal: %s %r" % (st, resp))
        stop_ok(srv)
        check(root_key_blob(srv.data_dir)[1] == MECH_BYTE_KWP, "root key blob is not a KWP blob")
        # Unwrap follows the blob's mechanism byte (hsm/pkcs11.c): the
        # store still opens after the configuration switches to GCM.
        srv = node(tmp, hsm, mechanism="CKM_AES_GCM")
        srv.start()
        check(status(srv)["sealed"] is False, "KWP store does not open with mechanism GCM")
        check_serving(srv, root)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# A second token holding a different key (same label) cannot unseal the
# store: sealed, an authentication failure in the log; recovery keys are
# refused too; the original token still opens the untouched store.
def test_second_token_cannot_unseal():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        body = init_recovery(srv)
        root, rk = body["root_token"], body["recovery_keys"]
        stop_ok(srv)
        hsm.init_token("other", "5678")
        srv = node(tmp, hsm, token_label="other", pin="5678")
        srv.start()
        check_stays_sealed(srv, True, "cannot unwrap the root key", root)
        log = srv.read_log()
        check("stored data failed authentication" in log, "no authentication failure logged:\n%s" % log)
        for k in rk[:2]:
            st, resp, _ = srv.request("PUT", "sys/unseal", {"key": k})
        check(st == 400 and status(srv)["sealed"], "recovery keys with a foreign KEK: %s %r" % (st, resp))
        stop_ok(srv)
        check("keyhold-kek" in list_secret_keys(hsm, "other", "5678"), "no key generated in the second token")

        srv = node(tmp, hsm)
        srv.start()
        check(status(srv)["sealed"] is False, "original token no longer unseals")
        check_serving(srv, root)
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# A store initialised with pkcs11 refuses to start without its seal stanza
# (clean exit, clear message), and starts again once the stanza is back.
def test_seal_type_mismatch_exits():
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        init_recovery(srv)
        stop_ok(srv)
        srv = Server(tmp, seal_stanza="", env=hsm.env, name="node")
        srv.start(wait=False)
        rc = srv.proc.wait(30)
        srv.stop()
        log = srv.read_log()
        check(rc not in (0, None), "keyholdd started with the wrong seal type")
        check('initialised with seal "pkcs11"' in log, "no clear message:\n%s" % log)
        check("Sanitizer" not in log, "sanitizer report:\n%s" % log)
        srv = node(tmp, hsm)
        srv.start()
        check(status(srv)["sealed"] is False, "not auto-unsealed after the stanza came back")
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


# hvac against a pkcs11 node: is_initialized, read_seal_status, seal,
# submit_unseal_keys with recovery keys, rotate_encryption_key,
# get_encryption_key_status.
def test_hvac_pkcs11():
    import hvac
    tmp = TestDir("kh-p11")
    hsm = SoftHSM(tmp)
    srv = node(tmp, hsm)
    try:
        srv.start()
        client = hvac.Client(url=srv.url)
        check(client.sys.is_initialized() is False, "is_initialized before init")
        result = client.sys.initialize(recovery_shares=3, recovery_threshold=2)
        check(len(result["recovery_keys"]) == 3 and not result["keys"], "hvac initialize: %r" % result)
        client.token = result["root_token"]
        st = client.sys.read_seal_status()
        check(st["sealed"] is False and st["recovery_seal"] is True and st["type"] == "pkcs11",
              "read_seal_status: %r" % st)
        client.sys.rotate_encryption_key()
        check(client.sys.get_encryption_key_status()["data"]["term"] == 2, "term after rotate")
        client.sys.seal()
        check(client.sys.is_sealed() is True, "hvac seal")
        st = client.sys.submit_unseal_keys(result["recovery_keys"][1:])
        check(st["sealed"] is False, "submit_unseal_keys with recovery keys: %r" % st)
        check(client.sys.get_encryption_key_status()["data"]["term"] == 2, "term after unseal")
        stop_ok(srv)
    finally:
        srv.stop()
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([
        test_init_kek_and_auto_unseal,
        test_init_recovery_validation_and_defaults,
        test_manual_seal_and_recovery_unseal,
        test_wrong_pin_then_env_pin,
        test_wrong_pin_not_retried,
        test_missing_key,
        test_absent_token,
        test_missing_library,
        test_key_wrap_pad_cycle,
        test_second_token_cannot_unseal,
        test_seal_type_mismatch_exits,
        test_hvac_pkcs11,
    ])
