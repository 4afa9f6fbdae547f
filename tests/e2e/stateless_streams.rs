//! The 2026-07-28 stateless front against the real binary and the bundled demo server (an
//! old, 2025-xx upstream), over raw HTTP:
//!
//! - `subscriptions/listen`: one SSE stream (`X-Accel-Buffering: no`) that starts with the
//!   acknowledgement of what vecgate could honour, then carries only the requested
//!   notifications, tagged with the subscription id; resource subscriptions are emulated with
//!   `resources/subscribe` on the shared upstream session and released when the stream closes.
//! - MRTR bridging: the demo's `ask_llm` / `confirm` send `sampling/createMessage` /
//!   `elicitation/create`; a stateless client gets `input_required` with `inputRequests` and a
//!   sealed `requestState`, and its retry with `inputResponses` completes the parked call.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vecgate_tests::http::HttpRequest;
use vecgate_tests::session::{open_stateless_listen, stateless_call_tool, stateless_meta};
use vecgate_tests::sse::SseStream;
use vecgate_tests::{Gateway, GatewayConfig};

const VERSION: &str = "2026-07-28";

fn gateway() -> Gateway {
    Gateway::serve(&GatewayConfig::demo(1).unwrap()).unwrap()
}

fn meta(caps: Value) -> Value {
    stateless_meta("vecgate-stateless-test", caps)
}

/// A stateless `tools/call`, with MRTR retry fields when given; returns the JSON-RPC answer.
fn call_tool(
    gw: &Gateway,
    id: u64,
    name: &str,
    arguments: Value,
    caps: Value,
    retry: Option<(Value, &str)>,
) -> Value {
    stateless_call_tool(gw, id, name, arguments, meta(caps), retry)
}

fn open_listen(gw: &Gateway, id: &str, filter: Value) -> SseStream {
    open_stateless_listen(gw, id, meta(json!({})), filter)
}

fn session_count(gw: &Gateway) -> u64 {
    let health = HttpRequest::new("GET", "/healthz")
        .send(gw.authority())
        .unwrap();
    let v: Value = serde_json::from_slice(&health.body).unwrap();
    v["sessions"].as_u64().unwrap()
}

#[test]
fn listen_acknowledges_what_it_honours_then_delivers_only_that() {
    let gw = gateway();
    let before = session_count(&gw);
    let mut stream = open_listen(
        &gw,
        "listen-1",
        json!({"resourcesListChanged": true, "resourceSubscriptions": ["demo://tickets", "nowhere://x"]}),
    );
    assert_eq!(stream.status, 200);
    assert!(
        stream
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    assert_eq!(stream.header("x-accel-buffering"), Some("no"));
    let ack = stream
        .next_message(Duration::from_secs(10))
        .expect("an acknowledgement")
        .json();
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "listen-1"
    );
    // No pool serves nowhere://x, so it is not honoured.
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourcesListChanged": true, "resourceSubscriptions": ["demo://tickets"]})
    );
    assert_eq!(session_count(&gw), before + 1, "the listener is registered");

    let created = call_tool(
        &gw,
        2,
        "create_ticket",
        json!({"title": "listen test"}),
        json!({}),
        None,
    );
    assert!(created.get("result").is_some(), "{created}");
    let updated = stream
        .next_message(Duration::from_secs(10))
        .expect("a resources/updated")
        .json();
    assert_eq!(
        updated["method"], "notifications/resources/updated",
        "{updated}"
    );
    assert_eq!(updated["params"]["uri"], "demo://tickets");
    assert_eq!(
        updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "listen-1"
    );

    // A new key adds a resource: resources/list_changed. Its own resources/updated (for a URI
    // not subscribed) and anything else must not reach this stream.
    let key = format!("k{}", std::process::id());
    call_tool(
        &gw,
        3,
        "kv_put",
        json!({"key": key, "value": "v"}),
        json!({}),
        None,
    );
    let changed = stream
        .next_message(Duration::from_secs(10))
        .expect("a resources/list_changed")
        .json();
    assert_eq!(
        changed["method"], "notifications/resources/list_changed",
        "{changed}"
    );
    assert_eq!(
        changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "listen-1"
    );
    if let Some(extra) = stream.next_message(Duration::from_millis(800)) {
        panic!("nothing else was asked for, got {:?}", extra.data);
    }

    // Closing the stream ends the subscription and the listener.
    stream.abandon();
    let deadline = Instant::now() + Duration::from_secs(20);
    while session_count(&gw) != before {
        assert!(Instant::now() < deadline, "the listener was not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_idle_listen_stream_gets_keep_alive_comments() {
    let gw = gateway();
    let mut stream = open_listen(&gw, "quiet", json!({"toolsListChanged": true}));
    let ack = stream.next_message(Duration::from_secs(10)).unwrap().json();
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true})
    );
    let comment = stream
        .next_event(Duration::from_secs(25))
        .expect("a keep-alive within 25 s");
    assert!(
        comment.comment.is_some() && comment.data.is_empty(),
        "{comment:?}"
    );
}

#[test]
fn listen_needs_a_filter() {
    let gw = gateway();
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
        "params": {"_meta": meta(json!({}))},
    });
    let response = HttpRequest::post_json("/mcp", &body)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "subscriptions/listen")
        .send(gw.authority())
        .unwrap();
    let answer = response.rpc_response().unwrap();
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

/// The single input request of an `input_required` result: (key, request).
fn only_input_request(answer: &Value) -> (String, Value) {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{answer}");
    let (key, request) = requests.iter().next().unwrap();
    (key.clone(), request.clone())
}

#[test]
fn an_old_upstreams_sampling_request_becomes_input_required_and_the_retry_completes() {
    let gw = gateway();
    let caps = json!({"sampling": {}});
    let args = json!({"prompt": "What is the capital of France?"});
    let first = call_tool(&gw, 1, "ask_llm", args.clone(), caps.clone(), None);
    let (key, request) = only_input_request(&first);
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    assert_eq!(
        request["params"]["messages"][0]["content"]["text"],
        "What is the capital of France?"
    );
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();

    // A state presented on another request is refused, and does not cost the real retry.
    let wrong = call_tool(
        &gw,
        2,
        "confirm",
        json!({"question": "?"}),
        json!({"elicitation": {}}),
        Some((json!({}), &state)),
    );
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");

    // A retry without the input asks for it again, under a fresh state.
    let again = call_tool(
        &gw,
        3,
        "ask_llm",
        args.clone(),
        caps.clone(),
        Some((json!({}), &state)),
    );
    let (key_again, _) = only_input_request(&again);
    assert_eq!(key_again, key);
    let state = again["result"]["requestState"].as_str().unwrap().to_owned();

    let sampled = json!({
        "role": "assistant",
        "content": {"type": "text", "text": "Paris"},
        "model": "test-model",
        "stopReason": "endTurn",
    });
    let done = call_tool(
        &gw,
        4,
        "ask_llm",
        args.clone(),
        caps.clone(),
        Some((json!({ key.clone(): sampled }), &state)),
    );
    assert_eq!(done["id"], 4, "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "test-model says: Paris",
        "{done}"
    );

    // The state was single-use.
    let replayed = call_tool(
        &gw,
        5,
        "ask_llm",
        args,
        caps,
        Some((
            json!({ key: {"role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m"} }),
            &state,
        )),
    );
    assert_eq!(replayed["error"]["code"], -32602, "{replayed}");
    assert!(
        replayed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("again")),
        "{replayed}"
    );
}

#[test]
fn elicitation_is_bridged_and_undeclared_capabilities_are_not_asked_for() {
    let gw = gateway();
    let caps = json!({"elicitation": {}});
    let args = json!({"question": "Deploy?"});
    let first = call_tool(&gw, 1, "confirm", args.clone(), caps.clone(), None);
    let (key, request) = only_input_request(&first);
    assert_eq!(request["method"], "elicitation/create", "{request}");
    assert_eq!(request["params"]["message"], "Deploy?");
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let done = call_tool(
        &gw,
        2,
        "confirm",
        args,
        caps,
        Some((
            json!({ key: {"action": "accept", "content": {"confirmed": true}} }),
            &state,
        )),
    );
    assert_eq!(done["result"]["content"][0]["text"], "confirmed", "{done}");

    // Without the sampling capability the upstream's request is refused, not turned into an
    // input request: the tool reports its own error.
    let refused = call_tool(&gw, 3, "ask_llm", json!({"prompt": "hi"}), json!({}), None);
    assert_eq!(refused["result"]["resultType"], "complete", "{refused}");
    assert_eq!(refused["result"]["isError"], true, "{refused}");
}
