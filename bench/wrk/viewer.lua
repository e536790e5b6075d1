-- wrk script of the warm path: GET /v1/channels/<prefix><c>/viewer with a
-- bearer token, rotating through tokens (distinct subjects) and channels so
-- that per-subject and per-channel state is not one hot key. Requests are
-- built once per thread in init(); request() only hands out the next one.
--
-- Environment: BENCH_TOKENS (file, one token per line; absent: no
-- Authorization), BENCH_PREFIX (channel prefix, bench-w-), BENCH_CHANNELS (16),
-- BENCH_PATH ("viewer": kvsgate; "express": the baseline's
-- /channel/viewer/<name>/<clientid>; "fixed": "/" for the bare server).
--
-- done() prints one JSON line prefixed "BENCH " with the figures run.sh
-- records: requests/s, latency p50/p90/p99/p99.9 (microseconds), errors.
local tokens = {}
local reqs = {}
local idx = 0

function init(args)
  local file = os.getenv("BENCH_TOKENS")
  if file and file ~= "" then
    for line in io.lines(file) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  local prefix = os.getenv("BENCH_PREFIX") or "bench-w-"
  local channels = tonumber(os.getenv("BENCH_CHANNELS") or "16")
  local kind = os.getenv("BENCH_PATH") or "viewer"
  -- a period that covers every (token, channel) pair; offset per thread
  local n = math.max(#tokens, 1) * channels
  if n > 4096 then n = 4096 end
  local offset = (wrk.thread and tonumber(tostring(wrk.thread):match("0x(%x+)"), 16) or 0) % 997
  for i = 0, n - 1 do
    local k = i + offset
    local ch = prefix .. (k % channels)
    local headers = {}
    local t = #tokens > 0 and tokens[(k % #tokens) + 1] or nil
    if t then headers["Authorization"] = "Bearer " .. t end
    local path
    if kind == "express" then
      path = "/channel/viewer/" .. ch .. "/bench-user-" .. (k % math.max(#tokens, 1))
    elseif kind == "fixed" then
      path = "/"
    else
      path = "/v1/channels/" .. ch .. "/viewer"
    end
    reqs[#reqs + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    'BENCH {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, s, summary.requests / s,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
