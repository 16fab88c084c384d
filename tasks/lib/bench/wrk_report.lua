-- wrk script for ./inv bench.load: the method and JSON body from WRK_METHOD and
-- WRK_BODY; a bearer token, a path and a JSON body per request, each taken in
-- turn from the files WRK_TOKENS, WRK_PATHS and WRK_BODIES (one per line, all
-- optional); with WRK_STATUSES=1, a count of responses by status (it costs
-- wrk a parse of every response, so only scenarios that need it ask); a
-- one-line JSON summary at the end ("WRK_JSON {...}").
local tokens, paths, bodies, counter = {}, {}, {}, 0
local method, body = os.getenv("WRK_METHOD") or "GET", os.getenv("WRK_BODY")
if body == "" then body = nil end
local threads = {}
statuses = {}  -- global: done() reads each thread's copy

local function lines(variable, into)
  local path = os.getenv(variable)
  if path and path ~= "" then
    for line in io.lines(path) do into[#into + 1] = line end
  end
end

function setup(thread)
  thread:set("offset", #threads * 7919)  -- threads walk the files from different places
  threads[#threads + 1] = thread
end

function init(args)
  counter = offset or 0
  lines("WRK_TOKENS", tokens)
  lines("WRK_PATHS", paths)
  lines("WRK_BODIES", bodies)
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  counter = counter + 1
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1] end
  local payload = body
  if #bodies > 0 then payload = bodies[(counter % #bodies) + 1] end
  if payload then headers["Content-Type"] = "application/json" end
  local path = nil
  if #paths > 0 then path = paths[(counter % #paths) + 1] end
  return wrk.format(method, path, headers, payload)
end

if os.getenv("WRK_STATUSES") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local counted = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do counted[status] = (counted[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counted) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
