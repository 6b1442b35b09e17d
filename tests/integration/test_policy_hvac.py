"""ACL policies end to end (Vault API: sys/policy and sys/capabilities, §8): written with hvac in
HCL and in the JSON form hvac sends for a dict, read back, listed, deleted,
and enforced on real requests by tokens that carry them.
"""
import hvac

from khtest import check, run_tests
from test_mounts import with_dev

APP_HCL = '''
# the application's own secrets
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/data/app/admin" {
  capabilities = ["deny"]
}
path "secret/metadata/app/*" { capabilities = ["list"] }
'''


def token_for(client, *policies):
    return client.auth.token.create(policies=list(policies),
                                    ttl="10m")["auth"]["client_token"]


@with_dev
def test_write_read_list_delete(server, client):
    client.sys.create_or_update_policy("app", APP_HCL)
    client.sys.create_or_update_policy("readonly", {
        "path": {"secret/data/shared/*": {"capabilities": ["read"]}}})
    listed = client.sys.list_policies()["data"]["policies"]
    for name in ("app", "readonly", "default", "root"):
        check(name in listed, "%s missing from %s" % (name, listed))
    check("deny" in client.sys.read_policy("app")["data"]["rules"],
          "rules text not returned")
    status, body, _ = server.request("GET", "sys/policies/acl/readonly",
                                     token="root")
    check(status == 200 and "secret/data/shared/*" in body["data"]["policy"],
          body)
    # node-vault's addPolicy sends the legacy "rules" key.
    status, body, _ = server.request("PUT", "sys/policy/legacy", {
        "name": "legacy", "rules": 'path "x/*" { policy = "read" }'},
        token="root")
    check(status in (200, 204), (status, body))
    client.sys.delete_policy("legacy")
    check("legacy" not in client.sys.list_policies()["data"]["policies"],
          "delete did not remove the policy")
    status, body, _ = server.request("PUT", "sys/policy/broken", {
        "policy": 'path "a" { capabilities = ["fly"] }'}, token="root")
    check(status == 400, "unknown capability accepted: %s" % status)
    status, _, _ = server.request("DELETE", "sys/policy/default",
                                  token="root")
    check(status == 400, "default policy must not be deletable")
    status, _, _ = server.request("PUT", "sys/policy/root",
                                  {"policy": 'path "*" { capabilities = ["read"] }'},
                                  token="root")
    check(status == 400, "root policy must not be writable")


@with_dev
def test_policies_enforced(server, client):
    client.sys.create_or_update_policy("app", APP_HCL)
    app = hvac.Client(url=server.url, token=token_for(client, "app"))
    app.secrets.kv.v2.create_or_update_secret("app/db", {"pw": "s3cret"})
    read = app.secrets.kv.v2.read_secret_version("app/db")
    check(read["data"]["data"]["pw"] == "s3cret", read)
    for path in ("app/admin", "other/db"):
        try:
            app.secrets.kv.v2.create_or_update_secret(path, {"x": "y"})
            check(False, "write to %s allowed" % path)
        except hvac.exceptions.Forbidden:
            pass
    try:
        app.sys.list_mounted_secrets_engines()
        check(False, "sys/mounts allowed without a rule")
    except hvac.exceptions.Forbidden:
        pass
    keys = app.secrets.kv.v2.list_secrets("app")["data"]["keys"]
    check(keys == ["db"], keys)
    # default policy: a token may look itself up.
    check(app.auth.token.lookup_self()["data"]["policies"] == ["app", "default"],
          "default policy not attached")


@with_dev
def test_capabilities_self_and_sudo(server, client):
    client.sys.create_or_update_policy("app", APP_HCL)
    client.sys.create_or_update_policy("mounts", '''
path "sys/mounts/*" { capabilities = ["create", "update", "read"] }
path "sys/auth/*" { capabilities = ["create", "update", "read"] }
''')
    app = hvac.Client(url=server.url, token=token_for(client, "app", "mounts"))
    caps = app.sys.get_capabilities(["secret/data/app/x"])
    check(sorted(caps["capabilities"]) == ["create", "read", "update"], caps)
    caps = app.sys.get_capabilities(["secret/data/app/admin",
                                     "sys/nothing"])
    check(caps["secret/data/app/admin"] == ["deny"], caps)
    check(caps["sys/nothing"] == ["deny"], caps)
    check(client.sys.get_capabilities(["anything"])["capabilities"] == ["root"],
          "root token capabilities")
    # sys/mounts/* works with create/update; sys/auth/* also needs sudo.
    app.sys.enable_secrets_engine("kv", path="team-kv", options={"version": "1"})
    try:
        app.sys.enable_auth_method("userpass", path="team-up")
        check(False, "sys/auth/* allowed without sudo")
    except hvac.exceptions.Forbidden:
        pass


if __name__ == "__main__":
    run_tests([test_write_read_list_delete, test_policies_enforced,
               test_capabilities_self_and_sudo])
