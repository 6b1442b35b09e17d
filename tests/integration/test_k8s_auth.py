#!/usr/bin/python3
"""The kubernetes auth method (Vault API: Kubernetes auth) against a real
`keyholdd -dev -dev-root-token-id=root` and a TokenReview test server
(k8s_fake_apiserver.py: TLS with a CA generated per run, the real
authentication.k8s.io/v1 wire format). Service-account JWTs are really
signed (RS256 and ES256) with keys generated per run.

Covered: the operator runbook with `keyhold write` (production reads
what its policy allows, staging is refused); the login JWT used as the
TokenReview bearer when no reviewer JWT is configured, and the reviewer
JWT (never returned on read) when one is; every refusal - expired, wrong
audience, wrong issuer, alg none, HS256 keyed with the public key, a
tampered payload, a deleted service account, a wrong CA, the API server
down, a slow API server (bounded timeout, other requests not stalled) -
answered 403 "permission denied" with the reason in the server log; local
validation with pem_keys; hvac auth.kubernetes.*; node-vault
kubernetesLogin with mount_point (npm install into a temp dir; skipped
with a reason if the registry cannot be reached).

Run: KH_BIN=/path/to/build/bin /usr/bin/python3 test_k8s_auth.py
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khtest import KEYHOLD, DevServer, TestDir, check, run_tests  # noqa: E402
import k8s_fake_apiserver as fake_k8s  # noqa: E402

ROOT = "root"
DENIED = {"errors": ["permission denied"]}
POLICY = 'path "secret/data/order-service/*" {\n  capabilities = ["read"]\n}\n'


class Env:
    """One dev server, one fake API server, and the keys of its cluster."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.api = fake_k8s.FakeApiServer(tmp.join("k8s")).start()
        self.keys = self.api.keys
        self.srv = DevServer(tmp, token=ROOT).start()
        self.root = hvac.Client(url=self.srv.url, token=ROOT)

    def jwt(self, ns="production", name="order-service", **kw):
        return fake_k8s.mint(self.keys, ns, name, **kw)

    def login(self, jwt, role="order-service", mount="kubernetes"):
        """(status, body) of a raw login."""
        status, body, _ = self.srv.request("POST", "auth/%s/login" % mount,
                                           {"role": role, "jwt": jwt})
        return status, body

    def refused(self, jwt, reason, role="order-service", mount="kubernetes"):
        """The login is 403 permission denied and the server log says why."""
        mark = len(self.srv.read_log())
        status, body = self.login(jwt, role, mount)
        check(status == 403 and body == DENIED,
              "expected 403 permission denied, got %r %r" % (status, body))
        deadline = time.time() + 2
        while reason not in self.srv.read_log()[mark:] and time.time() < deadline:
            time.sleep(0.05)
        log = self.srv.read_log()[mark:]
        check(reason in log, "server log lacks %r:\n%s" % (reason, log[-2000:]))
        check(jwt not in log, "the server log holds the JWT")

    def configure(self, mount="kubernetes", **fields):
        body = {"kubernetes_host": self.api.url, "kubernetes_ca_cert": self.api.ca_pem,
                "disable_local_ca_jwt": True}
        body.update(fields)
        status, resp, _ = self.srv.request("POST", "auth/%s/config" % mount, body, token=ROOT)
        check(status == 204, "config: %r %r" % (status, resp))

    def runbook(self):
        """The operator's runbook, with keyhold in place of vault."""
        self.root.sys.enable_auth_method("kubernetes")
        self.root.sys.create_or_update_policy("order-service-production", POLICY)
        self.root.secrets.kv.v2.create_or_update_secret("order-service/db", {"password": "pw-prod"})
        self.root.secrets.kv.v2.create_or_update_secret("billing/db", {"password": "other"})
        env = dict(os.environ, VAULT_ADDR=self.srv.url, VAULT_TOKEN=ROOT)
        out = subprocess.run(
            [KEYHOLD, "write", "auth/kubernetes/role/order-service",
             "bound_service_account_names=order-service",
             "bound_service_account_namespaces=production",
             "policies=order-service-production", "ttl=1h"],
            env=env, capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, "keyhold write: %s %s" % (out.stdout, out.stderr))

    def close(self, ok):
        rc = self.srv.stop()
        self.api.stop()
        if ok:
            check(rc == 0, "keyholdd exited %r on SIGTERM (sanitizer report?):\n%s"
                  % (rc, self.srv.read_log()[-4000:]))


@contextlib.contextmanager
def k8s_env():
    tmp = TestDir("k8sauth")
    env = Env(tmp)
    ok = False
    try:
        yield env
        ok = True
    finally:
        env.close(ok)
        tmp.cleanup()


def reads(env, token):
    """The token reads its secret and nothing else."""
    client = hvac.Client(url=env.srv.url, token=token)
    data = client.secrets.kv.v2.read_secret_version("order-service/db")["data"]["data"]
    check(data == {"password": "pw-prod"}, "read with the login token: %r" % data)
    status, _, _ = env.srv.request("GET", "secret/data/billing/db", token=token)
    check(status == 403, "billing read with the order-service token: %r" % status)


# ---- the runbook, TokenReview with the client's own JWT ----

def test_runbook_tokenreview_client_jwt():
    """No reviewer JWT: the login JWT is the TokenReview bearer (a
    short-lived projected token works). production/order-service logs in
    and reads its secret; the same account in staging is refused."""
    with k8s_env() as env:
        env.runbook()
        env.configure()
        jwt = env.jwt()
        status, body = env.login(jwt)
        check(status == 200, "login: %r %r" % (status, body))
        auth = body["auth"]
        check(set(auth["policies"]) == {"default", "order-service-production"},
              "policies %r" % auth["policies"])
        check(auth["lease_duration"] == 3600, "ttl %r" % auth["lease_duration"])
        meta = auth["metadata"]
        check(meta["service_account_name"] == "order-service" and
              meta["service_account_namespace"] == "production" and
              meta["role"] == "order-service" and
              meta["service_account_uid"] == fake_k8s.sa_uid("production", "order-service"),
              "metadata %r" % meta)
        reads(env, auth["client_token"])
        review = env.api.requests[-1]
        check(review["path"] == fake_k8s.REVIEW_PATH, "review path %r" % review)
        check(review["bearer"] == jwt, "the login JWT was not the bearer")
        check(review["content_type"] == "application/json" and
              review["accept"] == "application/json", "headers %r" % review)
        check(review["body"]["kind"] == "TokenReview" and
              review["body"]["apiVersion"] == "authentication.k8s.io/v1" and
              review["body"]["spec"] == {"token": jwt, "audiences": [fake_k8s.ISSUER]},
              "review body %r" % review["body"])
        env.refused(env.jwt(ns="staging"), "namespace not authorized: staging/order-service")
        env.refused(env.jwt(name="billing"), "service account name not authorized")
        es = env.jwt(alg="es256")
        status, body = env.login(es)
        check(status == 200, "ES256 login: %r %r" % (status, body))


def test_reviewer_jwt_configured():
    """With token_reviewer_jwt the review carries it as bearer, the login
    JWT may be for audience "vault" (role audience), and a read of the
    config never returns it; a reviewer the API server refuses (401)
    fails every login."""
    with k8s_env() as env:
        env.runbook()
        env.api.reviewer_tokens.add("reviewer-static-token")
        env.configure(token_reviewer_jwt="reviewer-static-token")
        status, _, _ = env.srv.request("POST", "auth/kubernetes/role/order-service",
                                       {"audience": "vault"}, token=ROOT)
        check(status == 204, "role audience: %r" % status)
        jwt = env.jwt(aud="vault")
        status, body = env.login(jwt)
        check(status == 200, "login: %r %r" % (status, body))
        review = env.api.requests[-1]
        check(review["bearer"] == "reviewer-static-token", "bearer %r" % review["bearer"])
        check(review["body"]["spec"]["audiences"] == ["vault"], "audiences %r" % review)
        config = env.root.auth.kubernetes.read_config()
        check("token_reviewer_jwt" not in config and config["token_reviewer_jwt_set"] is True,
              "config read %r" % config)
        check("reviewer-static-token" not in json.dumps(config), "reviewer JWT leaked")
        env.refused(env.jwt(aud="other"), "JWT audience does not contain \"vault\"")
        env.api.reviewer_tokens.clear()
        env.refused(jwt, "HTTP 401")


# ---- refusals ----

def test_refusals_tokenreview():
    """Expired, wrong issuer (validation on), alg none, HS256 keyed with
    the RSA public key, a tampered payload, a token of another cluster and
    a deleted service account (both as bearer: 401, and with a reviewer:
    authenticated false) are all 403 permission denied."""
    with k8s_env() as env:
        env.runbook()
        env.configure(issuer=fake_k8s.ISSUER, disable_iss_validation=False)
        env.refused(env.jwt(ttl=-3600), "JWT expired")
        env.refused(env.jwt(iss="https://evil.example"), "JWT issuer is not")
        claims = fake_k8s.sa_claims("production", "order-service")
        env.refused(fake_k8s.mint_raw({"alg": "none", "typ": "JWT"}, claims),
                    "JWT algorithm \"none\" is not accepted")
        env.refused(fake_k8s.mint_hs256_with_public_key(env.keys, "production", "order-service"),
                    "JWT algorithm \"HS256\" is not accepted")
        good = env.jwt()
        head, _, sig = good.split(".")
        evil = dict(claims)
        evil["kubernetes.io"] = dict(claims["kubernetes.io"], namespace="production")
        evil["exp"] = claims["exp"] + 1
        tampered = "%s.%s.%s" % (head, fake_k8s.b64url(json.dumps(evil).encode()), sig)
        env.refused(tampered, "HTTP 401")  # the bearer itself is forged
        other_keys = fake_k8s.make_signing_keys(env.tmp.join("other-cluster"))
        env.refused(fake_k8s.mint(other_keys, "production", "order-service"), "HTTP 401")
        env.api.deleted.add("production/order-service")
        env.refused(env.jwt(), "HTTP 401")
        env.api.reviewer_tokens.add("reviewer")
        env.configure(token_reviewer_jwt="reviewer", issuer=fake_k8s.ISSUER,
                      disable_iss_validation=False)
        env.refused(env.jwt(), "did not authenticate the token")
        env.refused(tampered, "TokenReview error: [invalid bearer token")
        env.api.deleted.clear()
        status, _ = env.login(env.jwt())
        check(status == 200, "login after undelete: %r" % status)
        status, body = env.login(good, role="nope")
        check(status == 400 and body == {"errors": ["invalid role name \"nope\""]},
              "unknown role: %r %r" % (status, body))
        status, body, _ = env.srv.request("POST", "auth/kubernetes/login", {"role": "order-service"})
        check(status == 400 and body == {"errors": ["missing jwt"]}, "missing jwt: %r" % body)


def test_wrong_ca_and_api_server_down():
    """TLS is verified against kubernetes_ca_cert (another CA: refused);
    an API server that is down is refused fast, and the log says so."""
    with k8s_env() as env:
        env.runbook()
        other_ca, _, _ = fake_k8s.make_ca_and_cert(env.tmp.join("other-ca"), "other")
        with open(other_ca) as f:
            env.configure(kubernetes_ca_cert=f.read())
        env.refused(env.jwt(), "check kubernetes_ca_cert")
        env.configure()
        status, _ = env.login(env.jwt())
        check(status == 200, "login with the right CA: %r" % status)
        env.api.stop()
        t0 = time.time()
        env.refused(env.jwt(), "cannot reach the API server")
        check(time.time() - t0 < 2, "down API server took %.1fs" % (time.time() - t0))


def test_slow_api_server_bounded():
    """A slow API server: the login is refused after tokenreview_timeout
    (2 s here), the log says it timed out, and meanwhile other requests
    are answered promptly."""
    with k8s_env() as env:
        env.runbook()
        env.configure(tokenreview_timeout="2s", tokenreview_connect_timeout=1)
        env.api.slow_s = 10
        result = {}

        def slow_login():
            t0 = time.time()
            result["status"], result["body"] = env.login(env.jwt())
            result["elapsed"] = time.time() - t0

        thread = threading.Thread(target=slow_login)
        thread.start()
        time.sleep(0.3)
        worst = 0.0
        while thread.is_alive():
            t0 = time.time()
            status, _, _ = env.srv.request("GET", "sys/health")
            check(status == 200, "health during a slow login: %r" % status)
            status, _, _ = env.srv.request("GET", "secret/data/order-service/db", token=ROOT)
            check(status == 200, "read during a slow login: %r" % status)
            worst = max(worst, time.time() - t0)
            time.sleep(0.05)
        thread.join()
        print("     slow API server: login refused after %.2fs; other requests "
              "at most %.3fs meanwhile" % (result["elapsed"], worst), flush=True)
        check(result["status"] == 403 and result["body"] == DENIED, "slow login %r" % result)
        check(1.8 <= result["elapsed"] < 4, "slow login took %.2fs" % result["elapsed"])
        check(worst < 1.0, "other requests stalled up to %.2fs" % worst)
        check("timed out (connect timeout 1 s, total timeout 2 s)" in env.srv.read_log(),
              "log lacks the timeout")
        env.api.slow_s = 0


def test_local_validation_pem_keys():
    """With pem_keys (certificates through hvac, public keys through a raw
    write) the JWT is verified locally (RS256 and ES256) and the API
    server is not asked; forged tokens are refused locally."""
    with k8s_env() as env:
        env.runbook()
        certs = fake_k8s.signing_certs(env.api.dir)
        env.root.auth.kubernetes.configure(env.api.url, kubernetes_ca_cert=env.api.ca_pem,
                                           pem_keys=certs)
        before = len(env.api.requests)
        for alg in ("rs256", "es256"):
            status, body = env.login(env.jwt(alg=alg))
            check(status == 200, "%s local login: %r %r" % (alg, status, body))
            reads(env, body["auth"]["client_token"])
        env.configure(pem_keys=[env.keys["rs256"][1].decode(), env.keys["es256"][1].decode()])
        for alg in ("rs256", "es256"):
            status, body = env.login(env.jwt(alg=alg))
            check(status == 200, "%s local login (public keys): %r %r" % (alg, status, body))
        check(len(env.api.requests) == before, "the API server was asked")
        good = env.jwt()
        head, payload, sig = good.split(".")
        claims = json.loads(fake_k8s.base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["exp"] += 1
        env.refused("%s.%s.%s" % (head, fake_k8s.b64url(json.dumps(claims).encode()), sig),
                    "JWT signature does not verify")
        other = fake_k8s.make_signing_keys(env.tmp.join("other"))
        env.refused(fake_k8s.mint(other, "production", "order-service", alg="es256"),
                    "JWT signature does not verify")
        env.refused(env.jwt(ns="staging"), "namespace not authorized")
        env.refused(env.jwt(ttl=-600), "JWT expired")


# ---- clients ----

def test_hvac_kubernetes():
    """hvac 0.11.2: configure, create/read/list/delete role, login (the
    client adopts the token and reads its secret)."""
    with k8s_env() as env:
        root = env.root
        root.sys.enable_auth_method("kubernetes")
        root.sys.create_or_update_policy("order-service-production", POLICY)
        root.secrets.kv.v2.create_or_update_secret("order-service/db", {"password": "pw-prod"})
        root.secrets.kv.v2.create_or_update_secret("billing/db", {"password": "other"})
        root.auth.kubernetes.configure(env.api.url, kubernetes_ca_cert=env.api.ca_pem)
        root.auth.kubernetes.create_role("order-service", ["order-service"], ["production"],
                                         policies=["order-service-production"], ttl="1h")
        role = root.auth.kubernetes.read_role("order-service")
        check(role["bound_service_account_names"] == ["order-service"] and
              role["token_ttl"] == 3600 and role["ttl"] == 3600 and
              role["policies"] == ["order-service-production"], "read_role %r" % role)
        check(root.auth.kubernetes.list_roles()["keys"] == ["order-service"], "list_roles")
        config = root.auth.kubernetes.read_config()
        check(config["kubernetes_host"] == env.api.url, "read_config %r" % config)
        app = hvac.Client(url=env.srv.url)
        resp = app.auth.kubernetes.login("order-service", env.jwt())
        check(app.token == resp["auth"]["client_token"], "hvac did not adopt the token")
        reads(env, app.token)
        try:
            hvac.Client(url=env.srv.url).auth.kubernetes.login("order-service",
                                                               env.jwt(ns="staging"))
            raise AssertionError("staging login succeeded")
        except hvac.exceptions.Forbidden as exc:
            check("permission denied" in str(exc), "hvac error %r" % str(exc))
        root.auth.kubernetes.delete_role("order-service")
        status, _, _ = env.srv.request("GET", "auth/kubernetes/role/order-service", token=ROOT)
        check(status == 404, "deleted role read: %r" % status)


NODE_SCRIPT = r"""
const vault = require('node-vault')({endpoint: process.argv[2]});
(async () => {
  const out = {};
  const r = await vault.kubernetesLogin({role: 'order-service', jwt: process.argv[3],
                                         mount_point: 'k8s-prod'});
  out.policies = r.auth.policies;
  out.adopted = vault.token === r.auth.client_token;
  out.secret = (await vault.read('secret/data/order-service/db')).data.data;
  try {
    await vault.kubernetesLogin({role: 'order-service', jwt: process.argv[4],
                                 mount_point: 'k8s-prod'});
    out.staging = 'accepted';
  } catch (e) {
    out.staging = e.response ? e.response.statusCode : String(e);
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""


def test_node_vault_kubernetes_login():
    """node-vault 0.12.0 kubernetesLogin with mount_point (auth mounted at
    k8s-prod): the client adopts the token and reads; staging is 403."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("     SKIP node-vault part: npm/node not installed", flush=True)
        return
    with k8s_env() as env:
        node_dir = env.tmp.join("node")
        os.makedirs(node_dir)
        npm = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                              "--prefix", node_dir, "node-vault@0.12.0"],
                             capture_output=True, text=True, timeout=180)
        if npm.returncode != 0:
            print("     SKIP node-vault part: npm cannot install node-vault@0.12.0 "
                  "(registry unreachable?): %s" % npm.stderr.strip()[-300:], flush=True)
            return
        root = env.root
        root.sys.enable_auth_method("kubernetes", path="k8s-prod")
        root.sys.create_or_update_policy("order-service-production", POLICY)
        root.secrets.kv.v2.create_or_update_secret("order-service/db", {"password": "pw-prod"})
        env.configure(mount="k8s-prod")
        status, _, _ = env.srv.request("POST", "auth/k8s-prod/role/order-service", {
            "bound_service_account_names": ["order-service"],
            "bound_service_account_namespaces": ["production"],
            "token_policies": "order-service-production"}, token=ROOT)
        check(status == 204, "role write %r" % status)
        script = os.path.join(node_dir, "login.js")
        with open(script, "w") as f:
            f.write(NODE_SCRIPT)
        run = subprocess.run(["node", script, env.srv.url, env.jwt(), env.jwt(ns="staging")],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, NODE_PATH=os.path.join(node_dir, "node_modules")))
        check(run.returncode == 0, "node: %s %s" % (run.stdout, run.stderr))
        out = json.loads(run.stdout.strip().splitlines()[-1])
        check(out["adopted"] is True and "order-service-production" in out["policies"],
              "node-vault login %r" % out)
        check(out["secret"] == {"password": "pw-prod"}, "node-vault read %r" % out)
        check(out["staging"] == 403, "node-vault staging %r" % out)


if __name__ == "__main__":
    run_tests([
        test_runbook_tokenreview_client_jwt,
        test_reviewer_jwt_configured,
        test_refusals_tokenreview,
        test_wrong_ca_and_api_server_down,
        test_slow_api_server_bounded,
        test_local_validation_pem_keys,
        test_hvac_kubernetes,
        test_node_vault_kubernetes_login,
    ])
