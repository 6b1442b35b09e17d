"""sys/mounts and sys/auth (Vault API: sys/mounts and sys/auth) against a real keyholdd:
enable, list, read, tune, conflicts, reserved paths, and that disabling a
mount removes its data (a mount re-enabled at the same path is empty).
"""
import hvac

from khtest import DevServer, Server, TestDir, check, run_tests


def with_dev(fn):
    def run():
        tmp = TestDir("mounts")
        server = DevServer(tmp).start()
        try:
            fn(server, hvac.Client(url=server.url, token="root"))
        finally:
            check(server.stop() == 0, "keyholdd did not exit cleanly")
            tmp.cleanup()
    run.__name__ = fn.__name__
    return run


@with_dev
def test_enable_list_read_tune(server, client):
    client.sys.enable_secrets_engine("kv", path="team-a",
                                     options={"version": "2"},
                                     description="team A")
    mounts = client.sys.list_mounted_secrets_engines()
    check("team-a/" in mounts["data"] and "team-a/" in mounts, mounts.keys())
    entry = mounts["data"]["team-a/"]
    check(entry["type"] == "kv" and entry["options"]["version"] == "2", entry)
    check(entry["description"] == "team A", entry)
    check("secret/" in mounts["data"] and "sys/" in mounts["data"], "builtin")
    client.sys.tune_mount_configuration("team-a", default_lease_ttl="1h",
                                        max_lease_ttl="2h")
    status, tune, _ = server.request("GET", "sys/mounts/team-a/tune",
                                     token="root")
    check(status == 200 and tune["data"]["default_lease_ttl"] == 3600, tune)
    check(tune["data"]["max_lease_ttl"] == 7200, tune)
    status, _, _ = server.request("POST", "sys/mounts/kvtwo",
                                  {"type": "kv-v2"}, token="root")
    check(status == 204, status)
    status, body, _ = server.request("GET", "sys/mounts/kvtwo", token="root")
    check(body["data"]["options"]["version"] == "2", body)


@with_dev
def test_conflicts_reserved_and_unknown(server, client):
    for path, code in (("secret", 409), ("secret/sub", 409), ("sys", 400),
                       ("auth/x", 400), ("cubbyhole", 400)):
        status, body, _ = server.request("POST", "sys/mounts/" + path,
                                         {"type": "kv"}, token="root")
        check(status == code, "%s: %s %s" % (path, status, body))
    status, body, _ = server.request("POST", "sys/mounts/new",
                                     {"type": "nope"}, token="root")
    check(status == 400 and "unknown type" in body["errors"][0], body)
    status, body, _ = server.request("POST", "sys/mounts/new", {},
                                     token="root")
    check(status == 400 and "type" in body["errors"][0], body)
    status, body, _ = server.request("POST", "sys/mounts/parent", {
        "type": "kv"}, token="root")
    check(status == 204, body)
    status, body, _ = server.request("POST", "sys/mounts/parent/child", {
        "type": "kv"}, token="root")
    check(status == 409 and "already in use" in body["errors"][0], body)
    status, _, _ = server.request("DELETE", "sys/auth/token", token="root")
    check(status == 400, "token auth must not be disabled")
    status, _, _ = server.request("DELETE", "sys/mounts/never-there",
                                  token="root")
    check(status == 204, "disabling an unknown mount succeeds (Vault)")


@with_dev
def test_disable_removes_data(server, client):
    client.sys.enable_secrets_engine("kv", path="kv1",
                                     options={"version": "1"})
    status, _, _ = server.request("POST", "kv1/app", {"password": "canary-1"},
                                  token="root")
    check(status == 204, status)
    status, body, _ = server.request("GET", "kv1/app", token="root")
    check(status == 200 and body["data"]["password"] == "canary-1", body)
    client.sys.disable_secrets_engine("kv1")
    status, body, _ = server.request("GET", "kv1/app", token="root")
    check(status == 404 and "no handler" in body["errors"][0], body)
    client.sys.enable_secrets_engine("kv", path="kv1",
                                     options={"version": "1"})
    status, body, _ = server.request("GET", "kv1/app", token="root")
    check(status == 404 and body == {"errors": []}, body)


@with_dev
def test_auth_mounts_need_sudo_paths_and_list(server, client):
    auths = client.sys.list_auth_methods()
    check("token/" in auths["data"], auths)
    check(auths["data"]["token/"]["type"] == "token", auths)
    status, _, _ = server.request("GET", "sys/auth", token="bad")
    check(status == 403, status)
    status, _, _ = server.request("POST", "sys/auth/x", {"type": "nope"},
                                  token="root")
    check(status == 400, status)


def test_mounts_persist_across_seal():
    tmp = TestDir("mounts")
    server = Server(tmp).start()
    try:
        client = hvac.Client(url=server.url)
        init = client.sys.initialize(1, 1)
        client.sys.submit_unseal_keys(init["keys"])
        client.token = init["root_token"]
        client.sys.enable_secrets_engine("kv", path="kept",
                                         options={"version": "1"})
        server.request("POST", "kept/k", {"v": "one"}, token=client.token)
        check(server.stop() == 0, "clean stop")
        server.start()
        client.sys.submit_unseal_keys(init["keys"])
        status, body, _ = server.request("GET", "kept/k", token=client.token)
        check(status == 200 and body["data"]["v"] == "one", body)
        check("kept/" in client.sys.list_mounted_secrets_engines()["data"],
              "mount lost across restart")
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([test_enable_list_read_tune, test_conflicts_reserved_and_unknown,
               test_disable_removes_data, test_auth_mounts_need_sudo_paths_and_list,
               test_mounts_persist_across_seal])
