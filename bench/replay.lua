-- wrk script: replay a pre-generated stream of requests (one per line: METHOD \t PATH \t HEADERS \t BODY),
-- each thread taking its own slice so no request is ever sent twice (pyehsm's replay guard stays ON).
-- Prints one JSON line at the end. No response() callback on purpose: with one, Lua's collector stalls
-- wrk's threads while responses wait (bench/load.py says more); success is checked by bench/load.py.
-- Usage: wrk -t2 -c32 -d10s -s bench/replay.lua URL -- STREAM_FILE THREADS

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
  local file = args[1]
  requests = {}
  local nthreads = tonumber(args[2]) or 1
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then
      local f = split(line)
      local headers = {}
      local text, pattern = f[3], "([^;]+)"
      if string.sub(text, 1, 1) == "|" then  -- "|"-separated: header values with ";" (SigV4's Authorization)
        text, pattern = string.sub(text, 2), "([^|]+)"
      end
      for pair in string.gmatch(text, pattern) do
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

function done(summary, latency, requests)
  local exhausted_any = false
  for _, t in ipairs(threads) do
    if t:get("exhausted") then exhausted_any = true end
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "http_errors": %d, "socket_errors": %d, "exhausted": %s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    tostring(exhausted_any)))
end
