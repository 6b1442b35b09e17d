"""Audit devices through a real keyholdd -dev and python3-hvac.

Covers: hvac sys.enable_audit_device / list_enabled_audit_devices /
calculate_hash; file + socket together (a TCP collector in this process);
canary secrets (KV values, the root token) never in plaintext in any audit
output; the socket peer blackholed (accepts, never reads), reading again,
blackholed again and killed with lines unread in its buffers, then a fresh
collector started: the device sends its in-flight window again before the
spool, and keyhold-audit verify over the union of what the collectors
received finds every record from seq 1 to the device's last, duplicates
skipped; the added p99 of KV reads with a blackholed socket; the file device refused outside the allowed
directories or through a symlink; a full disk (a 256 KiB tmpfs, when this
process may mount one) refuses requests and serves no secret; SIGHUP
rotation keeps the chain across files; an edited log is caught, named by
file:line.

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_audit.py
(needs the lead's wiring: sys/audit routes and the request gate; until
sys/audit answers, the test says so and exits 0.)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import BIN, KEYHOLDD, Server, TestDir, check, free_port, run_tests  # noqa: E402

ROOT = "audit-root-token-canary"
CANARY = "canary-Audit-Secret-93e1"
VERIFY = os.path.join(BIN, "keyhold-audit")
SRV = None
TMP = None


class DevServer(Server):
    """keyholdd -dev with audit files allowed under tmp/logs."""

    def __init__(self, tmp, name="dev"):
        self.tmp = tmp
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.scheme = "http"
        self.url = "http://" + self.addr
        self.log_path = tmp.join(name + ".log")
        self.logs = tmp.join("logs")
        os.makedirs(self.logs, exist_ok=True)
        self.env = dict(os.environ, TMPDIR=tmp.path,
                        KEYHOLD_AUDIT_ALLOWED_DIRS=self.logs)
        self.proc = None

    def start(self, wait=True, args=()):
        cmd = [KEYHOLDD, "-dev", "-dev-listen-address=" + self.addr,
               "-dev-root-token-id=" + ROOT]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd + list(args), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_listening()
        return self


class Collector:
    """A TCP audit peer: reads lines (modes: read, blackhole), can be
    killed (its connections closed with whatever they hold unread)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.lines = []
        self.seqs = set()
        self.blackhole = False
        self.lock = threading.Lock()
        self.conns = []
        self.start()

    def start(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(16)
        self.running = True
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while self.running:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.read_loop, args=(c,), daemon=True).start()

    def read_loop(self, c):
        buf = b""
        while True:
            while self.blackhole and self.running:
                time.sleep(0.02)
            if not self.running:
                return  # killed: what the socket holds stays unread
            try:
                data = c.recv(1 << 16)
            except OSError:
                return
            if not data:
                return  # a torn tail is dropped with the connection
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.lock:
                    self.lines.append(line)
                    self.seqs.add(line_seq(line))

    def stop(self):
        """Kill: stop reading, close the listener and every connection
        (a socket closed with unread data resets the connection)."""
        self.running = False
        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes accept(), stops listening
        except OSError:
            pass
        self.srv.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns = []
        time.sleep(0.1)

    def text(self):
        with self.lock:
            return b"".join(l + b"\n" for l in self.lines)

    def seq_set(self):
        with self.lock:
            return set(self.seqs)


def line_seq(line):
    """The chain seq of a received line (0 if it has none)."""
    i = line.find(b'{"seq":')
    if i < 0:
        return 0
    digits = line[i + 7:i + 27].split(b",", 1)[0]
    return int(digits) if digits.isdigit() else 0


def received_all(*collectors):
    """The device's last seq when the collectors together received every
    record it chained, seq 1 to that one (duplicates do not count twice),
    and its spool is empty; else 0. (Reading the stats is itself audited:
    the seq moves on with every call.)"""
    seqs = set()
    for c in collectors:
        seqs |= c.seq_set()
    stats = device_stats("sock/")
    seq = stats["seq"]
    if stats["spooled"] == 0 and all(n in seqs for n in range(1, seq + 1)):
        return seq
    return 0


def client():
    return hvac.Client(url=SRV.url, token=ROOT)


def verify(paths, partial=False, as_json=False):
    """(exit status, output) of keyhold-audit verify."""
    cmd = [VERIFY, "verify"] + (["-partial"] if partial else []) + \
        (["-json"] if as_json else []) + list(paths)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode()


def verify_complete(path, seq):
    """keyhold-audit verify -json over what collectors received: intact,
    every record from seq 1 to at least seq, once each (duplicates
    skipped). Returns the report."""
    rc, out = verify([path], as_json=True)
    check(rc == 0, out)
    report = json.loads(out)
    check(report["first_seq"] == 1 and report["last_seq"] >= seq and
          report["records"] == report["last_seq"],
          "records missing: %s (device seq %d)" % (out, seq))
    return report


def file_log(name="audit.log"):
    return os.path.join(SRV.logs, name)


def no_canary(data, where):
    for c in (CANARY.encode(), ROOT.encode()):
        check(c not in data, "canary %r in plaintext in %s" % (c, where))


def wait_for(cond, timeout=15, what="condition"):
    """cond's first true value, polled until timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def device_stats(path):
    return client().sys.list_enabled_audit_devices()["data"][path]["keyhold_stats"]


# ---- tests ----

def test_hvac_enable_list_hash():
    c = client()
    c.sys.enable_audit_device("file", options={"file_path": file_log()})
    listing = c.sys.list_enabled_audit_devices()
    check("file/" in listing["data"], listing)
    check(listing["data"]["file/"]["type"] == "file", listing)
    check(listing["data"]["file/"]["options"]["file_path"] == file_log(), listing)
    c.secrets.kv.v2.create_or_update_secret("canary", {"value": CANARY})
    read = c.secrets.kv.v2.read_secret_version("canary")["data"]["data"]
    check(read == {"value": CANARY}, read)
    h = c.sys.calculate_hash("file", CANARY)["data"]["hash"]
    check(h.startswith("hmac-sha256:"), h)
    data = open(file_log(), "rb").read()
    no_canary(data, "file log")
    check(h.encode() in data, "the canary's HMAC is in the log")
    token_hash = c.sys.calculate_hash("file", ROOT)["data"]["hash"]
    check(token_hash.encode() in data, "client_token HMAC in the log")
    rc, out = verify([file_log()])
    check(rc == 0, out)


def test_file_and_socket_together():
    global COLLECTOR
    COLLECTOR = Collector()
    c = client()
    c.sys.enable_audit_device("socket", path="sock", options={
        "address": "127.0.0.1:%d" % COLLECTOR.port, "socket_type": "tcp",
        "write_timeout": "300ms"})
    for i in range(20):
        c.secrets.kv.v2.read_secret_version("canary")
    seq = wait_for(lambda: received_all(COLLECTOR), what="socket delivery")
    got = COLLECTOR.text()
    no_canary(got, "socket output")
    path = TMP.join("collected.log")
    open(path, "wb").write(got)
    verify_complete(path, seq)


def p99_ms(n=200):
    c = client()
    times = []
    for _ in range(n):
        t = time.monotonic()
        c.secrets.kv.v2.read_secret_version("canary")
        times.append((time.monotonic() - t) * 1000)
    times.sort()
    return times[int(n * 0.99)]


def test_socket_blackholed_stopped_restarted():
    base = p99_ms()
    COLLECTOR.blackhole = True
    holed = p99_ms()
    print("     p99 KV read: file+socket %.2f ms; socket blackholed %.2f ms;"
          " added %.2f ms" % (base, holed, holed - base), flush=True)
    check(holed < 300, "a blackholed socket stalled requests: %.1f ms" % holed)
    # The peer reads again: the spool drains, nothing is missing.
    COLLECTOR.blackhole = False
    seq = wait_for(lambda: received_all(COLLECTOR), timeout=30,
                   what="catch-up after the blackhole")
    path = TMP.join("collected1.log")
    open(path, "wb").write(COLLECTOR.text())
    verify_complete(path, seq)
    # Blackholed again until the device spools, then killed for real:
    # lines the device counted as sent die unread in the buffers.
    COLLECTOR.blackhole = True
    c = client()
    for _ in range(400):
        c.secrets.kv.v2.read_secret_version("canary")
        if device_stats("sock/")["spooled"] > 0:
            break
    check(device_stats("sock/")["spooled"] > 0, device_stats("sock/"))
    port = COLLECTOR.port
    COLLECTOR.stop()
    read_before = max(COLLECTOR.seq_set())
    for i in range(10):
        c.secrets.kv.v2.read_secret_version("canary")
    stats = device_stats("sock/")
    check(stats["spooled"] > 0, stats)
    check(stats["seq"] - stats["spooled"] > read_before,
          "no sent line was in flight when the collector died: %r" % stats)
    collector2 = Collector(port)
    wait_for(lambda: device_stats("sock/")["spooled"] == 0, timeout=20,
             what="spool replay")
    c.secrets.kv.v2.read_secret_version("canary")
    seq = wait_for(lambda: received_all(COLLECTOR, collector2),
                   what="delivery")
    path = TMP.join("collected2.log")
    open(path, "wb").write(COLLECTOR.text() + collector2.text())
    no_canary(open(path, "rb").read(), "socket output")
    report = verify_complete(path, seq)
    print("     killed collector had read up to seq %d; union of both: %d "
          "records, %d duplicates skipped"
          % (read_before, report["records"], report["duplicates"]),
          flush=True)
    check(report["duplicates"] > 0, report)
    check(device_stats("sock/")["lost"] == 0, device_stats("sock/"))
    client().sys.disable_audit_device("sock")
    collector2.stop()


def test_path_rules():
    c = client()
    e = None
    try:
        c.sys.enable_audit_device("file", path="outside",
                                  options={"file_path": "/tmp/kh-audit-outside.log"})
    except hvac.exceptions.VaultError as exc:
        e = exc
    check(e is not None, "a file outside the allowed directories was accepted")
    os.symlink("/etc", os.path.join(SRV.logs, "etc-link"))
    e = None
    try:
        c.sys.enable_audit_device("file", path="link", options={
            "file_path": os.path.join(SRV.logs, "etc-link", "kh-audit.log")})
    except hvac.exceptions.VaultError as exc:
        e = exc
    check(e is not None, "a symlinked directory was followed")
    check(not os.path.exists("/etc/kh-audit.log"), "wrote through a symlink")
    check(os.stat(file_log()).st_mode & 0o777 == 0o600, "mode 0600")


def test_sighup_rotation():
    c = client()
    os.rename(file_log(), file_log("audit.log.1"))
    SRV.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(file_log()), what="reopen after SIGHUP")
    c.secrets.kv.v2.read_secret_version("canary")
    rc, out = verify([file_log("audit.log.1"), file_log()])
    check(rc == 0, out)
    rc, out = verify([file_log()])
    check(rc == 1 and "starts at seq" in out, out)


def test_edited_log_is_caught():
    src = file_log("audit.log.1")
    lines = open(src, "rb").read().split(b"\n")
    i = next(i for i in range(1, len(lines) - 2)
             if b'"operation":"read"' in lines[i])
    lines[i] = lines[i].replace(b'"operation":"read"', b'"operation":"list"', 1)
    path = TMP.join("edited.log")
    open(path, "wb").write(b"\n".join(lines))
    rc, out = verify([path])
    # the edited line is i + 1; the next line's prev_hash exposes it
    check(rc == 1 and ("edited.log:%d:" % (i + 2)) in out, out)


def test_disk_full_refuses():
    mnt = os.path.join(SRV.logs, "small")
    os.makedirs(mnt, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt],
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("     (no tmpfs mount permitted: disk-full case covered by "
              "test_audit_file's RLIMIT_FSIZE test)")
        return
    try:
        c = client()
        for p in list(c.sys.list_enabled_audit_devices()["data"]):
            c.sys.disable_audit_device(p)
        c.sys.enable_audit_device("file", path="small", options={
            "file_path": os.path.join(mnt, "audit.log")})
        with open(os.path.join(mnt, "filler"), "wb") as f:
            try:
                f.write(b"x" * (400 * 1024))
            except OSError:
                pass
        # The log's last page may still hold a few records; then it fails.
        for _ in range(200):
            status, body, _ = SRV.request("GET", "secret/data/canary",
                                          token=ROOT)
            if status != 200:
                break
        check(status >= 500, "served with a full audit disk: %d" % status)
        check(CANARY not in str(body), "secret served unaudited")
        check("audit" in str(body), body)
        os.unlink(os.path.join(mnt, "filler"))
        status, body, _ = SRV.request("GET", "secret/data/canary", token=ROOT)
        check(status == 200, "after space came back: %d %r" % (status, body))
        c.sys.disable_audit_device("small")
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_device_from_config():
    """An audit "file" block in the server configuration records from the
    first request after unseal, hashing the token; the chain verifies."""
    tmp = TestDir("audit-config")
    log = tmp.join("audit.log")
    server = Server(tmp, extra='audit "file" {\n  file_path = "%s"\n}\n' % log)
    server.start()
    try:
        client = hvac.Client(url=server.url)
        init = client.sys.initialize(1, 1)
        client.sys.submit_unseal_keys(init["keys"])
        client.token = init["root_token"]
        listed = client.sys.list_enabled_audit_devices()["data"]
        check("file/" in listed, "config device not listed: %r" % listed)
        client.sys.enable_secrets_engine("kv", path="kv", options={"version": "1"})
        server.request("POST", "kv/canary", {"v": "config-canary-42"},
                       token=client.token)
        text = open(log).read()
        check("kv/canary" in text, "request not recorded")
        check("config-canary-42" not in text, "secret value in plaintext")
        check(init["root_token"] not in text, "root token in plaintext")
        status, out = verify([log])
        check(status == 0, "chain does not verify: %s" % out)
    finally:
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tmp.cleanup()


def main():
    global SRV, TMP
    TMP = TestDir("audit")
    SRV = DevServer(TMP).start()
    try:
        status, _, _ = SRV.request("GET", "sys/audit", token=ROOT)
        check(status == 200, "sys/audit answers %d" % status)
        check(os.path.exists(VERIFY), "%s not built" % VERIFY)
        run_tests([test_hvac_enable_list_hash, test_file_and_socket_together,
                   test_socket_blackholed_stopped_restarted, test_path_rules,
                   test_sighup_rotation, test_edited_log_is_caught,
                   test_disk_full_refuses, test_device_from_config])
    finally:
        SRV.stop()
        TMP.cleanup()


if __name__ == "__main__":
    main()
