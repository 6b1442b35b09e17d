"""Shared helpers for Keyhold's integration tests (real processes only).

Each test gets a private temporary directory, free TCP ports, real
SoftHSM2 tokens (SOFTHSM2_CONF pointing into the directory) and keyholdd
processes it starts and stops by PID. Run with /usr/bin/python3 (Debian's,
which has python3-hvac and python3-requests).
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("KH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
KEYHOLDD = os.path.join(BIN, "keyholdd")
KEYHOLD = os.path.join(BIN, "keyhold")
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TMP_BASE = os.environ.get("KH_TEST_TMP") or None


def die_with_parent():
    """In a child before exec: SIGKILL it when the test process dies, so a
    test killed by a timeout leaves no server behind."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestDir:
    """A temporary directory removed at exit (unless KH_KEEP_TMP=1)."""

    def __init__(self, name="kh"):
        if TMP_BASE:
            os.makedirs(TMP_BASE, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=name + "-", dir=TMP_BASE)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        if os.environ.get("KH_KEEP_TMP") != "1":
            shutil.rmtree(self.path, ignore_errors=True)


class SoftHSM:
    """A private SoftHSM2 token store with one initialised token."""

    def __init__(self, tmp, label="keyhold", pin="1234", so_pin="87654321"):
        self.dir = tmp.join("softhsm")
        os.makedirs(os.path.join(self.dir, "tokens"), exist_ok=True)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n" % self.dir)
        self.label, self.pin, self.so_pin = label, pin, so_pin
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        self.init_token(label, pin, so_pin)

    def init_token(self, label, pin, so_pin="87654321"):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                        "--so-pin", so_pin, "--pin", pin], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def seal_stanza(self, key_label="keyhold-kek", generate_key=True, pin=None,
                    mechanism=None, token_label=None):
        lines = ['seal "pkcs11" {', '  lib = "%s"' % SOFTHSM_MODULE,
                 '  token_label = "%s"' % (token_label or self.label),
                 '  pin = "%s"' % (pin if pin is not None else self.pin),
                 '  key_label = "%s"' % key_label,
                 '  generate_key = %s' % ("true" if generate_key else "false")]
        if mechanism:
            lines.append('  mechanism = "%s"' % mechanism)
        lines.append("}")
        return "\n".join(lines) + "\n"


class Server:
    """One keyholdd process on a free port."""

    def __init__(self, tmp, seal_stanza="", env=None, name="node", tls=None, extra=""):
        self.tmp = tmp
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.scheme = "https" if tls else "http"
        self.url = "%s://%s" % (self.scheme, self.addr)
        self.data_dir = tmp.join(name + "-data")
        self.config_path = tmp.join(name + ".hcl")
        self.log_path = tmp.join(name + ".log")
        listener = ['listener "tcp" {', '  address = "%s"' % self.addr]
        if tls:
            listener += ['  tls_cert_file = "%s"' % tls[0], '  tls_key_file = "%s"' % tls[1]]
        else:
            listener.append("  tls_disable = true")
        listener.append("}")
        with open(self.config_path, "w") as f:
            f.write("\n".join(listener) + "\n")
            f.write('storage "lmdb" {\n  path = "%s"\n}\n' % self.data_dir)
            f.write(seal_stanza)
            f.write("disable_mlock = true\n" + extra)
        self.env = env if env is not None else dict(os.environ)
        self.proc = None

    def start(self, wait=True, args=()):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([KEYHOLDD, "-config=" + self.config_path] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=die_with_parent)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keyholdd exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("keyholdd did not listen within %ss:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                context=None):
        """(status, parsed JSON or None, headers) of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + "/v1/" + path, data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        if data is not None and raw is None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=context) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else None), resp.headers
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return e.code, parsed, e.headers


ROOT_TOKEN = "root"


class DevServer(Server):
    """keyholdd -dev on a free port with a known root token; its temporary
    files live under the test directory (TMPDIR), so nothing escapes
    cleanup. ready: a path polled with the root token after the listener
    answers until it returns 200 (None: listening is enough)."""

    def __init__(self, tmp, name="dev", token=ROOT_TOKEN, seal=None,
                 ready=None, env=None):
        self.tmp = tmp
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.scheme = "http"
        self.url = "http://" + self.addr
        self.log_path = tmp.join(name + ".log")
        self.token = token
        self.seal = seal
        self.ready = ready
        self.env = dict(env if env is not None else os.environ,
                        TMPDIR=tmp.path)
        self.proc = None

    def start(self, wait=True, args=()):
        cmd = [KEYHOLDD, "-dev", "-dev-listen-address=" + self.addr,
               "-dev-root-token-id=" + self.token]
        if self.seal:
            cmd.append("-dev-seal=" + self.seal)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd + list(args), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_listening()
            if self.ready:
                self.wait_ready(self.ready)
        return self

    def wait_ready(self, path, timeout=15):
        deadline = time.time() + timeout
        status = None
        while time.time() < deadline:
            status, _, _ = self.request("GET", path, token=self.token)
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("%s answers %s:\n%s"
                           % (path, status, self.read_log()[-2000:]))


@contextlib.contextmanager
def running(server):
    """Start, yield, stop by PID; on success also require exit status 0."""
    server.start()
    ok = False
    try:
        yield server
        ok = True
    finally:
        rc = server.stop()
    if ok:
        check(rc == 0, "keyholdd exited %r on SIGTERM (sanitizer report?):\n%s"
              % (rc, server.read_log()[-4000:]))


def check(cond, message):
    """Fail the test with a message (assert is stripped under -O)."""
    if not cond:
        raise AssertionError(message)


def run_tests_with(server, tmp, tests):
    """Start server, run tests against it, stop it by PID and fail unless
    it exited 0 (the Asan build exits non-zero on a leak); tmp is removed
    at the end."""
    try:
        server.start()
        try:
            run_tests(tests)
        except SystemExit as done:
            rc = server.stop()
            if rc != 0:
                print("keyholdd exited %r on SIGTERM:\n%s"
                      % (rc, server.read_log()[-4000:]))
                sys.exit(1)
            raise done
    finally:
        if server.proc is not None:
            server.stop()
        tmp.cleanup()


def run_tests(tests):
    """Run test functions in order, print a summary, exit non-zero on failure."""
    passed = failed = 0
    for fn in tests:
        try:
            fn()
            passed += 1
            print("ok   %s" % fn.__name__, flush=True)
        except Exception as exc:  # report every failure, then carry on
            failed += 1
            print("FAIL %s: %r" % (fn.__name__, exc), flush=True)
            import traceback
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
