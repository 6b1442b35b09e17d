-- tests/bench/etcd_put.lua - wrk script of run_raft.sh: puts to etcd's
-- JSON gateway (etcd 3.4: POST /v3/kv/put), one new key per request.
--
-- Each request's body is {"key":"<base64>","value":"<base64>"} where the
-- key is bench-<prefix>-<thread>-<n> (thread number set in setup, n a
-- per-thread counter, prefix from KH_BENCH_PREFIX), exactly the names
-- raft_kv_put.lua writes under secret/data/, and the value the same 64
-- bytes. done() prints "non2xx N" and "timeouts N" for run_raft.sh.
--
-- It only writes; it never reads back nor deletes.

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local prefix = os.getenv("KH_BENCH_PREFIX") or "w"
local threads = 0
local n = 0

local function b64char(i)
  return B64:sub(i + 1, i + 1)
end

-- RFC 4648 base64 with padding, by arithmetic (Lua 5.1 has no bit ops).
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = b64char(math.floor(v / 262144) % 64) ..
                    b64char(math.floor(v / 4096) % 64) ..
                    (b and b64char(math.floor(v / 64) % 64) or "=") ..
                    (c and b64char(v % 64) or "=")
  end
  return table.concat(out)
end

local value64 = base64(string.rep("0123456789abcdef", 4))

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  n = n + 1
  local key = "bench-" .. prefix .. "-" .. tid .. "-" .. n
  return wrk.format(nil, "/v3/kv/put", nil,
                    '{"key":"' .. base64(key) .. '","value":"' .. value64 ..
                    '"}')
end

function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
  io.write(string.format("timeouts %d\n", summary.errors.timeout))
end
