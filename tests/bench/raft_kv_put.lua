-- tests/bench/raft_kv_put.lua - wrk script of run_raft.sh: KV v2 writes
-- to Keyhold, one new key per request.
--
-- Each request is POST /v1/secret/data/bench-<prefix>-<thread>-<n> with
-- body {"data":{"v":"<64 bytes>"}}: the thread number (set in setup) and a
-- per-thread counter make every key of one wrk run distinct, and the
-- prefix (KH_BENCH_PREFIX) keeps runs apart. The token comes from
-- KH_BENCH_TOKEN (default "root"). done() prints "non2xx N" and
-- "timeouts N", which run_raft.sh checks. The value is the same 64 bytes
-- that etcd_put.lua writes.
--
-- It only writes; it never reads back nor deletes (run_raft.sh does the
-- read-back check with curl).

local token = os.getenv("KH_BENCH_TOKEN") or "root"
local prefix = os.getenv("KH_BENCH_PREFIX") or "w"
local value = string.rep("0123456789abcdef", 4)
local body = '{"data":{"v":"' .. value .. '"}}'
local threads = 0
local n = 0

wrk.headers["X-Vault-Token"] = token
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  n = n + 1
  return wrk.format("POST", "/v1/secret/data/bench-" .. prefix .. "-" ..
                    tid .. "-" .. n, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
  io.write(string.format("timeouts %d\n", summary.errors.timeout))
end
