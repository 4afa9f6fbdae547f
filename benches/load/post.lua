-- wrk script: POST one JSON-RPC tools/call per request, with the session header from $SESSION.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
local session = os.getenv("SESSION")
if session and session ~= "" then
  wrk.headers["Mcp-Session-Id"] = session
end
