-- wrk: legitimate oslo.policy checks (WORK/openstack.form, a compliant project: `True`); counts
-- every answer that is not `True` (oslo.policy denies on anything else).
package.path = (os.getenv("BENCH_DIR") or "tests/bench") .. "/?.lua;" .. package.path
require "count"
local file = assert(io.open(os.getenv("WORK") .. "/openstack.form", "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function init(args)
  n_true, n_other = 0, 0
end

function response(status, headers, body)
  if status == 200 and body == "True" then
    n_true = n_true + 1
  else
    n_other = n_other + 1
  end
end

function done(summary, latency, requests)
  report(summary, latency)
end
