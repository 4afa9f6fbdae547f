//! MRTR towards a 2026-07-28 upstream on behalf of session-based clients, through the real
//! binary: the upstream is `fixtures/mrtr_server.py`, a stateless stdio MCP server whose tools
//! answer `input_required` (`elicitation/create`, `sampling/createMessage`) with an opaque
//! `requestState` that it checks byte for byte on the retry.
//!
//! A 2025-11-25 client gets each input request as an ordinary server-to-client request on its
//! POST's SSE stream, answers it with a POST, and gets the final result; a client without the
//! capability gets -32021; a client's error answer ends the call; a cancel stops the rounds;
//! the rounds are bounded. Real SDK clients (TypeScript, Python) do the same over Streamable
//! HTTP and `vecgate stdio`. A 2026-07-28 client keeps getting `input_required` untouched.

use std::time::Duration;

use serde_json::{Value, json};
use vecgate_tests::http::{ACCEPT_BOTH, HttpRequest, HttpResponse};
use vecgate_tests::sse::SseStream;
use vecgate_tests::{
    ConfigFile, DriverRun, Gateway, GatewayConfig, McpSession, Pool, Sdk, Target, paths,
};

const VERSION: &str = "2025-11-25";
const WAIT: Duration = Duration::from_secs(15);

fn config() -> GatewayConfig {
    let script = paths::workspace_root().join("tests/e2e/fixtures/mrtr_server.py");
    let command = vec!["python3".to_owned(), script.display().to_string()];
    GatewayConfig::new(vec![Pool::stdio("mrtr", &command, 1)])
}

fn gateway() -> Gateway {
    Gateway::serve(&config()).unwrap()
}

fn post(gw: &Gateway, session: &str, body: &Value) -> HttpResponse {
    McpSession::resume(session, VERSION).send(gw, body)
}

/// A session-based (2025-11-25) session with these client capabilities.
fn initialize(gw: &Gateway, capabilities: Value) -> String {
    McpSession::open(gw, VERSION, capabilities, "vecgate-mrtr-old-client-test").id
}

/// A `tools/call` whose answer is read as one response (no interaction expected).
fn call(gw: &Gateway, session: &str, id: u64, tool: &str) -> Value {
    let response = post(
        gw,
        session,
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": tool, "arguments": {}}}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response
        .rpc_response()
        .unwrap_or_else(|| panic!("no JSON-RPC answer: {}", response.text()))
}

fn text_of(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {answer}"))
}

/// How many `tools/call` requests each fixture tool has received.
fn upstream_calls(gw: &Gateway, session: &str) -> Value {
    let answer = call(gw, session, 999, "calls");
    serde_json::from_str(text_of(&answer)).unwrap()
}

/// A `tools/call` on its own SSE stream, to be answered message by message.
fn open_call(gw: &Gateway, session: &str, id: u64, tool: &str, token: &str) -> SseStream {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": token}}})
    .to_string();
    let stream = SseStream::open(
        gw.authority(),
        "POST",
        "/mcp",
        &[
            ("accept", ACCEPT_BOTH),
            ("content-type", "application/json"),
            ("mcp-session-id", session),
            ("mcp-protocol-version", VERSION),
        ],
        Some(body.as_bytes()),
    )
    .unwrap();
    assert_eq!(stream.status, 200);
    stream
}

/// Read the stream up to its next server-to-client request or response; progress tokens seen
/// on the way are collected.
fn next_request_or_answer(stream: &mut SseStream, progress: &mut Vec<Value>) -> Value {
    loop {
        let msg = stream
            .next_message(WAIT)
            .expect("the call's stream ended early")
            .json();
        if msg["method"] == "notifications/progress" {
            progress.push(msg["params"].clone());
            continue;
        }
        return msg;
    }
}

/// The client's answer to a server request, as a POST of a JSON-RPC response.
fn answer(gw: &Gateway, session: &str, request: &Value, outcome: Value) {
    let mut body = json!({"jsonrpc": "2.0", "id": request["id"]});
    let field = if outcome.get("code").is_some() {
        "error"
    } else {
        "result"
    };
    body[field] = outcome;
    let response = post(gw, session, &body);
    assert_eq!(response.status, 202, "{}", response.text());
}

#[test]
fn a_session_based_client_answers_the_upstreams_input_requests_on_its_post_stream() {
    let gw = gateway();
    let session = initialize(&gw, json!({"elicitation": {}, "sampling": {}}));

    for (id, name) in [(1, "Ada"), (2, "Grace")] {
        let mut stream = open_call(&gw, &session, id, "confirm", "tok-confirm");
        let mut progress = Vec::new();
        let request = next_request_or_answer(&mut stream, &mut progress);
        assert_eq!(request["method"], "elicitation/create", "{request}");
        assert_eq!(request["params"]["message"], "Who is asking?", "{request}");
        assert!(request["id"].is_number(), "a gateway id: {request}");
        answer(
            &gw,
            &session,
            &request,
            json!({"action": "accept", "content": {"name": name}}),
        );
        let result = next_request_or_answer(&mut stream, &mut progress);
        assert_eq!(result["id"], id, "{result}");
        assert_eq!(
            text_of(&result),
            format!(r#"elicited {{"name": "{name}"}}"#),
            "the upstream got the answer and its own requestState back: {result}"
        );
        assert_ne!(result["result"]["resultType"], "input_required");
        // One progress notification per round, on the call's stream, with the client's token.
        assert_eq!(progress.len(), 2, "{progress:?}");
        assert!(progress.iter().all(|p| p["progressToken"] == "tok-confirm"));
    }
    // Each call asked again: an answer shaped by the client's input is not cached.
    assert_eq!(upstream_calls(&gw, &session)["confirm"], 4);

    // Two rounds: elicitation, then sampling, each answered on the same stream.
    let mut stream = open_call(&gw, &session, 3, "two_rounds", "tok-two");
    let mut progress = Vec::new();
    let first = next_request_or_answer(&mut stream, &mut progress);
    assert_eq!(first["method"], "elicitation/create", "{first}");
    answer(
        &gw,
        &session,
        &first,
        json!({"action": "accept", "content": {"name": "Ada"}}),
    );
    let second = next_request_or_answer(&mut stream, &mut progress);
    assert_eq!(second["method"], "sampling/createMessage", "{second}");
    answer(
        &gw,
        &session,
        &second,
        json!({"role": "assistant", "content": {"type": "text", "text": "forty-two"},
               "model": "test-model", "stopReason": "endTurn"}),
    );
    let result = next_request_or_answer(&mut stream, &mut progress);
    assert_eq!(result["id"], 3, "{result}");
    assert_eq!(text_of(&result), "second round: sampled forty-two");
    assert_eq!(progress.len(), 3, "{progress:?}");
}

#[test]
fn a_client_without_the_capability_gets_a_clear_error_and_is_not_asked() {
    let gw = gateway();
    let session = initialize(&gw, json!({"sampling": {}}));
    let answer = call(&gw, &session, 1, "confirm");
    let error = &answer["error"];
    assert_eq!(error["code"], -32021, "{answer}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("elicitation/create") && message.contains("elicitation capability"),
        "{message}"
    );
    assert_eq!(
        error["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );
    // Not retried upstream; the sampling tool still works for this client.
    assert_eq!(upstream_calls(&gw, &session)["confirm"], 1);
    let mut stream = open_call(&gw, &session, 2, "ask_model", "tok-ask");
    let request = next_request_or_answer(&mut stream, &mut Vec::new());
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
}

#[test]
fn a_client_error_answer_ends_the_call_with_that_error() {
    let gw = gateway();
    let session = initialize(&gw, json!({"elicitation": {}, "sampling": {}}));
    let mut stream = open_call(&gw, &session, 1, "confirm", "tok-refuse");
    let request = next_request_or_answer(&mut stream, &mut Vec::new());
    assert_eq!(request["method"], "elicitation/create", "{request}");
    answer(
        &gw,
        &session,
        &request,
        json!({"code": -1, "message": "the user closed the dialog"}),
    );
    let result = next_request_or_answer(&mut stream, &mut Vec::new());
    assert_eq!(result["id"], 1, "{result}");
    assert_eq!(result["error"]["code"], -1, "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("elicitation/create") && message.contains("the user closed the dialog"),
        "{message}"
    );
    assert_eq!(upstream_calls(&gw, &session)["confirm"], 1);
}

#[test]
fn a_cancel_while_the_client_is_asked_stops_the_rounds() {
    let gw = gateway();
    let session = initialize(&gw, json!({"elicitation": {}, "sampling": {}}));
    let mut stream = open_call(&gw, &session, 1, "confirm", "tok-cancel");
    let request = next_request_or_answer(&mut stream, &mut Vec::new());
    assert_eq!(request["method"], "elicitation/create", "{request}");
    let cancelled = post(
        &gw,
        &session,
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 1, "reason": "changed my mind"}}),
    );
    assert_eq!(cancelled.status, 202);
    // The call ends (its stream closes, with at most the cancellation error).
    while let Some(event) = stream.next_message(WAIT) {
        let msg = event.json();
        assert!(
            msg.get("result").is_none(),
            "a cancelled call has no result: {msg}"
        );
    }
    // A late answer matches nothing and retries nothing.
    answer(
        &gw,
        &session,
        &request,
        json!({"action": "accept", "content": {"name": "late"}}),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream_calls(&gw, &session)["confirm"], 1);
}

#[test]
fn an_upstream_that_keeps_asking_is_stopped_after_the_round_bound() {
    let gw = gateway();
    let session = initialize(&gw, json!({"elicitation": {}, "sampling": {}}));
    let answer = call(&gw, &session, 1, "forever");
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("after 8 rounds"), "{message}");
    // The first call and eight retries, each with the state the upstream issued.
    assert_eq!(upstream_calls(&gw, &session)["forever"], 9);
}

#[test]
fn a_stateless_client_still_gets_input_required_untouched() {
    let gw = gateway();
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "vecgate-mrtr-new-client-test", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    });
    let stateless = |body: Value| {
        let response = HttpRequest::post_json("/mcp", &body)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "confirm")
            .send(gw.authority())
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        response
    };
    let first = stateless(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "confirm", "arguments": {}, "_meta": meta}}));
    // The upstream's own state, byte for byte (escapes included): not vecgate's.
    assert!(
        first
            .text()
            .contains(r#""requestState":"confirm:1:caf\u00e9/\/""#),
        "{}",
        first.text()
    );
    let answer = first.rpc_response().unwrap();
    assert_eq!(answer["result"]["resultType"], "input_required", "{answer}");
    assert_eq!(
        answer["result"]["inputRequests"]["who"]["method"],
        "elicitation/create"
    );
    // Echoed exactly as it came (a JSON value would re-encode its escapes).
    let mut retry = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "confirm", "arguments": {}, "_meta": meta,
                   "requestState": "@STATE@",
                   "inputResponses": {"who": {"action": "accept", "content": {"name": "Ada"}}}}})
    .to_string();
    retry = retry.replace(r#""@STATE@""#, r#""confirm:1:caf\u00e9/\/""#);
    let response = HttpRequest::new("POST", "/mcp")
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "confirm")
        .body(retry.into_bytes())
        .send(gw.authority())
        .unwrap();
    let done = response.rpc_response().unwrap();
    assert_eq!(text_of(&done), r#"elicited {"name": "Ada"}"#, "{done}");
}

/// Real SDK clients (they declare sampling and elicitation and answer with canned values) get
/// the input requests as server requests and the final results, over Streamable HTTP and over
/// `vecgate stdio`.
#[test]
fn sdk_clients_answer_input_requests_through_vecgate() {
    let gw = gateway();
    let config = ConfigFile::write(&config()).unwrap();
    let stdio = Target::Stdio(vec![
        paths::vecgate().unwrap().display().to_string(),
        "stdio".to_owned(),
        "--config".to_owned(),
        config.path().display().to_string(),
    ]);
    for target in [Target::Url(gw.url().to_owned()), stdio] {
        for sdk in Sdk::ALL {
            let report = DriverRun::new(sdk, target.clone(), "mrtr").run().unwrap();
            report.assert_ok();
            println!("{}", report.summary());
        }
    }
}
