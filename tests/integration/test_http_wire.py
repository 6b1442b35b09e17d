#!/usr/bin/python3
"""The HTTP wire contract of keyholdd (Vault API: wire rules, §2.3-2.6) against
real processes: urllib for ordinary requests, http.client and raw sockets
where urllib would normalise or refuse what we want to send.

Every test starts its own keyholdd (dev mode or a config file), stops it by
PID in a finally block and checks it exits 0 on SIGTERM (the Asan build
exits non-zero when LeakSanitizer finds a leak).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_http_wire.py
"""
import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import DevServer, Server, TestDir, check, run_tests, running  # noqa: E402

ROOT = "wire-root-token"
JSON_DEPTH_MAX = 64          # KH_JSON_DEPTH_MAX
URL_BYTES_MAX = 8192         # KH_HTTP_URL_BYTES_MAX
HEADER_COUNT_MAX = 100       # KH_HTTP_HEADER_COUNT_MAX
QUERY_ARGS_MAX = 64          # KH_HTTP_QUERY_ARGS_MAX


def listener_option(server, line):
    """Add one line inside the listener block of a Server's config."""
    with open(server.config_path) as f:
        text = f.read()
    head, sep, tail = text.partition("\n}\n")
    check(sep, "no listener block in %s" % server.config_path)
    with open(server.config_path, "w") as f:
        f.write(head + "\n  " + line + sep + tail)


@contextlib.contextmanager
def dev_server(**kw):
    tmp = TestDir("wire")
    try:
        kw.setdefault("token", ROOT)
        with running(DevServer(tmp, **kw)) as srv:
            yield srv
    finally:
        tmp.cleanup()


def parse_response(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    check(len(parts) >= 2 and parts[0].startswith(b"HTTP/"),
          "not an HTTP response: %r" % buf[:200])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return int(parts[1]), headers, body


def raw(port, data, timeout=10):
    """Send bytes on a fresh connection, read until the server closes:
    (status, lower-case headers, body bytes). Send errors are tolerated
    (the server may answer and close before the body is all sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except ConnectionResetError:
            pass
    return parse_response(buf)


def raw_request(port, method, target, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1",
             "Connection: close"]
    lines += ["%s: %s" % kv for kv in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def jbody(body):
    return json.loads(body) if body else None


def check_json_headers(headers, what):
    # raw() gives a dict with lower-case names; urllib a case-blind message
    ct = headers.get("content-type")
    cc = headers.get("cache-control")
    check(ct == "application/json", "%s: Content-Type %r" % (what, ct))
    check(cc == "no-store", "%s: Cache-Control %r" % (what, cc))


def check_error(status, body, headers, want_status, want_substr, what):
    check(status == want_status, "%s: status %s (want %s), body %r"
          % (what, status, want_status, body))
    check(isinstance(body, dict) and set(body) == {"errors"}
          and isinstance(body["errors"], list),
          "%s: error body %r" % (what, body))
    if want_substr is None:
        check(body["errors"] == [], "%s: errors %r (want [])" % (what, body))
    else:
        check(any(want_substr in e for e in body["errors"]),
              "%s: %r not in %r" % (what, want_substr, body["errors"]))
    check_json_headers(headers, what)


# ---------------------------------------------------------------- health

# sys/health on an active dev node: 200, every body field, JSON headers.
def test_health_get_fields():
    with dev_server() as srv:
        before = int(time.time())
        st, body, hdrs = srv.request("GET", "sys/health")
        after = int(time.time())
        check(st == 200, "health status %s" % st)
        check_json_headers(hdrs, "health")
        for k, v in (("initialized", True), ("sealed", False), ("standby", False),
                     ("performance_standby", False),
                     ("replication_performance_mode", "disabled"),
                     ("replication_dr_mode", "disabled")):
            check(body.get(k) == v, "health %s=%r" % (k, body.get(k)))
        check(isinstance(body.get("version"), str) and body["version"],
              "health version %r" % body.get("version"))
        check(isinstance(body.get("cluster_name"), str) and body["cluster_name"],
              "cluster_name missing while unsealed: %r" % body)
        check(isinstance(body.get("cluster_id"), str) and len(body["cluster_id"]) == 36,
              "cluster_id not a UUID: %r" % body.get("cluster_id"))
        t = body.get("server_time_utc")
        check(isinstance(t, int) and before - 2 <= t <= after + 2,
              "server_time_utc %r not within [%d,%d]" % (t, before, after))
        # seal-status and leader agree with health (raw objects, §2.3/§2.6)
        st, ss, hdrs = srv.request("GET", "sys/seal-status")
        check(st == 200 and ss["sealed"] is False and ss["initialized"] is True
              and ss["progress"] == 0 and ss["nonce"] == ""
              and ss["cluster_id"] == body["cluster_id"], "seal-status %r" % ss)
        check("request_id" not in ss, "seal-status must be a raw object: %r" % ss)
        st, ld, hdrs = srv.request("GET", "sys/leader")
        check(st == 200 and ld["ha_enabled"] is False, "leader %s %r" % (st, ld))


# HEAD sys/health: status and headers only, no body bytes on the wire.
def test_health_head_no_body():
    with dev_server() as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            conn.request("HEAD", "/v1/sys/health")
            resp = conn.getresponse()
            check(resp.status == 200, "HEAD status %s" % resp.status)
            check(resp.read() == b"", "HEAD body")
            check(resp.getheader("Content-Type") == "application/json",
                  "HEAD Content-Type %r" % resp.getheader("Content-Type"))
            # the keep-alive connection is still in sync after HEAD
            conn.request("GET", "/v1/sys/health")
            resp = conn.getresponse()
            check(resp.status == 200 and json.loads(resp.read())["sealed"] is False,
                  "GET after HEAD on the same connection")
        finally:
            conn.close()
        st, hdrs, body = raw_request(srv.port, "HEAD", "/v1/sys/health")
        check(st == 200 and body == b"", "raw HEAD: %s %r" % (st, body))
        st, hdrs, body = raw_request(srv.port, "HEAD", "/v1/sys/health?activecode=299")
        check(st == 299 and body == b"", "HEAD with override: %s %r" % (st, body))


# Every query override parses; only the matching one changes the status.
def test_health_query_overrides():
    with dev_server() as srv:
        cases = [
            ("activecode=299", 299), ("activecode=200", 200),
            ("activecode=599", 599), ("activecode=200", 200),
            ("sealedcode=299", 200), ("uninitcode=299", 200),
            ("standbyok=True", 200), ("standbyok=true", 200),
            ("standbyok=1", 200), ("standbyok=F", 200),
            ("perfstandbyok=True", 200), ("perfstandbyok=false", 200),
            ("standbycode=298", 200), ("drsecondarycode=298", 200),
            ("performancestandbycode=298", 200),
            ("standbyok=True&activecode=288&standbycode=200", 288),
        ]
        for q, want in cases:
            st, body, hdrs = srv.request("GET", "sys/health?" + q)
            check(st == want, "health?%s: %s (want %s)" % (q, st, want))
            check(isinstance(body, dict) and body.get("initialized") is True,
                  "health?%s body %r" % (q, body))
            check_json_headers(hdrs, "health?" + q)
        for q in ("activecode=abc", "activecode=-1", "activecode=", "activecode=99",
                  "activecode=600", "activecode=1e3", "sealedcode=x",
                  "uninitcode=2.5", "standbycode=x", "drsecondarycode=x",
                  "performancestandbycode=%2B200", "activecode=0x10",
                  "standbyok=maybe", "standbyok=yes", "perfstandbyok=2",
                  "perfstandbyok=TRue"):
            st, body, hdrs = srv.request("GET", "sys/health?" + q)
            check_error(st, body, hdrs, 400, q.split("=")[0], "health?" + q)


# A 1xx override must not become the final status: a client reading a
# "100 Continue" keeps waiting for the real answer and hangs (Vault's Go
# server turns it into an implicit 200). Refuse 1xx codes with 400.
def test_health_informational_override():
    with dev_server() as srv:
        for q in ("activecode=100", "activecode=101", "sealedcode=199"):
            try:
                st, hdrs, b = raw_request(srv.port, "GET", "/v1/sys/health?" + q)
            except socket.timeout:
                raise AssertionError("health?%s: no final response (the server sent "
                                     "a 1xx status as the answer; client hangs)" % q)
            check(st == 400 or st >= 200, "health?%s: final status %s" % (q, st))
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 200, "health after 1xx overrides: %s" % st)


# An uninitialised shamir node: 501, overrides, then init -> sealed 503,
# sealedcode with body, form-encoded unseal, then active 200.
def test_health_uninit_sealed_shamir():
    tmp = TestDir("wire")
    try:
        with running(Server(tmp)) as srv:
            st, body, hdrs = srv.request("GET", "sys/health")
            check(st == 501, "uninit health %s" % st)
            check(body["initialized"] is False and body["sealed"] is True
                  and "cluster_name" not in body and "cluster_id" not in body,
                  "uninit body %r" % body)
            check_json_headers(hdrs, "uninit health")
            st, body, _ = srv.request("GET", "sys/health?uninitcode=200")
            check(st == 200 and body["initialized"] is False, "uninitcode=200: %s" % st)
            st, body, _ = srv.request("GET", "sys/health?sealedcode=200")
            check(st == 501, "sealedcode ignored while uninitialised: %s" % st)
            st, hdrs, raw_body = raw_request(srv.port, "HEAD", "/v1/sys/health")
            check(st == 501 and raw_body == b"", "uninit HEAD %s %r" % (st, raw_body))
            st, body, _ = srv.request("GET", "sys/init")
            check(st == 200 and body == {"initialized": False}, "GET sys/init %r" % body)
            st, ss, _ = srv.request("GET", "sys/seal-status")
            check(st == 200 and ss["type"] == "shamir" and ss["t"] == 0
                  and ss["n"] == 0 and ss["sealed"] is True, "uninit seal-status %r" % ss)
            # anything not allow-listed: 503 before the token gate
            for path, tok in (("sys/key-status", None), ("sys/key-status", "bogus"),
                              ("secret/data/x", None)):
                st, body, hdrs = srv.request("GET", path, token=tok)
                check_error(st, body, hdrs, 503, "Vault is sealed", "uninit " + path)

            st, init, _ = srv.request("PUT", "sys/init",
                                      {"secret_shares": 1, "secret_threshold": 1})
            check(st == 200 and len(init["keys"]) == 1 and init["root_token"],
                  "init %s %r" % (st, init))
            st, body, _ = srv.request("GET", "sys/health")
            check(st == 503 and body["initialized"] is True and body["sealed"] is True
                  and "cluster_name" not in body, "sealed health %s %r" % (st, body))
            st, body, hdrs = srv.request("GET", "sys/health?sealedcode=299")
            check(st == 299 and body["sealed"] is True, "sealedcode=299: %s %r" % (st, body))
            check_json_headers(hdrs, "sealedcode=299")
            st, body, _ = srv.request("GET", "sys/health?uninitcode=200")
            check(st == 503, "uninitcode ignored once initialised: %s" % st)
            st, body, hdrs = srv.request("GET", "sys/leader")
            check_error(st, body, hdrs, 503, "Vault is sealed", "sealed leader")
            st, body, hdrs = srv.request("GET", "sys/key-status", token=init["root_token"])
            check_error(st, body, hdrs, 503, "Vault is sealed", "sealed key-status")

            # form bodies on sys/unseal: reset, then the key itself
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            st, body, _ = srv.request("PUT", "sys/unseal", raw=b"reset=true", headers=form)
            check(st == 200 and body["sealed"] is True and body["progress"] == 0,
                  "form reset: %s %r" % (st, body))
            st, body, _ = srv.request("PUT", "sys/unseal", raw=b"reset=maybe", headers=form)
            check(st == 400, "form reset=maybe: %s %r" % (st, body))
            st, body, _ = srv.request("PUT", "sys/unseal",
                                      raw=("key=%s" % init["keys"][0]).encode(),
                                      headers=form)
            check(st == 200 and body["sealed"] is False, "form unseal: %s %r" % (st, body))
            st, body, _ = srv.request("GET", "sys/health")
            check(st == 200 and body["sealed"] is False and body["cluster_name"],
                  "unsealed health %s %r" % (st, body))
            st, body, _ = srv.request("GET", "sys/health?sealedcode=299")
            check(st == 200, "sealedcode ignored once unsealed: %s" % st)
    finally:
        tmp.cleanup()


# ---------------------------------------------------------------- errors

# Unknown paths, unknown methods, LIST, paths outside /v1/, non-canonical.
def test_routing_errors():
    with dev_server() as srv:
        st, body, hdrs = srv.request("GET", "foo/bar", token=ROOT)
        check_error(st, body, hdrs, 404,
                    'no handler for route "foo/bar". route entry not found.', "unknown path")
        st, body, hdrs = srv.request("GET", "foo/bar")   # no token: still 404
        check_error(st, body, hdrs, 404, "no handler for route", "unknown path, no token")
        st, hdrs, b = raw_request(srv.port, "FOO", "/v1/sys/health")
        check(st == 405 and jbody(b) == {"errors": []}, "FOO: %s %r" % (st, b))
        check_json_headers(hdrs, "FOO")
        st, body, hdrs = srv.request("GET", "sys/seal", token=ROOT)
        check_error(st, body, hdrs, 405, "unsupported operation", "GET sys/seal")
        st, body, hdrs = srv.request("DELETE", "sys/health")
        check_error(st, body, hdrs, 405, "unsupported operation", "DELETE sys/health")

        # LIST and GET ?list=<bool>: the path gets a trailing slash
        for method, target in (("LIST", "/v1/foo/bar"), ("LIST", "/v1/foo/bar/"),
                               ("GET", "/v1/foo/bar?list=true"),
                               ("GET", "/v1/foo/bar?list=True"),
                               ("GET", "/v1/foo/bar?list=1"),
                               ("GET", "/v1/foo/bar?list=t")):
            st, hdrs, b = raw_request(srv.port, method, target, [("X-Vault-Token", ROOT)])
            check_error(st, jbody(b), hdrs, 404,
                        'no handler for route "foo/bar/". route entry not found.',
                        "%s %s" % (method, target))
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/foo/bar?list=false",
                                  [("X-Vault-Token", ROOT)])
        check_error(st, jbody(b), hdrs, 404, 'route "foo/bar".', "list=false is a read")
        st, hdrs, b = raw_request(srv.port, "LIST", "/v1/sys/health")
        check_error(st, jbody(b), hdrs, 404, 'route "sys/health/"', "LIST sys/health")
        for v in ("maybe", "yes", "2", ""):
            st, hdrs, b = raw_request(srv.port, "GET", "/v1/foo/bar?list=" + v)
            check_error(st, jbody(b), hdrs, 400, "list", "list=%r" % v)

        # non-canonical paths: refused, never cleaned
        for target in ("/v1//sys/health", "/v1/sys//health", "/v1/sys/./health",
                       "/v1/sys/../sys/health", "/v1/./sys/health", "/v1/sys/health/.",
                       "/v1/sys/%2e%2e/sys/health", "/v1/sys/%2E/health",
                       "/v1/sys/health%0a"):
            st, hdrs, b = raw_request(srv.port, "GET", target)
            check(st == 404, "%s: %s %r" % (target, st, b))
            check_json_headers(hdrs, target)
        # percent-encoding is decoded before routing (§1.1)
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/sys/%68ealth")
        check(st == 200 and jbody(b)["initialized"] is True, "%%68ealth: %s" % st)
        # paths outside /v1/
        for target in ("/", "/v1", "/v2/sys/health", "/ui/", "/sys/health",
                       "/V1/sys/health", "/v1sys/health"):
            st, hdrs, b = raw_request(srv.port, "GET", target)
            check(st == 404 and jbody(b) == {"errors": []}, "%s: %s %r" % (target, st, b))
            check_json_headers(hdrs, target)


# A NUL byte in the path must not truncate it into a different route.
def test_percent_nul_in_path():
    with dev_server() as srv:
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/sys/health%00/../../x")
        check(st == 404, "GET /v1/sys/health%%00/../../x answered %s %r (the decoded "
              "path was truncated at the NUL and routed as sys/health)" % (st, b))


# Tokens: missing/bad -> 403, Bearer works, X-Vault-Token wins, stale
# tokens are ignored on unauthenticated paths.
def test_tokens():
    with dev_server() as srv:
        st, body, hdrs = srv.request("GET", "sys/key-status")
        check_error(st, body, hdrs, 403, "permission denied", "no token")
        check(body == {"errors": ["permission denied"]}, "no token body %r" % body)
        st, body, hdrs = srv.request("GET", "sys/key-status", token="not-a-token")
        check_error(st, body, hdrs, 403, "permission denied", "bad token")
        st, body, hdrs = srv.request("GET", "sys/key-status", token="x" * 600)
        check_error(st, body, hdrs, 403, "permission denied", "over-long token")
        st, body, hdrs = srv.request("GET", "sys/key-status",
                                     headers={"Authorization": "Bearer not-a-token"})
        check_error(st, body, hdrs, 403, "permission denied", "bad bearer")
        st, body, hdrs = srv.request("GET", "sys/key-status",
                                     headers={"Authorization": "Basic " + ROOT})
        check_error(st, body, hdrs, 403, "permission denied", "Basic is not a token")
        st, body, hdrs = srv.request("GET", "sys/key-status", token=ROOT)
        check(st == 200 and body["data"]["term"] >= 1 and body["term"] == body["data"]["term"]
              and body["request_id"], "root key-status %s %r" % (st, body))
        check_json_headers(hdrs, "key-status")
        st, body, _ = srv.request("GET", "sys/key-status",
                                  headers={"Authorization": "Bearer " + ROOT})
        check(st == 200, "Bearer root: %s %r" % (st, body))
        st, body, _ = srv.request("GET", "sys/key-status", token=ROOT,
                                  headers={"Authorization": "Bearer wrong"})
        check(st == 200, "X-Vault-Token must win over a bad Bearer: %s" % st)
        st, body, _ = srv.request("GET", "sys/key-status", token="wrong",
                                  headers={"Authorization": "Bearer " + ROOT})
        check(st == 403, "a bad X-Vault-Token must win over a good Bearer: %s" % st)
        for path in ("sys/health", "sys/seal-status", "sys/leader", "sys/init"):
            st, body, _ = srv.request("GET", path, token="stale-token")
            check(st == 200, "stale token on %s: %s %r" % (path, st, body))
        st, body, hdrs = srv.request("PUT", "sys/seal", {}, token="stale-token")
        check_error(st, body, hdrs, 403, "permission denied", "sys/seal bad token")
        st, body, hdrs = srv.request("PUT", "sys/rotate", {})
        check_error(st, body, hdrs, 403, "permission denied", "sys/rotate no token")
        # a malformed body is refused before the token gate (as in Vault)
        st, body, hdrs = srv.request("PUT", "sys/rotate", raw=b"{", headers={})
        check_error(st, body, hdrs, 400, "failed to parse JSON input", "bad JSON, no token")


# ---------------------------------------------------------------- bodies

def nested(depth):
    """An object whose JSON has exactly depth opening brackets."""
    return ('{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()


# Malformed JSON, arrays, scalars, nesting at the limit and past it.
def test_json_bodies():
    with dev_server() as srv:
        for raw_body, what in ((b'{"secret_shares":', "truncated"),
                               (b"{'a': 1}", "single quotes"),
                               (b"\xff\xfe", "not UTF-8"),
                               (b"[1,2]", "array"), (b"[]", "empty array"),
                               (b'"text"', "string"), (b"42", "number")):
            st, body, hdrs = srv.request("PUT", "sys/init", raw=raw_body,
                                         headers={"Content-Type": "application/json"})
            check_error(st, body, hdrs, 400, "failed to parse JSON input", what)
        st, body, hdrs = srv.request("PUT", "sys/init", raw=nested(JSON_DEPTH_MAX + 1),
                                     headers={"Content-Type": "application/json"})
        check_error(st, body, hdrs, 400, "nesting", "depth %d" % (JSON_DEPTH_MAX + 1))
        deep = ('{"a":' + "[" * 5000 + "]" * 5000 + "}").encode()
        st, body, hdrs = srv.request("PUT", "sys/init", raw=deep,
                                     headers={"Content-Type": "application/json"})
        check_error(st, body, hdrs, 400, "nesting", "depth 5001")
        for raw_body, what in ((nested(JSON_DEPTH_MAX), "depth %d" % JSON_DEPTH_MAX),
                               (('{"a":"' + "[" * 200 + '"}').encode(),
                                "brackets inside a string"),
                               (('{"a":"\\"' + "{" * 200 + '"}').encode(),
                                "escaped quote then brackets")):
            st, body, hdrs = srv.request("PUT", "sys/init", raw=raw_body,
                                         headers={"Content-Type": "application/json"})
            msg = " ".join(body.get("errors", [])) if isinstance(body, dict) else repr(body)
            check("nesting" not in msg and "failed to parse" not in msg,
                  "%s refused by the parser: %s %r" % (what, st, body))
            # the handler sees the fields: an initialised node says so
            check(st == 400 and "already initialized" in msg,
                  "%s: %s %r" % (what, st, body))


# Content-Length: 0 and {} bodies; null; PATCH content type; form bodies.
def test_body_forms():
    with dev_server() as srv:
        st, hdrs, b = raw_request(srv.port, "PUT", "/v1/sys/rotate",
                                  [("X-Vault-Token", ROOT), ("Content-Type", "application/json")],
                                  b"{}")
        check(st == 204 and b == b"", "PUT rotate {}: %s %r" % (st, b))
        check(hdrs.get("content-type") == "application/json",
              "204 Content-Type %r" % hdrs.get("content-type"))
        check(hdrs.get("cache-control") == "no-store", "204 Cache-Control")
        st, hdrs, b = raw_request(srv.port, "PUT", "/v1/sys/rotate",
                                  [("X-Vault-Token", ROOT)], b"null")
        check(st == 204, "PUT rotate null: %s %r" % (st, b))
        st, body, _ = srv.request("GET", "sys/key-status", token=ROOT)
        check(st == 200 and body["data"]["term"] == 3, "2 rotations -> term 3: %r" % body)
        # PATCH needs application/merge-patch+json
        for ct in (None, "application/json", "text/plain"):
            h = [("X-Vault-Token", ROOT)] + ([("Content-Type", ct)] if ct else [])
            st, hdrs, b = raw_request(srv.port, "PATCH", "/v1/sys/rotate", h, b"{}")
            check_error(st, jbody(b), hdrs, 415, "merge-patch", "PATCH ct=%r" % ct)
        st, hdrs, b = raw_request(srv.port, "PATCH", "/v1/sys/rotate",
                                  [("X-Vault-Token", ROOT),
                                   ("Content-Type", "application/merge-patch+json")], b"{}")
        check_error(st, jbody(b), hdrs, 405, "unsupported operation", "PATCH sys/rotate")
        # form bodies: parsed as fields on sys/unseal (unsealed node answers
        # the status); a form content type with a JSON body is JSON
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        st, body, _ = srv.request("PUT", "sys/unseal", raw=b"migrate=true", headers=form)
        check(st == 400 and "migration" in body["errors"][0],
              "form migrate=true reached the handler: %s %r" % (st, body))
        st, body, _ = srv.request("PUT", "sys/unseal", raw=b'{"migrate":true}', headers=form)
        check(st == 400 and "migration" in body["errors"][0],
              "JSON under a form content type: %s %r" % (st, body))
        st, hdrs, b = raw_request(srv.port, "PUT", "/v1/sys/unseal", [], b"migrate=true")
        check_error(st, jbody(b), hdrs, 400, "failed to parse JSON input",
                    "form body without the form content type")


# An empty body on POST/PUT means "no fields" (§1.3, §1.4): Content-Length 0
# and no body at all. hvac sends exactly this for sys/rotate and sys/seal.
def test_empty_body():
    with dev_server() as srv:
        for method, extra in (("POST", [("Content-Length", "0")]),
                              ("PUT", [("Content-Length", "0"),
                                       ("Content-Type", "application/json")]),
                              ("PUT", [("Content-Length", "0"),
                                       ("Content-Type",
                                        "application/x-www-form-urlencoded")])):
            st, hdrs, b = raw_request(srv.port, method, "/v1/sys/rotate",
                                      [("X-Vault-Token", ROOT)] + extra)
            check(st == 204 and b == b"", "%s sys/rotate with %r: %s %r"
                  % (method, extra, st, b))
        st, body, _ = srv.request("PUT", "sys/unseal")
        check(not (st == 400 and "failed to parse" in str(body)),
              "bodiless PUT sys/unseal: %s %r" % (st, body))


def padded(n, fields):
    """A JSON object of exactly n bytes holding fields and a "pad" string."""
    base = json.dumps(dict(fields, pad=""))
    text = base[:-2] + "x" * (n - len(base)) + base[-2:]
    check(len(text) == n, "padding")
    return text.encode()


def chunked(payload, size=300):
    out = b""
    for i in range(0, len(payload), size):
        part = payload[i:i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


CHUNKED_UNSEAL = (b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")


@contextlib.contextmanager
def small_body_server():
    """An uninitialised shamir node with max_request_size = 1024."""
    tmp = TestDir("wire")
    try:
        srv = Server(tmp)
        listener_option(srv, "max_request_size = 1024")
        with running(srv):
            yield srv
    finally:
        tmp.cleanup()


# max_request_size = 1024 in the listener: 1024 accepted, 1025 -> 413 from
# Content-Length; chunked bodies up to the limit are accepted.
def test_body_size_limit():
    with small_body_server() as srv:
        hdr = [("Content-Type", "application/json")]
        st, hdrs, b = raw_request(srv.port, "PUT", "/v1/sys/init", hdr,
                                  padded(1025, {"secret_shares": 1, "secret_threshold": 1}))
        check_error(st, jbody(b), hdrs, 413, "too large", "1025-byte body")
        st, hdrs, b = raw_request(srv.port, "PUT", "/v1/sys/init", hdr,
                                  padded(1024, {"secret_shares": 1, "secret_threshold": 1}))
        check(st == 200 and jbody(b)["root_token"], "1024-byte body: %s %r" % (st, b))
        # a huge declared length is refused from the headers alone
        st, hdrs, b = raw(srv.port, b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\nContent-Length: 99999999999\r\n\r\n{")
        check_error(st, jbody(b), hdrs, 413, "too large", "Content-Length 99999999999")
        st, hdrs, b = raw(srv.port, CHUNKED_UNSEAL + chunked(padded(1000, {"reset": True})))
        check(st == 200 and jbody(b)["sealed"] is True, "chunked 1000 bytes: %s %r" % (st, b))
        st, hdrs, b = raw(srv.port, CHUNKED_UNSEAL + chunked(padded(1024, {"reset": True})))
        check(st == 200, "chunked 1024 bytes: %s %r" % (st, b))
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 503 and body["initialized"] is True, "after 413s: %s" % st)


# A chunked body (no Content-Length) over max_request_size -> 413 with the
# JSON error, and the server keeps serving.
def test_chunked_body_over_limit():
    with small_body_server() as srv:
        for n, size in ((1025, 300), (200000, 4096)):
            st, hdrs, b = raw(srv.port, CHUNKED_UNSEAL + chunked(padded(n, {"reset": True}),
                                                                 size))
            st2, body, _ = srv.request("GET", "sys/health")
            check(st2 == 501, "health after a chunked %d-byte body: %s" % (n, st2))
            check_error(st, jbody(b), hdrs, 413, "too large", "chunked %d bytes" % n)


# ---------------------------------------------------------------- limits

# Header count, URL length and query argument count limits at max and max+1.
def test_request_limits():
    with dev_server() as srv:
        def with_headers(n):
            # Host and Connection count: n headers in total
            extra = [("X-Pad-%d" % i, "v") for i in range(n - 2)]
            return raw_request(srv.port, "GET", "/v1/sys/health", extra)
        st, hdrs, b = with_headers(HEADER_COUNT_MAX)
        check(st == 200, "%d headers: %s %r" % (HEADER_COUNT_MAX, st, b))
        st, hdrs, b = with_headers(HEADER_COUNT_MAX + 1)
        check_error(st, jbody(b), hdrs, 400, "too many request headers",
                    "%d headers" % (HEADER_COUNT_MAX + 1))
        st, hdrs, b = with_headers(300)
        check(st == 400, "300 headers: %s" % st)

        # a path over the limit; the limit counts the path here
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/" + "a" * (URL_BYTES_MAX - 3))
        check_error(st, jbody(b), hdrs, 413, "URL too long", "path of %d bytes"
                    % (URL_BYTES_MAX + 1))
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/" + "a" * 20000)
        check(st in (413, 414), "URL of 20004 bytes: %s" % st)
        st, hdrs, b = raw_request(srv.port, "GET", "/v1/" + "a/" * 3000)
        check(st in (404, 413), "6004-byte path: %s" % st)

        def with_args(n):
            q = "&".join("a%d=%d" % (i, i) for i in range(n))
            return raw_request(srv.port, "GET", "/v1/sys/health?" + q)
        st, hdrs, b = with_args(QUERY_ARGS_MAX)
        check(st == 200, "%d query args: %s %r" % (QUERY_ARGS_MAX, st, b))
        st, hdrs, b = with_args(QUERY_ARGS_MAX + 1)
        check_error(st, jbody(b), hdrs, 400, "too many query parameters",
                    "%d query args" % (QUERY_ARGS_MAX + 1))
        st, hdrs, b = with_args(400)
        check(st == 400, "400 query args: %s" % st)
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 200, "health after limit tests: %s" % st)


# Many short query arguments ("?a&a&a...", 1000 bytes) exhaust MHD's
# per-connection memory pool: the server must answer (4xx) or at least close
# the connection promptly, not leave it hanging until the 60 s timeout.
def test_many_query_args_answered():
    with dev_server() as srv:
        for q in ("&".join("a" for _ in range(500)),
                  "&".join("a%d=%d" % (i, i) for i in range(1000))):
            t0 = time.time()
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                    s.sendall(("GET /v1/sys/health?%s HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n" % q).encode())
                    buf = s.recv(65536)
            except socket.timeout:
                raise AssertionError("%d-byte query with %d arguments: no answer within "
                                     "5 s (connection left hanging)" % (len(q), q.count("&") + 1))
            check(buf == b"" or buf.startswith(b"HTTP/1.1 4"),
                  "many query args: %r after %.1fs" % (buf[:80], time.time() - t0))
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 200, "health after: %s" % st)


# Query-string integers are strict: " 200" (a decoded "+200" or "%20200")
# is not an integer (Go's strconv.Atoi refuses it; Vault API: sys/health: bad
# integer -> 400).
def test_health_code_whitespace():
    with dev_server() as srv:
        for q in ("activecode=%20200", "activecode=+200", "activecode=%09200"):
            st, body, hdrs = srv.request("GET", "sys/health?" + q)
            check(st == 400, "health?%s: %s (want 400)" % (q, st))


# KH_HTTP_URL_BYTES_MAX is "the whole request target incl. query"
# (limits.h): 8192 bytes accepted, 8193 refused even when the extra bytes
# are in the query string.
def test_url_limit_counts_query():
    with dev_server() as srv:
        base = "/v1/sys/health?pad="
        st, hdrs, b = raw_request(srv.port, "GET", base + "x" * (URL_BYTES_MAX - len(base)))
        check(st == 200, "URL of %d bytes: %s %r" % (URL_BYTES_MAX, st, b))
        st, hdrs, b = raw_request(srv.port, "GET",
                                  base + "x" * (URL_BYTES_MAX + 1 - len(base)))
        check_error(st, jbody(b), hdrs, 413, "URL too long", "URL of %d bytes (long query)"
                    % (URL_BYTES_MAX + 1))


# ---------------------------------------------------------------- load

# 50 threads x 20 requests on keep-alive connections: all 200.
def test_concurrent_keepalive():
    with dev_server() as srv:
        results, errors = [], []

        def worker(n):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            try:
                for i in range(20):
                    path = "/v1/sys/health" if i % 2 else "/v1/sys/key-status"
                    conn.request("GET", path, headers={"X-Vault-Token": ROOT})
                    resp = conn.getresponse()
                    data = resp.read()
                    results.append(resp.status)
                    if resp.status != 200 or not json.loads(data):
                        errors.append((n, i, resp.status, data[:200]))
                    if resp.getheader("Connection", "").lower() == "close":
                        errors.append((n, i, "server closed a keep-alive connection"))
            except Exception as exc:  # collected and reported below
                errors.append((n, repr(exc)))
            finally:
                conn.close()
        t0 = time.time()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.time() - t0
        check(not errors, "concurrent errors: %r" % errors[:5])
        check(len(results) == 1000, "only %d of 1000 requests answered" % len(results))
        print("     1000 keep-alive requests from 50 threads in %.2fs" % elapsed)


# Slow half-sent requests do not block other clients.
def test_slowloris():
    with dev_server() as srv:
        slow = []
        try:
            for i in range(40):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
                slow.append(s)
            body_slow = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            slow.append(body_slow)
            body_slow.sendall(b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1000\r\n\r\n{\"reset\":")
            t0 = time.time()
            for _ in range(20):
                st, body, _ = srv.request("GET", "sys/health")
                check(st == 200, "health with slow clients: %s" % st)
            elapsed = time.time() - t0
            check(elapsed < 5, "20 requests took %.2fs with slow clients" % elapsed)
            for s in slow[:5]:   # finishing a slow request still works
                s.sendall(b"1\r\nConnection: close\r\n\r\n")
                buf = b""
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    buf += c
                check(parse_response(buf)[0] == 200, "late-finished request %r" % buf[:100])
        finally:
            for s in slow:
                s.close()


# Garbage bytes on raw sockets do not kill the server.
def test_garbage_bytes():
    import random
    rnd = random.Random(1234)
    with dev_server() as srv:
        payloads = [bytes(rnd.getrandbits(8) for _ in range(n)) for n in (1, 17, 4096, 70000)]
        payloads += [b"\r\n" * 1000, b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                     b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                     b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                     b"\r\n\r\nzz\r\n",
                     b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 600,
                     b"GET /v1/sys/health\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"G" * 40000]
        for p in payloads:
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                    s.sendall(p)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
            except OSError:
                pass
        st, body, _ = srv.request("GET", "sys/health")
        check(st == 200, "health after garbage: %s" % st)
        # a well-formed request after garbage on the same connection is refused
        # or answered, never hangs the server
        st, body, _ = srv.request("GET", "sys/key-status", token=ROOT)
        check(st == 200, "key-status after garbage: %s" % st)


if __name__ == "__main__":
    run_tests([
        test_health_get_fields,
        test_health_head_no_body,
        test_health_query_overrides,
        test_health_informational_override,
        test_health_uninit_sealed_shamir,
        test_routing_errors,
        test_percent_nul_in_path,
        test_tokens,
        test_json_bodies,
        test_body_forms,
        test_empty_body,
        test_body_size_limit,
        test_chunked_body_over_limit,
        test_request_limits,
        test_url_limit_counts_query,
        test_many_query_args_answered,
        test_health_code_whitespace,
        test_concurrent_keepalive,
        test_slowloris,
        test_garbage_bytes,
    ])
