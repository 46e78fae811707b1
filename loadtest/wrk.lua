-- wrk script of `python -m loadtest.bench`.
-- Walks a list of requests (path, User-Agent, X-Forwarded-For per line, tab-separated),
-- counts answers by status, and prints one JSON line at the end.
-- Arguments after `--`: requests file, host header, rate per thread (req/s, 0 = as fast as
-- possible). With a rate, requests follow a fixed schedule (open loop): each is sent at its
-- slot, or at once when the schedule is behind, so a slow answer does not slow the offered load
-- as long as a connection is free. wrk has no clock for scripts: LuaJIT's ffi reads one.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } sl_timespec;
int clock_gettime(int clk_id, sl_timespec *tp);
]]
local ts = ffi.new("sl_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local counters = { "s2xx", "s3xx", "s404", "sother" }

function setup(thread)
  thread:set("id", #threads)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
end

local requests, n, i
local interval, next_at

function init(args)
  local file, host, rate = args[1], args[2], tonumber(args[3] or "0")
  requests = {}
  for line in io.lines(file) do
    local path, ua, ip = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)")
    if path then
      requests[#requests + 1] = wrk.format("GET", path,
        { ["Host"] = host, ["User-Agent"] = ua, ["X-Forwarded-For"] = ip, ["Accept"] = "*/*" })
    end
  end
  n = #requests
  -- Threads start at different points of the list so that they do not repeat each other.
  i = math.floor(n * (id or 0) / 8) % n
  s2xx, s3xx, s404, sother = 0, 0, 0, 0
  if rate > 0 then
    interval = 1000.0 / rate
    delay = function()
      local t = now_ms()
      if next_at == nil then next_at = t end
      next_at = next_at + interval
      local d = next_at - t
      if d <= 0 then return 0 end
      return math.floor(d)
    end
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

function response(status, headers, body)
  if status >= 300 and status < 400 then
    s3xx = s3xx + 1
  elseif status >= 200 and status < 300 then
    s2xx = s2xx + 1
  elseif status == 404 then
    s404 = s404 + 1
  else
    sother = sother + 1
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, name in ipairs(counters) do totals[name] = 0 end
  for _, t in ipairs(threads) do
    for _, name in ipairs(counters) do totals[name] = totals[name] + (t:get(name) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"status": {"2xx": %d, "3xx": %d, "404": %d, "other": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    totals.s2xx, totals.s3xx, totals.s404, totals.sother))
end
