#!/usr/bin/python3
"""The token store and the `token` auth method (Vault API: token auth, §9, §10)
through python3-hvac 0.11.2 and node-vault 0.12.0 against a real
`keyholdd -dev -dev-root-token-id=root`.

hvac: auth.token.create / lookup_self / lookup / renew_self / revoke_self
/ revoke / lookup_accessor / revoke_accessor / list_accessors / roles /
tidy, the legacy Client.create_token / lookup_token, is_authenticated()
True and False, 403 on revoked, expired and used-up tokens, the
child-policy subset rule through the ACL gate, revocation of a whole
tree. node-vault: tokenCreate (which replaces the client's token),
tokenLookupSelf, tokenRenewSelf, token roles, tokenRevokeSelf and the
403 afterwards; it is installed with npm into a temporary directory of
this run (never into the repository) and skipped, with the reason
printed, when npm cannot reach its registry.

One dev server serves every test; it is stopped by PID at the end and
must exit 0 (the Asan build exits non-zero when LeakSanitizer finds a
leak).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_tokens_hvac.py
"""
import json
import os
import shutil
import subprocess
import sys
import time

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests_with  # noqa: E402

ROOT = "root"
SRV = None
TMP = None


def client(token=ROOT):
    return hvac.Client(url=SRV.url, token=token)


def raises(exc, fn, *args, **kw):
    """Call fn, require it to raise exc; return the exception."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, fn.__name__))


def new_token(**kw):
    """A token created by root; returns its auth block."""
    return client().auth.token.create(**kw)["auth"]


def test_create_and_lookup():
    auth = new_token(policies=["a"], ttl="1h")
    tok = auth["client_token"]
    check(tok.startswith("hvs.") and len(tok) == 28, tok)
    check(auth["policies"] == ["a", "default"], auth)
    check(auth["token_policies"] == ["a", "default"], auth)
    check(auth["lease_duration"] == 3600, auth)
    check(auth["renewable"] is True and auth["orphan"] is False, auth)
    check(auth["token_type"] == "service" and auth["entity_id"] == "", auth)
    check(len(auth["accessor"]) == 24 and auth["num_uses"] == 0, auth)
    data = client().auth.token.lookup(tok)["data"]
    check(data["id"] == tok and data["policies"] == ["a", "default"], data)
    check(data["display_name"] == "token-token", data)  # hvac sends "token"
    check(data["path"] == "auth/token/create", data)
    check(3500 < data["ttl"] <= 3600 and data["creation_ttl"] == 3600, data)
    check(data["expire_time"].endswith("Z") and data["meta"] is None, data)
    check(isinstance(data["creation_time"], int), data)


def test_self_service_with_default_policy():
    """A non-root token uses lookup-self, renew-self and revoke-self
    through the gate's ACL (the default policy grants them)."""
    tok = new_token(policies=["a"], ttl="1h")["client_token"]
    c = client(tok)
    data = c.auth.token.lookup_self()["data"]
    check(data["id"] == tok and data["policies"] == ["a", "default"], data)
    auth = c.auth.token.renew_self()["auth"]
    check(auth["client_token"] == tok and auth["lease_duration"] == 3600,
          auth)
    auth = c.auth.token.renew_self(increment="2h")["auth"]
    check(auth["lease_duration"] == 7200, auth)
    check(c.is_authenticated() is True, "authenticated before revoke")
    resp = c.auth.token.revoke_self()
    check(getattr(resp, "status_code", None) == 204, resp)
    check(c.is_authenticated() is False, "authenticated after revoke")
    raises(hvac.exceptions.Forbidden, c.auth.token.lookup_self)


def test_revoke_tree_and_403():
    parent = new_token(ttl="1h")["client_token"]     # inherits root
    child = client(parent).auth.token.create(policies=["a"])["auth"]
    grandchild = client(child["client_token"])
    check(child["orphan"] is False, child)
    resp = client().auth.token.revoke(parent)
    check(getattr(resp, "status_code", None) == 204, resp)
    raises(hvac.exceptions.Forbidden, client(parent).auth.token.lookup_self)
    raises(hvac.exceptions.Forbidden, grandchild.auth.token.lookup_self)
    e = raises(hvac.exceptions.Forbidden, client().auth.token.lookup, parent)
    check("bad token" in str(e), str(e))
    status, body, _ = SRV.request("GET", "auth/token/lookup-self",
                                  token=parent)
    check(status == 403 and "errors" in body, (status, body))


def test_legacy_create_token():
    """Client.create_token / lookup_token (deprecated in hvac, which prints
    a DeprecationWarning it forces on; tested on purpose, §4.1)."""
    c = client()
    auth = c.create_token(policies=["a"], lease="1h",
                          display_name="legacy app!")["auth"]
    data = c.lookup_token(auth["client_token"])["data"]
    check(data["display_name"] == "token-legacy-app-", data)
    check(data["creation_ttl"] == 3600, data)
    auth = c.create_token(policies=["a"], orphan=True, ttl="10m")["auth"]
    check(auth["orphan"] is True and auth["lease_duration"] == 600, auth)
    data = c.lookup_token(auth["client_token"])["data"]
    check(data["path"] == "auth/token/create-orphan", data)
    auth = c.create_token(token_id="my-custom-token", policies=["a"])["auth"]
    check(auth["client_token"] == "my-custom-token", auth)
    check(client("my-custom-token").is_authenticated() is True, "custom")


def test_roles():
    t = client().auth.token
    t.create_or_update_role("app", allowed_policies=["a", "b"], orphan=True,
                            path_suffix="v1")
    keys = t.list_roles()["data"]["keys"]
    check(keys == ["app"], keys)
    data = t.read_role("app")["data"]
    check(data["allowed_policies"] == ["a", "b"] and data["orphan"] is True,
          data)
    auth = t.create(role_name="app", policies=["b"])["auth"]
    check(auth["policies"] == ["b", "default"] and auth["orphan"], auth)
    data = t.lookup(auth["client_token"])["data"]
    check(data["path"] == "auth/token/create/app/v1", data)
    raises(hvac.exceptions.InvalidRequest, t.create, role_name="app",
           policies=["c"])
    status, body, _ = SRV.request("GET", "auth/token/roles?list=true",
                                  token=ROOT)
    check(status == 200 and body["data"]["keys"] == ["app"], (status, body))
    t.delete_role("app")
    raises(hvac.exceptions.InvalidPath, t.read_role, "app")


def test_is_authenticated():
    check(client().is_authenticated() is True, "root")
    check(client("hvs.nosuchtoken00000000000").is_authenticated() is False,
          "bogus token")
    check(hvac.Client(url=SRV.url).is_authenticated() is False, "no token")


def test_accessors():
    auth = new_token(policies=["a"], ttl="1h")
    t = client().auth.token
    data = t.lookup_accessor(auth["accessor"])["data"]
    check(data["id"] == "" and data["accessor"] == auth["accessor"], data)
    keys = t.list_accessors()["data"]["keys"]
    check(auth["accessor"] in keys, keys)
    t.revoke_accessor(auth["accessor"])
    check(client(auth["client_token"]).is_authenticated() is False,
          "revoked by accessor")
    # accessors is sudo: a non-root token is refused by the gate
    tok = new_token(policies=["a"])["client_token"]
    raises(hvac.exceptions.Forbidden, client(tok).auth.token.list_accessors)


def test_num_uses():
    tok = new_token(policies=["a"], num_uses=2)["client_token"]
    for _ in range(2):
        status, _, _ = SRV.request("GET", "auth/token/lookup-self", token=tok)
        check(status == 200, status)
    status, _, _ = SRV.request("GET", "auth/token/lookup-self", token=tok)
    check(status == 403, status)


def test_expiry():
    tok = new_token(policies=["a"], ttl="1s")["client_token"]
    time.sleep(2)
    check(client(tok).is_authenticated() is False, "expired token")
    resp = client().auth.token.tidy()
    check(resp["warnings"] and "removed" in resp["warnings"][0], resp)


def test_child_policy_subset():
    client().sys.create_or_update_policy(
        "creator", 'path "auth/token/create" { capabilities = ["update"] }')
    tok = new_token(policies=["creator"])["client_token"]
    c = client(tok)
    e = raises(hvac.exceptions.InvalidRequest, c.auth.token.create,
               policies=["other"])
    check("child policies must be subset of parent" in str(e), str(e))
    e = raises(hvac.exceptions.InvalidRequest, c.auth.token.create,
               period="1h")
    check("root or sudo" in str(e), str(e))
    auth = c.auth.token.create(policies=["creator"], ttl="5m")["auth"]
    check(auth["policies"] == ["creator", "default"], auth)


def test_renew_refused():
    raises(hvac.exceptions.InvalidRequest, client().auth.token.renew_self)
    tok = new_token(policies=["a"], renewable=False)["client_token"]
    raises(hvac.exceptions.InvalidRequest, client(tok).auth.token.renew_self)


NODE_SCRIPT = r"""
const vault = require('node-vault')({endpoint: process.argv[2],
                                     token: process.argv[3]});
const out = {};
(async () => {
  const created = await vault.tokenCreate({policies: ['a'], ttl: '1h'});
  out.created = created.auth;
  out.replaced = vault.token === created.auth.client_token;
  out.self = (await vault.tokenLookupSelf()).data;
  out.renew = (await vault.tokenRenewSelf()).auth;
  vault.token = process.argv[3];
  await vault.addTokenRole({role_name: 'nv', allowed_policies: 'a'});
  out.roles = (await vault.tokenRoles()).data.keys;
  out.role = (await vault.getTokenRole({role_name: 'nv'})).data;
  await vault.removeTokenRole({role_name: 'nv'});
  vault.token = out.created.client_token;
  await vault.tokenRevokeSelf();
  try {
    await vault.tokenLookupSelf();
    out.after = 'no error';
  } catch (e) {
    out.after = e.response ? e.response.statusCode : String(e);
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.log(JSON.stringify({error: String(e)})); });
"""


def test_node_vault():
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        print("skip test_node_vault: npm or node not installed")
        return
    nodedir = TMP.join("node")
    os.makedirs(nodedir, exist_ok=True)
    try:
        inst = subprocess.run(
            [npm, "install", "--prefix", nodedir, "--no-audit", "--no-fund",
             "--loglevel=error", "node-vault@0.12.0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180,
            env=dict(os.environ, npm_config_cache=TMP.join("npm-cache")))
    except subprocess.TimeoutExpired:
        print("skip test_node_vault: npm install timed out")
        return
    if inst.returncode != 0:
        print("skip test_node_vault: npm install failed (registry "
              "unreachable?): %s" % inst.stdout.decode(errors="replace")[-300:])
        return
    script = os.path.join(nodedir, "tokens.js")
    with open(script, "w") as f:
        f.write(NODE_SCRIPT)
    run = subprocess.run([node, script, SRV.url, ROOT], cwd=nodedir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    out = json.loads(run.stdout.decode().strip().splitlines()[-1])
    check("error" not in out, out)
    check(out["replaced"] is True, out)
    check(out["created"]["policies"] == ["a", "default"], out)
    check(out["self"]["id"] == out["created"]["client_token"], out)
    check(3500 < out["self"]["ttl"] <= 3600, out)
    check(out["renew"]["lease_duration"] == 3600, out)
    check(out["renew"]["renewable"] is True, out)
    check(out["roles"] == ["nv"], out)
    check(out["role"]["allowed_policies"] == ["a"], out)
    check(out["after"] == 403, out)


def main():
    global SRV, TMP
    TMP = TestDir("tokens")
    SRV = DevServer(TMP, token=ROOT,
                    ready="auth/token/lookup-self")
    run_tests_with(SRV, TMP, [
        test_create_and_lookup,
        test_self_service_with_default_policy,
        test_revoke_tree_and_403,
        test_legacy_create_token,
        test_roles,
        test_is_authenticated,
        test_accessors,
        test_num_uses,
        test_expiry,
        test_child_policy_subset,
        test_renew_refused,
        test_node_vault,
    ])


if __name__ == "__main__":
    main()
