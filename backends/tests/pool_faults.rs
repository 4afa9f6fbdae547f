//! Stdio pools against a fault-injecting test upstream (`tests/fixtures/fault_server.py`):
//! cancellation as seen by the server, token rewriting on the wire, bad output, paging,
//! `list_changed`, older protocol versions and the stateless 2026-07-28 flow.

mod pool_support;

use pool_support::*;
use std::time::Duration;
use vecgate_backends::{CallError, PoolEvent, PoolSpec};

fn fault_spec(args: &[&str]) -> PoolSpec {
    let script = fault_server();
    let mut all = vec![script.as_str()];
    all.extend_from_slice(args);
    stdio_spec("fault", "python3", &all, 1)
}

async fn tool_text(replica: &vecgate_backends::Replica, name: &str) -> String {
    text(
        &replica
            .call(call(name, serde_json::json!({})))
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn dropping_or_timing_out_a_call_cancels_it_on_the_server() {
    let (pool, _events) = ready_pool(fault_spec(&[])).await;
    let replica = pool.replicas()[0].clone();
    abandon_two_hanging_calls(&replica).await;
    let seen: Vec<u64> = serde_json::from_str(&tool_text(&replica, "seen").await).unwrap();
    let cancelled: Vec<u64> =
        serde_json::from_str(&tool_text(&replica, "cancelled").await).unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        cancelled, seen,
        "each abandoned request was cancelled under its upstream id"
    );
    assert_eq!(replica.inflight(), 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn progress_tokens_are_rewritten_on_the_wire() {
    let (pool, _events) = ready_pool(fault_spec(&[])).await;
    let replica = pool.replicas()[0].clone();
    let params = serde_json::json!({"name": "meta", "arguments": {}, "_meta": {"progressToken": "client-token", "traceparent": "00-x"}});
    let c = vecgate_backends::Call {
        method: "tools/call".into(),
        params: Some(vecgate_backends::jsonrpc::to_raw(&params)),
        events: None,
        timeout: None,
        after: None,
    };
    let meta: serde_json::Value =
        serde_json::from_str(&text(&replica.call(c).await.unwrap())).unwrap();
    assert!(
        meta["progressToken"].is_u64(),
        "upstream sees vecgate's token, not the client's: {meta}"
    );
    assert_eq!(
        meta["traceparent"], "00-x",
        "other _meta fields pass through"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn bad_upstream_output_is_a_protocol_error_not_a_crash() {
    let (pool, _events) = ready_pool(fault_spec(&[])).await;
    let replica = pool.replicas()[0].clone();
    match replica.call(call("garbage", serde_json::json!({}))).await {
        Err(e @ CallError::Protocol { .. }) => {
            assert!(e.to_string().contains("\"fault\" replica 0"), "{e}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(replica.is_ready());
    assert_eq!(tool_text(&replica, "cancelled").await, "[]");
    pool.shutdown().await;
}

#[tokio::test]
async fn older_versions_are_accepted_and_every_page_is_fetched() {
    let (pool, _events) = ready_pool(fault_spec(&[])).await;
    let server = pool.replicas()[0].server().unwrap();
    assert_eq!(server.protocol_version, "2025-06-18");
    let catalog = pool.catalog().unwrap();
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(
        names,
        ["hang", "seen", "cancelled", "meta", "garbage", "add_tool"]
    );
    assert!(catalog.tool("seen").unwrap().annotations.read_only);
    assert!(
        catalog.resources.is_empty() && catalog.prompts.is_empty(),
        "not declared, not fetched"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn list_changed_refreshes_the_catalog() {
    let (pool, mut events) = ready_pool(fault_spec(&[])).await;
    // Drain the "first replica ready" change.
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, PoolEvent::CatalogChanged { .. })
    })
    .await;
    assert!(pool.catalog().unwrap().tool("extra").is_none());
    assert_eq!(tool_text(&pool.replicas()[0], "add_tool").await, "added");
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, PoolEvent::CatalogChanged { pool: 0 })
    })
    .await;
    assert!(pool.catalog().unwrap().tool("extra").is_some());
    pool.shutdown().await;
}

#[tokio::test]
async fn a_stateless_upstream_is_discovered_and_gets_protocol_meta() {
    let (pool, _events) = ready_pool(fault_spec(&["--stateless"])).await;
    let replica = pool.replicas()[0].clone();
    let server = replica.server().unwrap();
    assert!(server.stateless);
    assert_eq!(server.protocol_version, "2026-07-28");
    assert!(server.server_info.get().contains("fault-stateless"));
    assert_eq!(
        pool.catalog().unwrap().tools.len(),
        6,
        "lists are fetched with the protocol _meta"
    );
    let meta: serde_json::Value = serde_json::from_str(&tool_text(&replica, "meta").await).unwrap();
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"],
        "vecgate-test"
    );
    assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
    pool.shutdown().await;
}
