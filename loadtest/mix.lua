-- wrk script: several users (one token each, round robin) asking a mix of readings pages,
-- aggregates and units. TOKENS and MUIDS come from the environment (loadtest/run.py sets them).
local tokens, muids = {}, {}
for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do table.insert(tokens, token) end
for muid in string.gmatch(os.getenv("MUIDS") or "", "[^,]+") do table.insert(muids, muid) end

local paths = {
  "/api/v1/readings/?muid=%s&page_size=96",
  "/api/v1/readings/?muid=%s&start=2023-02-10&end=2023-02-12&ordering=-timestamp",
  "/api/v1/readings/aggregate/?muid=%s&interval=day&start=2023-02-01&end=2023-03-01",
  "/api/v1/readings/aggregate/?muid=%s&interval=hour&start=2023-02-14&end=2023-02-21",
  "/api/v1/readings/aggregate/?muid=%s&interval=week&agg=max",
  "/api/v1/units/",
  "/api/v1/units/%s/",
}
local n = 0

request = function()
  n = n + 1
  local user = (n % #tokens) + 1
  -- User i reads unit i modulo the units (loadtest/run.py grants them so).
  local muid = muids[((user - 1) % #muids) + 1]
  local path = string.format(paths[(n % #paths) + 1], muid)
  return wrk.format("GET", path, {["Authorization"] = "Token " .. tokens[user]})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.1f, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}, "latency_ms": {"p50": %.1f, '
      .. '"p95": %.1f, "p99": %.1f, "max": %.1f}}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3))
end
