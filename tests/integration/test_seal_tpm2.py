"""seal "tpm2": auto-unseal bound to the machine's measured state.

Real processes only: swtpm runs in the foreground on a free port pair
(server P, control P+1, as the swtpm TCTI expects) with a private state
directory and is stopped by PID; keyholdd talks to it through
"swtpm:host=127.0.0.1,port=P". swtpm serves one client at a time, so
tpm2-tools (tpm2_pcrextend on PCR16, the resettable debug PCR) only run
while keyholdd is stopped. hvac drives the sys calls.
"""
import os
import signal
import subprocess
import time

import hvac

from khtest import KEYHOLD, Server, TestDir, check, free_port, run_tests

PCR16_EXTEND = "16:sha256=" + "5a" * 32


def free_port_pair():
    for _ in range(50):
        port = free_port()
        if port < 65534:
            try:
                import socket
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair")


class SwTPM:
    """One swtpm in the foreground with its own state directory."""

    def __init__(self, tmp, name="swtpm"):
        self.state = tmp.join(name + "-state")
        os.makedirs(self.state, exist_ok=True)
        self.port = free_port_pair()
        self.tcti = "swtpm:host=127.0.0.1,port=%d" % self.port
        self.log_path = tmp.join(name + ".log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + self.state,
             "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % self.port,
             "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (self.port + 1),
             "--flags", "not-need-init,startup-clear"],
            stdout=self.log, stderr=subprocess.STDOUT)
        import socket
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port + 1), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("swtpm did not listen")

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None
            self.log.close()

    def tool(self, *args):
        """Run a tpm2-tools command (keyholdd must be stopped)."""
        env = dict(os.environ, TPM2TOOLS_TCTI=self.tcti, TSS2_LOG="all+none")
        return subprocess.run(list(args), env=env, check=True,
                              capture_output=True, timeout=30).stdout.decode()

    def stanza(self, pcrs="7,16"):
        return 'seal "tpm2" {\n  tcti = "%s"\n  pcrs = "%s"\n}\n' % (self.tcti, pcrs)


def seal_status(server):
    status, body, _ = server.request("GET", "sys/seal-status")
    check(status == 200, (status, body))
    return body


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def start_timed(server):
    """Start keyholdd; seconds until it answers unsealed."""
    t0 = time.monotonic()
    server.start()
    wait_for("auto-unseal", lambda: not seal_status(server)["sealed"], 30)
    return time.monotonic() - t0


def init_node(tmp, tpm, pcrs="7,16"):
    server = Server(tmp, seal_stanza=tpm.stanza(pcrs)).start()
    client = hvac.Client(url=server.url)
    init = client.sys.initialize(recovery_shares=3, recovery_threshold=2)
    check(len(init["recovery_keys"]) == 3 and init["keys"] == [], init)
    client.token = init["root_token"]
    client.sys.create_or_update_policy("marker", 'path "x/*" { capabilities = ["read"] }')
    return server, client, init


def rebind_cli(server, token):
    env = dict(os.environ, VAULT_ADDR=server.url, VAULT_TOKEN=token)
    return subprocess.run([KEYHOLD, "operator", "seal-rebind"], env=env,
                          capture_output=True, timeout=30)


def test_pcr_change_recovery_and_rebind():
    tmp = TestDir("tpm2")
    tpm = SwTPM(tmp).start()
    server = None
    try:
        server, client, init = init_node(tmp, tpm)
        st = seal_status(server)
        check(st["type"] == "tpm2" and st["recovery_seal"] and not st["sealed"], st)
        check(st["seal_healthy"] is True and "seal_error" not in st, st)
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        secs = start_timed(server)
        print("     start to unsealed with the tpm2 seal: %.0f ms" % (secs * 1000))
        check("marker" in client.sys.list_policies()["data"]["policies"], "data lost")

        # The measured state changes while the node is down.
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tpm.tool("tpm2_pcrextend", PCR16_EXTEND)
        server.start()
        st = wait_for("seal status naming PCR 16",
                      lambda: (lambda s: s if "PCR 16" in s.get("seal_error", "") else None)(seal_status(server)))
        check(st["sealed"] and st["seal_healthy"] is False, st)
        check("PCR 7" not in st["seal_error"] and "seal-rebind" in st["seal_error"], st)
        check("PCR 16" in server.read_log() and "auto-unseal failed" in server.read_log(),
              "the log does not name PCR 16")
        status, body, _ = server.request("GET", "sys/health")
        check(status == 503 and body["seal_healthy"] is False, (status, body))
        status, _, _ = server.request("PUT", "sys/seal/tpm2/rebind", token=init["root_token"])
        check(status == 503, "re-bind must need an unsealed node")

        # Wrong recovery keys are refused; the right quorum unseals.
        bogus = ["%02x" % i * 33 for i in (1, 2)]
        client.sys.submit_unseal_key(bogus[0])
        status, body, _ = server.request("PUT", "sys/unseal", {"key": bogus[1]})
        check(status == 400 and seal_status(server)["sealed"], (status, body))
        client.sys.submit_unseal_keys(init["recovery_keys"][1:3])
        check(not client.sys.is_sealed(), "recovery keys did not unseal")
        check("marker" in client.sys.list_policies()["data"]["policies"], "data lost")
        st = seal_status(server)
        check(st["seal_healthy"] is False and "PCR 16" in st["seal_error"],
              "seal must stay unhealthy until re-bound: %r" % st)

        # Re-bind: sudo only, then healthy, then a restart auto-unseals.
        status, _, _ = server.request("PUT", "sys/seal/tpm2/rebind")
        check(status in (400, 403), "re-bind without a token: %d" % status)
        done = rebind_cli(server, init["root_token"])
        check(done.returncode == 0 and b"7,16" in done.stdout, done)
        check(b"re-bound" in open(server.log_path, "rb").read(), "re-bind not logged")
        st = wait_for("healthy seal", lambda: (lambda s: s if s["seal_healthy"] else None)(seal_status(server)))
        check("seal_error" not in st, st)
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        start_timed(server)
        wait_for("healthy after re-bind", lambda: seal_status(server)["seal_healthy"])

        # And the re-bound seal still refuses a changed PCR.
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tpm.tool("tpm2_pcrreset", "16")
        server.start()
        wait_for("PCR 16 refusal after reset", lambda: "PCR 16" in seal_status(server).get("seal_error", ""))
        check(seal_status(server)["sealed"], "a reset PCR16 must not unseal a re-bound seal")
    finally:
        if server is not None:
            server.stop()
        tpm.stop()
        tmp.cleanup()


def test_tpm_lost_while_serving():
    tmp = TestDir("tpm2")
    tpm = SwTPM(tmp).start()
    server = None
    try:
        server, client, init = init_node(tmp, tpm, pcrs="7")
        tpm.stop()
        check("marker" in client.sys.list_policies()["data"]["policies"],
              "node stopped serving without its TPM")
        st = wait_for("unhealthy seal",
                      lambda: (lambda s: s if s["seal_healthy"] is False else None)(seal_status(server)))
        check(not st["sealed"] and "tpm2" in st["seal_error"], st)
        status, body, _ = server.request("GET", "sys/health")
        check(status == 200 and body["seal_healthy"] is False and not body["sealed"], (status, body))
        status, body, _ = server.request("PUT", "sys/seal/tpm2/rebind", token=init["root_token"])
        check(status >= 500, "re-bind without a TPM: %d %r" % (status, body))
        tpm.start()
        wait_for("healthy seal again", lambda: seal_status(server)["seal_healthy"])
        status, body, _ = server.request("GET", "sys/health")
        check(status == 200 and body["seal_healthy"] is True, (status, body))
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        start_timed(server)
    finally:
        if server is not None:
            server.stop()
        tpm.stop()
        tmp.cleanup()


def test_tpm_absent_at_start():
    tmp = TestDir("tpm2")
    tpm = SwTPM(tmp).start()
    server = None
    try:
        server, client, init = init_node(tmp, tpm, pcrs="")
        check(server.stop() == 0, "keyholdd did not exit cleanly")
        tpm.stop()
        server.start()
        st = seal_status(server)
        check(st["sealed"] and st["seal_healthy"] is False, st)
        check("cannot connect" in st["seal_error"] and tpm.tcti in st["seal_error"], st)
        check("cannot connect" in server.read_log(), "log does not say why")
        tpm.start()
        wait_for("auto-unseal after the TPM came back",
                 lambda: not seal_status(server)["sealed"], 40)
        wait_for("healthy seal", lambda: seal_status(server)["seal_healthy"])
    finally:
        if server is not None:
            server.stop()
        tpm.stop()
        tmp.cleanup()


def test_bad_stanza_refused():
    tmp = TestDir("tpm2")
    try:
        stanza = 'seal "tpm2" {\n  tcti = "swtpm:host=127.0.0.1,port=1"\n  pcrs = "7,99"\n}\n'
        server = Server(tmp, seal_stanza=stanza).start(wait=False)
        rc = server.proc.wait(15)
        check(rc != 0 and "PCR 99" in server.read_log(), server.read_log())
        server.stop()
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([test_pcr_change_recovery_and_rebind, test_tpm_lost_while_serving,
               test_tpm_absent_at_start, test_bad_stanza_refused])
