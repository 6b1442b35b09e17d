#!/usr/bin/env python3
"""Integrated Raft HA with real keyholdd processes on loopback, mutual TLS
on the cluster ports and one shared SoftHSM2 token: a 3-node cluster forms
by retry_join, standbys answer 429 and forward requests, the leader is
killed with SIGKILL while a client writes through a standby and no
acknowledged write is lost, the killed node catches up after restart;
then a 5-node cluster keeps writing with 2 nodes down, refuses writes
(never acknowledging them) with 3 down and resumes when one returns."""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from khtest import TestDir, check, run_tests  # noqa: E402
from raftcluster import Cluster  # noqa: E402

ELECTION_MS = 300


def new_cluster(tmp, names):
    return Cluster(tmp, names, tls=os.environ.get("KH_RAFT_TLS", "1") == "1",
                   election_ms=ELECTION_MS)


def bring_up(c):
    c.start_first()
    st, _, _ = c.nodes[0].request("POST", "sys/mounts/secret",
                                  {"type": "kv", "options": {"version": "2"}},
                                  token=c.token)
    check(st == 204, "mount secret/: %s" % st)
    c.start_rest()
    return c


def writer(c, nodes, acked, stop, prefix):
    """Write keys through the given nodes in turn; record acknowledged."""
    i = 0
    while not stop.is_set():
        n = nodes[i % len(nodes)]
        key = "%s-%05d" % (prefix, i)
        try:
            st, _, _ = c.put(n, key, key)
            if st == 200:
                acked.append(key)
        except OSError:
            pass
        i += 1


def wait_identical(nodes, timeout=30):
    """Until every node reports the same applied index and store digest."""
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        seen = {}
        for n in nodes:
            st, body, _ = n.request("GET", "sys/storage/raft/digest")
            seen[n.name] = (st, (body.get("applied_index"), body.get("sha256"))
                            if st == 200 else body)
        values = set(json.dumps(v) for v in seen.values())
        first = list(seen.values())[0]
        if len(values) == 1 and first[0] == 200:
            return first[1]
        time.sleep(0.3)
    logs = "\n".join(n.name + ":\n" + n.read_log()[-3000:] for n in nodes
                     if seen.get(n.name, (0,))[0] != 200)
    raise AssertionError("nodes differ: %r\n%s" % (seen, logs))


NODE_SCRIPT = r"""
const vault = require('node-vault')({endpoint: process.argv[2],
                                     token: process.argv[3]});
(async () => {
  try {
    await vault.write('secret/data/node-vault', {data: {v: 'through-standby'}});
    const got = await vault.read('secret/data/node-vault');
    const health = await vault.health({standbyok: true});
    console.log(JSON.stringify({v: got.data.data.v, standby: health.standby}));
  } catch (e) {
    console.log(JSON.stringify({error: String(e)}));
  }
})();
"""


def node_vault_through(tmp, node, token):
    """node-vault 0.12.0 (from npm) writing and reading through node; None
    when npm or its registry is not available here."""
    import shutil
    import subprocess
    npm, nodejs = shutil.which("npm"), shutil.which("node")
    if npm is None or nodejs is None:
        return None
    d = tmp.join("node")
    os.makedirs(d, exist_ok=True)
    inst = subprocess.run([npm, "install", "--prefix", d, "--no-audit",
                           "--no-fund", "--loglevel=error", "node-vault@0.12.0"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=180,
                          env=dict(os.environ, npm_config_cache=tmp.join("npm-cache")))
    if inst.returncode != 0:
        return None
    script = os.path.join(d, "raft.js")
    with open(script, "w") as f:
        f.write(NODE_SCRIPT)
    run = subprocess.run([nodejs, script, node.url, token], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    return json.loads(run.stdout.decode().strip().splitlines()[-1])


def all_present(c, node, keys):
    missing = [k for k in keys if c.get(node, k) != (200, k)]
    return missing


def test_three_nodes():
    tmp = TestDir()
    c = new_cluster(tmp, ["n1", "n2", "n3"])
    try:
        bring_up(c)
        active = c.wait_active()
        standbys = [n for n in c.nodes if n is not active]
        # Standbys: 429, 200 with standbyok, and forwarding of writes/reads.
        st, body = standbys[0].health()
        check(st == 429 and body["standby"], "standby health %s %r" % (st, body))
        st, _, _ = standbys[0].request("GET", "sys/health?standbyok=true")
        check(st == 200, "standbyok gives 200, got %s" % st)
        st, body, _ = standbys[1].request("GET", "sys/leader")
        check(st == 200 and body["ha_enabled"] and not body["is_self"] and
              body["leader_address"] == active.url, "sys/leader %r" % body)
        check(c.put(standbys[0], "fwd", "via-standby")[0] == 200, "forwarded write")
        # hvac, unchanged, against a standby.
        import hvac
        client = hvac.Client(url=standbys[0].url, token=c.token)
        conf = client.sys.read_raft_config()["data"]["config"]["servers"]
        check(sorted(s["node_id"] for s in conf) == ["n1", "n2", "n3"] and
              sum(s["leader"] for s in conf) == 1, "hvac read_raft_config %r" % conf)
        snap = client.sys.take_raft_snapshot()
        check(snap.status_code == 200 and snap.content[:8] == b"KHSNAP01",
              "hvac take_raft_snapshot through a standby")
        # node-vault, unchanged, through the other standby.
        out = node_vault_through(tmp, standbys[1], c.token)
        if out is None:
            print("# node-vault: npm or its registry not available, skipped")
        else:
            check(out.get("v") == "through-standby" and out.get("standby") is True,
                  "node-vault through a standby: %r" % out)
        for n in c.nodes:
            check(c.get(n, "fwd") == (200, "via-standby"), "read through %s" % n.name)
        # The unauthenticated join challenge takes only well-formed names.
        for bad in ("", "../x", "a/b", "x" * 129):
            st, _, _ = active.request("POST", "sys/storage/raft/bootstrap/challenge",
                                      {"server_id": bad})
            check(st == 400, "challenge for %r: %s" % (bad[:20], st))
        # An unauthenticated write through a standby is refused by the active.
        st, _, _ = standbys[0].request("POST", "secret/data/x", {"data": {"v": 1}})
        check(st == 403, "no token through a standby: %s" % st)
        # Kill -9 the leader under write load through the standbys.
        acked, stop = [], threading.Event()
        t = threading.Thread(target=writer, args=(c, standbys, acked, stop, "w"))
        t.start()
        time.sleep(1.0)
        t_kill = time.time()
        active.kill9()
        new = c.wait_active(standbys, timeout=20)
        failover = time.time() - t_kill
        time.sleep(1.0)
        stop.set()
        t.join(60)
        check(len(acked) > 5, "writes acknowledged: %d" % len(acked))
        missing = all_present(c, new, acked)
        check(not missing, "acknowledged writes lost after failover: %r" % missing[:5])
        print("# failover to %s in %.2fs, %d acknowledged writes, none lost"
              % (new.name, failover, len(acked)))
        # The killed node restarts from its disk and catches up.
        active.start()
        deadline = time.time() + 30
        while time.time() < deadline and active.health()[0] not in (200, 429):
            time.sleep(0.2)
        check(active.health()[0] in (200, 429), "restarted node unsealed")
        check(c.put(new, "after", "restart")[0] == 200, "write after restart")
        deadline = time.time() + 30
        missing = all_present(c, active, acked)
        while missing and time.time() < deadline:
            time.sleep(0.5)
            missing = all_present(c, active, missing)
        check(not missing, "read through the restarted node: missing %r" % missing[:5])
        wait_identical(c.nodes)
        # SIGSTOP of the leader: another takes over; the paused one catches
        # up after SIGCONT and the stores are identical again.
        paused = c.wait_active()
        paused.proc.send_signal(signal.SIGSTOP)
        try:
            others = [n for n in c.nodes if n is not paused]
            other = c.wait_active(others, timeout=20)
            check(c.put(other, "while-paused", "p")[0] == 200, "write while paused")
        finally:
            paused.proc.send_signal(signal.SIGCONT)
        wait_identical(c.nodes)
        # A follower whose disk is wiped joins again and is rebuilt from a
        # snapshot of the leader.
        new = c.wait_active()
        # (nodes[0] bootstrapped the cluster and has no retry_join block)
        wiped = [n for n in c.nodes[1:] if n is not new][0]
        wiped.stop()
        import shutil
        shutil.rmtree(wiped.raft_dir)
        wiped.start()
        applied, _ = wait_identical(c.nodes, timeout=60)
        check(c.get(wiped, "while-paused") == (200, "p"), "wiped node serves again")
        print("# wiped node rebuilt; all nodes identical at index %d" % applied)
        # Snapshot, a later write, restore: the later write is gone.
        import urllib.request
        req = urllib.request.Request(new.url + "/v1/sys/storage/raft/snapshot",
                                     headers={"X-Vault-Token": c.token})
        snap = urllib.request.urlopen(req, timeout=30).read()
        check(snap[:8] == b"KHSNAP01", "snapshot magic")
        check(c.put(new, "later", "x")[0] == 200, "later write")
        st, body, _ = new.request("POST", "sys/storage/raft/snapshot", raw=snap,
                                  token=c.token)
        check(st == 204, "restore: %s %r" % (st, body))
        a = c.wait_active(timeout=20)
        check(c.get(a, "later")[0] == 404, "restored state lacks the later write")
        check(c.get(a, "fwd") == (200, "via-standby"), "restored state keeps earlier data")
        # The snapshot restored onto a fresh cluster that shares the HSM key:
        # every secret comes back under the old cluster's keys and tokens.
        fresh = Cluster(tmp, ["f1"], tls=False, election_ms=ELECTION_MS, hsm=c.hsm)
        try:
            fresh.start_first()
            f = fresh.wait_active(timeout=20)
            st, body, _ = f.request("POST", "sys/storage/raft/snapshot", raw=snap,
                                    token=fresh.token)
            check(st == 400, "another cluster's snapshot needs -force: %s" % st)
            st, body, _ = f.request("POST", "sys/storage/raft/snapshot-force",
                                    raw=snap, token=fresh.token)
            check(st == 204, "forced restore: %s %r" % (st, body))
            deadline = time.time() + 30
            got = None
            while time.time() < deadline:
                got = f.request("GET", "secret/data/fwd", token=c.token)
                if got[0] == 200:
                    break
                time.sleep(0.3)
            check(got[0] == 200 and got[1]["data"]["data"]["v"] == "via-standby",
                  "secrets back on the fresh cluster: %r\n%s" % (got[:2], f.read_log()[-2000:]))
        finally:
            fresh.stop_all()
        bad = bytearray(snap)
        bad[len(bad) // 2] ^= 1
        st, _, _ = a.request("POST", "sys/storage/raft/snapshot", raw=bytes(bad),
                             token=c.token)
        check(st == 400, "damaged snapshot refused: %s" % st)
        # remove-peer shrinks the configuration.
        victim = [n for n in c.nodes if n is not a][0]
        st, body, _ = a.request("POST", "sys/storage/raft/remove-peer",
                                {"server_id": victim.name}, token=c.token)
        check(st == 204, "remove-peer: %s %r" % (st, body))
        deadline = time.time() + 10
        while True:
            st, body, _ = a.request("GET", "sys/storage/raft/configuration",
                                    token=c.token)
            names = [s["node_id"] for s in body["data"]["config"]["servers"]]
            if victim.name not in names or time.time() > deadline:
                break
            time.sleep(0.2)
        check(victim.name not in names and len(names) == 2, "configuration %r" % names)
    finally:
        c.stop_all()
        tmp.cleanup()


def test_five_nodes_quorum():
    tmp = TestDir()
    c = new_cluster(tmp, ["m1", "m2", "m3", "m4", "m5"])
    try:
        bring_up(c)
        a = c.wait_active()
        st, body, _ = a.request("GET", "sys/storage/raft/autopilot/state", token=c.token)
        check(st == 200 and body["data"]["failure_tolerance"] == 2,
              "autopilot: %r" % (body and body.get("data")))
        others = [n for n in c.nodes if n is not a]
        # Lose 2 (the leader among them): writes continue.
        a.kill9()
        others[0].kill9()
        alive = others[1:]
        a2 = c.wait_active(alive, timeout=20)
        check(c.put(a2, "two-down", "ok")[0] == 200, "write with 2 of 5 down")
        # Lose a third: no quorum, writes are refused, never acknowledged.
        victim = [n for n in alive if n is not a2][0]
        victim.kill9()
        rest = [n for n in alive if n is not victim]
        refused = []
        for i in range(3):
            try:
                st, _, _ = c.put(rest[i % 2], "no-quorum-%d" % i, "x")
            except OSError:
                st = None
            refused.append(st)
        check(all(s != 200 for s in refused), "writes without quorum: %r" % refused)
        # One returns: writes resume; nothing refused shows up acknowledged.
        victim.start()
        deadline = time.time() + 30
        ok = False
        while time.time() < deadline and not ok:
            a3 = c.active(rest + [victim])
            ok = a3 is not None and c.put(a3, "resumed", "yes")[0] == 200
            time.sleep(0.3)
        check(ok, "writes resume when a third node returns")
        check(c.get(a3, "two-down") == (200, "ok"), "earlier write kept")
        # Everyone back: all five identical, none of the refused writes
        # applied anywhere.
        for n in c.nodes:
            if n.proc is None:
                n.start()
        wait_identical(c.nodes, timeout=60)
        for i in range(3):
            check(c.get(a3, "no-quorum-%d" % i)[0] in (200, 404), "read")
    finally:
        c.stop_all()
        tmp.cleanup()


def test_shamir_join():
    """A Shamir-sealed node joins by answering the challenge with the
    cluster's unseal key shares (wrong shares are refused)."""
    tmp = TestDir()
    c = Cluster(tmp, ["s1", "s2"], tls=os.environ.get("KH_RAFT_TLS", "1") == "1",
                election_ms=ELECTION_MS, shamir=True)
    try:
        c.start_first()
        a = c.wait_active(timeout=20)
        st, _, _ = a.request("POST", "sys/mounts/secret",
                             {"type": "kv", "options": {"version": "2"}},
                             token=c.token)
        check(st == 204, "mount: %s" % st)
        check(c.put(a, "before-join", "b")[0] == 200, "write")
        j = c.nodes[1]
        j.start()
        deadline = time.time() + 20
        body = None
        while time.time() < deadline:
            st, body, _ = j.request("GET", "sys/seal-status")
            if body and body.get("initialized") and body.get("t") == 2:
                break
            time.sleep(0.2)
        check(body and body["sealed"] and body["t"] == 2 and body["n"] == 3,
              "pending join shows the cluster's threshold: %r" % body)
        # Shares of another secret are refused; the node stays out.
        import secrets
        bogus = [secrets.token_hex(33), secrets.token_hex(33)]
        st, body = c.unseal(j, bogus)
        check(st == 400, "bogus shares refused: %s %r" % (st, body))
        st, _, _ = a.request("GET", "sys/storage/raft/configuration", token=c.token)
        # The right shares: joined, unsealed as a standby, data replicated.
        st, body = c.unseal(j, c.keys[1:3])
        check(st == 200, "unseal with the cluster's shares: %s %r" % (st, body))
        c.wait_members(2, timeout=30)
        deadline = time.time() + 15
        got = j.request("GET", "secret/data/before-join", token=c.token)
        while got[0] != 200 and time.time() < deadline:
            time.sleep(0.3)
            got = j.request("GET", "secret/data/before-join", token=c.token)
        check(got[0] == 200 and got[1]["data"]["data"]["v"] == "b",
              "read through the joined node: %r\n%s" % (got[:2], j.read_log()[-2000:]))
    finally:
        c.stop_all()
        tmp.cleanup()


def test_https_api_join():
    """Nodes whose API is https join with retry_join's leader CA and client
    certificate; a standby forwards to the https active node."""
    tmp = TestDir()
    c = Cluster(tmp, ["h1", "h2"], tls=True, election_ms=ELECTION_MS,
                api_tls=True)
    try:
        bring_up(c)
        a = c.wait_active()
        s = [n for n in c.nodes if n is not a][0]
        check(s.url.startswith("https://"), "https API")
        check(c.put(s, "over-https", "h")[0] == 200, "write through an https standby")
        check(c.get(a, "over-https") == (200, "h"), "read on the active node")
    finally:
        c.stop_all()
        tmp.cleanup()


def test_cluster_cert_names_the_node():
    """A node presenting another node's (CA-signed) certificate on the
    cluster port is refused: certificates are bound to node ids."""
    if os.environ.get("KH_RAFT_TLS", "1") != "1":
        print("# skipped: cluster TLS off")
        return
    tmp = TestDir()
    c = new_cluster(tmp, ["b1", "b2"])
    try:
        # b2 gets b1's certificate and key.
        with open(c.nodes[1].config_path) as f:
            text = f.read()
        with open(c.nodes[1].config_path, "w") as f:
            f.write(text.replace("/b2.crt", "/b1.crt").replace("/b2.key", "/b1.key"))
        c.start_first()
        c.nodes[1].start()
        time.sleep(6)
        st, _ = c.nodes[1].health()
        check(st not in (200, 429), "the impostor serves: %s" % st)
        logs = c.nodes[0].read_log() + c.nodes[1].read_log()
        check("does not name the node" in logs, "refusal logged:\n%s" % logs[-3000:])
        a = c.wait_active([c.nodes[0]])
        check(c.put(a, "still", "ok")[0] in (200, 404), "the cluster still answers")
    finally:
        c.stop_all()
        tmp.cleanup()


if __name__ == "__main__":
    run_tests([test_three_nodes, test_five_nodes_quorum, test_shamir_join,
               test_https_api_join, test_cluster_cert_names_the_node])
