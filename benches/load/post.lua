-- wrk script: POST one JSON-RPC tools/call per request, with the session header from $SESSION.
-- Every request gets its own id (JSON-RPC ids must be unique among a session's unfinished
-- requests, and a gateway may refuse a duplicate), and every answer is checked: a 200 that
-- carries a JSON-RPC error is counted as an error, so a fast wrong answer cannot pass for
-- throughput.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  errors = 0
  answers = 0
  first_error = nil
  -- CHECK=0 for the bare responder, whose fixed answer is not JSON-RPC.
  check = os.getenv("CHECK") ~= "0"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
  local session = os.getenv("SESSION")
  if session and session ~= "" then
    wrk.headers["Mcp-Session-Id"] = session
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"jsonrpc":"2.0","id":"%d-%d","method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}',
    tid, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 or (check and not string.find(body, '"result"', 1, true)) then
    errors = errors + 1
    if first_error == nil then first_error = body end
  end
end

function done(summary, latency, requests)
  local errs, total, first = 0, 0, nil
  for _, thread in ipairs(threads) do
    errs = errs + thread:get("errors")
    total = total + thread:get("answers")
    first = first or thread:get("first_error")
  end
  io.write(string.format("answers checked: %d, JSON-RPC or HTTP errors: %d\n", total, errs))
  if first then io.write("first error: " .. string.sub(first, 1, 300) .. "\n") end
end
