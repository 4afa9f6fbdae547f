//! Resource subscriptions on a stateless (2026-07-28) upstream, through the real binary: the
//! upstream (`backends/tests/fixtures/listen_server.py`, a stdio MCP server) has
//! `subscriptions/listen` and no `resources/subscribe`, so vecgate holds one upstream listen
//! per replica for the URIs its clients subscribed to. Both kinds of client get the updates:
//!
//! - a session-based client (Streamable HTTP 2025-11-25) with `resources/subscribe`, on its
//!   GET stream;
//! - a stateless client (2026-07-28) with `subscriptions/listen`, acknowledged for the URIs
//!   the upstream acknowledged, on its listen stream, tagged with its own subscription id.
//!
//! The upstream's tool list changes (it sends them only on a listen that asks for them) reach
//! a stateless client's listen as `notifications/tools/list_changed`, and `tools/list` then
//! has the new tool.

use std::time::Duration;

use serde_json::{Value, json};
use vecgate_tests::http::HttpRequest;
use vecgate_tests::session::open_stateless_listen;
use vecgate_tests::sse::SseStream;
use vecgate_tests::{Gateway, GatewayConfig, McpSession, Pool, paths};

const OLD: &str = "2025-11-25";
const NEW: &str = "2026-07-28";

fn gateway() -> Gateway {
    let script = paths::workspace_root().join("backends/tests/fixtures/listen_server.py");
    let command = vec!["python3".to_owned(), script.display().to_string()];
    Gateway::serve(&GatewayConfig::new(vec![Pool::stdio("notes", &command, 1)])).unwrap()
}

/// A POST on a session-based session; the JSON-RPC answer, or null for a notification.
fn post(gw: &Gateway, session: &str, body: &Value) -> Value {
    McpSession::resume(session, OLD).post(gw, body)
}

fn initialize(gw: &Gateway) -> String {
    McpSession::open(gw, OLD, json!({}), "vecgate-upstream-listen-test").id
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": NEW,
        "io.modelcontextprotocol/clientInfo": {"name": "vecgate-upstream-listen-test", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A stateless request; its JSON-RPC answer.
fn stateless(gw: &Gateway, id: u64, method: &str, name: Option<&str>, mut params: Value) -> Value {
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut request = HttpRequest::post_json("/mcp", &body)
        .header("mcp-protocol-version", NEW)
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    request
        .send(gw.authority())
        .unwrap()
        .rpc_response()
        .expect("an answer")
}

/// `write` through a stateless `tools/call`.
fn write(gw: &Gateway, id: u64, uri: &str, text: &str) {
    let params = json!({"name": "write", "arguments": {"uri": uri, "text": text}});
    let answer = stateless(gw, id, "tools/call", Some("write"), params);
    assert_eq!(
        answer["result"]["content"][0]["text"], "written",
        "{answer}"
    );
}

/// Open a stateless client's `subscriptions/listen` with `filter`; the stream, after its
/// acknowledgement (returned too).
fn listen(gw: &Gateway, id: &str, filter: Value) -> (SseStream, Value) {
    let mut stream = open_stateless_listen(gw, id, meta(), filter);
    assert_eq!(stream.status, 200);
    let ack = stream
        .next_message(Duration::from_secs(10))
        .expect("an acknowledgement")
        .json();
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    (stream, ack)
}

/// The next `notifications/resources/updated` on `stream`, skipping anything else.
fn next_update(stream: &mut SseStream) -> Value {
    loop {
        let message = stream
            .next_message(Duration::from_secs(10))
            .expect("a notifications/resources/updated")
            .json();
        if message["method"] == "notifications/resources/updated" {
            return message;
        }
    }
}

#[test]
fn a_session_clients_resources_subscribe_works_on_a_stateless_upstream() {
    let gw = gateway();
    let session = initialize(&gw);
    let mut get = SseStream::open(
        gw.authority(),
        "GET",
        "/mcp",
        &[
            ("accept", "text/event-stream"),
            ("mcp-session-id", &session),
            ("mcp-protocol-version", OLD),
        ],
        None,
    )
    .unwrap();
    assert_eq!(get.status, 200);

    let subscribed = post(
        &gw,
        &session,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe",
                "params": {"uri": "note://a"}}),
    );
    assert_eq!(subscribed["result"], json!({}), "{subscribed}");
    // A URI the upstream does not acknowledge is refused, as an old upstream would.
    let refused = post(
        &gw,
        &session,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                "params": {"uri": "note://missing"}}),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    write(&gw, 3, "note://a", "changed");
    let update = next_update(&mut get);
    assert_eq!(update["params"]["uri"], "note://a", "{update}");
    assert!(
        update["params"].get("_meta").is_none(),
        "no upstream subscription id reaches a 2025 client: {update}"
    );
    // The update is not stale news: the resource reads as written.
    let read = post(
        &gw,
        &session,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read",
                "params": {"uri": "note://a"}}),
    );
    assert_eq!(read["result"]["contents"][0]["text"], "changed", "{read}");
}

#[test]
fn a_stateless_clients_listen_is_acknowledged_and_gets_the_update() {
    let gw = gateway();
    let filter = json!({"resourceSubscriptions": ["note://b", "note://missing"]});
    let (mut stream, ack) = listen(&gw, "watch-1", filter);
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourceSubscriptions": ["note://b"]}),
        "only what the upstream acknowledged"
    );

    write(&gw, 1, "note://b", "changed");
    let update = next_update(&mut stream);
    assert_eq!(update["params"]["uri"], "note://b", "{update}");
    assert_eq!(
        update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch-1",
        "{update}"
    );
}

#[test]
fn a_stateless_upstreams_tool_list_change_reaches_a_stateless_clients_listen() {
    let gw = gateway();
    let (mut stream, _) = listen(&gw, "watch-tools", json!({"toolsListChanged": true}));
    let params = json!({"name": "add_tool", "arguments": {"name": "fresh"}});
    let added = stateless(&gw, 1, "tools/call", Some("add_tool"), params);
    assert_eq!(added["result"]["content"][0]["text"], "added", "{added}");
    let changed = stream
        .next_message(Duration::from_secs(10))
        .expect("a notifications/tools/list_changed")
        .json();
    assert_eq!(
        changed["method"], "notifications/tools/list_changed",
        "{changed}"
    );
    let listed = stateless(&gw, 2, "tools/list", None, json!({}));
    let tools = listed["result"]["tools"].as_array().expect("tools");
    assert!(
        tools.iter().any(|t| t["name"] == "fresh"),
        "the refreshed catalog lists the new tool: {listed}"
    );
}
