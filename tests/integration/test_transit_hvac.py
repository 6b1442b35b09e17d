#!/usr/bin/python3
"""The transit secrets engine through python3-hvac 0.11.2 (the Vault HTTP API
§6.4, §9) against a real `keyholdd -dev`, whose dev seal is pkcs11 on a
private SoftHSM2 token, so managed (HSM-resident) keys work there.

Covers hvac's secrets.transit calls as §9 lists them (create_key,
read_key, rotate_key, update_key_configuration, encrypt_data,
decrypt_data, rewrap_data, generate_data_key) plus batch encryption with
a failed item, list/delete, sign/verify for each signing type, hmac,
random, hash, export; and managed keys (managed_key=true at creation)
with the same calls: encrypt, decrypt, rotate, rewrap, data keys, the use
counts and labels in the key info, and their refusals.

One dev server serves every test (each test uses its own key names); it
is stopped by PID at the end and must exit 0 (the Asan build exits
non-zero when LeakSanitizer finds a leak).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_transit_hvac.py
"""
import base64
import os
import sys

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests_with  # noqa: E402
from test_kv_hvac import ROOT, raises  # noqa: E402

SRV = None


def b64(text):
    return base64.b64encode(text.encode()).decode()


def client():
    return hvac.Client(url=SRV.url, token=ROOT)


def transit():
    return client().secrets.transit


def raw(method, path, body=None):
    """A request hvac has no call for; (status, json body)."""
    status, doc, _ = SRV.request(method, path, body=body, token=ROOT)
    return status, doc


def test_enable_mount():
    client().sys.enable_secrets_engine("transit", path="transit")
    mounts = client().sys.list_mounted_secrets_engines()["data"]
    check(mounts["transit/"]["type"] == "transit", mounts)


def test_create_read_rotate_config():
    t = transit()
    t.create_key("orders", key_type="aes256-gcm96")
    info = t.read_key("orders")["data"]
    check(info["type"] == "aes256-gcm96", info)
    check(info["latest_version"] == 1, info)
    check(isinstance(info["keys"]["1"], int), info)
    check(info["supports_encryption"] and not info["supports_signing"], info)
    check(info["deletion_allowed"] is False and info["exportable"] is False,
          info)
    t.rotate_key("orders")
    check(t.read_key("orders")["data"]["latest_version"] == 2, "rotate")
    t.update_key_configuration("orders", min_decryption_version=1,
                               deletion_allowed=True)
    info = t.read_key("orders")["data"]
    check(info["deletion_allowed"] is True, info)
    raises(hvac.exceptions.InvalidPath, t.read_key, "never-created")


def test_encrypt_decrypt_rewrap():
    t = transit()
    t.create_key("app")
    ct1 = t.encrypt_data("app", plaintext=b64("hello"))["data"]
    check(ct1["ciphertext"].startswith("vault:v1:"), ct1)
    check(ct1["key_version"] == 1, ct1)
    pt = t.decrypt_data("app", ciphertext=ct1["ciphertext"])["data"]
    check(base64.b64decode(pt["plaintext"]) == b"hello", pt)
    t.rotate_key("app")
    re = t.rewrap_data("app", ciphertext=ct1["ciphertext"])["data"]
    check(re["ciphertext"].startswith("vault:v2:"), re)
    t.update_key_configuration("app", min_decryption_version=2)
    e = raises(hvac.exceptions.InvalidRequest, t.decrypt_data, "app",
               ciphertext=ct1["ciphertext"])
    check("too old" in str(e), str(e))
    pt = t.decrypt_data("app", ciphertext=re["ciphertext"])["data"]
    check(base64.b64decode(pt["plaintext"]) == b"hello", pt)
    bad = ct1["ciphertext"][:-4] + ("AAAA" if not ct1["ciphertext"].endswith(
        "AAAA") else "BBBB")
    raises(hvac.exceptions.InvalidRequest, t.decrypt_data, "app",
           ciphertext=bad.replace("vault:v1:", "vault:v2:"))
    raises(hvac.exceptions.InvalidRequest, t.decrypt_data, "app",
           ciphertext="not-a-ciphertext")


def test_batch():
    t = transit()
    t.create_key("batch")
    resp = t.encrypt_data("batch", plaintext="",
                          batch_input=[{"plaintext": b64("a")},
                                       {"plaintext": b64("b")}])
    results = resp["data"]["batch_results"]
    check(len(results) == 2 and all("ciphertext" in r for r in results),
          results)
    dec = t.decrypt_data("batch", ciphertext="", batch_input=[
        {"ciphertext": r["ciphertext"]} for r in results])["data"]
    check([base64.b64decode(r["plaintext"]) for r in dec["batch_results"]]
          == [b"a", b"b"], dec)
    status, doc = raw("POST", "transit/encrypt/batch", {
        "batch_input": [{"plaintext": b64("ok")}, {"plaintext": "%%%"}]})
    check(status == 400, (status, doc))
    results = doc["data"]["batch_results"]
    check("ciphertext" in results[0] and "error" in results[1], results)


def test_data_keys():
    t = transit()
    t.create_key("kek")
    plain = t.generate_data_key("kek", key_type="plaintext")["data"]
    check(len(base64.b64decode(plain["plaintext"])) == 32, plain)
    back = t.decrypt_data("kek", ciphertext=plain["ciphertext"])["data"]
    check(back["plaintext"] == plain["plaintext"], back)
    wrapped = t.generate_data_key("kek", key_type="wrapped", bits=512)["data"]
    check("plaintext" not in wrapped, wrapped)
    back = t.decrypt_data("kek", ciphertext=wrapped["ciphertext"])["data"]
    check(len(base64.b64decode(back["plaintext"])) == 64, back)


def test_sign_verify():
    t = transit()
    for name, kind, extra in (("ed", "ed25519", {}),
                              ("ec", "ecdsa-p256", {}),
                              ("ecj", "ecdsa-p256",
                               {"marshaling_algorithm": "jws"}),
                              ("rsa", "rsa-2048",
                               {"signature_algorithm": "pkcs1v15"}),
                              ("rsap", "rsa-2048", {})):
        t.create_key(name, key_type=kind)
        sig = t.sign_data(name, hash_input=b64("msg"), **extra)["data"]
        check(sig["signature"].startswith("vault:v1:"), sig)
        ok = t.verify_signed_data(name, hash_input=b64("msg"),
                                  signature=sig["signature"], **extra)
        check(ok["data"]["valid"] is True, (name, ok))
        bad = t.verify_signed_data(name, hash_input=b64("other"),
                                   signature=sig["signature"], **extra)
        check(bad["data"]["valid"] is False, (name, bad))
    info = t.read_key("ec")["data"]
    check("BEGIN PUBLIC KEY" in info["keys"]["1"]["public_key"], info)


def test_hmac_random_hash():
    t = transit()
    t.create_key("mac")
    mac = t.generate_hmac("mac", hash_input=b64("data"))["data"]["hmac"]
    check(mac.startswith("vault:v1:"), mac)
    ok = t.verify_signed_data("mac", hash_input=b64("data"), hmac=mac)
    check(ok["data"]["valid"] is True, ok)
    rnd = t.generate_random_bytes(n_bytes=16, output_format="hex")["data"]
    check(len(rnd["random_bytes"]) == 32, rnd)
    s = t.hash_data(hash_input=b64("abc"), algorithm="sha2-256")["data"]
    check(s["sum"].startswith("ba7816bf"), s)


def test_list_delete_export():
    t = transit()
    t.create_key("gone")
    e = raises(hvac.exceptions.InvalidRequest, t.delete_key, "gone")
    check("deletion is not allowed" in str(e), str(e))
    t.update_key_configuration("gone", deletion_allowed=True)
    t.delete_key("gone")
    keys = t.list_keys()["data"]["keys"]
    check("gone" not in keys and "app" in keys, keys)
    raises(hvac.exceptions.InvalidRequest, t.export_key, "app",
           key_type="encryption-key")
    t.create_key("exp", exportable=True)
    exp = t.export_key("exp", key_type="encryption-key")["data"]
    check(len(base64.b64decode(exp["keys"]["1"])) == 32, exp)


def test_managed_key():
    t = transit()
    status, doc = raw("POST", "transit/keys/hsm", {"managed_key": True})
    check(status == 200, (status, doc))
    info = t.read_key("hsm")["data"]
    check(info["managed_key"] is True and info["exportable"] is False, info)
    check(info["managed_key_labels"]["1"].startswith("keyhold-transit-"),
          info)
    ct = t.encrypt_data("hsm", plaintext=b64("in the token"))["data"]
    check(ct["ciphertext"].startswith("vault:v1:"), ct)
    pt = t.decrypt_data("hsm", ciphertext=ct["ciphertext"])["data"]
    check(base64.b64decode(pt["plaintext"]) == b"in the token", pt)
    t.rotate_key("hsm")
    re = t.rewrap_data("hsm", ciphertext=ct["ciphertext"])["data"]
    check(re["ciphertext"].startswith("vault:v2:"), re)
    dk = t.generate_data_key("hsm", key_type="plaintext")["data"]
    back = t.decrypt_data("hsm", ciphertext=dk["ciphertext"])["data"]
    check(back["plaintext"] == dk["plaintext"], back)
    info = t.read_key("hsm")["data"]
    check(info["latest_version"] == 2, info)
    check(info["managed_key_uses"]["1"] == 1, info)
    check(info["managed_key_uses"]["2"] == 2, info)
    check(info["managed_key_labels"]["2"].endswith("-hsm-v2"), info)
    status, doc = raw("POST", "transit/keys/hsm2",
                      {"managed_key": True, "type": "ed25519"})
    check(status == 400 and "aes256-gcm96" in doc["errors"][0], doc)
    raises(hvac.exceptions.InvalidRequest, t.export_key, "hsm",
           key_type="encryption-key")


def main():
    global SRV
    tmp = TestDir("transithvac")
    SRV = DevServer(tmp, token=ROOT, ready="sys/mounts")
    run_tests_with(SRV, tmp, [
        test_enable_mount,
        test_create_read_rotate_config,
        test_encrypt_decrypt_rewrap,
        test_batch,
        test_data_keys,
        test_sign_verify,
        test_hmac_random_hash,
        test_list_delete_export,
        test_managed_key,
    ])


if __name__ == "__main__":
    main()
