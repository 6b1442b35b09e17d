"""sys/generate-root: key holders mint a new root token (Vault API: sys/generate-root).

Real keyholdd processes: a shamir node (unseal key shares) and a pkcs11
node on SoftHSM2 (recovery key shares); hvac drives the wire calls.
"""
import base64

import hvac

from khtest import Server, SoftHSM, TestDir, check, run_tests


def decode(encoded, otp):
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode())).decode()


def shamir_node(tmp):
    server = Server(tmp).start()
    client = hvac.Client(url=server.url)
    init = client.sys.initialize(5, 3)
    client.sys.submit_unseal_keys(init["keys"][:3])
    return server, client, init


def test_shamir_quorum_mints_working_root_token():
    tmp = TestDir("genroot")
    server, client, init = shamir_node(tmp)
    try:
        otp = "A" * 28
        start = client.sys.start_root_token_generation(otp=otp)
        check(start["started"] and start["required"] == 3, start)
        check(start["otp"] == "" and start["otp_length"] == 28, start)
        status = None
        for key in init["keys"][2:5]:
            status = client.sys.generate_root(key, start["nonce"])
        check(status["complete"] and status["encoded_token"], status)
        token = decode(status["encoded_token"], otp)
        check(token.startswith("hvs.") and len(token) == 28, token)
        fresh = hvac.Client(url=server.url, token=token)
        check(fresh.sys.get_encryption_key_status()["data"]["term"] == 1,
              "new root token does not work")
        check(not client.sys.read_root_generation_progress()["started"],
              "attempt not cleared after completion")
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


def test_wrong_shares_nonce_and_otp_refused():
    tmp = TestDir("genroot")
    server, client, init = shamir_node(tmp)
    try:
        status, body, _ = server.request("PUT", "sys/generate-root/attempt",
                                         {"otp": "tooshort"})
        check(status == 400 and "incorrect length" in body["errors"][0], body)
        start = client.sys.start_root_token_generation()
        check(len(start["otp"]) == 28, "server did not return its OTP once")
        status, body, _ = server.request("PUT", "sys/generate-root/attempt", {})
        check(status == 400 and "in progress" in body["errors"][0], body)
        status, body, _ = server.request(
            "PUT", "sys/generate-root/update",
            {"key": init["keys"][0], "nonce": "not-the-nonce"})
        check(status == 400 and "nonce" in body["errors"][0], body)
        # Three made-up shares of the right length: quorum but no valid key.
        bogus = ["%02x" % i * 32 + "%02x" % (i + 1) for i in range(3)]
        for key in bogus[:2]:
            client.sys.generate_root(key, start["nonce"])
        status, body, _ = server.request(
            "PUT", "sys/generate-root/update",
            {"key": bogus[2], "nonce": start["nonce"]})
        check(status == 400 and "not valid" in body["errors"][0], body)
        check(not client.sys.read_root_generation_progress()["started"],
              "a failed attempt must be reset")
        client.sys.start_root_token_generation()
        client.sys.cancel_root_generation()
        check(not client.sys.read_root_generation_progress()["started"],
              "cancel did not clear the attempt")
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


def test_recovery_keys_on_pkcs11_seal():
    tmp = TestDir("genroot")
    hsm = SoftHSM(tmp)
    server = Server(tmp, seal_stanza=hsm.seal_stanza(), env=hsm.env).start()
    try:
        client = hvac.Client(url=server.url)
        status, init, _ = server.request("PUT", "sys/init", {
            "recovery_shares": 3, "recovery_threshold": 2})
        check(status == 200 and len(init["recovery_keys"]) == 3, init)
        otp = "0123456789abcdefghijABCDEFGH"
        start = client.sys.start_root_token_generation(otp=otp)
        check(start["required"] == 2, start)
        client.sys.generate_root(init["recovery_keys"][0], start["nonce"])
        done = client.sys.generate_root(init["recovery_keys"][2], start["nonce"])
        token = decode(done["encoded_token"], otp)
        status, _, _ = server.request("GET", "sys/key-status", token=token)
        check(status == 200, "recovery-key root token rejected: %s" % status)
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


def test_root_token_rotation():
    """Revoke the init root token, mint a new one with the shares, use it,
    revoke it too."""
    tmp = TestDir("genroot")
    server, client, init = shamir_node(tmp)
    try:
        old = init["root_token"]
        status, _, _ = server.request("POST", "auth/token/revoke-self",
                                      token=old)
        check(status == 204, "revoke-self of the init root token: %s" % status)
        status, _, _ = server.request("GET", "sys/key-status", token=old)
        check(status == 403, "a revoked root token still works: %s" % status)
        otp = "Z" * 28
        start = client.sys.start_root_token_generation(otp=otp)
        done = None
        for key in init["keys"][:3]:
            done = client.sys.generate_root(key, start["nonce"])
        token = decode(done["encoded_token"], otp)
        fresh = hvac.Client(url=server.url, token=token)
        check(fresh.is_authenticated(), "new root token not accepted")
        fresh.sys.enable_secrets_engine("kv", path="after-rotation",
                                        options={"version": "1"})
        check(fresh.auth.token.lookup_self()["data"]["policies"] == ["root"],
              "new token is not a root token")
        fresh.auth.token.revoke_self()
        status, _, _ = server.request("GET", "sys/key-status", token=token)
        check(status == 403, "revoked generated root token still works")
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([test_shamir_quorum_mints_working_root_token,
               test_wrong_shares_nonce_and_otp_refused,
               test_recovery_keys_on_pkcs11_seal,
               test_root_token_rotation])
