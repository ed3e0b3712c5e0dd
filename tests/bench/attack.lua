-- wrk: the starvation attack of issue 11, item 2: ~1 MB requests to /v1/decide (a 100,000-element
-- set in `context`), ATTACK names the body.
package.path = (os.getenv("BENCH_DIR") or "tests/bench") .. "/?.lua;" .. package.path
require "count"
local file = assert(io.open(os.getenv("ATTACK"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function init(args)
  n_s4xx, n_s5xx, n_other = 0, 0, 0
end

function response(status, headers, body)
  if status >= 500 then n_s5xx = n_s5xx + 1
  elseif status >= 400 then n_s4xx = n_s4xx + 1
  else n_other = n_other + 1 end
end

function done(summary, latency, requests)
  report(summary, latency)
end
