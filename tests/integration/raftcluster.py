"""A keyholdd raft cluster of real processes on loopback for the tests:
every node its own directory, API port and cluster port, one shared
SoftHSM2 token (the shared seal key), mutual TLS on the cluster ports with
a CA and node certificates made by openssl, and helpers to find the
active node, wait for convergence, and check a write log."""

import json
import os
import subprocess
import time

from khtest import Server, SoftHSM


def cluster_port():
    """A free port below the kernel's ephemeral range: raft binds it only at
    bootstrap or join, long after it was picked, and an ephemeral port may
    meanwhile be taken by any outgoing connection on the machine."""
    import random
    import socket
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 20000..32000")


def make_cluster_certs(tmp, names):
    """A CA and one certificate per node name (EC P-256), as files."""
    d = tmp.join("pki")
    os.makedirs(d, exist_ok=True)
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca_crt,
        "-days", "2", "-subj", "/CN=keyhold-test-cluster-ca")
    out = {}
    for n in names:
        key, csr, crt = (os.path.join(d, n + ext) for ext in (".key", ".csr", ".crt"))
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + n)
        ext = os.path.join(d, n + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                    "extendedKeyUsage = serverAuth, clientAuth\n")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
        out[n] = (crt, key)
    return ca_crt, out


class Node(Server):
    """One raft node: Server with a raft storage stanza."""

    def __init__(self, tmp, hsm, name, cluster_port, join_url=None, tls=None,
                 election_ms=None, shamir=False, api_tls=None):
        super().__init__(tmp, seal_stanza="" if shamir else hsm.seal_stanza(),
                         env=hsm.env, name=name, tls=api_tls)
        self.name = name
        self.cluster_port = cluster_port
        self.ssl_context = None
        if api_tls:
            import ssl
            self.ssl_context = ssl.create_default_context(cafile=tls[0])
        self.raft_dir = tmp.join(name + "-raft")
        stanza = ['storage "raft" {', '  path = "%s"' % self.raft_dir,
                  '  node_id = "%s"' % name]
        if tls:
            ca, (crt, key) = tls
            stanza += ['  tls_cert_file = "%s"' % crt, '  tls_key_file = "%s"' % key,
                       '  tls_ca_file = "%s"' % ca]
        else:
            stanza.append('  tls_disable = "true"')
        if election_ms:
            stanza.append('  election_ms = "%d"' % election_ms)
        # Small snapshot intervals so every test also exercises snapshot
        # marks and InstallSnapshot (a wiped or lagging node).
        stanza += ['  snapshot_threshold = "64"', '  trailing_logs = "32"']
        if join_url and api_tls:
            stanza += ['  retry_join {', '    leader_api_addr = "%s"' % join_url,
                       '    leader_ca_cert_file = "%s"' % tls[0],
                       '    leader_client_cert_file = "%s"' % api_tls[0],
                       '    leader_client_key_file = "%s"' % api_tls[1], '  }']
        elif join_url:
            stanza.append('  retry_join { leader_api_addr = "%s" }' % join_url)
        stanza.append("}")
        with open(self.config_path) as f:
            text = f.read()
        start = text.index('storage "lmdb"')
        end = text.index("}\n", start) + 2
        text = text[:start] + "\n".join(stanza) + "\n" + text[end:]
        text += 'api_addr = "%s"\ncluster_addr = "https://127.0.0.1:%d"\n' % (
            self.url, cluster_port)
        with open(self.config_path, "w") as f:
            f.write(text)

    def request(self, *args, **kwargs):
        if self.ssl_context is not None:
            kwargs.setdefault("context", self.ssl_context)
        return super().request(*args, **kwargs)

    def health(self):
        try:
            st, body, _ = self.request("GET", "sys/health")
            return st, body
        except OSError:
            return None, None


class Cluster:
    def __init__(self, tmp, names, tls=True, election_ms=500, shamir=False,
                 hsm=None, api_tls=False):
        self.tmp = tmp
        self.hsm = hsm or SoftHSM(tmp)
        certs = make_cluster_certs(tmp, names) if tls else None
        self.nodes = []
        first_url = None
        for i, n in enumerate(names):
            node = Node(tmp, self.hsm, n, cluster_port(),
                        join_url=first_url if i > 0 else None,
                        tls=(certs[0], certs[1][n]) if certs else None,
                        election_ms=election_ms, shamir=shamir,
                        api_tls=certs[1][n] if api_tls and certs else None)
            if i == 0:
                first_url = node.url
            self.nodes.append(node)
        self.token = None
        self.shamir = shamir
        self.keys = []

    def unseal(self, node, keys):
        for k in keys:
            st, body, _ = node.request("PUT", "sys/unseal", {"key": k})
        return st, body

    def start_first(self):
        n = self.nodes[0]
        n.start()
        init = ({"secret_shares": 3, "secret_threshold": 2} if self.shamir else
                {"recovery_shares": 1, "recovery_threshold": 1})
        st, body, _ = n.request("PUT", "sys/init", init)
        if st != 200:
            raise RuntimeError("init: %s %r\n%s" % (st, body, n.read_log()[-3000:]))
        self.token = body["root_token"]
        self.keys = body["keys"]
        if self.shamir:
            self.unseal(n, self.keys[:2])
        self.wait_active([n], timeout=30)
        return body

    def start_rest(self, timeout=60):
        for n in self.nodes[1:]:
            n.start()
        self.wait_members(len(self.nodes), timeout)

    def running(self):
        return [n for n in self.nodes if n.proc is not None]

    def active(self, among=None):
        for n in (among or self.running()):
            st, body = n.health()
            if st == 200 and body and not body.get("standby"):
                return n
        return None

    def wait_active(self, among=None, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            a = self.active(among)
            if a is not None:
                return a
            time.sleep(0.1)
        raise RuntimeError("no active node within %ss:\n%s" % (
            timeout, "\n".join(n.name + ":\n" + n.read_log()[-2000:] for n in self.running())))

    def wait_members(self, count, timeout=60):
        """Until the configuration holds count voters and every running
        node is unsealed (active or standby)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            a = self.active()
            if a is not None:
                st, body, _ = a.request("GET", "sys/storage/raft/configuration",
                                        token=self.token)
                last = body
                if st == 200:
                    servers = body["data"]["config"]["servers"]
                    voters = [s for s in servers if s["voter"]]
                    healthy = all(n.health()[0] in (200, 429) for n in self.running())
                    if len(voters) == count and healthy:
                        return servers
            time.sleep(0.2)
        raise RuntimeError("cluster did not reach %d voters: %r\n%s" % (
            count, last, "\n".join(n.name + ":\n" + n.read_log()[-2000:] for n in self.running())))

    def stop_all(self):
        for n in self.nodes:
            if n.proc is not None:
                n.stop()

    def put(self, node, key, value, timeout=10):
        return node.request("POST", "secret/data/" + key, {"data": {"v": value}},
                            token=self.token)

    def get(self, node, key):
        st, body, _ = node.request("GET", "secret/data/" + key, token=self.token)
        if st != 200:
            return st, None
        return st, body["data"]["data"]["v"]
