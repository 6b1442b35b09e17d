#!/usr/bin/python3
"""TLS listeners of keyholdd against real clients (curl, openssl s_client,
hvac): certificate loading, protocol versions, tls_min_version, SIGHUP
certificate reload (good and broken replacements).

Every test starts its own keyholdd, stops it by PID in a finally block and
requires exit status 0 on SIGTERM (Asan build: leaks make it non-zero).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_http_tls.py
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import Server, TestDir, check, run_tests  # noqa: E402
from test_http_wire import listener_option, running  # noqa: E402


def gen_cert(tmp, name, cn="localhost", serial=None):
    """An EC P-256 self-signed certificate for 127.0.0.1/localhost."""
    cert, key = tmp.join(name + ".crt"), tmp.join(name + ".key")
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + cn,
           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1",
           "-keyout", key, "-out", cert]
    if serial is not None:
        cmd += ["-set_serial", str(serial)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def cert_serial(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", path],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def served_serial(port):
    """The serial of the certificate a fresh TLS connection sees, or None."""
    sc = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                         "-servername", "localhost"], stdin=subprocess.DEVNULL,
                        capture_output=True, timeout=10)
    x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=sc.stdout,
                       capture_output=True, timeout=10)
    return x.stdout.decode().strip() if x.returncode == 0 else None


def curl(url, *args):
    """(exit code, HTTP status text, stderr) of one curl request."""
    p = subprocess.run(["curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"]
                       + list(args) + [url], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def s_client(port, *args):
    """Return code and combined output of an openssl s_client handshake."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost"] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def tls_server(tmp, cert, key, min_version=None):
    srv = Server(tmp, tls=(cert, key))
    if min_version:
        listener_option(srv, 'tls_min_version = "%s"' % min_version)
    return srv


# curl over https with the CA works; plain http to the TLS port fails;
# TLS 1.2 and 1.3 accepted by default, TLS 1.1 and 1.0 refused.
def test_tls_basics():
    tmp = TestDir("tls")
    try:
        cert, key = gen_cert(tmp, "a")
        with running(tls_server(tmp, cert, key)) as srv:
            url = "https://127.0.0.1:%d/v1/sys/seal-status" % srv.port
            rc, code, err = curl(url, "--cacert", cert)
            check(rc == 0 and code == "200", "https with CA: rc=%s code=%s %s" % (rc, code, err))
            rc, code, err = curl(url.replace("127.0.0.1", "localhost"), "--cacert", cert)
            check(rc == 0 and code == "200", "https via localhost: rc=%s %s" % (rc, err))
            rc, code, err = curl(url)
            check(rc == 60, "https without the CA must fail verification: rc=%s %s" % (rc, err))
            rc, code, err = curl("http://127.0.0.1:%d/v1/sys/seal-status" % srv.port)
            check(rc != 0 and code != "200", "plain http to the TLS port: rc=%s code=%s"
                  % (rc, code))
            for v in ("1.2", "1.3"):
                rc, code, err = curl(url, "--cacert", cert, "--tlsv" + v, "--tls-max", v)
                check(rc == 0 and code == "200", "TLS %s: rc=%s %s" % (v, rc, err))
            rc, code, err = curl(url, "--cacert", cert, "--tlsv1.1", "--tls-max", "1.1")
            check(rc != 0, "curl --tls-max 1.1 must fail: rc=%s code=%s" % (rc, code))
            # server-side refusal, with the client allowed to speak 1.1/1.0
            for flag in ("-tls1_1", "-tls1"):
                rc, out = s_client(srv.port, flag, "-cipher", "DEFAULT@SECLEVEL=0")
                check(rc != 0 and "BEGIN CERTIFICATE" not in out,
                      "s_client %s completed a handshake:\n%s" % (flag, out[-600:]))
                # GnuTLS closes without a protocol_version alert: no session
                check("Cipher is (NONE)" in out or "alert protocol version" in out,
                      "s_client %s: a session was negotiated:\n%s" % (flag, out[-600:]))
            rc, code, err = curl(url, "--cacert", cert)
            check(rc == 0 and code == "200", "still serving after refusals: %s" % err)
    finally:
        tmp.cleanup()


# tls_min_version = "tls13": TLS 1.2 refused, TLS 1.3 served.
def test_tls13_minimum():
    tmp = TestDir("tls")
    try:
        cert, key = gen_cert(tmp, "a")
        with running(tls_server(tmp, cert, key, "tls13")) as srv:
            url = "https://127.0.0.1:%d/v1/sys/seal-status" % srv.port
            rc, code, err = curl(url, "--cacert", cert, "--tls-max", "1.2")
            check(rc != 0, "curl --tls-max 1.2 against tls13 minimum: rc=%s code=%s"
                  % (rc, code))
            rc, out = s_client(srv.port, "-tls1_2")
            check(rc != 0 and "BEGIN CERTIFICATE" not in out,
                  "s_client -tls1_2 against tls13 minimum:\n%s" % out[-600:])
            rc, code, err = curl(url, "--cacert", cert, "--tlsv1.3")
            check(rc == 0 and code == "200", "TLS 1.3: rc=%s %s" % (rc, err))
            rc, out = s_client(srv.port, "-tls1_3")
            check(rc == 0 and "TLSv1.3" in out, "s_client -tls1_3:\n%s" % out[-600:])
    finally:
        tmp.cleanup()


# A missing certificate or key file: exit non-zero, the message names it.
def test_missing_cert_file():
    tmp = TestDir("tls")
    try:
        cert, key = gen_cert(tmp, "a")
        for c, k, missing in ((tmp.join("nope.crt"), key, tmp.join("nope.crt")),
                              (cert, tmp.join("nope.key"), tmp.join("nope.key"))):
            srv = Server(tmp, tls=(c, k), name="missing-%d" % len(missing))
            srv.start(wait=False)
            try:
                rc = srv.proc.wait(20)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                srv.stop()
            log = srv.read_log()
            check(rc not in (None, 0), "keyholdd with missing %s: rc=%r" % (missing, rc))
            check(missing in log, "the error does not name %s:\n%s" % (missing, log))
        # a file that is not a certificate is refused too, by name
        bad = tmp.join("bad.crt")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        srv = Server(tmp, tls=(bad, key), name="badpem")
        srv.start(wait=False)
        try:
            rc = srv.proc.wait(20)
        finally:
            srv.stop()
        check(rc not in (None, 0) and bad in srv.read_log(),
              "non-PEM cert: rc=%r\n%s" % (rc, srv.read_log()))
        # PEM armour around garbage: refused at start, exit non-zero
        armour = tmp.join("armour.crt")
        with open(armour, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        srv = Server(tmp, tls=(armour, key), name="armour")
        srv.start(wait=False)
        try:
            rc = srv.proc.wait(20)
        finally:
            srv.stop()
        check(rc not in (None, 0) and "certificate" in srv.read_log(),
              "garbage certificate: rc=%r\n%s" % (rc, srv.read_log()))
    finally:
        tmp.cleanup()


def wait_serial(port, want, timeout=10):
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        seen = served_serial(port)
        if seen == want:
            return seen
        time.sleep(0.2)
    return seen


def install(cert, key, c_text, k_text):
    with open(cert, "w") as f:
        f.write(c_text)
    with open(key, "w") as f:
        f.write(k_text)


def read(path):
    with open(path) as f:
        return f.read()


# SIGHUP reloads the certificate: new connections see the new serial and
# the server keeps serving; a non-PEM replacement keeps the old one.
def test_sighup_reload():
    tmp = TestDir("tls")
    try:
        cert, key = gen_cert(tmp, "live", cn="first", serial=1111)
        ca1 = tmp.join("ca1.crt")
        install(ca1, tmp.join("unused.key"), read(cert), "")
        with running(tls_server(tmp, cert, key)) as srv:
            url = "https://127.0.0.1:%d/v1/sys/seal-status" % srv.port
            first = cert_serial(cert)
            check(served_serial(srv.port) == first, "initial serial")

            ncert, nkey = gen_cert(tmp, "next", cn="second", serial=2222)
            second = cert_serial(ncert)
            check(second != first, "test certificates must differ")
            os.replace(nkey, key)
            os.replace(ncert, cert)
            srv.proc.send_signal(signal.SIGHUP)
            seen = wait_serial(srv.port, second)
            check(seen == second, "after SIGHUP: serial %r, want %r\n%s"
                  % (seen, second, srv.read_log()[-1500:]))
            rc, code, err = curl(url, "--cacert", cert)
            check(rc == 0 and code == "200", "new cert serves: rc=%s %s" % (rc, err))
            rc, code, err = curl(url, "--cacert", ca1)
            check(rc == 60, "the old CA must no longer verify: rc=%s %s" % (rc, err))

            good_cert, good_key = read(cert), read(key)
            for what, c_text, k_text in (("cert not PEM", "garbage\n", good_key),
                                         ("key not PEM", good_cert, "garbage\n"),
                                         ("cert file empty", "", good_key)):
                install(cert, key, c_text, k_text)
                srv.proc.send_signal(signal.SIGHUP)
                time.sleep(0.5)
                check(srv.proc.poll() is None, "keyholdd died on SIGHUP with %s:\n%s"
                      % (what, srv.read_log()[-2000:]))
                seen = served_serial(srv.port)
                check(seen == second, "%s: serial %r, want the old %r" % (what, seen, second))
                install(cert, key, good_cert, good_key)
                rc, code, err = curl(url, "--cacert", cert)
                check(rc == 0 and code == "200", "%s: old cert still serves: rc=%s %s"
                      % (what, rc, err))
            check("TLS certificates not reloaded" in srv.read_log(),
                  "a refused reload is not logged")

            ncert, nkey = gen_cert(tmp, "third", cn="third", serial=4444)
            third = cert_serial(ncert)
            os.replace(nkey, key)
            os.replace(ncert, cert)
            srv.proc.send_signal(signal.SIGHUP)
            seen = wait_serial(srv.port, third)
            check(seen == third, "reload after refused reloads: %r" % seen)
            rc, code, err = curl(url, "--cacert", cert)
            check(rc == 0 and code == "200", "third cert serves: %s" % err)
    finally:
        tmp.cleanup()


# Replacements that look like PEM but that TLS refuses (garbage inside the
# armour, a key that does not match the certificate): SIGHUP must keep the
# old certificate serving (server.c's fallback path), never kill keyholdd.
def test_sighup_refused_cert_keeps_old():
    tmp = TestDir("tls")
    failures = []
    try:
        cert0, key0 = gen_cert(tmp, "orig", serial=5555)
        _, other_key = gen_cert(tmp, "other", serial=6666)
        variants = (
            ("garbage inside PEM armour",
             "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", read(key0)),
            ("key of another pair", read(cert0), read(other_key)),
        )
        for i, (what, c_text, k_text) in enumerate(variants):
            cert, key = tmp.join("v%d.crt" % i), tmp.join("v%d.key" % i)
            install(cert, key, read(cert0), read(key0))
            # one server per variant: a crash must not hide the next
            srv = Server(tmp, tls=(cert, key), name="variant%d" % i)
            crashed = False
            try:
                with running(srv):
                    want = served_serial(srv.port)
                    install(cert, key, c_text, k_text)
                    srv.proc.send_signal(signal.SIGHUP)
                    time.sleep(0.7)
                    if srv.proc.poll() is not None:
                        crashed = True
                        failures.append("%s: keyholdd exited %s on SIGHUP: %s"
                                        % (what, srv.proc.returncode,
                                           srv.read_log().strip().splitlines()[-1]))
                        continue
                    seen = served_serial(srv.port)
                    if seen != want:
                        failures.append("%s: serial %r, want %r" % (what, seen, want))
                    rc, code, err = curl("https://127.0.0.1:%d/v1/sys/seal-status" % srv.port,
                                         "--cacert", cert0)
                    if rc != 0 or code != "200":
                        failures.append("%s: not serving: rc=%s %s" % (what, rc, err))
            except AssertionError as exc:
                if not crashed:
                    failures.append("%s: %s" % (what, exc))
        check(not failures, "; ".join(failures))
    finally:
        tmp.cleanup()


# hvac over TLS: verify=<CA file> works, the system store refuses.
def test_hvac_tls():
    import hvac
    import requests
    tmp = TestDir("tls")
    try:
        cert, key = gen_cert(tmp, "a")
        with running(tls_server(tmp, cert, key)) as srv:
            client = hvac.Client(url="https://127.0.0.1:%d" % srv.port, verify=cert)
            status = client.sys.read_seal_status()
            check(status["initialized"] is False and status["type"] == "shamir",
                  "hvac seal status over TLS: %r" % status)
            check(client.sys.is_initialized() is False, "is_initialized over TLS")
            resp = client.sys.read_health_status()
            check(getattr(resp, "status_code", None) == 501, "HEAD health over TLS: %r" % resp)
            strict = hvac.Client(url="https://127.0.0.1:%d" % srv.port)
            try:
                strict.sys.read_seal_status()
                raise AssertionError("verification against the system store passed")
            except requests.exceptions.SSLError:
                pass
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([
        test_tls_basics,
        test_tls13_minimum,
        test_missing_cert_file,
        test_sighup_reload,
        test_sighup_refused_cert_keeps_old,
        test_hvac_tls,
    ])
