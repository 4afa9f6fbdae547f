//! Session-based (2025-xx) MCP sessions over raw HTTP: the `initialize` handshake and POSTs
//! inside a session, for tests that check protocol details an SDK would hide.

use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::http::{ACCEPT_BOTH, HttpRequest, HttpResponse};
use crate::sse::SseStream;

/// One client session on a gateway's `/mcp` endpoint at a session-based protocol version.
#[derive(Clone, Debug)]
pub struct McpSession {
    /// The `Mcp-Session-Id` vecgate issued.
    pub id: String,
    /// The negotiated protocol version (sent as `MCP-Protocol-Version` on every POST).
    pub version: &'static str,
}

impl McpSession {
    /// `initialize` at `version` with these client `capabilities` (as `clientInfo.name`:
    /// `client`), then `notifications/initialized`. Panics with the answer if either fails.
    pub fn open(
        gw: &Gateway,
        version: &'static str,
        capabilities: Value,
        client: &str,
    ) -> McpSession {
        let body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": capabilities,
                       "clientInfo": {"name": client, "version": "0"}}
        });
        let response = HttpRequest::post_json("/mcp", &body)
            .send(gw.authority())
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        let id = response
            .header("mcp-session-id")
            .unwrap_or_else(|| panic!("no session: {}", response.text()))
            .to_owned();
        let session = McpSession { id, version };
        let done = session.send(
            gw,
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        );
        assert_eq!(done.status, 202, "{}", done.text());
        session
    }

    /// A session already opened, by its id.
    pub fn resume(id: &str, version: &'static str) -> McpSession {
        McpSession {
            id: id.to_owned(),
            version,
        }
    }

    /// POSTs `body` in the session and returns the raw response.
    pub fn send(&self, gw: &Gateway, body: &Value) -> HttpResponse {
        HttpRequest::post_json("/mcp", body)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", self.version)
            .send(gw.authority())
            .unwrap()
    }

    /// POSTs `body` in the session, expects 200 or 202, and returns the JSON-RPC answer
    /// (null for a notification or a response).
    pub fn post(&self, gw: &Gateway, body: &Value) -> Value {
        let response = self.send(gw, body);
        assert!(
            response.status == 200 || response.status == 202,
            "{}",
            response.text()
        );
        response.rpc_response().unwrap_or(Value::Null)
    }
}

/// The stateless revision (2026-07-28): no session, the protocol fields in every `_meta`.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The `_meta` protocol fields of a stateless request from `client` with these capabilities.
pub fn stateless_meta(client: &str, capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    })
}

/// A stateless `tools/call` with `meta` (see [`stateless_meta`]) and, for an MRTR retry, its
/// `(inputResponses, requestState)`. Expects 200; returns the JSON-RPC answer.
pub fn stateless_call_tool(
    gw: &Gateway,
    id: u64,
    name: &str,
    arguments: Value,
    meta: Value,
    retry: Option<(Value, &str)>,
) -> Value {
    let mut params = json!({"name": name, "arguments": arguments, "_meta": meta});
    if let Some((responses, state)) = retry {
        params["inputResponses"] = responses;
        params["requestState"] = json!(state);
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    let response = HttpRequest::post_json("/mcp", &body)
        .header("mcp-protocol-version", STATELESS_VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .send(gw.authority())
        .unwrap();
    assert_eq!(
        response.status,
        200,
        "tools/call {name}: {}",
        response.text()
    );
    response
        .rpc_response()
        .unwrap_or_else(|| panic!("no JSON-RPC answer: {}", response.text()))
}

/// Opens a stateless client's `subscriptions/listen` (request `id`, `_meta` from
/// [`stateless_meta`], notification `filter`) and returns its SSE stream, unread.
pub fn open_stateless_listen(gw: &Gateway, id: &str, meta: Value, filter: Value) -> SseStream {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
        "params": {"_meta": meta, "notifications": filter},
    })
    .to_string();
    SseStream::open(
        gw.authority(),
        "POST",
        "/mcp",
        &[
            ("accept", ACCEPT_BOTH),
            ("content-type", "application/json"),
            ("mcp-protocol-version", STATELESS_VERSION),
            ("mcp-method", "subscriptions/listen"),
        ],
        Some(body.as_bytes()),
    )
    .unwrap()
}
