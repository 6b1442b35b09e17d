#!/usr/bin/python3
"""A test Kubernetes API server that answers TokenReviews, over TLS.

It speaks the real authentication.k8s.io/v1 wire format
(Vault API: Kubernetes auth): POST /apis/authentication.k8s.io/v1/tokenreviews with
`Authorization: Bearer <token>` and a TokenReview body; 201 Created with
the TokenReview echoed and `status.{authenticated,user,audiences}` filled
in; 401 with a metav1.Status "Failure" when the bearer token is not valid;
`status.error` for a token that fails validation; `authenticated: false`
for a service account that has been deleted; and a "slow" mode that holds
each answer for a while (timeout tests).

Everything is generated per run with the openssl CLI and
/usr/bin/python3's PyJWT 2.6 (python3-jwt) + cryptography: a CA and a
server certificate for 127.0.0.1, and the service-account signing keys
(RSA-2048 for RS256, P-256 for ES256). Service-account JWTs are minted
with the same claims a real cluster puts in a projected token.

Use as a module (tests/integration/test_k8s_auth.py) or standalone
(tests/bench/bench_k8s_login.sh):

    k8s_fake_apiserver.py serve DIR        # writes DIR/port, serves until killed
    k8s_fake_apiserver.py mint DIR NS NAME [AUD] [rs256|es256]

A bearer token is accepted like a real API server accepts it: a static
reviewer token the test registered, or a service-account JWT this cluster
signed for the API server's own audience (ISSUER) whose account still
exists. So "the login JWT as reviewer" works with default-audience pod
tokens, and a token minted for audience "vault" needs a reviewer JWT.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import uuid

import jwt  # python3-jwt (PyJWT 2.6)

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = [ISSUER]
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca_and_cert(directory, name="ca"):
    """A CA (DIR/<name>.crt) and a server certificate for 127.0.0.1 signed
    by it (DIR/<name>-server.{crt,key}). Returns (ca, cert, key) paths."""
    os.makedirs(directory, exist_ok=True)
    ext = os.path.join(directory, name + "-ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
             "-subj", "/CN=fake-kubernetes-ca-" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + "-server.key", "-out", name + "-server.csr",
             "-subj", "/CN=kube-apiserver", cwd=directory)
    _openssl("x509", "-req", "-in", name + "-server.csr", "-CA", name + ".crt",
             "-CAkey", name + ".key", "-CAcreateserial", "-out", name + "-server.crt",
             "-days", "2", "-extfile", ext, cwd=directory)
    return tuple(os.path.join(directory, n) for n in
                 (name + ".crt", name + "-server.crt", name + "-server.key"))


def make_signing_keys(directory):
    """Service-account signing keys: {"rs256": (priv_pem, pub_pem),
    "es256": (...)} (bytes), also written to DIR/sa-*.{key,pub}."""
    os.makedirs(directory, exist_ok=True)
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "sa-rs256.key", cwd=directory)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", "sa-es256.key", cwd=directory)
    keys = {}
    for alg in ("rs256", "es256"):
        _openssl("pkey", "-in", "sa-%s.key" % alg, "-pubout", "-out",
                 "sa-%s.pub" % alg, cwd=directory)
        with open(os.path.join(directory, "sa-%s.key" % alg), "rb") as f:
            priv = f.read()
        with open(os.path.join(directory, "sa-%s.pub" % alg), "rb") as f:
            pub = f.read()
        keys[alg] = (priv, pub)
    return keys


def signing_certs(directory):
    """Self-signed certificates of the signing keys (PEM text, RS256 then
    ES256): the form hvac's configure(pem_keys=...) accepts."""
    out = []
    for alg in ("rs256", "es256"):
        _openssl("req", "-x509", "-key", "sa-%s.key" % alg, "-out", "sa-%s.crt" % alg,
                 "-days", "2", "-subj", "/CN=service-account-signer-" + alg, cwd=directory)
        with open(os.path.join(directory, "sa-%s.crt" % alg)) as f:
            out.append(f.read())
    return out


def load_signing_keys(directory):
    keys = {}
    for alg in ("rs256", "es256"):
        with open(os.path.join(directory, "sa-%s.key" % alg), "rb") as f:
            priv = f.read()
        with open(os.path.join(directory, "sa-%s.pub" % alg), "rb") as f:
            pub = f.read()
        keys[alg] = (priv, pub)
    return keys


def sa_uid(namespace, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sa/%s/%s" % (namespace, name)))


def sa_claims(namespace, name, aud=ISSUER, ttl=600, now=None, iss=ISSUER):
    """The claims of a projected service-account token."""
    now = int(time.time()) if now is None else now
    return {
        "aud": [aud] if isinstance(aud, str) else list(aud),
        "exp": now + ttl, "iat": now, "nbf": now, "iss": iss,
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": name + "-5d9c", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": name, "uid": sa_uid(namespace, name)},
        },
        "sub": "system:serviceaccount:%s:%s" % (namespace, name),
    }


def mint(keys, namespace, name, aud=ISSUER, alg="rs256", ttl=600, claims=None,
         **kw):
    """A service-account JWT really signed with the cluster's key."""
    payload = claims if claims is not None else sa_claims(namespace, name, aud, ttl, **kw)
    return jwt.encode(payload, keys[alg][0], algorithm=alg.upper(),
                      headers={"kid": alg + "-key"})


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_raw(header, claims, signature=b""):
    """A JWT built by hand: header and claims as dicts, signature bytes."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    c = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return "%s.%s.%s" % (h, c, b64url(signature))


def mint_hs256_with_public_key(keys, namespace, name, aud=ISSUER):
    """The algorithm-confusion attack: HS256 keyed with the RSA public PEM."""
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    c = b64url(json.dumps(sa_claims(namespace, name, aud)).encode())
    mac = hmac.new(keys["rs256"][1], ("%s.%s" % (h, c)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, c, b64url(mac))


class FakeApiServer:
    """The API server, on a free port of 127.0.0.1, in a thread.

    Attributes the tests change at run time: slow_s (seconds to hold each
    answer), deleted (set of "ns/name" whose account is gone),
    reviewer_tokens (static bearer tokens accepted besides any valid
    service-account JWT), requests (what was received: bearer and body).
    """

    def __init__(self, directory, keys=None):
        self.dir = directory
        self.ca, self.cert, self.key = make_ca_and_cert(directory)
        self.keys = keys if keys is not None else make_signing_keys(directory)
        with open(self.ca) as f:
            self.ca_pem = f.read()
        self.slow_s = 0
        self.deleted = set()
        self.reviewer_tokens = set()
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = None
        self.thread = None
        self.port = None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self, port=0):
        server = self

        class Handler(_ReviewHandler):
            fake = server

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    # ---- the review itself ----

    def authenticates(self, bearer):
        """A bearer service-account token is accepted as a real API server
        would: signed by the cluster, valid for the API server's own
        audience, and its service account not deleted."""
        claims, _ = self.validate(bearer)
        if claims is None:
            return False
        k8s = claims.get("kubernetes.io", {})
        who = "%s/%s" % (k8s.get("namespace"), k8s.get("serviceaccount", {}).get("name"))
        return who not in self.deleted

    def validate(self, token, audiences=None):
        """(claims, None) for a token this cluster signed and that is still
        valid for audiences (API server defaults when empty), else
        (None, error text)."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg", "")
            if alg not in ("RS256", "ES256"):
                return None, "invalid bearer token, unexpected signing algorithm %r" % alg
            claims = jwt.decode(token, self.keys[alg.lower()][1], algorithms=[alg],
                                audience=audiences or API_AUDIENCES, issuer=ISSUER,
                                options={"require": ["exp", "iss", "sub"]})
            return claims, None
        except jwt.PyJWTError as exc:
            return None, "invalid bearer token, %s" % exc


class _ReviewHandler(http.server.BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as written

    def log_message(self, fmt, *args):  # keep test output readable
        pass

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code, reason, message):
        self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": message,
                          "reason": reason, "code": code})

    def do_POST(self):
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else ""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with fake.lock:
            fake.requests.append({"path": self.path, "bearer": bearer, "body": body,
                                  "content_type": self.headers.get("Content-Type"),
                                  "accept": self.headers.get("Accept")})
        if fake.slow_s:
            time.sleep(fake.slow_s)
        if self.path != REVIEW_PATH:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        if bearer not in fake.reviewer_tokens and not fake.authenticates(bearer):
            return self._status(401, "Unauthorized", "Unauthorized")
        if not isinstance(body, dict) or body.get("kind") != "TokenReview" \
                or not isinstance(body.get("spec"), dict):
            return self._status(400, "BadRequest", "not a TokenReview")
        self._review(body)

    def _review(self, body):
        fake = self.fake
        spec = body["spec"]
        requested = spec.get("audiences") or []
        out = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "spec": spec}
        claims, error = fake.validate(spec.get("token", ""), requested)
        if claims is None:
            out["status"] = {"user": {}, "error": "[%s]" % error}
            return self._send(201, out)
        k8s = claims.get("kubernetes.io", {})
        ns = k8s.get("namespace", "")
        sa = k8s.get("serviceaccount", {})
        if "%s/%s" % (ns, sa.get("name")) in fake.deleted:
            out["status"] = {"authenticated": False, "user": {}}
            return self._send(201, out)
        token_aud = claims.get("aud") or []
        token_aud = [token_aud] if isinstance(token_aud, str) else token_aud
        out["status"] = {
            "authenticated": True,
            "user": {
                "username": "system:serviceaccount:%s:%s" % (ns, sa.get("name")),
                "uid": sa.get("uid", ""),
                "groups": ["system:serviceaccounts", "system:serviceaccounts:" + ns,
                           "system:authenticated"],
                "extra": {"authentication.kubernetes.io/pod-name":
                          [k8s.get("pod", {}).get("name", "")]},
            },
            "audiences": [a for a in (requested or API_AUDIENCES) if a in token_aud],
        }
        self._send(201, out)


def main(argv):
    if len(argv) >= 3 and argv[1] == "serve":
        directory = argv[2]
        server = FakeApiServer(directory).start()
        with open(os.path.join(directory, "port.tmp"), "w") as f:
            f.write(str(server.port))
        os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
        return 0
    if len(argv) >= 5 and argv[1] == "mint":
        keys = load_signing_keys(argv[2])
        aud = argv[5] if len(argv) > 5 else ISSUER
        alg = argv[6] if len(argv) > 6 else "rs256"
        print(mint(keys, argv[3], argv[4], aud, alg, ttl=3600))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
