-- wrk: mixed decisions over the three front ends, in turn: /v1/decide (JSON), /validate
-- (AdmissionReview), /openstack (oslo.policy's form). WORK holds api.json and openstack.form.
package.path = (os.getenv("BENCH_DIR") or "tests/bench") .. "/?.lua;" .. package.path
require "count"
local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end
local work = os.getenv("WORK")
local bodies = {
  {"/v1/decide", "application/json", read(work .. "/api.json")},
  {"/validate", "application/json", read(os.getenv("REVIEW") or "tests/kubernetes/deployment-allow.json")},
  {"/openstack", "application/x-www-form-urlencoded", read(work .. "/openstack.form")},
}
local i = 0

function init(args)
  n_allowed, n_denied, n_true, n_false, n_bad, n_s4xx, n_s5xx, n_other = 0, 0, 0, 0, 0, 0, 0, 0
end

function request()
  i = i % #bodies + 1
  local b = bodies[i]
  return wrk.format("POST", b[1], {["Content-Type"] = b[2]}, b[3])
end

function response(status, headers, body)
  if status >= 500 then n_s5xx = n_s5xx + 1
  elseif status >= 400 then n_s4xx = n_s4xx + 1
  elseif body == "True" then n_true = n_true + 1
  elseif body == "False" then n_false = n_false + 1
  elseif body:find('"allowed":true', 1, true) or body:find('"decision":"allow"', 1, true) then
    n_allowed = n_allowed + 1
  elseif body:find('"allowed":false', 1, true) or body:find('"decision":"deny"', 1, true) then
    n_denied = n_denied + 1
  else n_other = n_other + 1 end
end

function done(summary, latency, requests)
  report(summary, latency)
end
