-- wrk script for the ingest load: POST /v1/recharges with a fresh Idempotency-Key per request.
-- Usage: wrk -t1 -c32 -d10s -s bench/lib/wrk-post.lua <url> -- <api key> <run prefix>
-- done() prints one line `WRK_JSON {...}`: requests, duration, socket errors, status counts and
-- latency percentiles (ms), which bench/lib/load.js parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local key = args[1] or error("wrk-post.lua: the API key is the first script argument")
  run = (args[2] or tostring(os.time())) .. "-" .. tostring(tid)
  authorization = "Bearer " .. key
  statuses = {}
end

-- The same shape as bench/lib/load.js nextRecharge(): 1,000 accounts, varied amounts.
function request()
  counter = counter + 1
  local n = counter
  local body = string.format(
    '{"accountId":"12345678%08d","amount":%d,"currency":"CNY","orderReference":"order-%s-%d","metadata":{"source":"bench"}}',
    (n * 7919) % 1000, 100 + (n * 37) % 100000, run, n)
  -- wrk.format uses these headers instead of wrk.headers (Host and Content-Length it adds itself).
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = authorization,
    ["Idempotency-Key"] = "bench-" .. run .. "-" .. n,
  }
  return wrk.format("POST", "/v1/recharges", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local function json_counts(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format('"%s":%d', tostring(k), v)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses") or {}) do total[code] = (total[code] or 0) + count end
  end
  local e = summary.errors
  local ms = function(us) return us / 1000 end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"statusCodes":%s,"latencyMs":{"p50":%.2f,"p90":%.2f,"p99":%.2f,"max":%.2f,"mean":%.2f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, json_counts(total),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency.max), ms(latency.mean)))
end
