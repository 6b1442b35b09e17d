"""Disabling a transit mount destroys its managed keys' objects in the
seal's PKCS#11 token, with a real keyholdd on a real SoftHSM2 token (pkcs11
seal, recovery keys), as the backend disable hook promises.

Covers: managed keys (one rotated to 2 versions) whose objects pkcs11-tool
lists in the token; DELETE sys/mounts/transit removes the mount and every
one of those objects, leaves the seal's KEK and logs the count; a mount
whose object was deleted from the token behind its back still disables,
destroys the others and logs that label as already gone; the server exits
0 on SIGTERM with no sanitizer report.

Run: KH_BIN=<build>/bin /usr/bin/python3 tests/integration/test_transit_unmount.py
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import SOFTHSM_MODULE, Server, SoftHSM, TestDir, check, run_tests  # noqa: E402

KEK_LABEL = "keyhold-kek"


class Node:
    """One pkcs11-sealed keyholdd, initialised, with its root token."""

    def __init__(self, tmp):
        self.hsm = SoftHSM(tmp)
        self.srv = Server(tmp, seal_stanza=self.hsm.seal_stanza(),
                          env=self.hsm.env, name="node")
        self.srv.start()
        st, body, _ = self.srv.request("PUT", "sys/init", {
            "recovery_shares": 1, "recovery_threshold": 1})
        check(st == 200, "init answered %s %r" % (st, body))
        self.root = body["root_token"]

    def call(self, method, path, body=None, want=None):
        st, doc, _ = self.srv.request(method, path, body=body, token=self.root)
        if want is not None:
            check(st == want, "%s %s -> %s %r" % (method, path, st, doc))
        return st, doc

    def p11(self, *args):
        out = subprocess.run(
            ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label",
             self.hsm.label, "--login", "--pin", self.hsm.pin] + list(args),
            env=self.hsm.env, capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, "pkcs11-tool %r failed: %s %s"
              % (args, out.stdout, out.stderr))
        return out.stdout

    def token_labels(self):
        """Labels of the secret keys in the token."""
        out = self.p11("--list-objects", "--type", "secrkey")
        return {line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.strip().startswith("label:")}

    def managed_key(self, mount, name, rotations=0):
        """Create a managed key, rotate it; its labels by version."""
        self.call("POST", "%s/keys/%s" % (mount, name), {"managed_key": True},
                  want=200)
        for _ in range(rotations):
            self.call("POST", "%s/keys/%s/rotate" % (mount, name), want=200)
        _, doc = self.call("GET", "%s/keys/%s" % (mount, name), want=200)
        labels = doc["data"]["managed_key_labels"]
        check(len(labels) == rotations + 1, doc)
        return [labels[v] for v in sorted(labels, key=int)]

    def stop_ok(self):
        rc = self.srv.stop()
        log = self.srv.read_log()
        check(rc == 0, "keyholdd exited %r on SIGTERM; log:\n%s"
              % (rc, log[-6000:]))
        check("Sanitizer" not in log and "runtime error" not in log,
              "sanitizer report in the log:\n%s" % log[-6000:])


def with_node(body):
    tmp = TestDir("kh-transit-unmount")
    node = Node(tmp)
    try:
        body(node)
        node.stop_ok()
    finally:
        node.srv.stop()
        tmp.cleanup()


# Managed keys' objects are in the token; disabling the mount destroys
# every version's object (and only those), and the mount is gone.
def test_disable_destroys_objects():
    def body(node):
        node.call("POST", "sys/mounts/transit", {"type": "transit"}, want=204)
        k1 = node.managed_key("transit", "k1", rotations=1)
        k2 = node.managed_key("transit", "k2")
        node.call("POST", "transit/keys/soft", want=200)
        labels = set(k1 + k2)
        before = node.token_labels()
        check(labels <= before and KEK_LABEL in before,
              "objects missing before disable: %r not in %r"
              % (labels, before))
        node.call("DELETE", "sys/mounts/transit", want=204)
        after = node.token_labels()
        check(not (labels & after), "objects left after disable: %r"
              % (labels & after))
        check(after == before - labels, "token changed beyond the mount's "
              "objects: %r -> %r" % (before, after))
        _, doc = node.call("GET", "sys/mounts")
        check("transit/" not in doc["data"], doc)
        log = node.srv.read_log()
        check("2 managed keys, 3 HSM objects destroyed, 0 already gone, "
              "0 left behind" in log, log[-4000:])
        # The path is free again, with no stale object in the way.
        node.call("POST", "sys/mounts/transit", {"type": "transit"}, want=204)
        node.managed_key("transit", "k1")
    with_node(body)


# An object deleted from the token behind the engine's back: the disable
# still succeeds, destroys the rest and logs that label as already gone.
def test_disable_with_object_gone():
    def body(node):
        node.call("POST", "sys/mounts/t2", {"type": "transit"}, want=204)
        labels = node.managed_key("t2", "gone", rotations=1)
        node.p11("--delete-object", "--type", "secrkey", "--label",
                 labels[0])
        check(labels[0] not in node.token_labels(), "delete behind its back")
        node.call("DELETE", "sys/mounts/t2", want=204)
        check(labels[1] not in node.token_labels(), "v2 object left")
        _, doc = node.call("GET", "sys/mounts")
        check("t2/" not in doc["data"], doc)
        log = node.srv.read_log()
        check('HSM object "%s" was already gone' % labels[0] in log,
              log[-4000:])
        check("1 HSM objects destroyed, 1 already gone, 0 left behind" in log,
              log[-4000:])
    with_node(body)


if __name__ == "__main__":
    run_tests([test_disable_destroys_objects, test_disable_with_object_gone])
