#!/usr/bin/python3
"""The KV secrets engine through python3-hvac 0.11.2 (Vault API: KV v2,
§6.2, §9) against a real `keyholdd -dev`, which mounts secret/ as KV v2.

Covers hvac's secrets.kv.v2 calls (configure, create_or_update_secret with
and without cas, read_secret_version with version=, list_secrets, patch,
delete_latest_version_of_secret, delete/undelete/destroy_secret_versions,
read_secret_metadata, update_metadata, delete_metadata_and_all_versions,
InvalidPath on deleted versions), a real PATCH with merge-patch+json, and
secrets.kv.v1 on a v1 mount enabled through sys/mounts.

One dev server serves every test (each test uses its own secret paths);
it is stopped by PID at the end and must exit 0 (the Asan build exits
non-zero when LeakSanitizer finds a leak).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_kv_hvac.py
"""
import os
import sys

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, TestDir, check, run_tests_with  # noqa: E402

ROOT = "kv-root-token"
SRV = None


def client():
    return hvac.Client(url=SRV.url, token=ROOT)


def kv2():
    return client().secrets.kv.v2


def raises(exc, fn, *args, **kw):
    """Call fn, require it to raise exc; return the exception."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (fn.__name__, exc.__name__))


# ---- KV v2 ----

def test_configure():
    kv = kv2()
    resp = kv.configure(max_versions=5, cas_required=False)
    check(resp.status_code == 204, "configure: %r" % resp)
    conf = kv.read_configuration()["data"]
    check(conf["max_versions"] == 5, conf)
    check(conf["cas_required"] is False, conf)
    check(conf["delete_version_after"] == "0s", conf)
    kv.configure(max_versions=0)
    check(kv.read_configuration()["data"]["max_versions"] == 0, "reset")


def test_create_and_read():
    kv = kv2()
    resp = kv.create_or_update_secret("app/db", {"user": "a", "pw": "s3cret"})
    data = resp["data"]
    check(data["version"] == 1 and data["destroyed"] is False, data)
    check(data["deletion_time"] == "", data)
    check(data["created_time"].endswith("Z"), data)
    read = kv.read_secret_version("app/db")["data"]
    check(read["data"] == {"user": "a", "pw": "s3cret"}, read)
    check(read["metadata"]["version"] == 1, read)


def test_versions():
    kv = kv2()
    for i in range(1, 4):
        kv.create_or_update_secret("ver", {"n": str(i)})
    check(kv.read_secret_version("ver", version=2)["data"]["data"] == {"n": "2"},
          "version=2")
    check(kv.read_secret_version("ver")["data"]["metadata"]["version"] == 3,
          "current")
    raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "ver",
           version=9)
    raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "never")


def test_cas():
    kv = kv2()
    kv.create_or_update_secret("cas", {"a": "1"}, cas=0)
    e = raises(hvac.exceptions.InvalidRequest, kv.create_or_update_secret,
               "cas", {"a": "2"}, cas=0)
    check("check-and-set parameter did not match the current version" in str(e),
          str(e))
    kv.create_or_update_secret("cas", {"a": "2"}, cas=1)
    kv.update_metadata("cas", cas_required=True)
    e = raises(hvac.exceptions.InvalidRequest, kv.create_or_update_secret,
               "cas", {"a": "3"})
    check("check-and-set parameter required for this call" in str(e), str(e))
    kv.create_or_update_secret("cas", {"a": "3"}, cas=2)


def test_list():
    kv = kv2()
    for p in ("lst/app", "lst/app/db", "lst/app/cache/x"):
        kv.create_or_update_secret(p, {"v": "1"})
    keys = kv.list_secrets("lst")["data"]["keys"]
    check(keys == ["app", "app/"], keys)
    keys = kv.list_secrets("lst/app")["data"]["keys"]
    check(keys == ["cache/", "db"], keys)
    root = kv.list_secrets("")["data"]["keys"]
    check("lst/" in root, root)
    raises(hvac.exceptions.InvalidPath, kv.list_secrets, "nothing-here")


def test_patch():
    kv = kv2()
    kv.create_or_update_secret("pat", {"a": "1", "b": "2"})
    resp = kv.patch("pat", {"b": "3", "c": "4"})
    check(resp["data"]["version"] == 2, resp)
    got = kv.read_secret_version("pat")["data"]["data"]
    check(got == {"a": "1", "b": "3", "c": "4"}, got)
    raises(hvac.exceptions.InvalidPath, kv.patch, "pat-missing", {"a": "1"})


def test_http_patch_merge():
    kv = kv2()
    kv.create_or_update_secret("mp", {"a": "1", "n": {"x": 1, "y": 2}})
    status, body, _ = SRV.request(
        "PATCH", "secret/data/mp",
        {"options": {"cas": 1}, "data": {"a": None, "n": {"y": None, "z": 3}}},
        token=ROOT, headers={"Content-Type": "application/merge-patch+json"})
    check(status == 200 and body["data"]["version"] == 2, (status, body))
    got = kv.read_secret_version("mp")["data"]["data"]
    check(got == {"n": {"x": 1, "z": 3}}, got)
    status, body, _ = SRV.request("PATCH", "secret/data/mp", {"data": {}},
                                  token=ROOT)
    check(status == 415, (status, body))


def test_delete_latest_and_invalid_path():
    kv = kv2()
    kv.create_or_update_secret("del", {"a": "1"})
    resp = kv.delete_latest_version_of_secret("del")
    check(resp.status_code == 204, resp)
    e = raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "del")
    check('"deletion_time"' in str(e) and '"data":null' in str(e).replace(" ", ""),
          str(e))
    status, body, _ = SRV.request("GET", "secret/data/del", token=ROOT)
    check(status == 404 and "errors" not in body, (status, body))
    check(body["data"]["data"] is None, body)
    check(body["data"]["metadata"]["deletion_time"] != "", body)


def test_delete_undelete_destroy():
    kv = kv2()
    kv.create_or_update_secret("dud", {"v": "1"})
    kv.create_or_update_secret("dud", {"v": "2"})
    kv.delete_secret_versions("dud", [1])
    raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "dud",
           version=1)
    check(kv.read_secret_version("dud")["data"]["data"] == {"v": "2"}, "v2")
    kv.undelete_secret_versions("dud", [1])
    check(kv.read_secret_version("dud", version=1)["data"]["data"] == {"v": "1"},
          "undeleted")
    kv.destroy_secret_versions("dud", [1])
    status, body, _ = SRV.request("GET", "secret/data/dud?version=1", token=ROOT)
    check(status == 404 and body["data"]["metadata"]["destroyed"] is True,
          (status, body))
    kv.undelete_secret_versions("dud", [1])
    raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "dud",
           version=1)
    # hvac refuses an empty list client-side; the server must too
    status, body, _ = SRV.request("POST", "secret/delete/dud",
                                  {"versions": []}, token=ROOT)
    check(status == 400 and body["errors"] == ["no version number provided"],
          (status, body))


def test_metadata():
    kv = kv2()
    kv.create_or_update_secret("meta", {"v": "1"})
    kv.create_or_update_secret("meta", {"v": "2"})
    md = kv.read_secret_metadata("meta")["data"]
    check(md["current_version"] == 2 and md["oldest_version"] == 0, md)
    check(set(md["versions"]) == {"1", "2"}, md)
    check(md["delete_version_after"] == "0s" and md["max_versions"] == 0, md)
    for key in ("cas_required", "created_time", "custom_metadata",
                "updated_time"):
        check(key in md, key)
    resp = kv.update_metadata("meta", max_versions=2, cas_required=False)
    check(resp.status_code == 204, resp)
    kv.create_or_update_secret("meta", {"v": "3"})
    md = kv.read_secret_metadata("meta")["data"]
    check(md["max_versions"] == 2 and set(md["versions"]) == {"2", "3"}, md)
    check(md["oldest_version"] == 2, md)
    resp = kv.delete_metadata_and_all_versions("meta")
    check(resp.status_code == 204, resp)
    raises(hvac.exceptions.InvalidPath, kv.read_secret_metadata, "meta")
    raises(hvac.exceptions.InvalidPath, kv.read_secret_version, "meta")


def test_custom_metadata_wire():
    status, _, _ = SRV.request("POST", "secret/metadata/cm",
                               {"custom_metadata": {"owner": "ops"}},
                               token=ROOT)
    check(status == 204, status)
    kv2().create_or_update_secret("cm", {"a": "1"})
    md = kv2().read_secret_version("cm")["data"]["metadata"]
    check(md["custom_metadata"] == {"owner": "ops"}, md)
    status, body, _ = SRV.request(
        "POST", "secret/metadata/cm",
        {"custom_metadata": {"k%d" % i: "v" for i in range(65)}}, token=ROOT)
    check(status == 400 and body["errors"], (status, body))


def test_invalid_subpath_and_method():
    status, body, _ = SRV.request("GET", "secret/foo", token=ROOT)
    check(status == 404 and body["data"] is None, (status, body))
    check("Invalid path for a versioned K/V secrets engine" in body["warnings"][0],
          body)
    status, body, _ = SRV.request("DELETE", "secret/config", token=ROOT)
    check(status == 405, (status, body))


def test_limits():
    big = "x" * (512 * 1024 - len('{"k":""}'))
    kv2().create_or_update_secret("big", {"k": big})
    e = raises(hvac.exceptions.InvalidRequest, kv2().create_or_update_secret,
               "big", {"k": big + "x"})
    check("limit" in str(e), str(e))


# ---- KV v1 ----

def test_kv_v1():
    c = client()
    c.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    mounts = c.sys.list_mounted_secrets_engines()["data"]
    check(mounts["kv1/"]["options"]["version"] == "1", mounts.get("kv1/"))
    kv = c.secrets.kv.v1
    resp = kv.create_or_update_secret("x/y", {"user": "u"}, mount_point="kv1")
    check(resp.status_code == 204, resp)
    got = kv.read_secret("x/y", mount_point="kv1")
    check(got["data"] == {"user": "u"}, got)
    check(got["lease_duration"] == 2764800, got)
    kv.create_or_update_secret("x/y", {"user": "v"}, mount_point="kv1")
    check(kv.read_secret("x/y", mount_point="kv1")["data"] == {"user": "v"},
          "update")
    kv.create_or_update_secret("x/z/w", {"a": "b"}, mount_point="kv1")
    keys = kv.list_secrets("x", mount_point="kv1")["data"]["keys"]
    check(keys == ["y", "z/"], keys)
    kv.delete_secret("x/y", mount_point="kv1")
    raises(hvac.exceptions.InvalidPath, kv.read_secret, "x/y",
           mount_point="kv1")


def main():
    global SRV
    tmp = TestDir("kvhvac")
    SRV = DevServer(tmp, token=ROOT, ready="sys/mounts")
    run_tests_with(SRV, tmp, [
        test_configure,
        test_create_and_read,
        test_versions,
        test_cas,
        test_list,
        test_patch,
        test_http_patch_merge,
        test_delete_latest_and_invalid_path,
        test_delete_undelete_destroy,
        test_metadata,
        test_custom_metadata_wire,
        test_invalid_subpath_and_method,
        test_limits,
        test_kv_v1,
    ])


if __name__ == "__main__":
    main()
