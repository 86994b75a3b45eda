-- wrk script for `make bench-server` (scripts/bench_server.py). Arguments after `--`: MODE [FILE] [N];
-- the summary goes to the JSON file named by $WRK_OUT.
-- MODE read:   GET /v1/patient/records?limit=N with the bearer token of line ((thread-1) % lines)+1 of FILE
--      append: POST /v1/patient/records (a ~200-byte record) with the same choice of token
--      flood-accounts: POST /v1/patients/login, the e-mails of FILE in turn, a wrong password, no X-Forwarded-For
--      flood-spray:    POST /v1/patients/login, a new unknown e-mail and a new X-Forwarded-For address every request
-- Run with as many threads as connections for read/append, so each connection keeps one token.
-- At the end it writes $WRK_OUT: requests, seconds, latency percentiles (µs), records read, socket errors, counts by
-- status.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do if #line > 0 then out[#out + 1] = line end end
  return out
end

function init(args)
  mode = args[1]
  statuses = {}
  records = 0
  local hdrs = { ["Content-Type"] = "application/json" }
  if mode == "read" or mode == "append" then
    local tokens = lines(args[2])
    hdrs["Authorization"] = "Bearer " .. tokens[((id - 1) % #tokens) + 1]
    if mode == "read" then
      fixed = wrk.format("GET", "/v1/patient/records?limit=" .. (args[3] or "100"), hdrs, nil)
    else
      local text = string.rep("m", 160)
      fixed = wrk.format("POST", "/v1/patient/records", hdrs,
        '{"type":"note","data":{"text":"' .. text .. '","by":"bench","n":' .. id .. '}}')
    end
  elseif mode == "flood-accounts" then
    emails = lines(args[2])
    n = id
  else
    n = 0
  end
  base = hdrs
end

function request()
  if fixed then return fixed end
  n = n + 1
  if mode == "flood-accounts" then
    local email = emails[(n % #emails) + 1]
    return wrk.format("POST", "/v1/patients/login", base, '{"email":"' .. email .. '","password":"wrong password 0"}')
  end
  local h = { ["Content-Type"] = "application/json",
              ["X-Forwarded-For"] = string.format("10.%d.%d.%d", id % 256, math.floor(n / 256) % 256, n % 256) }
  return wrk.format("POST", "/v1/patients/login", h,
    '{"email":"spray-' .. id .. '-' .. n .. '@bench.invalid","password":"wrong password 0"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if mode == "read" and status == 200 then
    local _, c = string.gsub(body, '"seq":', "")
    records = records + c
  end
end

function done(summary, latency, requests)
  local byStatus = {}
  local records = 0
  for _, t in ipairs(threads) do
    records = records + (t:get("records") or 0)
    local s = t:get("statuses")
    if s then for k, v in pairs(s) do byStatus[tostring(k)] = (byStatus[tostring(k)] or 0) + v end end
  end
  local parts = {}
  for k, v in pairs(byStatus) do parts[#parts + 1] = '"' .. k .. '":' .. v end
  local e = summary.errors
  local f = assert(io.open(os.getenv("WRK_OUT"), "w"))
  f:write(string.format('{"requests":%d,"seconds":%.6f,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,' ..
    '"records":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, records, e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, ",")))
  f:close()
end
