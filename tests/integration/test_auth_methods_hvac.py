#!/usr/bin/python3
"""The approle and userpass auth methods (Vault API: AppRole, §5.2, §9)
against a real `keyholdd -dev -dev-root-token-id=root`, driven by
python3-hvac 0.11.2 exactly as applications use it, plus raw requests for
status codes and bodies hvac hides.

Every test starts its own dev server, stops it by PID in a finally block
and checks it exits 0 on SIGTERM (the Asan build exits non-zero when
LeakSanitizer finds a leak).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_auth_methods_hvac.py
"""
import contextlib
import os
import sys
import threading
import time

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests, running  # noqa: E402

ROOT = "root"
INVALID_APPROLE = "invalid role or secret ID"
INVALID_USERPASS = "invalid username or password"


@contextlib.contextmanager
def dev_server():
    tmp = TestDir("authm")
    try:
        with running(DevServer(tmp, token=ROOT)) as srv:
            yield srv
    finally:
        tmp.cleanup()


def root_client(srv):
    return hvac.Client(url=srv.url, token=ROOT)


def expect_error(exc_type, text, fn, *args, **kwargs):
    """Call fn and require exc_type whose message contains text."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        check(text in str(exc), "expected %r in %r" % (text, str(exc)))
        return
    raise AssertionError("%s did not raise %s" % (fn.__name__, exc_type.__name__))


POLICY_A = 'path "secret/data/app" {\n  capabilities = ["read"]\n}\n'


def check_token_reads(srv, root, client):
    """The issued token passes the request gate with policy "a": it reads
    secret/data/app (KV v2, mounted by dev mode), where a bogus token gets
    403."""
    root.sys.create_or_update_policy("a", POLICY_A)
    root.secrets.kv.v2.create_or_update_secret("app", {"k": "v"})
    data = client.secrets.kv.v2.read_secret_version("app")["data"]["data"]
    check(data == {"k": "v"}, "read with the login token: %r" % data)
    status, _, _ = srv.request("GET", "secret/data/app", token="hvs.bogus")
    check(status == 403, "bogus token read: %r" % status)


def approle_setup(client, role="app", **kwargs):
    client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle(role, **kwargs)
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    return role_id


# ---- approle ----

def test_approle_hvac_flow():
    """enable, create role (CSL policies, duration TTL), read role-id,
    generate secret-id, login; the token works and carries the policies."""
    with dev_server() as srv:
        client = root_client(srv)
        role_id = approle_setup(client, token_policies=["a", "b"], token_ttl="1h")
        check(len(role_id) == 36, "role_id %r is not a UUID" % role_id)
        gen = client.auth.approle.generate_secret_id("app")["data"]
        for key in ("secret_id", "secret_id_accessor", "secret_id_ttl",
                    "secret_id_num_uses"):
            check(key in gen, "generate_secret_id lacks %s: %r" % (key, gen))
        app = hvac.Client(url=srv.url)
        resp = app.auth.approle.login(role_id, gen["secret_id"])
        auth = resp["auth"]
        check(auth["metadata"] == {"role_name": "app"}, "metadata %r" % auth["metadata"])
        check(set(auth["policies"]) == {"a", "b", "default"}, "policies %r" % auth["policies"])
        check(auth["lease_duration"] == 3600, "lease_duration %r" % auth["lease_duration"])
        check(app.token == auth["client_token"], "hvac did not adopt the token")
        check_token_reads(srv, client, app)


def test_approle_read_list_and_secret_ops():
    """read_role echoes token_* and legacy names; list_roles; secret-id
    lookup, accessor listing and destroy."""
    with dev_server() as srv:
        client = root_client(srv)
        role_id = approle_setup(client, token_policies=["p"], token_ttl="10m",
                                secret_id_num_uses=5, secret_id_ttl="1h")
        data = client.auth.approle.read_role("app")["data"]
        check(data["token_ttl"] == 600 and data["secret_id_ttl"] == 3600, "read %r" % data)
        check(data["token_policies"] == ["p"] and data["policies"] == ["p"], "read %r" % data)
        check(data["bind_secret_id"] is True, "bind_secret_id %r" % data)
        client.auth.approle.create_or_update_approle("second")
        keys = client.auth.approle.list_roles()["data"]["keys"]
        check(sorted(keys) == ["app", "second"], "list_roles %r" % keys)
        gen = client.auth.approle.generate_secret_id("app", metadata={"env": "ci"})["data"]
        check(gen["secret_id_num_uses"] == 5, "num_uses %r" % gen)
        look = client.auth.approle.read_secret_id("app", gen["secret_id"])["data"]
        check(look["metadata"] == {"env": "ci"}, "lookup %r" % look)
        check(look["secret_id_accessor"] == gen["secret_id_accessor"], "lookup %r" % look)
        accessors = client.auth.approle.list_secret_id_accessors("app")["data"]["keys"]
        check(accessors == [gen["secret_id_accessor"]], "accessors %r" % accessors)
        auth = hvac.Client(url=srv.url).auth.approle.login(role_id, gen["secret_id"])["auth"]
        check(auth["metadata"] == {"env": "ci", "role_name": "app"}, "metadata %r" % auth)
        client.auth.approle.destroy_secret_id("app", gen["secret_id"])
        expect_error(hvac.exceptions.InvalidRequest, INVALID_APPROLE,
                     hvac.Client(url=srv.url).auth.approle.login, role_id, gen["secret_id"])
        client.auth.approle.delete_role("second")
        keys = client.auth.approle.list_roles()["data"]["keys"]
        check(keys == ["app"], "after delete %r" % keys)


def test_approle_login_failures():
    """Wrong secret and wrong role ID give the same 400; missing role_id is
    its own 400; login needs no token and ignores a stale one."""
    with dev_server() as srv:
        client = root_client(srv)
        role_id = approle_setup(client)
        sid = client.auth.approle.generate_secret_id("app")["data"]["secret_id"]
        anon = hvac.Client(url=srv.url)
        expect_error(hvac.exceptions.InvalidRequest, INVALID_APPROLE,
                     anon.auth.approle.login, role_id, "not-the-secret")
        expect_error(hvac.exceptions.InvalidRequest, INVALID_APPROLE,
                     anon.auth.approle.login, "not-the-role", sid)
        status, body, headers = srv.request("POST", "auth/approle/login",
                                            {"secret_id": sid})
        check(status == 400 and body == {"errors": ["missing role_id"]},
              "missing role_id: %r %r" % (status, body))
        check(headers.get("Content-Type") == "application/json", "content type %r" % headers)
        status, body, _ = srv.request("POST", "auth/approle/login",
                                      {"role_id": role_id, "secret_id": sid},
                                      token="stale-token")
        check(status == 200 and body["auth"]["client_token"], "stale token: %r %r" % (status, body))
        # management paths still need a token
        status, _, _ = srv.request("GET", "auth/approle/role/app/role-id")
        check(status == 403, "role-id read without token: %r" % status)


def test_approle_single_use_concurrent():
    """A num_uses=1 secret ID used by 8 concurrent logins: exactly one 200."""
    with dev_server() as srv:
        client = root_client(srv)
        role_id = approle_setup(client, secret_id_num_uses=1)
        sid = client.auth.approle.generate_secret_id("app")["data"]["secret_id"]
        results = []
        lock = threading.Lock()

        def attempt():
            status, _, _ = srv.request("POST", "auth/approle/login",
                                       {"role_id": role_id, "secret_id": sid})
            with lock:
                results.append(status)

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(sorted(results) == [200] + [400] * 7, "statuses %r" % results)


def test_approle_wire_statuses():
    """Role writes answer 204, unknown roles 404, custom role IDs login."""
    with dev_server() as srv:
        client = root_client(srv)
        client.sys.enable_auth_method("approle")
        status, body, _ = srv.request("POST", "auth/approle/role/Web",
                                      {"token_policies": "a,b"}, token=ROOT)
        check(status == 204 and body is None, "create: %r %r" % (status, body))
        status, body, _ = srv.request("GET", "auth/approle/role/web", token=ROOT)
        check(status == 200 and body["data"]["token_policies"] == ["a", "b"],
              "case-insensitive read: %r %r" % (status, body))
        status, body, _ = srv.request("GET", "auth/approle/role/missing", token=ROOT)
        check(status == 404 and body == {"errors": []}, "missing: %r %r" % (status, body))
        status, _, _ = srv.request("POST", "auth/approle/role/web/role-id",
                                   {"role_id": "custom-rid"}, token=ROOT)
        check(status == 204, "role-id write: %r" % status)
        sid = client.auth.approle.generate_secret_id("web")["data"]["secret_id"]
        auth = hvac.Client(url=srv.url).auth.approle.login("custom-rid", sid)["auth"]
        check(auth["metadata"]["role_name"] == "web", "auth %r" % auth)


# ---- userpass ----

def test_userpass_hvac_flow():
    """enable, create_or_update_user, login; lowercased username metadata;
    read_user hides the password."""
    with dev_server() as srv:
        client = root_client(srv)
        client.sys.enable_auth_method("userpass")
        client.auth.userpass.create_or_update_user("Bob", "pw", policies=["a"])
        user = client.auth.userpass.read_user("bob")["data"]
        check("password" not in user and user["token_policies"] == ["a"], "read %r" % user)
        check(client.auth.userpass.list_user()["data"]["keys"] == ["bob"], "list")
        bob = hvac.Client(url=srv.url)
        t0 = time.time()
        auth = bob.auth.userpass.login("BOB", "pw")["auth"]
        elapsed = (time.time() - t0) * 1000.0
        print("userpass login over HTTP: %.0f ms" % elapsed, flush=True)
        check(auth["metadata"] == {"username": "bob"}, "metadata %r" % auth["metadata"])
        check(set(auth["policies"]) == {"a", "default"}, "policies %r" % auth["policies"])
        check_token_reads(srv, client, bob)
        client.auth.userpass.update_password_on_user("bob", "new-pw")
        expect_error(hvac.exceptions.InvalidRequest, INVALID_USERPASS,
                     hvac.Client(url=srv.url).auth.userpass.login, "bob", "pw")
        hvac.Client(url=srv.url).auth.userpass.login("bob", "new-pw")


def test_userpass_failures():
    """Wrong password and unknown user: the same 400; delete removes the
    user; creating without a password is a 400."""
    with dev_server() as srv:
        client = root_client(srv)
        client.sys.enable_auth_method("userpass")
        client.auth.userpass.create_or_update_user("bob", "right")
        anon = hvac.Client(url=srv.url)
        expect_error(hvac.exceptions.InvalidRequest, INVALID_USERPASS,
                     anon.auth.userpass.login, "bob", "wrong")
        expect_error(hvac.exceptions.InvalidRequest, INVALID_USERPASS,
                     anon.auth.userpass.login, "nobody", "wrong")
        status, body, _ = srv.request("POST", "auth/userpass/users/carol",
                                      {"policies": ["a"]}, token=ROOT)
        check(status == 400 and body == {"errors": ["missing password"]},
              "create without password: %r %r" % (status, body))
        client.auth.userpass.delete_user("bob")
        expect_error(hvac.exceptions.InvalidPath, "", client.auth.userpass.read_user, "bob")
        expect_error(hvac.exceptions.InvalidRequest, INVALID_USERPASS,
                     anon.auth.userpass.login, "bob", "right")


if __name__ == "__main__":
    run_tests([
        test_approle_hvac_flow,
        test_approle_read_list_and_secret_ops,
        test_approle_login_failures,
        test_approle_single_use_concurrent,
        test_approle_wire_statuses,
        test_userpass_hvac_flow,
        test_userpass_failures,
    ])
