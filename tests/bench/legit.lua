-- wrk: legitimate admission reviews (REVIEW, allowed); counts every answer that is not
-- `allowed: true` (a 500 fault under load is a cluster-wide write outage).
package.path = (os.getenv("BENCH_DIR") or "tests/bench") .. "/?.lua;" .. package.path
require "count"
local file = assert(io.open(os.getenv("REVIEW") or "tests/kubernetes/deployment-allow.json", "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function init(args)
  n_allowed, n_other = 0, 0
end

function response(status, headers, body)
  if status == 200 and body:find('"allowed":true', 1, true) then
    n_allowed = n_allowed + 1
  else
    n_other = n_other + 1
  end
end

function done(summary, latency, requests)
  report(summary, latency)
end
