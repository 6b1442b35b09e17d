#!/usr/bin/python3
"""hvac 0.11.2 (Debian python3-hvac) against a real keyholdd in dev mode:
the sys/ calls the client makes and the exceptions it maps status codes to
(Vault API: client behaviour, §9).

Run with /usr/bin/python3 (it has hvac):
KH_BIN=/path/to/build/bin /usr/bin/python3 test_hvac_sys.py
"""
import os
import re
import sys
import time

import hvac
import hvac.exceptions
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import check, run_tests  # noqa: E402
from test_http_wire import ROOT, dev_server  # noqa: E402


def client_for(srv, token=ROOT):
    return hvac.Client(url=srv.url, token=token)


def raises(exc_type, fn, *args, **kw):
    """Call fn and return the exception of exc_type it must raise."""
    try:
        result = fn(*args, **kw)
    except exc_type as exc:
        return exc
    except Exception as exc:
        raise AssertionError("%s raised %r, want %s" % (fn.__name__, exc, exc_type.__name__))
    raise AssertionError("%s returned %r, want %s" % (fn.__name__, result, exc_type.__name__))


# read_health_status: HEAD by default (a Response), GET with parameters (a
# dict); the status readers return the raw objects hvac indexes.
def test_hvac_status_readers():
    with dev_server() as srv:
        c = client_for(srv)
        resp = c.sys.read_health_status()
        check(isinstance(resp, requests.Response) and resp.status_code == 200
              and resp.content == b"", "HEAD health: %r" % resp)
        health = c.sys.read_health_status(method="GET")
        check(isinstance(health, dict) and health["initialized"] is True
              and health["sealed"] is False and health["standby"] is False,
              "GET health: %r" % health)
        # hvac sends standbyok=True etc. (capital T) with GET
        health = c.sys.read_health_status(method="GET", standby_ok=True, active_code=200,
                                          standby_code=429, dr_secondary_code=472,
                                          performance_standby_code=473,
                                          sealed_code=503, uninit_code=501)
        check(isinstance(health, dict) and health["sealed"] is False,
              "GET health standbyok=True: %r" % health)
        resp = c.sys.read_health_status(method="GET", active_code=299)
        check(isinstance(resp, requests.Response) and resp.status_code == 299
              and resp.json()["initialized"] is True, "active_code=299: %r" % resp)
        check(c.sys.is_initialized() is True, "is_initialized")
        check(c.sys.is_sealed() is False, "is_sealed")
        seal = c.sys.read_seal_status()
        check(seal["sealed"] is False and seal["initialized"] is True and seal["type"]
              and seal["cluster_name"], "read_seal_status: %r" % seal)
        leader = c.sys.read_leader_status()
        check(leader["ha_enabled"] is False and leader["is_self"] is False,
              "read_leader_status: %r" % leader)
        init = c.sys.read_init_status()
        check(init == {"initialized": True}, "read_init_status: %r" % init)
        keys = c.sys.get_encryption_key_status()
        check(keys["data"]["term"] == 1 and keys["term"] == 1
              and keys["data"]["install_time"], "get_encryption_key_status: %r" % keys)


# rotate_encryption_key (a PUT with no body) then the term increments;
# seal() is also a PUT with no body.
def test_hvac_rotate():
    with dev_server() as srv:
        c = client_for(srv)
        before = c.sys.get_encryption_key_status()["data"]["term"]
        try:
            resp = c.sys.rotate_encryption_key()
        except hvac.exceptions.VaultError as exc:
            raise AssertionError("rotate_encryption_key (PUT sys/rotate, no body) "
                                 "raised %r" % exc)
        check(getattr(resp, "status_code", None) == 204, "rotate: %r" % resp)
        after = c.sys.get_encryption_key_status()["data"]["term"]
        check(after == before + 1, "term %s -> %s" % (before, after))
        c.sys.rotate_encryption_key()
        check(c.sys.get_encryption_key_status()["term"] == before + 2, "second rotate")


# Tokens: a bad token on key-status is Forbidden (message extracted from
# the JSON errors); is_authenticated() with a bad token is False.
def test_hvac_tokens():
    with dev_server() as srv:
        bad = client_for(srv, token="not-a-token")
        exc = raises(hvac.exceptions.Forbidden, bad.sys.get_encryption_key_status)
        check("permission denied" in str(exc), "Forbidden message %r" % str(exc))
        exc = raises(hvac.exceptions.Forbidden, client_for(srv, token=None)
                     .sys.get_encryption_key_status)
        check(bad.is_authenticated() is False, "is_authenticated with a bad token")
        # stale tokens do not matter on unauthenticated paths
        check(bad.sys.read_seal_status()["sealed"] is False, "stale token on seal-status")
        check(bad.sys.is_initialized() is True, "stale token on sys/init")
        # auth/token/lookup-self does not exist yet: hvac turns its 404 into
        # InvalidPath and is_authenticated() into False even for root. When the
        # token backend lands, root must be authenticated.
        root = client_for(srv)
        r = requests.get(srv.url + "/v1/auth/token/lookup-self",
                         headers={"X-Vault-Token": ROOT}, timeout=10)
        if r.status_code == 404:
            check(root.is_authenticated() is False,
                  "is_authenticated(root) with no lookup-self route")
            print("     note: auth/token/lookup-self answers 404, so hvac's "
                  "is_authenticated() is False even for the root token")
        else:
            check(r.status_code == 200 and root.is_authenticated() is True,
                  "lookup-self %s; is_authenticated(root)" % r.status_code)


# Unknown paths are InvalidPath with the route message; wrong methods are
# UnexpectedError (405).
def test_hvac_errors():
    with dev_server() as srv:
        c = client_for(srv)
        exc = raises(hvac.exceptions.InvalidPath, c.adapter.get, "/v1/nope/x")
        check('no handler for route "nope/x"' in str(exc), "InvalidPath message %r" % str(exc))
        check(c.read("nope/x") is None, "legacy read of a missing path is None")
        exc = raises(hvac.exceptions.InvalidPath, c.adapter.list, "/v1/nope/x")
        check('"nope/x/"' in str(exc), "LIST message %r" % str(exc))
        exc = raises(hvac.exceptions.UnexpectedError, c.adapter.get, "/v1/sys/seal")
        check("unsupported operation" in str(exc), "405 message %r" % str(exc))
        exc = raises(hvac.exceptions.InvalidRequest, c.adapter.put, "/v1/sys/init",
                     json={"secret_shares": 1, "secret_threshold": 1})
        check("already initialized" in str(exc), "init twice: %r" % str(exc))


def unseal_key(srv, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"Unseal Key: (\S+)", srv.read_log())
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError("no Unseal Key in the banner:\n" + srv.read_log())


# Sealed: VaultDown (503) on everything but the status endpoints; the
# status readers report sealed; unseal with the banner's key.
def test_hvac_sealed():
    with dev_server(seal="shamir") as srv:
        c = client_for(srv)
        key = unseal_key(srv)
        check(c.sys.read_seal_status()["type"] == "shamir", "dev-seal=shamir")
        # seal with an explicit {} body (a bodiless PUT is test_hvac_seal's job)
        resp = c.adapter.put("/v1/sys/seal", json={})
        check(getattr(resp, "status_code", None) == 204, "seal: %r" % resp)
        check(c.sys.is_sealed() is True, "is_sealed after seal")
        raises(hvac.exceptions.VaultDown, c.sys.get_encryption_key_status)
        raises(hvac.exceptions.VaultDown, c.sys.read_leader_status)
        raises(hvac.exceptions.VaultDown, c.adapter.get, "/v1/nope/x")
        bad = client_for(srv, token="not-a-token")
        raises(hvac.exceptions.VaultDown, bad.sys.get_encryption_key_status)
        resp = c.sys.read_health_status()
        check(resp.status_code == 503 and resp.content == b"", "HEAD health sealed: %r" % resp)
        resp = c.sys.read_health_status(method="GET")
        check(isinstance(resp, requests.Response) and resp.status_code == 503
              and resp.json()["sealed"] is True, "GET health sealed: %r" % resp)
        health = c.sys.read_health_status(method="GET", sealed_code=200)
        check(isinstance(health, dict) and health["sealed"] is True,
              "sealed_code=200: %r" % health)
        seal = c.sys.read_seal_status()
        check(seal["sealed"] is True and seal["t"] == 1 and seal["n"] == 1
              and "cluster_name" not in seal, "sealed status %r" % seal)
        exc = raises(hvac.exceptions.InvalidRequest, c.sys.submit_unseal_key, key="zz-not-hex")
        check("hex or base64" in str(exc), "bad key message %r" % str(exc))
        status = c.sys.submit_unseal_key(key=key)
        check(status["sealed"] is False, "unseal: %r" % status)
        check(c.sys.get_encryption_key_status()["term"] >= 1, "key-status after unseal")


# hvac's seal() is a PUT with no body at all (requests sends
# Content-Length: 0); it must seal (204), like Vault.
def test_hvac_seal():
    with dev_server(seal="shamir") as srv:
        c = client_for(srv)
        key = unseal_key(srv)
        try:
            resp = c.sys.seal()
        except hvac.exceptions.VaultError as exc:
            raise AssertionError("sys.seal() (PUT sys/seal, no body) raised %r" % exc)
        check(getattr(resp, "status_code", None) == 204, "seal: %r" % resp)
        check(c.sys.is_sealed() is True, "sealed")
        result = c.sys.submit_unseal_keys([key])
        check(result["sealed"] is False, "submit_unseal_keys: %r" % result)


if __name__ == "__main__":
    run_tests([
        test_hvac_status_readers,
        test_hvac_rotate,
        test_hvac_tokens,
        test_hvac_errors,
        test_hvac_sealed,
        test_hvac_seal,
    ])
