//! A Streamable HTTP pool against a stateless (2026-07-28) upstream
//! (`tests/fixtures/stateless_http_server.py`), which refuses with `400` any POST whose
//! `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` headers do not match its body, or that
//! carries `Mcp-Session-Id`.

mod pool_support;

use pool_support::*;
use std::time::Duration;
use tokio::process::Child;
use vecgate_backends::{PoolSpec, Replica, TransportSpec};

/// The fixture's tool whose name is not visible ASCII (sent as `=?base64?…?=`).
const UNICODE_TOOL: &str = "h\u{e9}llo\u{2192}w\u{f6}rld";

/// Start the fixture with `args`; returns the child and its `/mcp` URL.
async fn stateless_http_with(args: &[&str]) -> (Child, String) {
    let script = format!(
        "{}/tests/fixtures/stateless_http_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let args: Vec<&str> = std::iter::once(script.as_str())
        .chain(args.iter().copied())
        .collect();
    spawn_listening("python3", &args).await
}

/// Start the fixture; returns the child and its `/mcp` URL.
async fn stateless_http() -> (Child, String) {
    stateless_http_with(&[]).await
}

fn spec(url: &str) -> PoolSpec {
    let mut spec = demo_stdio("stateless", 1);
    spec.transport = TransportSpec::StreamableHttp {
        urls: vec![url.to_owned()],
        headers: vec![],
    };
    spec
}

async fn stats(replica: &Replica) -> serde_json::Value {
    let result = replica
        .call(call("stats", serde_json::json!({})))
        .await
        .unwrap();
    serde_json::from_str(&text(&result)).unwrap()
}

#[tokio::test]
async fn every_post_carries_the_stateless_headers() {
    let (mut server, url) = stateless_http().await;
    let (pool, _events) = ready_pool(spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    assert_eq!(replica.server().unwrap().protocol_version, "2026-07-28");
    let catalog = pool.catalog().unwrap();
    assert!(catalog.tool("echo").is_some());
    assert!(catalog.tool(UNICODE_TOOL).is_some());

    let plain = replica
        .call(call("echo", serde_json::json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(text(&plain), "echo: hi");
    let encoded = replica
        .call(call(UNICODE_TOOL, serde_json::json!({"text": "h\u{e9}"})))
        .await
        .unwrap();
    assert_eq!(text(&encoded), format!("{UNICODE_TOOL}: h\u{e9}"));
    // Only `initialize` (no version header: the probe for a session-based server) was refused.
    assert_eq!(stats(&replica).await["rejected"], 1);
    pool.shutdown().await;
    server.kill().await.unwrap();
}

#[tokio::test]
async fn abandoning_a_call_closes_its_stream_and_posts_no_cancel() {
    let (mut server, url) = stateless_http().await;
    let (pool, _events) = ready_pool(spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    abandon_two_hanging_calls(&replica).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let seen = stats(&replica).await;
        if seen["closed"].as_array().unwrap().len() == 2 || tokio::time::Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        seen["closed"].as_array().unwrap().len(),
        2,
        "both streams closed: {seen}"
    );
    assert_eq!(
        seen["cancelled"],
        serde_json::json!([]),
        "no notifications/cancelled POST: {seen}"
    );
    assert_eq!(seen["rejected"], 1, "{seen}");
    assert_eq!(replica.inflight(), 0);
    pool.shutdown().await;
    server.kill().await.unwrap();
}

#[tokio::test]
async fn a_refusal_with_a_null_id_still_leads_to_server_discover() {
    // The server refuses `initialize` with HTTP 400 and an error whose id is null: that is
    // still the POST's answer, so the handshake falls back to `server/discover`.
    let (mut server, url) = stateless_http_with(&["--null-id"]).await;
    let (pool, _events) = ready_pool(spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    assert_eq!(replica.server().unwrap().protocol_version, "2026-07-28");
    let plain = replica
        .call(call("echo", serde_json::json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(text(&plain), "echo: hi");
    pool.shutdown().await;
    server.kill().await.unwrap();
}
