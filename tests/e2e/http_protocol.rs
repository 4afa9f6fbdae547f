//! Streamable HTTP at the wire level, with a raw HTTP/1.1 client (no SDK to smooth anything
//! over): the status codes and headers MCP 2025-06-18 / 2025-11-25 prescribe.
//!
//! - a request without `Mcp-Session-Id` after initialization: 400
//! - an unknown or terminated session: 404
//! - a bad `Origin` (DNS rebinding): 403
//! - a notification or response: 202 with no body
//! - an invalid or unsupported `MCP-Protocol-Version`: 400
//! - a body that is not JSON: a JSON-RPC parse error (-32700)

use serde_json::{Value, json};
use vecgate_tests::http::{HttpRequest, HttpResponse};
use vecgate_tests::{Gateway, GatewayConfig};

const VERSION: &str = "2025-11-25";

fn gateway() -> Gateway {
    Gateway::serve(&GatewayConfig::demo(1).unwrap()).unwrap()
}

fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "vecgate-raw-http-test", "version": "0"}
        }
    })
}

/// Initialize a session; returns its id (after checking the InitializeResult).
fn initialize(gw: &Gateway) -> String {
    let response = HttpRequest::post_json("/mcp", &initialize_body())
        .send(gw.authority())
        .unwrap();
    assert_eq!(response.status, 200, "initialize: {}", response.text());
    let result = response
        .rpc_response()
        .unwrap_or_else(|| panic!("initialize: no JSON-RPC response in {:?}", response.text()));
    assert_eq!(result["id"], 1);
    assert!(
        result["result"]["serverInfo"]["name"].is_string(),
        "{result}"
    );
    assert!(result["result"]["protocolVersion"].is_string(), "{result}");
    let session = response
        .header("mcp-session-id")
        .expect("an Mcp-Session-Id header on the InitializeResult")
        .to_owned();
    assert!(
        !session.is_empty() && session.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "session id must be visible ASCII: {session:?}"
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let ack = in_session(HttpRequest::post_json("/mcp", &initialized), &session)
        .send(gw.authority())
        .unwrap();
    assert_eq!(ack.status, 202, "notifications/initialized: {}", ack.text());
    session
}

fn in_session(request: HttpRequest, session: &str) -> HttpRequest {
    request
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
}

fn tools_list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}})
}

fn assert_status(response: &HttpResponse, status: u16, what: &str) {
    assert_eq!(
        response.status,
        status,
        "{what}: expected HTTP {status}, got {} with body {:?}",
        response.status,
        response.text()
    );
}

#[test]
fn a_request_in_a_session_gets_its_result() {
    let gw = gateway();
    let session = initialize(&gw);
    let response = in_session(HttpRequest::post_json("/mcp", &tools_list(2)), &session)
        .send(gw.authority())
        .unwrap();
    assert_status(&response, 200, "tools/list");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json")
            || content_type.starts_with("text/event-stream"),
        "content-type {content_type:?}"
    );
    let result = response.rpc_response().expect("a JSON-RPC response");
    assert_eq!(result["id"], 2);
    assert!(
        result["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{result}"
    );
}

#[test]
fn missing_session_id_is_400() {
    let gw = gateway();
    let _session = initialize(&gw);
    let response = HttpRequest::post_json("/mcp", &tools_list(2))
        .header("mcp-protocol-version", VERSION)
        .send(gw.authority())
        .unwrap();
    assert_status(&response, 400, "tools/list without Mcp-Session-Id");
}

#[test]
fn unknown_session_id_is_404() {
    let gw = gateway();
    let response = in_session(
        HttpRequest::post_json("/mcp", &tools_list(2)),
        "vecgate-no-such-session-0123456789",
    )
    .send(gw.authority())
    .unwrap();
    assert_status(&response, 404, "tools/list with an unknown session");
}

#[test]
fn a_tampered_session_id_is_404() {
    let gw = gateway();
    let session = initialize(&gw);
    // Flip the last character: a sealed id must not open any more.
    let mut tampered: Vec<char> = session.chars().collect();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let response = in_session(HttpRequest::post_json("/mcp", &tools_list(2)), &tampered)
        .send(gw.authority())
        .unwrap();
    assert_status(&response, 404, "tools/list with a tampered session id");
}

#[test]
fn delete_ends_the_session_then_it_is_404() {
    let gw = gateway();
    let session = initialize(&gw);
    let deleted = in_session(HttpRequest::new("DELETE", "/mcp"), &session)
        .send(gw.authority())
        .unwrap();
    assert!(
        (200..300).contains(&deleted.status) || deleted.status == 405,
        "DELETE: {} {:?}",
        deleted.status,
        deleted.text()
    );
    if deleted.status != 405 {
        let after = in_session(HttpRequest::post_json("/mcp", &tools_list(3)), &session)
            .send(gw.authority())
            .unwrap();
        assert_status(&after, 404, "tools/list after DELETE");
    }
}

#[test]
fn bad_origin_is_403_and_loopback_origin_is_accepted() {
    let gw = gateway();
    let evil = HttpRequest::post_json("/mcp", &initialize_body())
        .header("origin", "http://evil.example")
        .send(gw.authority())
        .unwrap();
    assert_status(&evil, 403, "initialize with Origin http://evil.example");
    let local = HttpRequest::post_json("/mcp", &initialize_body())
        .header("origin", &format!("http://{}", gw.authority()))
        .send(gw.authority())
        .unwrap();
    assert_status(&local, 200, "initialize with the gateway's own Origin");
}

#[test]
fn notifications_and_responses_get_202_without_body() {
    let gw = gateway();
    let session = initialize(&gw);
    let cancel = json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 999, "reason": "nothing to cancel"}
    });
    let response = in_session(HttpRequest::post_json("/mcp", &cancel), &session)
        .send(gw.authority())
        .unwrap();
    assert_status(&response, 202, "notifications/cancelled");
    assert!(
        response.body.is_empty(),
        "202 must have no body: {:?}",
        response.text()
    );
}

#[test]
fn unsupported_protocol_version_header_is_400() {
    let gw = gateway();
    let session = initialize(&gw);
    for bad in ["1999-01-01", "not-a-version"] {
        let response = HttpRequest::post_json("/mcp", &tools_list(4))
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", bad)
            .send(gw.authority())
            .unwrap();
        assert_status(&response, 400, &format!("MCP-Protocol-Version: {bad}"));
    }
    // Absent means 2025-03-26, which is supported.
    let response = HttpRequest::post_json("/mcp", &tools_list(5))
        .header("mcp-session-id", &session)
        .send(gw.authority())
        .unwrap();
    assert_status(&response, 200, "no MCP-Protocol-Version header");
}

#[test]
fn a_body_that_is_not_json_is_a_parse_error() {
    let mut gw = gateway();
    let session = initialize(&gw);
    for body in [&b"{not json"[..], b"", b"\xff\xfe garbage"] {
        let response = in_session(
            HttpRequest::new("POST", "/mcp")
                .header("accept", vecgate_tests::http::ACCEPT_BOTH)
                .header("content-type", "application/json")
                .body(body.to_vec()),
            &session,
        )
        .send(gw.authority())
        .unwrap();
        assert_status(
            &response,
            400,
            &format!("body {:?}", String::from_utf8_lossy(body)),
        );
        let error = response
            .rpc_response()
            .unwrap_or_else(|| panic!("no JSON-RPC error in {:?}", response.text()));
        assert_eq!(error["error"]["code"], -32700, "{error}");
        assert_eq!(error["id"], Value::Null, "{error}");
    }
    assert!(gw.is_running(), "the gateway died on bad bodies");
}

#[test]
fn a_valid_json_non_jsonrpc_body_is_an_invalid_request() {
    let gw = gateway();
    let session = initialize(&gw);
    let response = in_session(
        HttpRequest::post_json("/mcp", &json!({"hello": "world"})),
        &session,
    )
    .send(gw.authority())
    .unwrap();
    assert_status(&response, 400, "a JSON body that is not JSON-RPC");
    // The body may carry a JSON-RPC error; if it does, it is "Invalid Request".
    if let Some(error) = response.rpc_response() {
        assert_eq!(error["error"]["code"], -32600, "{error}");
    }
}

#[test]
fn get_opens_an_event_stream_for_a_session() {
    let gw = gateway();
    let session = initialize(&gw);
    let response = in_session(HttpRequest::new("GET", "/mcp"), &session)
        .header("accept", "text/event-stream")
        .headers_only()
        .send(gw.authority())
        .unwrap();
    assert!(
        response.status == 405
            || (response.status == 200
                && response
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/event-stream"))),
        "GET /mcp: {} {:?}",
        response.status,
        response.headers
    );
    let no_session = HttpRequest::new("GET", "/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .headers_only()
        .send(gw.authority())
        .unwrap();
    assert!(
        no_session.status == 400 || no_session.status == 405,
        "GET /mcp without a session: {}",
        no_session.status
    );
}
