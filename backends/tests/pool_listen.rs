//! Resource subscriptions on a stateless (2026-07-28) stdio upstream
//! (`tests/fixtures/listen_server.py`, which has `subscriptions/listen` and no
//! `resources/subscribe`): the replica keeps one upstream listen carrying every subscribed URI,
//! with no deadline; its updates arrive as the pool's notifications; a change of the URI set
//! replaces the listen (the old one is cancelled on the server); a restart, or the server
//! ending the listen, opens it again. The listen is open from the start, asking for the tool
//! list changes the server advertises, which refresh the pool's catalog.

mod pool_support;

use pool_support::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::to_raw;
use vecgate_backends::{Call, CallError, PoolEvent, PoolSpec, Replica};

fn listen_spec() -> PoolSpec {
    let script = format!(
        "{}/tests/fixtures/listen_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut spec = stdio_spec("notes", "python3", &[script.as_str()], 1);
    // Short, so the listen is seen to outlive the per-call deadline.
    spec.request_timeout = Duration::from_millis(800);
    spec
}

fn resource_call(method: &'static str, uri: &str) -> Call {
    Call {
        method: method.into(),
        params: Some(to_raw(&json!({ "uri": uri }))),
        events: None,
        timeout: Some(Duration::from_secs(5)),
        after: None,
    }
}

async fn subscribe(replica: &Replica, uri: &str) -> Result<Value, CallError> {
    replica
        .call(resource_call("resources/subscribe", uri))
        .await
        .map(|r| json(&r))
}

async fn unsubscribe(replica: &Replica, uri: &str) {
    let answer = replica
        .call(resource_call("resources/unsubscribe", uri))
        .await
        .unwrap();
    assert_eq!(json(&answer), json!({}));
}

/// The server's open listens: (id, URIs) of each, and the ids it saw cancelled. Each must ask
/// for the tool list changes the fixture advertises.
async fn listens(replica: &Replica) -> (Vec<(u64, Vec<String>)>, Vec<u64>) {
    let answer = replica.call(call("listens", json!({}))).await.unwrap();
    let v: Value = serde_json::from_str(&text(&answer)).unwrap();
    let open = v["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["tools"], json!(true), "asks for toolsListChanged: {l}");
            let uris = l["uris"].as_array().unwrap();
            let uris = uris.iter().map(|u| u.as_str().unwrap().to_owned());
            (l["id"].as_u64().unwrap(), uris.collect())
        })
        .collect();
    let cancelled = v["cancelled"].as_array().unwrap();
    (
        open,
        cancelled.iter().map(|c| c.as_u64().unwrap()).collect(),
    )
}

/// The URIs of the one listen the server has open.
async fn only_listen(replica: &Replica) -> (u64, Vec<String>) {
    let (open, _) = listens(replica).await;
    assert_eq!(open.len(), 1, "one upstream listen per replica: {open:?}");
    open.into_iter().next().unwrap()
}

async fn write(replica: &Replica, uri: &str, value: &str) {
    let answer = replica
        .call(call("write", json!({"uri": uri, "text": value})))
        .await
        .unwrap();
    assert_eq!(text(&answer), "written");
}

/// The URIs of the `notifications/resources/updated` the pool reports within `within`.
async fn updates(events: &mut mpsc::Receiver<PoolEvent>, within: Duration) -> Vec<String> {
    let mut uris = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        let PoolEvent::Notification { message, .. } = event else {
            continue;
        };
        if message.method.as_deref() != Some("notifications/resources/updated") {
            continue;
        }
        let params: Value = serde_json::from_str(message.params.as_ref().unwrap().get()).unwrap();
        assert!(
            params.get("_meta").is_none(),
            "the upstream's subscription tag is not passed on: {params}"
        );
        uris.push(params["uri"].as_str().unwrap().to_owned());
    }
    uris
}

/// Wait (bounded) until the server's only open listen carries `uris`.
async fn wait_for_listen(replica: &Replica, uris: &[&str]) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if replica.is_ready()
            && let Ok(answer) = replica.call(call("listens", json!({}))).await
        {
            let v: Value = serde_json::from_str(&text(&answer)).unwrap();
            if let [only] = v["open"].as_array().unwrap().as_slice()
                && only["uris"] == json!(uris)
            {
                assert_eq!(
                    only["tools"],
                    json!(true),
                    "asks for toolsListChanged: {only}"
                );
                return only["id"].as_u64().unwrap();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no listen for {uris:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_upstream_listen_carries_the_replicas_subscriptions_and_is_replaced_on_change() {
    let (pool, mut events) = ready_pool(listen_spec()).await;
    let replica = pool.replicas()[0].clone();
    assert!(replica.server().unwrap().stateless);
    // Nothing subscribed yet: the listen asks only for tool list changes.
    let initial = wait_for_listen(&replica, &[]).await;

    assert_eq!(subscribe(&replica, "note://a").await.unwrap(), json!({}));
    let (first, uris) = only_listen(&replica).await;
    assert_eq!(uris, ["note://a"]);

    // The listen never answers; it must outlive the pool's 800 ms request timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (open, cancelled) = listens(&replica).await;
    assert_eq!(open, [(first, vec!["note://a".to_owned()])]);
    assert_eq!(
        cancelled,
        [initial],
        "only the replaced listen is cancelled; none timed out"
    );

    write(&replica, "note://a", "a1").await;
    assert_eq!(
        updates(&mut events, Duration::from_millis(500)).await,
        ["note://a"]
    );

    // A second URI: a new listen for both, and the old one cancelled on the server.
    assert_eq!(subscribe(&replica, "note://b").await.unwrap(), json!({}));
    let (second, uris) = only_listen(&replica).await;
    assert_eq!(uris, ["note://a", "note://b"]);
    assert_ne!(second, first);
    assert_eq!(listens(&replica).await.1, [initial, first]);
    write(&replica, "note://a", "a2").await;
    write(&replica, "note://b", "b1").await;
    assert_eq!(
        updates(&mut events, Duration::from_millis(500)).await,
        ["note://a", "note://b"],
        "each update once: the replaced listen is gone"
    );

    // A URI the server does not acknowledge is refused, and not asked for again.
    match subscribe(&replica, "note://missing").await {
        Err(CallError::Rpc(e)) => assert!(e.get().contains("-32602"), "{}", e.get()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(subscribe(&replica, "note://c").await.unwrap(), json!({}));
    assert_eq!(
        only_listen(&replica).await.1,
        ["note://a", "note://b", "note://c"]
    );

    // Unsubscribing narrows the listen.
    unsubscribe(&replica, "note://a").await;
    unsubscribe(&replica, "note://c").await;
    assert_eq!(only_listen(&replica).await.1, ["note://b"]);
    write(&replica, "note://a", "a3").await;
    write(&replica, "note://b", "b2").await;
    assert_eq!(
        updates(&mut events, Duration::from_millis(500)).await,
        ["note://b"]
    );

    // The server ends the listen: it is opened again, for the same URIs.
    replica.call(call("end_listens", json!({}))).await.unwrap();
    wait_for_listen(&replica, &["note://b"]).await;
    write(&replica, "note://b", "b3").await;
    assert_eq!(
        updates(&mut events, Duration::from_millis(500)).await,
        ["note://b"]
    );

    // The replica restarts: the new process gets the listen again.
    let pid = replica.pid().unwrap();
    kill9(pid);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while replica.pid().is_none_or(|p| p == pid) {
        assert!(tokio::time::Instant::now() < deadline, "no restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_listen(&replica, &["note://b"]).await;
    write(&replica, "note://b", "b4").await;
    assert!(
        updates(&mut events, Duration::from_millis(500))
            .await
            .contains(&"note://b".to_owned()),
        "updates flow on the new connection"
    );

    // No URI left wanted: the listen stays, for tool list changes only.
    unsubscribe(&replica, "note://b").await;
    assert!(only_listen(&replica).await.1.is_empty());
    pool.shutdown().await;
}

/// Wait (bounded) until the pool's catalog lists the tool `name`.
async fn wait_for_tool(pool: &vecgate_backends::Pool, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(catalog) = pool.catalog()
            && catalog.tools.iter().any(|t| t.key == name)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pool's catalog never listed {name:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tool_list_changes_of_a_stateless_upstream_refresh_the_pools_catalog() {
    let (pool, _events) = ready_pool(listen_spec()).await;
    let replica = pool.replicas()[0].clone();
    // No resources/subscribe: the listen is open for the advertised tool list changes.
    wait_for_listen(&replica, &[]).await;
    let answer = replica
        .call(call("add_tool", json!({"name": "fresh"})))
        .await
        .unwrap();
    assert_eq!(text(&answer), "added");
    wait_for_tool(&pool, "fresh").await;

    // After a restart the listen is opened again, still asking for tool list changes.
    let pid = replica.pid().unwrap();
    kill9(pid);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while replica.pid().is_none_or(|p| p == pid) {
        assert!(tokio::time::Instant::now() < deadline, "no restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_listen(&replica, &[]).await;
    replica
        .call(call("add_tool", json!({"name": "after_restart"})))
        .await
        .unwrap();
    wait_for_tool(&pool, "after_restart").await;
    pool.shutdown().await;
}
