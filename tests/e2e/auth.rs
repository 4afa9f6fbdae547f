//! Client authentication through the real binary: 401 without or with a bad credential (with
//! the RFC 9728 challenge), static keys and a JWT signed here, sessions bound to their
//! principal, the pattern cache kept apart per principal, admin credentials, and the
//! per-principal rate limit.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vecgate_tests::http::{HttpRequest, HttpResponse};
use vecgate_tests::{Gateway, GatewayConfig};

const VERSION: &str = "2025-11-25";
const RESOURCE: &str = "http://127.0.0.1/mcp";
const ISSUER: &str = "https://auth.example";
const JWT_SECRET: &str = "e2e-shared-secret";
const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-9876543210";
const ADMIN: &str = "admin-token-abcdef";

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key(principal: &str, token: &str) -> String {
    format!(
        "{{ principal = \"{principal}\", sha256 = \"{}\" }}",
        sha256_hex(token)
    )
}

/// The demo server behind `[auth]` with alice's and bob's keys, HS256 JWTs and an admin key.
fn config() -> GatewayConfig {
    GatewayConfig::demo(1)
        .unwrap()
        .with(
            "auth",
            &format!(
                "{{ resource = \"{RESOURCE}\", authorization_servers = [\"{ISSUER}\"], keys = [{}, {}], jwt = {{ issuer = \"{ISSUER}\", algorithm = \"HS256\", secret = \"{JWT_SECRET}\" }} }}",
                key("alice", ALICE),
                key("bob", BOB)
            ),
        )
        .with("admin", &format!("{{ keys = [{}] }}", key("ops", ADMIN)))
}

fn jwt(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn post(gw: &Gateway, token: Option<&str>, session: Option<&str>, body: &Value) -> HttpResponse {
    let mut request = HttpRequest::post_json("/mcp", body).header("mcp-protocol-version", VERSION);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send(gw.authority()).unwrap()
}

fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "auth-e2e", "version": "0"}}
    })
}

fn initialize(gw: &Gateway, token: &str) -> String {
    let response = post(gw, Some(token), None, &initialize_body());
    assert_eq!(response.status, 200, "initialize: {}", response.text());
    response
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned()
}

fn list_tools(gw: &Gateway, token: &str, session: &str) -> HttpResponse {
    post(
        gw,
        Some(token),
        Some(session),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
}

fn assert_unauthorized(response: &HttpResponse, invalid_token: bool) {
    assert_eq!(response.status, 401, "{}", response.text());
    let challenge = response.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(
            "resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/mcp\""
        ),
        "{challenge}"
    );
    assert_eq!(
        challenge.contains("error=\"invalid_token\""),
        invalid_token,
        "{challenge}"
    );
    let body: Value = serde_json::from_slice(&response.body).expect("a JSON-RPC error body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32001, "{body}");
}

#[test]
fn requests_need_a_valid_key_or_jwt_and_sessions_stay_with_their_principal() {
    let gw = Gateway::serve(&config()).unwrap();
    assert_unauthorized(&post(&gw, None, None, &initialize_body()), false);
    assert_unauthorized(
        &post(&gw, Some("not-a-key"), None, &initialize_body()),
        true,
    );
    let sse = HttpRequest::new("GET", "/sse")
        .header("accept", "text/event-stream")
        .headers_only()
        .send(gw.authority())
        .unwrap();
    assert_eq!(sse.status, 401, "the legacy transport is guarded too");

    // Open: health and the protected-resource metadata (RFC 9728).
    let health = HttpRequest::new("GET", "/healthz")
        .send(gw.authority())
        .unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let meta = HttpRequest::new("GET", path).send(gw.authority()).unwrap();
        assert_eq!(meta.status, 200, "{path}: {}", meta.text());
        let doc: Value = serde_json::from_slice(&meta.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
    }

    // Static keys.
    let alice = initialize(&gw, ALICE);
    let listed = list_tools(&gw, ALICE, &alice);
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed.rpc_response().unwrap()["result"]["tools"].is_array());

    // Bob cannot use, or end, alice's session: 404, as for a session that does not exist.
    let stolen = list_tools(&gw, BOB, &alice);
    assert_eq!(stolen.status, 404, "{}", stolen.text());
    let delete = HttpRequest::new("DELETE", "/mcp")
        .header("authorization", &format!("Bearer {BOB}"))
        .header("mcp-session-id", &alice)
        .send(gw.authority())
        .unwrap();
    assert_eq!(delete.status, 404, "{}", delete.text());
    assert_eq!(
        list_tools(&gw, ALICE, &alice).status,
        200,
        "alice's session survives"
    );

    // JWTs: a good one, then one wrong in each checked claim.
    let claims = json!({"iss": ISSUER, "aud": RESOURCE, "sub": "carol", "exp": now() + 300});
    let carol_token = jwt(claims.clone());
    let carol = initialize(&gw, &carol_token);
    assert_eq!(list_tools(&gw, &carol_token, &carol).status, 200);
    assert_eq!(
        list_tools(&gw, ALICE, &carol).status,
        404,
        "a JWT principal's session is bound too"
    );
    let mut wrong_audience = claims.clone();
    wrong_audience["aud"] = json!("http://elsewhere/mcp");
    let mut expired = claims.clone();
    expired["exp"] = json!(now() - 600);
    let mut wrong_issuer = claims;
    wrong_issuer["iss"] = json!("https://evil.example");
    for bad in [wrong_audience, expired, wrong_issuer] {
        let response = post(&gw, Some(&jwt(bad.clone())), None, &initialize_body());
        assert_unauthorized(&response, true);
    }

    // Admin routes take admin keys only.
    let clear = |token: Option<&str>| {
        let mut r = HttpRequest::new("POST", "/admin/cache/clear");
        if let Some(t) = token {
            r = r.header("authorization", &format!("Bearer {t}"));
        }
        r.send(gw.authority()).unwrap().status
    };
    assert_eq!(clear(None), 401);
    assert_eq!(clear(Some(ALICE)), 401, "a client key is not an admin key");
    assert_eq!(clear(Some(ADMIN)), 200);
}

fn read_file(gw: &Gateway, token: &str, session: &str, id: u64) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "read_file", "arguments": {"repo": "vecgate", "path": "src/lib.rs"}}});
    let response = post(gw, Some(token), Some(session), &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let message = response.rpc_response().expect("a JSON-RPC response");
    assert!(message.get("error").is_none(), "{message}");
    message["result"].clone()
}

fn cache_mark(result: &Value) -> Option<&str> {
    result["_meta"]["io.vecgate/cache"].as_str()
}

#[test]
fn one_principals_cached_answer_is_never_served_to_another() {
    let gw = Gateway::serve(&config()).unwrap();
    let alice = initialize(&gw, ALICE);
    let bob = initialize(&gw, BOB);
    assert_eq!(cache_mark(&read_file(&gw, ALICE, &alice, 1)), None);
    assert_eq!(cache_mark(&read_file(&gw, ALICE, &alice, 2)), Some("hit"));
    assert_eq!(
        cache_mark(&read_file(&gw, BOB, &bob, 3)),
        None,
        "alice's entry must not answer bob"
    );
    assert_eq!(
        cache_mark(&read_file(&gw, BOB, &bob, 4)),
        Some("hit"),
        "bob's own entry"
    );
}

#[test]
fn a_read_only_tool_declared_shared_is_cached_once_for_everyone() {
    let pool = GatewayConfig::demo(1).unwrap().pools()[0]
        .clone()
        .with("shared_tools", "[\"read_file\"]");
    let config = GatewayConfig::new(vec![pool]).with(
        "auth",
        &format!(
            "{{ keys = [{}, {}] }}",
            key("alice", ALICE),
            key("bob", BOB)
        ),
    );
    let gw = Gateway::serve(&config).unwrap();
    let alice = initialize(&gw, ALICE);
    let bob = initialize(&gw, BOB);
    assert_eq!(cache_mark(&read_file(&gw, ALICE, &alice, 1)), None);
    assert_eq!(cache_mark(&read_file(&gw, BOB, &bob, 2)), Some("hit"));
}

#[test]
fn a_principal_over_its_rate_gets_429_with_retry_after() {
    let config = GatewayConfig::demo(1)
        .unwrap()
        .with(
            "auth",
            &format!(
                "{{ keys = [{}, {}] }}",
                key("alice", ALICE),
                key("bob", BOB)
            ),
        )
        .with("rate_limit", "{ requests_per_second = 0.2, burst = 2 }");
    let gw = Gateway::serve(&config).unwrap();
    let session = initialize(&gw, ALICE);
    assert_eq!(list_tools(&gw, ALICE, &session).status, 200);
    let limited = list_tools(&gw, ALICE, &session);
    assert_eq!(limited.status, 429, "{}", limited.text());
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "retry after {retry} s");
    // Another principal has its own bucket.
    initialize(&gw, BOB);
}
