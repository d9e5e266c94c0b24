-- wrk script for every REST scenario of the benchmark (tests/bench/harness.py runs it).
--
-- The scenario and its inputs come from the environment:
--   BENCH_SCENARIO  get | list | balance | create | tokenize | replay | payment | capture |
--                   refund
--   BENCH_RATE      operations per second over all threads (0: closed loop, as fast as
--                   answers come back); an operation is one request, or one flow for
--                   payment / capture / refund
--   BENCH_THREADS   wrk's -t, so that each thread takes its share of BENCH_RATE
--   BENCH_KEYS      secret keys, comma separated; thread i uses key i mod n
--   BENCH_PK        publishable keys, in the same order
--   BENCH_IDS       payment intent ids for `get`, comma separated
--   BENCH_MAX_OPS   operations per thread at most (0: only wrk's -d bounds the run)
--
-- State is kept per thread, so the harness runs one connection per thread (-t N -c N).
-- Each thread counts answers by status and records each operation's latency (from its
-- first request to its last answer); done() prints one line
-- "BENCHJSON {...}" that the harness reads.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function split(s)
  local out = {}
  for part in string.gmatch(s or "", "[^,]+") do out[#out + 1] = part end
  return out
end

local scenario = os.getenv("BENCH_SCENARIO") or "get"
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local keys = split(os.getenv("BENCH_KEYS"))
local pks = split(os.getenv("BENCH_PK"))
local max_ops = tonumber(os.getenv("BENCH_MAX_OPS") or "0") -- per thread; 0: no bound

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

-- per-thread state (each wrk thread has its own Lua state)
statuses = {}
latencies = {}
ops = 0
failures = 0
local sk, pk, ids, step, op_started, next_at, interval
local token, intent, replay_key, cursor
local seq = 0

local card = '{"card": {"number": "4242424242424242", "exp_month": 12, '
  .. '"exp_year": 2040, "cvc": "123"}}'

function init(args)
  local n = #keys
  sk = keys[(thread_index % n) + 1]
  pk = pks[(thread_index % n) + 1] or ""
  ids = split(os.getenv("BENCH_IDS"))
  step = 1
  interval = rate > 0 and (1000.0 * nthreads / rate) or 0
  -- spread the threads' first arrivals over one interval
  next_at = now_ms() + interval * (thread_index / nthreads)
  replay_key = string.format("bench-replay-%d-%d", thread_index, math.random(1, 1e9))
  math.randomseed(os.time() + thread_index)
end

local function json_headers(key)
  return { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
end

local function unique_key()
  seq = seq + 1
  return string.format("bench-%d-%d-%d", thread_index, math.random(1, 1e9), seq)
end

-- which request comes next, for each scenario and step
local function next_request()
  if scenario == "get" then
    seq = seq + 1
    local id = ids[(seq % #ids) + 1]
    return wrk.format("GET", "/v1/payment_intents/" .. id, json_headers(sk))
  elseif scenario == "balance" then
    return wrk.format("GET", "/v1/balance", json_headers(sk))
  elseif scenario == "list" then
    local path = "/v1/payment_intents?limit=10"
    if cursor then path = path .. "&starting_after=" .. cursor end
    return wrk.format("GET", path, json_headers(sk))
  elseif scenario == "create" then
    return wrk.format("POST", "/v1/payment_intents", json_headers(sk),
      '{"amount": 1000, "currency": "usd"}')
  elseif scenario == "replay" then
    local h = json_headers(sk)
    h["Idempotency-Key"] = replay_key
    return wrk.format("POST", "/v1/payment_intents", h, '{"amount": 1000, "currency": "usd"}')
  elseif scenario == "tokenize" then
    return wrk.format("POST", "/v1/tokens", json_headers(pk), card)
  end
  -- flows: payment, capture, refund; keys where the hosted checkout sends them
  -- (clients/web/checkout): on the tokenization and on the confirm
  if step == 1 then
    local h = json_headers(pk)
    h["Idempotency-Key"] = unique_key()
    return wrk.format("POST", "/v1/tokens", h, card)
  elseif step == 2 then
    local body = '{"amount": 2500, "currency": "usd"}'
    if scenario == "capture" then
      body = '{"amount": 2500, "currency": "usd", "capture_method": "MANUAL"}'
    end
    return wrk.format("POST", "/v1/payment_intents", json_headers(sk), body)
  elseif step == 3 then
    local h = json_headers(sk)
    h["Idempotency-Key"] = unique_key()
    return wrk.format("POST", "/v1/payment_intents/" .. intent .. "/confirm", h,
      '{"payment_method": "' .. token .. '"}')
  elseif scenario == "capture" then
    local h = json_headers(sk)
    h["Idempotency-Key"] = unique_key()
    return wrk.format("POST", "/v1/payment_intents/" .. intent .. "/capture", h, "{}")
  else -- refund
    local h = json_headers(sk)
    h["Idempotency-Key"] = unique_key()
    return wrk.format("POST", "/v1/refunds", h, '{"payment_intent": "' .. intent .. '"}')
  end
end

local flow_steps = { payment = 3, capture = 4, refund = 4 }

function delay()
  -- open model: each operation starts at its scheduled time, not when the last one ended
  if interval <= 0 or step ~= 1 then return 0 end
  local now = now_ms()
  local at = next_at
  if at < now then at = now end -- behind schedule: go at once, without a catch-up burst
  next_at = at + interval
  return at - now
end

function request()
  if step == 1 then op_started = now_ms() end
  return next_request()
end

local function finish_op(ok)
  if ok then
    ops = ops + 1
    latencies[#latencies + 1] = now_ms() - op_started
  else
    failures = failures + 1
  end
  step = 1
  if max_ops > 0 and ops + failures >= max_ops then wrk.thread:stop() end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local ok = status >= 200 and status < 300
  local last = flow_steps[scenario]
  if not last then
    if scenario == "list" then
      local more = ok and string.find(body, '"has_more":%s*true')
      cursor = more and string.match(body, '.*"id":%s*"(pi_[^"]+)"') or nil
    end
    finish_op(ok)
    return
  end
  if not ok then
    finish_op(false)
    return
  end
  if step == 1 then
    token = string.match(body, '"id":%s*"(tok_[^"]+)"')
  elseif step == 2 then
    intent = string.match(body, '"id":%s*"(pi_[^"]+)"')
  end
  if step == last then
    finish_op(true)
  else
    step = step + 1
  end
end

function done(summary, latency, requests)
  local out = {
    duration_s = summary.duration / 1e6,
    requests = summary.requests,
    socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    ops = 0,
    failures = 0,
    statuses = {},
    latencies_ms = {},
  }
  for _, t in ipairs(threads) do
    out.ops = out.ops + (t:get("ops") or 0)
    out.failures = out.failures + (t:get("failures") or 0)
    for code, n in pairs(t:get("statuses") or {}) do
      local k = tostring(code)
      out.statuses[k] = (out.statuses[k] or 0) + n
    end
    for _, ms in ipairs(t:get("latencies") or {}) do
      out.latencies_ms[#out.latencies_ms + 1] = ms
    end
  end
  -- hand-written JSON: wrk has no encoder
  local parts = {}
  for k, v in pairs(out.statuses) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local lat = {}
  for i, v in ipairs(out.latencies_ms) do lat[i] = string.format("%.3f", v) end
  io.write(string.format(
    'BENCHJSON {"duration_s": %.3f, "requests": %d, "socket_errors": %d, "ops": %d, '
      .. '"failures": %d, "statuses": {%s}, "latencies_ms": [%s]}\n',
    out.duration_s, out.requests, out.socket_errors, out.ops, out.failures,
    table.concat(parts, ", "), table.concat(lat, ",")))
end
