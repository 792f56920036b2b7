-- wrk script for tests/e2e/hostile_load.py: replays, at random, a pool of
-- prebuilt raw HTTP requests (valid tokens mixed with garbage) and counts
-- the response statuses.
--
-- The pool file (argument after `--`) is one index line, "kind:length ..."
-- separated by spaces, then the requests back to back. `done` prints
--   JWTGATE_STATUS <status> <count>
--   JWTGATE_SENT <kind> <count>
-- summed over all threads, for the Python side to parse.

local pool = {}
local kinds = {}
sent = {}     -- per thread: requests handed to wrk, by kind (read in done)
statuses = {} -- per thread: responses, by status (read in done)

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local index = f:read("*l")
  local data = f:read("*a")
  f:close()
  local pos = 1
  for kind, len in index:gmatch("(%w+):(%d+)") do
    len = tonumber(len)
    table.insert(pool, data:sub(pos, pos + len - 1))
    table.insert(kinds, kind)
    pos = pos + len
  end
  assert(#pool > 0 and pos == #data + 1, "pool file does not match its index")
  math.randomseed(os.time() * 100 + id)
end

function request()
  local i = math.random(#pool)
  local kind = kinds[i]
  sent[kind] = (sent[kind] or 0) + 1
  return pool[i]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total_status, total_sent = {}, {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do
      total_status[k] = (total_status[k] or 0) + v
    end
    for k, v in pairs(thread:get("sent")) do
      total_sent[k] = (total_sent[k] or 0) + v
    end
  end
  for k, v in pairs(total_status) do
    io.write(string.format("JWTGATE_STATUS %d %d\n", k, v))
  end
  for k, v in pairs(total_sent) do
    io.write(string.format("JWTGATE_SENT %s %d\n", k, v))
  end
  io.write(string.format("JWTGATE_LATENCY_P99_MS %.2f\n", latency:percentile(99) / 1000))
end
