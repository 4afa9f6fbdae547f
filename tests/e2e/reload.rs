//! Hot reload through the real binary: `POST /admin/reload` and `SIGHUP` re-read the config
//! file; pools are added (their tools appear, clients get `list_changed`) and removed (calls in
//! flight finish first), auth keys change, sessions survive, and an invalid file changes
//! nothing and says what is wrong.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};
use vecgate_tests::http::{HttpRequest, HttpResponse};
use vecgate_tests::{Gateway, GatewayConfig, Pool, paths};

const VERSION: &str = "2025-11-25";
const ADMIN: &str = "admin-token-for-reload";

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

fn demo_pool(name: &str) -> Pool {
    Pool::stdio(name, &paths::demo_server_command().unwrap(), 1)
}

fn with_admin(config: GatewayConfig) -> GatewayConfig {
    config.with("admin", &format!("{{ keys = [{}] }}", key("ops", ADMIN)))
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

fn initialize(gw: &Gateway, token: Option<&str>) -> HttpResponse {
    post(
        gw,
        token,
        None,
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "reload-e2e", "version": "0"}}}),
    )
}

fn session_of(response: &HttpResponse) -> String {
    assert_eq!(response.status, 200, "initialize: {}", response.text());
    response
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned()
}

fn tool_names(gw: &Gateway, token: Option<&str>, session: &str) -> Vec<String> {
    let response = post(
        gw,
        token,
        Some(session),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let result = &response.rpc_response().unwrap()["result"];
    result["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn call(gw: &Gateway, session: &str, id: u64, tool: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let response = post(gw, None, Some(session), &body);
    assert_eq!(response.status, 200, "{tool}: {}", response.text());
    response.rpc_response().expect("a JSON-RPC response")
}

fn admin_reload(gw: &Gateway) -> HttpResponse {
    HttpRequest::new("POST", "/admin/reload")
        .header("authorization", &format!("Bearer {ADMIN}"))
        .send(gw.authority())
        .unwrap()
}

fn health(gw: &Gateway) -> Value {
    let response = HttpRequest::new("GET", "/healthz")
        .send(gw.authority())
        .unwrap();
    serde_json::from_slice(&response.body).unwrap()
}

fn write_config(gw: &Gateway, text: &str) {
    std::fs::write(gw.config_path(), text).unwrap();
}

fn sighup(gw: &Gateway) {
    let status = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Poll `check` every 100 ms until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The session's GET /mcp stream, read raw so a test sees each notification as it comes.
struct EventStream {
    stream: TcpStream,
    seen: String,
}

impl EventStream {
    fn open(gw: &Gateway, session: &str) -> EventStream {
        let mut stream = TcpStream::connect(gw.authority()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let head = format!(
            "GET /mcp HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\nmcp-session-id: {session}\r\nmcp-protocol-version: {VERSION}\r\n\r\n",
            gw.authority()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut events = EventStream {
            stream,
            seen: String::new(),
        };
        assert!(
            events.wait_for("200", Duration::from_secs(10)),
            "GET stream: {}",
            events.seen
        );
        events
    }

    /// Read until `needle` has been seen or `timeout` passes.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(needle) && Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        self.seen.contains(needle)
    }
}

#[test]
fn reload_adds_and_drains_pools_and_a_bad_file_keeps_the_old_config() {
    let base = with_admin(GatewayConfig::new(vec![demo_pool("demo")]));
    let gw = Gateway::serve(&base).unwrap();
    let session = session_of(&initialize(&gw, None));
    let mut events = EventStream::open(&gw, &session);
    assert!(tool_names(&gw, None, &session).contains(&"read_file".to_owned()));
    assert_eq!(
        HttpRequest::new("POST", "/admin/reload")
            .send(gw.authority())
            .unwrap()
            .status,
        401,
        "reload is an admin route"
    );

    // Add a pool (and change a restart-only setting, which must be reported, not applied).
    let grown = with_admin(GatewayConfig::new(vec![
        demo_pool("demo"),
        demo_pool("extra"),
    ]))
    .with(
        "session_key",
        "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
    );
    write_config(&gw, &grown.to_toml());
    let reloaded = admin_reload(&gw);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let report: Value = serde_json::from_slice(&reloaded.body).unwrap();
    assert_eq!(report["added"], json!(["extra"]), "{report}");
    assert_eq!(
        report["restart_required"],
        json!(["session_key"]),
        "{report}"
    );
    assert!(
        report["list_changed"]
            .as_array()
            .unwrap()
            .contains(&json!("tools")),
        "{report}"
    );
    let names = tool_names(&gw, None, &session);
    assert!(
        names.contains(&"extra__read_file".to_owned())
            && names.contains(&"demo__read_file".to_owned()),
        "shared names are namespaced once two pools have them: {names:?}"
    );
    assert!(
        events.wait_for("notifications/tools/list_changed", Duration::from_secs(10)),
        "the session must be told: {}",
        events.seen
    );
    let echoed = call(&gw, &session, 2, "extra__echo", json!({"text": "hi"}));
    assert!(
        echoed.get("error").is_none(),
        "the session survives the reload: {echoed}"
    );

    // The routing policy changes live: reported, shown by /healthz, and calls keep working.
    assert_eq!(health(&gw)["policy"], json!("vector"));
    let switched = grown.clone().with("policy", "\"round-robin\"");
    write_config(&gw, &switched.to_toml());
    let reloaded = admin_reload(&gw);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let report: Value = serde_json::from_slice(&reloaded.body).unwrap();
    assert_eq!(report["policy"], json!("round-robin"), "{report}");
    assert_eq!(
        report["restart_required"],
        json!(["session_key"]),
        "{report}"
    );
    assert_eq!(health(&gw)["policy"], json!("round-robin"));
    let echoed = call(&gw, &session, 5, "extra__echo", json!({"text": "after"}));
    assert!(
        echoed.get("error").is_none(),
        "calls route under the new policy: {echoed}"
    );
    // Reloading the same file changes no policy.
    let again: Value = serde_json::from_slice(&admin_reload(&gw).body).unwrap();
    assert_eq!(again["policy"], Value::Null, "{again}");

    // Invalid files change nothing and name what is wrong.
    write_config(&gw, "listen = \"127.0.0.1:0\"\n[[pool]\nname = \"x\"\n");
    let refused = admin_reload(&gw);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("line 2"), "{}", refused.text());
    let bad_value = with_admin(GatewayConfig::new(vec![
        demo_pool("demo"),
        demo_pool("extra").with("request_timeout_ms", "0"),
    ]));
    write_config(&gw, &bad_value.to_toml());
    let refused = admin_reload(&gw);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("pool[1].request_timeout_ms"),
        "{}",
        refused.text()
    );
    write_config(
        &gw,
        &grown.clone().with("policy", "\"fastest-please\"").to_toml(),
    );
    let refused = admin_reload(&gw);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("fastest-please"),
        "{}",
        refused.text()
    );
    assert_eq!(
        health(&gw)["policy"],
        json!("round-robin"),
        "an unknown policy changes nothing"
    );
    assert_eq!(
        tool_names(&gw, None, &session),
        names,
        "the old configuration stays in force"
    );

    // Remove the pool by SIGHUP while a call on it is in flight: the call finishes.
    let authority = gw.authority().to_owned();
    let in_flight_session = session.clone();
    let slow = std::thread::spawn(move || {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "extra__sleep", "arguments": {"ms": 1500}}});
        HttpRequest::post_json("/mcp", &body)
            .header("mcp-protocol-version", VERSION)
            .header("mcp-session-id", &in_flight_session)
            .send(&authority)
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(400));
    write_config(&gw, &base.to_toml());
    sighup(&gw);
    assert!(
        eventually(Duration::from_secs(10), || {
            let names = tool_names(&gw, None, &session);
            names.contains(&"read_file".to_owned())
                && !names.iter().any(|n| n.starts_with("extra__"))
        }),
        "the removed pool's tools must go: {:?}",
        tool_names(&gw, None, &session)
    );
    let finished = slow.join().unwrap();
    let answer = finished.rpc_response().expect("an answer");
    assert!(
        answer.get("error").is_none(),
        "a call in flight on a removed pool finishes: {answer}"
    );
    assert!(
        eventually(Duration::from_secs(10), || gw
            .output()
            .contains("retired pool stopped")),
        "the drained pool's replicas stop: {}",
        gw.output()
    );
    assert!(
        call(
            &gw,
            &session,
            4,
            "read_file",
            json!({"repo": "r", "path": "p"})
        )
        .get("error")
        .is_none()
    );
}

#[test]
fn reload_applies_new_auth_keys_and_sessions_survive() {
    const ALICE: &str = "alice-reload-token";
    const BOB: &str = "bob-reload-token";
    let keys = |ks: &[String]| format!("{{ keys = [{}] }}", ks.join(", "));
    let alice_only = with_admin(GatewayConfig::new(vec![demo_pool("demo")]))
        .with("auth", &keys(&[key("alice", ALICE)]));
    let gw = Gateway::serve(&alice_only).unwrap();
    let alice = session_of(&initialize(&gw, Some(ALICE)));
    assert_eq!(initialize(&gw, Some(BOB)).status, 401);

    let both = with_admin(GatewayConfig::new(vec![demo_pool("demo")]))
        .with("auth", &keys(&[key("alice", ALICE), key("bob", BOB)]));
    write_config(&gw, &both.to_toml());
    sighup(&gw);
    assert!(
        eventually(Duration::from_secs(10), || initialize(&gw, Some(BOB))
            .status
            == 200),
        "bob's new key must be accepted: {}",
        gw.output()
    );
    assert!(tool_names(&gw, Some(ALICE), &alice).contains(&"read_file".to_owned()));

    let bob_only = with_admin(GatewayConfig::new(vec![demo_pool("demo")]))
        .with("auth", &keys(&[key("bob", BOB)]));
    write_config(&gw, &bob_only.to_toml());
    let reloaded = admin_reload(&gw);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let revoked = post(
        &gw,
        Some(ALICE),
        Some(&alice),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(revoked.status, 401, "a removed key stops working at once");
}

/// The replica that answered a demo `search_code` call ("… (replica N)").
fn answering_replica(answer: &Value) -> u64 {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text answer: {answer}"));
    let at = text.find("(replica ").expect("the replica in the answer") + "(replica ".len();
    text[at..]
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a replica number")
}

/// `search_code` with a query of its own (so no answer comes from the cache); returns who
/// answered.
fn search(gw: &Gateway, session: &str, id: u64) -> u64 {
    let answer = call(
        gw,
        session,
        id,
        "search_code",
        json!({"repo": "vecgate", "query": format!("resize {id}")}),
    );
    answering_replica(&answer)
}

fn pool_health(gw: &Gateway) -> (u64, u64) {
    let pool = &health(gw)["pools"][0];
    (
        pool["replicas"].as_u64().unwrap(),
        pool["ready"].as_u64().unwrap(),
    )
}

#[test]
fn a_changed_replica_count_resizes_the_pool_in_place() {
    let sized = |n: u32| {
        with_admin(GatewayConfig::new(vec![Pool::stdio(
            "demo",
            &paths::demo_server_command().unwrap(),
            n,
        )]))
    };
    let gw = Gateway::serve(&sized(1)).unwrap();
    let session = session_of(&initialize(&gw, None));
    // State only the first replica's process holds: it survives a resize, not a restart.
    let put = call(
        &gw,
        &session,
        1,
        "kv_put",
        json!({"key": "kept", "value": "by replica 0"}),
    );
    assert!(put["result"]["isError"] != json!(true), "{put}");
    assert_eq!(search(&gw, &session, 2), 0);

    write_config(&gw, &sized(3).to_toml());
    let reloaded = admin_reload(&gw);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    let report: Value = serde_json::from_slice(&reloaded.body).unwrap();
    assert_eq!(report["resized"], json!(["demo: 1 -> 3"]), "{report}");
    assert_eq!(report["replaced"], json!([]), "{report}");
    assert!(
        eventually(Duration::from_secs(30), || pool_health(&gw) == (3, 3)),
        "the new replicas start: {:?}",
        pool_health(&gw)
    );
    // The new replicas get calls (a replica the router has not seen is tried), and the first
    // replica is the same process: its key is still there.
    let mut seen = std::collections::BTreeSet::new();
    for id in 10..90 {
        seen.insert(search(&gw, &session, id));
        if seen.len() == 3 {
            break;
        }
    }
    assert!(seen.len() >= 2, "calls reach the new replicas: {seen:?}");
    let mut kept = false;
    for id in 100..160 {
        let got = call(&gw, &session, id, "kv_get", json!({"key": "kept"}));
        if got["result"]["content"][0]["text"] == json!("by replica 0") {
            kept = true;
            break;
        }
    }
    assert!(kept, "replica 0 kept running through the resize");

    // Shrinking removes the highest index at once: it answers nothing more.
    write_config(&gw, &sized(2).to_toml());
    let report: Value = serde_json::from_slice(&admin_reload(&gw).body).unwrap();
    assert_eq!(report["resized"], json!(["demo: 3 -> 2"]), "{report}");
    assert_eq!(pool_health(&gw).0, 2);
    for id in 200..240 {
        let replica = search(&gw, &session, id);
        assert!(replica < 2, "a removed replica answered call {id}");
    }
    // A change beyond the replica set still replaces the pool.
    let changed = with_admin(GatewayConfig::new(vec![
        Pool::stdio("demo", &paths::demo_server_command().unwrap(), 2)
            .with("request_timeout_ms", "20000"),
    ]));
    write_config(&gw, &changed.to_toml());
    let report: Value = serde_json::from_slice(&admin_reload(&gw).body).unwrap();
    assert_eq!(
        (&report["replaced"], &report["resized"]),
        (&json!(["demo"]), &json!([])),
        "{report}"
    );
}
