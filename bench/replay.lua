-- wrk script: replay a pre-generated stream of requests (one per line: METHOD \t PATH \t HEADERS \t BODY),
-- each thread taking its own slice so no request is ever sent twice (pyehsm's replay guard stays ON).
-- Counts responses whose envelope is not a success and prints one JSON line at the end.
-- Usage: wrk -t2 -c32 -d10s -s bench/replay.lua URL -- STREAM_FILE SUCCESS_MARKER

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "([^\t]*)\t?") do
    table.insert(fields, field)
  end
  return fields
end

function init(args)
  local file, marker = args[1], args[2]
  success_marker = marker
  requests = {}
  errors = 0
  responses = 0
  local nthreads = tonumber(args[3]) or 1
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then
      local f = split(line)
      local headers = {}
      for pair in string.gmatch(f[3], "([^;]+)") do
        local k, v = string.match(pair, "([^:]+):(.*)")
        headers[k] = v
      end
      table.insert(requests, wrk.format(f[1], f[2], headers, f[4]))
    end
    n = n + 1
  end
  index = 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
    exhausted = true
  end
  return requests[index]
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or not string.find(body, success_marker, 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs, exhausted_any = 0, false
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    if t:get("exhausted") then exhausted_any = true end
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "socket_errors": %d, "exhausted": %s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    tostring(exhausted_any)))
end
