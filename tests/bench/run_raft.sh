#!/bin/bash
# run_raft.sh - write throughput of Keyhold's integrated Raft storage (3
# nodes) against a 3-member etcd 3.4 cluster and against Keyhold on one
# node with storage "lmdb", in the same run:
#
#   keyhold-lmdb        keyholdd -dev (storage "lmdb", one durable commit
#                       per write), KV v2 POST secret/data/bench-...
#   keyhold-raft-tls    3 keyholdd with storage "raft", mutual TLS on the
#                       cluster port (certificates made here with openssl),
#                       pkcs11 auto-unseal on one shared SoftHSM2 token;
#                       the same KV v2 writes, driven at the active node
#   keyhold-raft-plain  the same cluster with tls_disable = "true" on the
#                       cluster port
#   etcd                3 etcd members on loopback, default flags (so the
#                       WAL is fsync'd on every commit), POST /v3/kv/put
#                       through the JSON gateway, driven at the leader
#
# Every write is a new key (tests/bench/raft_kv_put.lua, etcd_put.lua) with
# the same 64-byte value. Each system is brought up fresh for every round
# (bring-up time-boxed to 30 s), warmed up for WARMUP s, measured with
# wrk -t2 -c32 -d${SECONDS}s --latency, checked by reading one written key
# back, and stopped, so only the system measured is running. The order
# of the systems alternates from round to round. Prints every round, the
# medians of req/s and p99, and the ratios keyhold-raft/etcd (the goal:
# >= 1, printed as met or not, never enforced) and keyhold-raft/lmdb.
#
# A Keyhold raft cluster that does not come up, or answers errors under
# load, is reported as "keyhold raft: not available (<reason>)" and the
# others are still measured; so is etcd when /usr/bin/etcd is missing
# (apt-get install -y etcd-server). Any other failure (keyholdd -dev or an
# installed etcd not starting, an error answer, a value read back wrong)
# fails the script. Every process is started and stopped by its PID; the
# temporary directory is removed on exit.
#
# Environment: SECONDS (per measured run, default 10), ROUNDS (default 3),
# WARMUP (default 2), SYSTEMS (the names above to run, default all four),
# KH_BUILD (build directory; else KH_BUILD_DIR; default
# <repo>/build), ETCD (default /usr/bin/etcd), KH_TEST_TMP.
set -euo pipefail

DURATION=$(printenv SECONDS || echo 10)
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
BRINGUP_S=30
BENCH=run_raft
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
if [ -n "${KH_BUILD:-}" ]; then
    KH_BUILD_DIR=$KH_BUILD
elif [ -z "${KH_BUILD_DIR:-}" ]; then
    KH_BUILD_DIR=$(cd "$SELF_DIR/../.." && pwd)/build
fi
. "$SELF_DIR/lib.sh"
ETCD=${ETCD:-/usr/bin/etcd}
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
KV_LUA=$SELF_DIR/raft_kv_put.lua
ETCD_LUA=$SELF_DIR/etcd_put.lua
VALUE=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

bench_need "$KEYHOLDD"
for tool in wrk curl openssl softhsm2-util; do
    command -v "$tool" >/dev/null ||
        { echo "$BENCH: missing $tool" >&2; exit 1; }
done
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' \
    "$KH_BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
case $BUILD_TYPE in
    Release|RelWithDebInfo) ;;
    *) echo "$BENCH: WARNING: $KH_BUILD_DIR is a '${BUILD_TYPE:-unknown}'" \
            "build; figures mean something only from RelWithDebInfo" >&2 ;;
esac

bench_setup raft
RESULTS=$TMP/results
: >"$RESULTS"
declare -A UNAVAILABLE=()   # system name -> reason it is not measured
if [ ! -x "$ETCD" ]; then
    UNAVAILABLE[etcd]="missing $ETCD; install: apt-get install -y etcd-server"
fi

# ---------------------------------------------------------------- helpers

# free_ports N: N distinct free ports of 127.0.0.1 (all bound at once).
free_ports() {
    /usr/bin/python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# json EXPR: evaluate the Python expression EXPR over d, the JSON document
# on stdin, and print it; fails on bad JSON or a missing field.
json() {
    /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>/dev/null
}

http_code() { # URL [curl args...]
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" ||
        true
}

alive() { # PID: running (not exited, not a zombie)
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pids PID...: SIGTERM each, SIGKILL after 10 s, reap, and drop them
# from lib.sh's exit list (so a reused PID is never signalled later).
stop_pids() {
    local pid i keep=()
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        for i in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "$BENCH: PID $pid ignored SIGTERM for 10 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        case " $* " in *" $pid "*) ;; *) keep+=("$pid") ;; esac
    done
    BENCH_PIDS=("${keep[@]}")
}

last_line() { # LOG: its last non-empty line, shortened
    { grep -v '^[[:space:]]*$' "$1" 2>/dev/null || true; } | tail -n 1 |
        cut -c1-200
}

# wait_code URL WANT PID LOG DEADLINE [curl args]: poll until URL answers
# WANT ("any": any HTTP answer); 1 with REASON when PID exits or the
# deadline (date +%s) passes.
wait_code() {
    local url=$1 want=$2 pid=$3 log=$4 deadline=$5 code=000
    shift 5
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if ! alive "$pid"; then
            REASON="$(basename "$log" .log) exited: $(last_line "$log")"
            return 1
        fi
        code=$(http_code "$url" "$@")
        if [ "$want" = any ] && [ "$code" != 000 ]; then
            return 0
        fi
        [ "$code" != "$want" ] || return 0
        sleep 0.1
    done
    REASON="$url answered $code, not $want, within ${BRINGUP_S} s"
    code=$(last_line "$log")
    [ -z "$code" ] || REASON+="; $(basename "$log"): $code"
    return 1
}

# ------------------------------------------------------ keyhold, one node

# Each *_up sets SYS_URL (where wrk drives), SYS_TOKEN, SYS_PIDS, SYS_DIR
# and SYS_LOG; it returns 1 with REASON when the system cannot come up.

lmdb_up() { # ROUND
    local port
    SYS_DIR=$TMP/lmdb-$1
    mkdir -p "$SYS_DIR"
    port=$(free_ports 1)
    SYS_LOG=$SYS_DIR/keyholdd.log
    TMPDIR=$SYS_DIR "$KEYHOLDD" -dev -dev-root-token-id=root \
        -dev-listen-address="127.0.0.1:$port" >"$SYS_LOG" 2>&1 &
    SYS_PIDS=($!)
    bench_track "$!"
    SYS_URL=http://127.0.0.1:$port
    SYS_TOKEN=root
    wait_code "$SYS_URL/v1/sys/health" 200 "${SYS_PIDS[0]}" "$SYS_LOG" \
        $(($(date +%s) + BRINGUP_S))
}

# --------------------------------------------------- keyhold, raft cluster

# make_certs DIR: a CA and, for n1..n3, a key and a certificate it signed
# (CN nI; SAN IP 127.0.0.1, DNS localhost and nI; serverAuth + clientAuth).
make_certs() {
    local d=$1 n
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
        -keyout "$d/ca.key" -out "$d/ca.crt" -subj /CN=keyhold-bench-ca \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    for n in n1 n2 n3; do
        openssl req -newkey rsa:2048 -nodes -keyout "$d/$n.key" \
            -out "$d/$n.csr" -subj "/CN=$n" 2>/dev/null
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$n" \
            "extendedKeyUsage=serverAuth,clientAuth" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            >"$d/$n.ext"
        openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" \
            -CAkey "$d/ca.key" -CAcreateserial -days 2 \
            -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
    done
}

# raft_config VARIANT DIR I API... CLUSTER...: node nI's configuration.
raft_config() {
    local variant=$1 d=$2 i=$3 api=("" "$4" "$5" "$6") cl=("" "$7" "$8" "$9")
    local tls join=""
    if [ "$variant" = keyhold-raft-tls ]; then
        tls="  tls_cert_file = \"$TMP/certs/n$i.crt\"
  tls_key_file  = \"$TMP/certs/n$i.key\"
  tls_ca_file   = \"$TMP/certs/ca.crt\""
    else
        tls='  tls_disable = "true"'
    fi
    [ "$i" = 1 ] || join="  retry_join {
    leader_api_addr = \"http://127.0.0.1:${api[1]}\"
  }"
    cat <<EOF
storage "raft" {
  path    = "$d/n$i"
  node_id = "n$i"
$tls
$join
}
listener "tcp" {
  address     = "127.0.0.1:${api[i]}"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:${api[i]}"
cluster_addr  = "https://127.0.0.1:${cl[i]}"
disable_mlock = true
seal "pkcs11" {
  lib          = "$SOFTHSM_MODULE"
  token_label  = "keyhold-bench"
  pin          = "1234"
  key_label    = "keyhold-bench-kek"
  generate_key = "$([ "$i" = 1 ] && echo true || echo false)"
}
EOF
}

raft_start_node() { # I: start node nI of the cluster in $SYS_DIR
    SOFTHSM2_CONF=$SYS_DIR/softhsm/softhsm2.conf TMPDIR=$SYS_DIR \
        "$KEYHOLDD" -config="$SYS_DIR/n$1.hcl" >"$SYS_DIR/n$1.log" 2>&1 &
    SYS_PIDS+=($!)
    bench_track "$!"
}

# raft_up VARIANT ROUND: bring the 3-node cluster up (spec: node 1 init,
# nodes 2 and 3 retry_join), mount KV v2 at secret/, find the active node.
raft_up() {
    local variant=$1 d=$TMP/$1-$2 ports deadline body i code voters
    local -a api cl
    SYS_DIR=$d
    SYS_PIDS=()
    SYS_LOG=$d/n1.log
    mkdir -p "$d/softhsm/tokens"
    printf '%s\n' "directories.tokendir = $d/softhsm/tokens" \
        "objectstore.backend = file" "log.level = ERROR" \
        "slots.removable = false" >"$d/softhsm/softhsm2.conf"
    if ! SOFTHSM2_CONF=$d/softhsm/softhsm2.conf softhsm2-util --init-token \
        --free --label keyhold-bench --so-pin 87654321 --pin 1234 \
        >/dev/null 2>&1; then
        REASON="softhsm2-util --init-token failed"
        return 1
    fi
    ports=$(free_ports 6) || { REASON="no free ports"; return 1; }
    read -r -a cl <<<"x $ports"
    api=("" "${cl[1]}" "${cl[2]}" "${cl[3]}")
    cl=("" "${cl[4]}" "${cl[5]}" "${cl[6]}")
    for i in 1 2 3; do
        raft_config "$variant" "$d" "$i" "${api[@]:1}" "${cl[@]:1}" \
            >"$d/n$i.hcl"
    done
    deadline=$(($(date +%s) + BRINGUP_S))
    raft_start_node 1
    wait_code "http://127.0.0.1:${api[1]}/v1/sys/health" any \
        "${SYS_PIDS[0]}" "$d/n1.log" "$deadline" || return 1
    body=$(curl -s --max-time 10 -X PUT \
        -d '{"recovery_shares":1,"recovery_threshold":1}' \
        "http://127.0.0.1:${api[1]}/v1/sys/init")
    if ! SYS_TOKEN=$(json 'd["root_token"]' <<<"$body"); then
        REASON="PUT sys/init on n1 answered: $(cut -c1-200 <<<"$body")"
        return 1
    fi
    wait_code "http://127.0.0.1:${api[1]}/v1/sys/health" 200 \
        "${SYS_PIDS[0]}" "$d/n1.log" "$deadline" || return 1
    raft_start_node 2
    raft_start_node 3
    for i in 2 3; do
        wait_code "http://127.0.0.1:${api[i]}/v1/sys/health?standbyok=true" \
            200 "${SYS_PIDS[i - 1]}" "$d/n$i.log" "$deadline" || return 1
    done
    voters=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        voters=$(curl -s --max-time 2 -H "X-Vault-Token: $SYS_TOKEN" \
            "http://127.0.0.1:${api[1]}/v1/sys/storage/raft/configuration" |
            json 'sum(1 for s in d["data"]["config"]["servers"]
                      if s["voter"])') || voters=0
        [ "$voters" != 3 ] || break
        sleep 0.2
    done
    if [ "$voters" != 3 ]; then
        REASON="raft configuration lists ${voters:-0} voters, not 3,"
        REASON+=" within ${BRINGUP_S} s"
        return 1
    fi
    SYS_URL=
    for i in 1 2 3; do
        code=$(http_code "http://127.0.0.1:${api[i]}/v1/sys/health")
        [ "$code" != 200 ] || SYS_URL=http://127.0.0.1:${api[i]}
    done
    if [ -z "$SYS_URL" ]; then
        REASON="no node answers sys/health 200 (no active node)"
        return 1
    fi
    code=$(http_code "$SYS_URL/v1/sys/mounts/secret" -X POST \
        -H "X-Vault-Token: $SYS_TOKEN" \
        -d '{"type":"kv","options":{"version":"2"}}')
    case $code in
        200|204) ;;
        *) REASON="POST sys/mounts/secret answered $code"; return 1 ;;
    esac
    # One write through the active node, read back through a standby.
    for i in 1 2 3; do
        [ "http://127.0.0.1:${api[i]}" = "$SYS_URL" ] || break
    done
    code=$(http_code "$SYS_URL/v1/secret/data/smoke" -X POST \
        -H "X-Vault-Token: $SYS_TOKEN" -d "{\"data\":{\"v\":\"$VALUE\"}}")
    if [ "$code" != 200 ] ||
        [ "$(curl -s --max-time 5 -H "X-Vault-Token: $SYS_TOKEN" \
            "http://127.0.0.1:${api[i]}/v1/secret/data/smoke" |
            json 'd["data"]["data"]["v"]')" != "$VALUE" ]; then
        REASON="a KV write on the active node (answered $code) does not"
        REASON+=" read back through n$i"
        return 1
    fi
    SYS_LOG=$d/n1.log
    for i in 1 2 3; do
        [ "http://127.0.0.1:${api[i]}" != "$SYS_URL" ] || SYS_LOG=$d/n$i.log
    done
}

# ------------------------------------------------------------------- etcd

# etcd_up ROUND: three members e1..e3 with default flags (fsync on), wait
# for /health on each, drive the leader (maintenance/status).
etcd_up() {
    local d=$TMP/etcd-$1 ports cluster="" i deadline status
    local -a c p
    SYS_DIR=$d
    SYS_PIDS=()
    SYS_TOKEN=
    mkdir -p "$d"
    ports=$(free_ports 6)
    read -r -a c <<<"x $ports"
    p=("" "${c[4]}" "${c[5]}" "${c[6]}")
    for i in 1 2 3; do
        cluster+="e$i=http://127.0.0.1:${p[i]},"
    done
    for i in 1 2 3; do
        "$ETCD" --name "e$i" --data-dir "$d/e$i" \
            --listen-client-urls "http://127.0.0.1:${c[i]}" \
            --advertise-client-urls "http://127.0.0.1:${c[i]}" \
            --listen-peer-urls "http://127.0.0.1:${p[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${p[i]}" \
            --initial-cluster "${cluster%,}" \
            --initial-cluster-token "kh-bench-$1" \
            --initial-cluster-state new \
            --logger zap --log-outputs stderr >"$d/e$i.log" 2>&1 &
        SYS_PIDS+=($!)
        bench_track "$!"
    done
    deadline=$(($(date +%s) + BRINGUP_S))
    for i in 1 2 3; do
        wait_code "http://127.0.0.1:${c[i]}/health" 200 "${SYS_PIDS[i - 1]}" \
            "$d/e$i.log" "$deadline" || return 1
    done
    SYS_URL=
    while [ -z "$SYS_URL" ] && [ "$(date +%s)" -lt "$deadline" ]; do
        for i in 1 2 3; do
            status=$(curl -s --max-time 2 -X POST -d '{}' \
                "http://127.0.0.1:${c[i]}/v3/maintenance/status" |
                json 'd["header"]["member_id"] == d["leader"]') || true
            if [ "$status" = True ]; then
                SYS_URL=http://127.0.0.1:${c[i]}
                SYS_LOG=$d/e$i.log
            fi
        done
        [ -n "$SYS_URL" ] || sleep 0.2
    done
    [ -n "$SYS_URL" ] || { REASON="no leader within ${BRINGUP_S} s"; return 1; }
}

# ------------------------------------------------------------ measurement

# read_back NAME ROUND: the value of key 2 of thread 1 (wrk spends thread
# 1's first request() call on checking the script, so key 1 may not exist).
read_back() {
    local key=bench-r$2-1-2
    if [ "$1" = etcd ]; then
        curl -s --max-time 5 -X POST \
            -d "{\"key\":\"$(printf %s "$key" | base64 -w0)\"}" \
            "$SYS_URL/v3/kv/range" |
            json 'd["kvs"][0]["value"]' | base64 -d 2>/dev/null
    else
        curl -s --max-time 5 -H "X-Vault-Token: $SYS_TOKEN" \
            "$SYS_URL/v1/secret/data/$key" | json 'd["data"]["data"]["v"]'
    fi
}

# etcd_fsyncs: how many times the driven etcd member fsync'd its WAL.
etcd_fsyncs() {
    curl -s --max-time 5 "$SYS_URL/metrics" | awk '
        $1 == "etcd_disk_wal_fsync_duration_seconds_count" { n = $2 }
        END { printf "%d\n", n }'
}

# wrk_figures OUT: "req_s p99_ms non2xx timeouts" from wrk's output.
wrk_figures() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return -1
        }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "non2xx" { bad = $2 }
        $1 == "timeouts" { to = $2 }
        END {
            if (rps == "" || p99 == "" || bad == "") exit 1
            printf "%.0f %.3f %d %d\n", rps, p99, bad, to
        }' "$1"
}

# broken NAME MESSAGE: a raft variant becomes unavailable; anything else
# fails the benchmark.
broken() {
    case $1 in
        keyhold-raft-*)
            UNAVAILABLE[$1]=$2
            echo "$BENCH: round $ROUND: $1: not available ($2)" ;;
        *)
            echo "$BENCH: $1: $2" >&2
            [ -z "${SYS_LOG:-}" ] || tail -n 5 "$SYS_LOG" >&2
            exit 1 ;;
    esac
}

# measure NAME ROUND: bring NAME up, warm up, measure, check, stop.
measure() {
    local name=$1 round=$2 script=$KV_LUA fig rps p99 bad to got ok=1 fsyncs
    REASON=
    SYS_LOG=
    case $name in
        keyhold-lmdb) lmdb_up "$round" || ok=0 ;;
        keyhold-raft-*) raft_up "$name" "$round" || ok=0 ;;
        etcd) etcd_up "$round" || ok=0; script=$ETCD_LUA ;;
    esac
    if [ "$ok" = 1 ]; then
        KH_BENCH_TOKEN=$SYS_TOKEN KH_BENCH_PREFIX=w$round \
            wrk -t2 -c32 -d"${WARMUP}s" -s "$script" "$SYS_URL/" \
            >"$SYS_DIR/warmup.txt" 2>&1 || true
        [ "$name" != etcd ] || fsyncs=$(etcd_fsyncs)
        KH_BENCH_TOKEN=$SYS_TOKEN KH_BENCH_PREFIX=r$round \
            wrk -t2 -c32 -d"${DURATION}s" --latency -s "$script" \
            "$SYS_URL/" >"$SYS_DIR/wrk.txt" 2>&1 || true
        [ "$name" != etcd ] || fsyncs=$(($(etcd_fsyncs) - fsyncs))
        if ! fig=$(wrk_figures "$SYS_DIR/wrk.txt"); then
            ok=0
            REASON="cannot parse wrk output: $(last_line "$SYS_DIR/wrk.txt")"
        else
            read -r rps p99 bad to <<<"$fig"
            got=$(read_back "$name" "$round" || true)
            if [ "$bad" != 0 ]; then
                ok=0
                REASON="$bad non-2xx answers under load"
                got=$(last_line "$SYS_LOG")
                [ -z "$got" ] || REASON+="; $(basename "$SYS_LOG"): $got"
            elif [ "$got" != "$VALUE" ]; then
                ok=0
                REASON="bench-r$round-1-2 reads back '$got'"
            fi
        fi
    fi
    if [ "$ok" = 1 ]; then
        [ "$to" = 0 ] || echo "$BENCH: round $round: $name: $to wrk" \
            "timeouts (counted as not completed)"
        printf '%-5s %-20s %9s req/s   p99 %9.3f ms' "$round" "$name" \
            "$rps" "$p99"
        if [ "$name" = etcd ]; then
            printf '   (leader WAL fsyncs: %s for %s puts)' "$fsyncs" \
                "$(awk '/ requests in / {print $1}' "$SYS_DIR/wrk.txt")"
        fi
        echo
        echo "$round $name $rps $p99" >>"$RESULTS"
    fi
    stop_pids "${SYS_PIDS[@]}"
    SYS_PIDS=()
    [ "$ok" = 1 ] || broken "$name" "$REASON"
    rm -rf "$SYS_DIR"
}

# ------------------------------------------------------------------- main

ALL_SYSTEMS="keyhold-lmdb keyhold-raft-tls keyhold-raft-plain etcd"
read -r -a SYSTEMS <<<"${SYSTEMS:-$ALL_SYSTEMS}"
make_certs "$TMP/certs"
echo "$BENCH: wrk -t2 -c32 -d${DURATION}s --latency (after ${WARMUP} s" \
     "warm-up), $ROUNDS rounds, a new key per write, 64-byte values"
echo "$BENCH: keyholdd $KEYHOLDD (${BUILD_TYPE:-unknown build})"
if [ -z "${UNAVAILABLE[etcd]:-}" ]; then
    echo "$BENCH: etcd $("$ETCD" --version | awk '/^etcd Version/ {print $3}')" \
         "with default flags: WAL fsync'd on every commit (3.4 has no" \
         "--unsafe-no-fsync), as keyhold's commits are"
fi
echo "$BENCH: data under $TMP ($(stat -f -c %T "$TMP") file system)"
echo "(load generator and servers share this machine's cores; each system" \
     "runs alone, brought up fresh per round)"
printf '%-5s %-20s %15s   %16s\n' round system "write rate" "latency"
for ROUND in $(seq 1 "$ROUNDS"); do
    order=("${SYSTEMS[@]}")
    if [ $((ROUND % 2)) = 0 ]; then
        order=()
        for ((i = ${#SYSTEMS[@]} - 1; i >= 0; i--)); do
            order+=("${SYSTEMS[i]}")
        done
    fi
    for name in "${order[@]}"; do
        [ -z "${UNAVAILABLE[$name]:-}" ] || continue
        measure "$name" "$ROUND"
    done
done

# ---------------------------------------------------------------- summary

echo
printf '%-44s %9s %10s\n' "median of $ROUNDS rounds" "req/s" "p99 ms"
label() {
    case $1 in
        keyhold-lmdb) echo "keyhold lmdb (1 node, -dev)" ;;
        keyhold-raft-tls) echo "keyhold raft (3 nodes, cluster TLS)" ;;
        keyhold-raft-plain) echo "keyhold raft (3 nodes, tls_disable)" ;;
        etcd) echo "etcd (3 members, fsync on)" ;;
    esac
}
declare -A MED=()
for name in "${SYSTEMS[@]}"; do
    if [ -n "${UNAVAILABLE[$name]:-}" ]; then
        case $name in keyhold-raft-*) what="keyhold raft" ;; *) what=$name ;;
        esac
        printf '%-44s %s\n' "$(label "$name")" \
            "$what: not available (${UNAVAILABLE[$name]})"
        continue
    fi
    MED[$name]=$(median_of "$RESULTS" "$name" 3 %.0f)
    printf '%-44s %9s %10s\n' "$(label "$name")" "${MED[$name]}" \
        "$(median_of "$RESULTS" "$name" 4 %.3f)"
done

# ratio A B: per-round ratios of req/s A/B and their median.
ratio() {
    local per
    per=$(awk -v a="$1" -v b="$2" '
        $2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 }
        END { for (r in x) if (r in y && y[r] > 0)
                  printf "%s %.3f\n", r, x[r] / y[r] }' "$RESULTS" | sort -n)
    [ -n "$per" ] || return 1
    printf '%-44s %s   (rounds: %s)\n' "req/s $1 / $2" \
        "$(awk '{print $2}' <<<"$per" | median %.3f)" \
        "$(awk '{printf "%s ", $2}' <<<"$per" | sed 's/ $//')"
}
echo
printf '%s\n' "ratios (median of the per-round ratios):"
ratio keyhold-lmdb etcd ||
    printf '%-44s %s\n' "req/s keyhold-lmdb / etcd" "n/a (not measured)"
for raft in keyhold-raft-tls keyhold-raft-plain; do
    for ref in etcd keyhold-lmdb; do
        if ! ratio "$raft" "$ref"; then
            printf '%-44s %s\n' "req/s $raft / $ref" "n/a (not measured)"
        elif [ "$ref" = etcd ]; then
            awk -v a="${MED[$raft]}" -v b="${MED[etcd]}" 'BEGIN {
                printf "%-44s %s\n", "  goal: keyhold raft >= etcd",
                    (a >= b ? "met" : "not met") }'
        fi
    done
done
