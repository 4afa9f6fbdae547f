//! `Mcp-Param-*` headers (2026-07-28 `x-mcp-header`) through the real binary: the upstream is
//! a small stdio MCP server (`fixtures/header_tool_server.py`) whose tool mirrors `region`
//! and `shards` into headers. vecgate processes the body, so a missing, extra or different
//! mirrored header is a 400 with -32020; matching headers (plain or Base64-sentinel encoded)
//! pass and the call is forwarded.

use serde_json::{Value, json};
use vecgate_tests::http::{HttpRequest, HttpResponse};
use vecgate_tests::{Gateway, GatewayConfig, Pool, paths};

const VERSION: &str = "2026-07-28";

fn gateway() -> Gateway {
    let script = paths::workspace_root().join("tests/e2e/fixtures/header_tool_server.py");
    let command = vec!["python3".to_owned(), script.display().to_string()];
    Gateway::serve(&GatewayConfig::new(vec![Pool::stdio("sql", &command, 1)])).unwrap()
}

fn call(gw: &Gateway, arguments: Value, headers: &[(&str, &str)]) -> HttpResponse {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "execute_sql",
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": VERSION,
                "io.modelcontextprotocol/clientInfo": {"name": "param-header-test", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let mut request = HttpRequest::post_json("/mcp", &body)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "execute_sql");
    for (k, v) in headers {
        request = request.header(k, v);
    }
    request.send(gw.authority()).unwrap()
}

fn assert_mismatch(response: &HttpResponse, what: &str) {
    assert_eq!(response.status, 400, "{what}: {}", response.text());
    let answer = response.rpc_response().expect("a JSON-RPC error");
    assert_eq!(answer["error"]["code"], -32020, "{what}: {answer}");
}

#[test]
fn mirrored_parameters_must_match_the_body() {
    let gw = gateway();
    let args = json!({"region": "us-west1", "shards": 4, "query": "SELECT 1"});

    let ok = call(
        &gw,
        args.clone(),
        &[("Mcp-Param-Region", "us-west1"), ("mcp-param-shards", "4")],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let answer = ok.rpc_response().unwrap();
    assert_eq!(
        answer["result"]["content"][0]["text"],
        r#"{"query": "SELECT 1", "region": "us-west1", "shards": 4}"#,
        "{answer}"
    );

    // "us-west1" in the Base64 sentinel form; integers compare as numbers.
    let encoded = call(
        &gw,
        args.clone(),
        &[
            ("Mcp-Param-Region", "=?base64?dXMtd2VzdDE=?="),
            ("Mcp-Param-Shards", "4.0"),
        ],
    );
    assert_eq!(encoded.status, 200, "{}", encoded.text());

    assert_mismatch(
        &call(
            &gw,
            args.clone(),
            &[("Mcp-Param-Region", "eu-west1"), ("Mcp-Param-Shards", "4")],
        ),
        "a different value",
    );
    assert_mismatch(
        &call(&gw, args.clone(), &[("Mcp-Param-Shards", "4")]),
        "a missing header",
    );
    assert_mismatch(
        &call(
            &gw,
            json!({"region": "us-west1", "query": "SELECT 1"}),
            &[("Mcp-Param-Region", "us-west1"), ("Mcp-Param-Shards", "4")],
        ),
        "a header for an absent argument",
    );
    assert_mismatch(
        &call(
            &gw,
            args,
            &[
                ("Mcp-Param-Region", "=?base64?!!?="),
                ("Mcp-Param-Shards", "4"),
            ],
        ),
        "a bad Base64 value",
    );

    // An absent optional argument needs no header.
    let optional = call(
        &gw,
        json!({"region": "us-west1", "query": "SELECT 2"}),
        &[("Mcp-Param-Region", "us-west1")],
    );
    assert_eq!(optional.status, 200, "{}", optional.text());
}
