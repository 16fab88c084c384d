-- wrk script for ./inv bench.load: the method and JSON body from WRK_METHOD and
-- WRK_BODY; a bearer token per request taken in turn from the file WRK_TOKENS
-- and a path taken in turn from WRK_PATHS (one per line, both optional); a
-- one-line JSON summary at the end ("WRK_JSON {...}").
local tokens, paths, counter = {}, {}, 0
local method, body = os.getenv("WRK_METHOD") or "GET", os.getenv("WRK_BODY")
if body == "" then body = nil end

local function lines(variable, into)
  local path = os.getenv(variable)
  if path and path ~= "" then
    for line in io.lines(path) do into[#into + 1] = line end
  end
end

function init(args)
  lines("WRK_TOKENS", tokens)
  lines("WRK_PATHS", paths)
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  counter = counter + 1
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1] end
  if body then headers["Content-Type"] = "application/json" end
  local path = nil
  if #paths > 0 then path = paths[(counter % #paths) + 1] end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
