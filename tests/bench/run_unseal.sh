#!/bin/bash
# run_unseal.sh - time from process start to serving unsealed, with PKCS#11
# auto-unseal on a SoftHSM2 token, against `keyholdd -dev` as a reference.
#
# Sets up a private SoftHSM2 token store in a temporary directory, writes a
# configuration (listener, storage "lmdb", seal "pkcs11" with
# generate_key = true, disable_mlock = true), starts keyholdd once and
# initialises it (PUT /v1/sys/init, one recovery share), stops it, then N
# times: starts it and polls GET /v1/sys/health every 5 ms until it answers
# 200. The same is measured for `keyholdd -dev` (which also creates its
# token, key and keyring on every start). The two kinds of start
# alternate. Prints every time, then median and p90 in ms. Fails only if
# a start does not reach 200 within 30 s or the set-up fails.
#
# Environment: N (starts per kind, default 10), KH_BUILD_DIR (default:
# build-bench, else build, under the repository), KH_TEST_TMP (base of the
# temporary directory, default /tmp). Every process is stopped by PID.
set -euo pipefail

N=${N:-10}
BENCH=run_unseal
. "$(dirname "$0")/lib.sh"
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
for f in "$KEYHOLDD" "$SOFTHSM_MODULE" "$(command -v softhsm2-util || true)"
do
    if [ ! -e "$f" ]; then
        echo "run_unseal: missing ${f:-softhsm2-util}" >&2
        exit 1
    fi
done

bench_setup unseal

# The SoftHSM2 token store, as tests/integration/khtest.py sets it up.
mkdir -p "$TMP/softhsm/tokens"
cat >"$TMP/softhsm/softhsm2.conf" <<EOF
directories.tokendir = $TMP/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$TMP/softhsm/softhsm2.conf
softhsm2-util --init-token --free --label keyhold-bench --so-pin 87654321 \
    --pin 1234 >/dev/null

PORT=$(free_port)
cat >"$TMP/keyholdd.hcl" <<EOF
listener "tcp" {
  address = "127.0.0.1:$PORT"
  tls_disable = true
}
storage "lmdb" {
  path = "$TMP/data"
}
seal "pkcs11" {
  lib = "$SOFTHSM_MODULE"
  token_label = "keyhold-bench"
  pin = "1234"
  key_label = "keyhold-bench-kek"
  generate_key = true
}
disable_mlock = true
EOF

# The timing loop is Python: a fork of curl per 5 ms poll would cost more
# than the poll interval. Processes are started, timed and stopped by PID.
KEYHOLDD=$KEYHOLDD TMP=$TMP PORT=$PORT N=$N /usr/bin/python3 - <<'EOF'
import atexit, http.client, json, os, signal, socket, subprocess, sys, time

KEYHOLDD, TMP, PORT, N = (os.environ["KEYHOLDD"], os.environ["TMP"],
                          int(os.environ["PORT"]), int(os.environ["N"]))
CONFIG = os.path.join(TMP, "keyholdd.hcl")
LIVE = set()  # processes still running, stopped at exit whatever happens


def request(port, method, path, body=None):
    """(status, body) of one request, or (None, None) if not listening."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (ConnectionError, socket.timeout, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log_name, port, want=200, limit_s=30.0):
    """Start keyholdd; poll health every 5 ms until `want`. (proc, ms)."""
    log = open(os.path.join(TMP, log_name), "ab")
    env = dict(os.environ, TMPDIR=TMP)
    t0 = time.monotonic()
    proc = subprocess.Popen([KEYHOLDD] + args, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    log.close()
    LIVE.add(proc)
    while time.monotonic() - t0 < limit_s:
        if proc.poll() is not None:
            sys.exit("run_unseal: keyholdd exited with %d; see %s"
                     % (proc.returncode, log_name))
        status, _ = request(port, "GET", "/v1/sys/health")
        if status == want:
            return proc, (time.monotonic() - t0) * 1000.0
        time.sleep(0.005)
    stop(proc)
    sys.exit("run_unseal: no %d from /v1/sys/health within %.0f s"
             % (want, limit_s))


def stop(proc):
    LIVE.discard(proc)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


atexit.register(lambda: [stop(p) for p in list(LIVE)])


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# Initialise once: first start answers 501 (not initialised).
proc, _ = start(["-config=" + CONFIG], "init.log", PORT, want=501)
status, body = request(PORT, "PUT", "/v1/sys/init",
                       json.dumps({"recovery_shares": 1,
                                   "recovery_threshold": 1}))
stop(proc)
if status != 200:
    sys.exit("run_unseal: PUT sys/init answered %s: %r" % (status, body))

times = {"pkcs11": [], "dev": []}
print("run_unseal: %d starts each, health polled every 5 ms" % N)
print("%-4s %16s %14s" % ("run", "pkcs11 unseal ms", "dev start ms"))
for i in range(N):
    kinds = ["pkcs11", "dev"] if i % 2 == 0 else ["dev", "pkcs11"]
    row = {}
    for kind in kinds:
        if kind == "pkcs11":
            proc, ms = start(["-config=" + CONFIG], "pkcs11.log", PORT)
        else:
            port = free_port()
            proc, ms = start(["-dev", "-dev-listen-address=127.0.0.1:%d"
                              % port], "dev.log", port)
        stop(proc)
        times[kind].append(ms)
        row[kind] = ms
    print("%-4d %16.1f %14.1f" % (i + 1, row["pkcs11"], row["dev"]),
          flush=True)

print()
print("%-40s %9s %9s" % ("start to 200 on /v1/sys/health", "median ms",
                         "p90 ms"))
for kind, label in (("pkcs11", "config, pkcs11 auto-unseal (SoftHSM2)"),
                    ("dev", "keyholdd -dev (reference)")):
    print("%-40s %9.1f %9.1f" % (label, median(times[kind]),
                                 percentile(times[kind], 90)))
print("ratio of medians pkcs11/dev: %.3f"
      % (median(times["pkcs11"]) / median(times["dev"])))
EOF
