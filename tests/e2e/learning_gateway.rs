//! What makes vecgate more than a proxy, end to end through the real binary and the real demo
//! server: the pattern cache (a repeated read-only call is answered from it, a write makes the
//! stale answer unreachable), the stateless 2026-07-28 front, and learned routing (a replica
//! made slow at one tool stops getting that tool's calls).

use serde_json::{Value, json};
use vecgate_tests::http::{HttpRequest, HttpResponse};
use vecgate_tests::{Gateway, GatewayConfig, Pool, paths};

const VERSION: &str = "2025-11-25";

fn initialize(gw: &Gateway) -> String {
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "learning-e2e", "version": "0"}}
    });
    let response = HttpRequest::post_json("/mcp", &body)
        .send(gw.authority())
        .unwrap();
    assert_eq!(response.status, 200, "initialize: {}", response.text());
    response
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned()
}

fn call(gw: &Gateway, session: &str, id: u64, tool: &str, arguments: Value) -> Value {
    let params = json!({"name": tool, "arguments": arguments});
    request(gw, session, id, "tools/call", params)
}

fn cache_mark(result: &Value) -> Option<&str> {
    result["_meta"]["io.vecgate/cache"].as_str()
}

#[test]
fn a_repeated_read_only_call_is_served_from_the_cache_and_a_write_invalidates_it() {
    let gw = Gateway::serve(&GatewayConfig::demo(1).unwrap()).unwrap();
    let session = initialize(&gw);
    let args = json!({"repo": "vecgate", "path": "README.md"});
    let first = call(&gw, &session, 1, "read_file", args.clone());
    assert_eq!(
        cache_mark(&first),
        None,
        "the first call goes to the backend"
    );
    // Same arguments, keys in another order: the canonical key is the same.
    let second = call(
        &gw,
        &session,
        2,
        "read_file",
        json!({"path": "README.md", "repo": "vecgate"}),
    );
    assert_eq!(cache_mark(&second), Some("hit"), "{second}");
    assert_eq!(first["content"], second["content"]);
    // A destructive tool of the same pool: the cached answer must be unreachable at once.
    call(
        &gw,
        &session,
        3,
        "create_ticket",
        json!({"title": "t", "body": "b"}),
    );
    let third = call(&gw, &session, 4, "read_file", args);
    assert_eq!(cache_mark(&third), None, "a write must invalidate: {third}");
    // A tool that is not read-only-and-closed-world is never cached.
    let a = call(
        &gw,
        &session,
        5,
        "search_code",
        json!({"repo": "vecgate", "query": "x"}),
    );
    let b = call(
        &gw,
        &session,
        6,
        "search_code",
        json!({"repo": "vecgate", "query": "x"}),
    );
    assert_eq!((cache_mark(&a), cache_mark(&b)), (None, None));
}

fn request(gw: &Gateway, session: &str, id: u64, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let response = HttpRequest::post_json("/mcp", &body)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", VERSION)
        .send(gw.authority())
        .unwrap();
    assert_eq!(response.status, 200, "{method}: {}", response.text());
    let message = response.rpc_response().expect("a JSON-RPC response");
    assert!(message.get("error").is_none(), "{method}: {message}");
    message["result"].clone()
}

/// `cache_invalidation = "announced"`: the demo server announces each key it writes
/// (`notifications/resources/updated`) and `kv_get` links the key's resource, so a write drops
/// only the answers that depend on what it wrote, and the very next read sees the new value.
#[test]
fn an_announced_pool_keeps_what_a_write_does_not_touch_and_drops_what_it_does() {
    let demo = Pool::stdio("demo", &paths::demo_server_command().unwrap(), 1)
        .with("cache_invalidation", "\"announced\"")
        .with("cacheable_tools", "[\"kv_get\"]");
    let gw = Gateway::serve(&GatewayConfig::new(vec![demo])).unwrap();
    let session = initialize(&gw);
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    let put = |id: u64, key: &str, value: &str| {
        call(
            &gw,
            &session,
            id,
            "kv_put",
            json!({"key": key, "value": value}),
        );
    };
    let read = |id: u64, key: &str| {
        let uri = format!("demo://kv/{key}");
        request(&gw, &session, id, "resources/read", json!({"uri": uri}))
    };
    let get = |id: u64, key: &str| call(&gw, &session, id, "kv_get", json!({"key": key}));
    let value_read = |r: &Value| {
        r["contents"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let value_got = |r: &Value| {
        r["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // New keys are new resources: their list_changed refreshes the catalog, which drops the
    // pool's answers once. Wait until both are listed and a read is kept, so what follows
    // sees only the writes it makes.
    put(next(), "a", "1");
    put(next(), "b", "1");
    let settled = (0..100).any(|_| {
        let listed = request(&gw, &session, next(), "resources/list", json!({}));
        let uris = listed["resources"].to_string();
        if !(uris.contains("demo://kv/a") && uris.contains("demo://kv/b")) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            return false;
        }
        read(next(), "a");
        get(next(), "a");
        let kept = cache_mark(&read(next(), "a")) == Some("hit")
            && cache_mark(&get(next(), "a")) == Some("hit");
        if !kept {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        kept
    });
    assert!(settled, "reads of an unchanging key were never kept");

    let linked = get(next(), "a");
    assert_eq!(linked["content"][1]["uri"], "demo://kv/a", "{linked}");
    // A tool answer linking a URI nobody watched yet: the gateway subscribes but does not
    // store that answer (a change made while it was produced could have gone unheard); it
    // stores the next one, and serves the one after.
    let marks: Vec<_> = (0..3)
        .map(|_| cache_mark(&get(next(), "b")).map(str::to_owned))
        .collect();
    assert_eq!(marks, [None, None, Some("hit".to_owned())]);
    // A write to another key: both answers about `a` stay cached.
    put(next(), "b", "2");
    let kept_read = read(next(), "a");
    let kept_get = get(next(), "a");
    assert_eq!(cache_mark(&kept_read), Some("hit"), "{kept_read}");
    assert_eq!(cache_mark(&kept_get), Some("hit"), "{kept_get}");
    assert_eq!(
        (value_read(&kept_read), value_got(&kept_get)),
        ("1".into(), "1".into())
    );
    // A write to `a`: the next read and the next kv_get see the new value.
    put(next(), "a", "2");
    let fresh_read = read(next(), "a");
    let fresh_get = get(next(), "a");
    assert_eq!(cache_mark(&fresh_read), None, "{fresh_read}");
    assert_eq!(cache_mark(&fresh_get), None, "{fresh_get}");
    assert_eq!(
        (value_read(&fresh_read), value_got(&fresh_get)),
        ("2".into(), "2".into())
    );
    assert_eq!(cache_mark(&read(next(), "a")), Some("hit"), "cached again");

    // A client's unsubscribe must not cancel the gateway's own upstream subscription.
    request(
        &gw,
        &session,
        next(),
        "resources/subscribe",
        json!({"uri": "demo://kv/a"}),
    );
    request(
        &gw,
        &session,
        next(),
        "resources/unsubscribe",
        json!({"uri": "demo://kv/a"}),
    );
    put(next(), "a", "3");
    let after = read(next(), "a");
    assert_eq!(
        (cache_mark(&after), value_read(&after)),
        (None, "3".into()),
        "{after}"
    );
}

fn stateless(gw: &Gateway, method: &str, name: Option<&str>, params: Value) -> HttpResponse {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let mut request = HttpRequest::post_json("/mcp", &body)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    request.send(gw.authority()).unwrap()
}

#[test]
fn stateless_2026_07_28_requests_are_validated_and_served_without_a_session() {
    let gw = Gateway::serve(&GatewayConfig::demo(1).unwrap()).unwrap();
    let discover = stateless(&gw, "server/discover", None, json!({}));
    assert_eq!(discover.status, 200, "{}", discover.text());
    let result = &discover.rpc_response().unwrap()["result"];
    assert_eq!(result["resultType"], "complete");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "vecgate"
    );

    let ok = stateless(
        &gw,
        "tools/call",
        Some("echo"),
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let result = &ok.rpc_response().unwrap()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["content"][0]["text"], "hi");

    // Base64 sentinel form of the same name.
    let b64 = stateless(
        &gw,
        "tools/call",
        Some("=?base64?ZWNobw==?="),
        json!({"name": "echo", "arguments": {"text": "b"}}),
    );
    assert_eq!(b64.status, 200, "{}", b64.text());

    let mismatch = stateless(
        &gw,
        "tools/call",
        Some("other"),
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    );
    assert_eq!(mismatch.status, 400, "{}", mismatch.text());
    assert_eq!(mismatch.rpc_response().unwrap()["error"]["code"], -32020);

    let missing = stateless(
        &gw,
        "tools/call",
        None,
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    );
    assert_eq!(
        missing.status,
        400,
        "a tools/call without Mcp-Name: {}",
        missing.text()
    );

    let list = stateless(&gw, "tools/list", None, json!({}));
    let result = &list.rpc_response().unwrap()["result"];
    assert_eq!(
        (result["resultType"].as_str(), result["cacheScope"].as_str()),
        (Some("complete"), Some("private"))
    );
}

/// The replica a demo tool says it ran on: "… (replica 1)" or "… on replica 1".
fn replica_of(result: &Value) -> u32 {
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    let tail = text.rsplit("replica ").next().unwrap_or_default();
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no replica in {text:?}"))
}

#[test]
fn the_vector_policy_moves_a_slow_tool_off_the_slow_replica() {
    // Replica 1 is 40x slower at search_code only.
    let pool = Pool::stdio("demo", &paths::demo_server_command().unwrap(), 3)
        .env("VECGATE_DEMO_SLOW", "1:search_code=40");
    let gw = Gateway::serve(&GatewayConfig::new(vec![pool]).with("policy", "\"vector\"")).unwrap();
    let session = initialize(&gw);
    let repos = ["vecgate", "tokio", "hyper", "tower", "serde", "rkyv"];
    let mut id = 0;
    // One call of `tool`, answered by which replica.
    let mut replica_for = |tool: &str, args: serde_json::Value| {
        id += 1;
        replica_of(&call(&gw, &session, id, tool, args))
    };
    let search_args =
        |round: usize| json!({"repo": repos[round % repos.len()], "query": "fn main"});
    // Warm-up. The policy keeps sampling a little-known replica optimistically while nothing
    // is in flight (issue 4's Thompson draws), so its first search_code calls after 60 rounds
    // could still reach the slow replica on a loaded machine (7 of 60 seen once); 90 leaves
    // the sampling time to settle.
    for round in 0..90 {
        replica_for("search_code", search_args(round));
    }
    let after: Vec<u32> = (0..60)
        .map(|round| replica_for("search_code", search_args(round)))
        .collect();
    let on_slow = after.iter().filter(|r| **r == 1).count();
    // Round-robin would send 20 of 60 there.
    assert!(
        on_slow <= 6,
        "after warm-up, {on_slow} of 60 search_code calls still went to the slow replica: {after:?}"
    );
    // Issue 4: the slow replica must keep serving the tools it is not slow at. Sequential calls
    // have nothing in flight anywhere, so the load term never breaks ties: only the policy's
    // own exploration and uncertainty keep them from herding onto one replica.
    let puts: Vec<u32> = (0..60)
        .map(|i| replica_for("kv_put", json!({"key": format!("k{i}"), "value": "v"})))
        .collect();
    let on_replica = |r: u32| puts.iter().filter(|p| **p == r).count();
    let why = explain(&gw, "kv_put", json!({"key": "k-next", "value": "v"}));
    // Round-robin would send 20 of 60 to each replica; the policy before the fix sent 0 of 60
    // (8 of 8 seeds in the unit test). This asserts only that the replica is not herded away
    // entirely: on a loaded machine the fixed policy still falls into streaks on one replica
    // now and then (3 of 60 seen once in 10 loaded runs; typically 10 to 25), which is open in
    // issue 4.
    assert!(
        on_replica(1) >= 3,
        "only {} of 60 kv_put calls went to replica 1 (0: {}, 2: {}): {puts:?}\nexplain: {why}",
        on_replica(1),
        on_replica(0),
        on_replica(2)
    );
    // search_code still avoids the slow replica after the kv_put phase.
    let last: Vec<u32> = (0..30)
        .map(|round| replica_for("search_code", search_args(round)))
        .collect();
    let on_slow = last.iter().filter(|r| **r == 1).count();
    assert!(
        on_slow <= 3,
        "after the kv_put phase, {on_slow} of 30 search_code calls went to the slow replica: {last:?}"
    );
    // The learner and its store show on /metrics, as of the scrape.
    let metrics = HttpRequest::new("GET", "/metrics")
        .send(gw.authority())
        .unwrap();
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    let text = metrics.text();
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    assert!(gauge("vecgate_learner_outcomes_learned") > 0.0);
    assert!(gauge("vecgate_index_entries") > 0.0);
    assert!(gauge("vecgate_index_search_ef") > 0.0);
}

/// What the gateway's policy would do with a `tools/call` (`POST /admin/route/explain`).
fn explain(gw: &Gateway, tool: &str, arguments: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    HttpRequest::post_json("/admin/route/explain", &body)
        .send(gw.authority())
        .map_or_else(|e| format!("explain failed: {e}"), |r| r.text())
}
