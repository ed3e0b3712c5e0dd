-- wrk helpers: count answers by class across threads and print one summary line.
-- Used by soak.lua and legit.lua: `classify(status, body)` returns a counter name.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

counts = {}

function count(name)
  counts[name] = (counts[name] or 0) + 1
end

function report(summary, latency)
  local totals = {}
  for _, thread in ipairs(threads) do
    for _, name in ipairs({"allowed", "denied", "false", "true", "bad", "s4xx", "s5xx", "other"}) do
      local n = thread:get("n_" .. name)
      if n then totals[name] = (totals[name] or 0) + n end
    end
  end
  local parts = {}
  for name, n in pairs(totals) do table.insert(parts, name .. "=" .. n) end
  table.sort(parts)
  io.write(string.format(
    "answered %d in %.1f s (%.0f/s)  p50 %.2f ms  p99 %.2f ms  max %.2f ms  socket errors %d (connect %d, read %d, write %d, timeout %d)  %s\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    table.concat(parts, " ")))
end

