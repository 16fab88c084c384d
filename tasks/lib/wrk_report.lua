-- wrk script for ./inv bench.load: the method and JSON body from WRK_METHOD and
-- WRK_BODY, a bearer token per request taken in turn from the file WRK_TOKENS
-- (one per line), and a one-line JSON summary at the end ("WRK_JSON {...}").
local tokens, method, body, counter = {}, os.getenv("WRK_METHOD") or "GET", os.getenv("WRK_BODY"), 0

function init(args)
  local path = os.getenv("WRK_TOKENS")
  if path and path ~= "" then
    for line in io.lines(path) do tokens[#tokens + 1] = line end
  end
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if #tokens > 0 then
    counter = counter + 1
    headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  end
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
