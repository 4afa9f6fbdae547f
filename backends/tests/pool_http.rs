//! Streamable HTTP pools against the real bundled demo server (`vecgate-demo-server --http`).

mod pool_support;

use pool_support::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::mpsc;
use vecgate_backends::{
    CallError, CallEvent, CallEventSink, PoolEvent, PoolSpec, ReplicaState, TransportSpec,
};

/// Start the demo server on `addr` (port 0 picks one); returns the child and its `/mcp` URL.
async fn demo_http(addr: &str) -> (Child, String) {
    spawn_listening(DEMO, &["--http", addr, "--profile", "instant"]).await
}

fn http_spec(url: &str) -> PoolSpec {
    let mut spec = demo_stdio("web", 1);
    spec.transport = TransportSpec::StreamableHttp {
        urls: vec![url.to_owned()],
        headers: vec![("x-test".into(), "1".into())],
    };
    spec
}

#[tokio::test]
async fn calls_progress_and_server_requests_over_streamable_http() {
    let (mut server, url) = demo_http("127.0.0.1:0").await;
    let (pool, _events) = ready_pool(http_spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    assert_eq!(replica.server().unwrap().protocol_version, "2025-11-25");
    assert!(pool.catalog().unwrap().tool("echo").is_some());

    // Many concurrent requests on one upstream session.
    let mut calls = Vec::new();
    for i in 0..32 {
        let replica = replica.clone();
        calls.push(tokio::spawn(async move {
            let result = replica
                .call(call("echo", serde_json::json!({"text": format!("h{i}")})))
                .await
                .unwrap();
            assert_eq!(text(&result), format!("h{i}"));
        }));
    }
    for c in calls {
        c.await.unwrap();
    }

    // Progress arrives on the POST's event stream, with the caller's token.
    let (tx, mut rx) = mpsc::channel(64);
    let c = call_with_progress(
        "long_task",
        serde_json::json!({"steps": 3, "step_ms": 10}),
        serde_json::json!("tok"),
        tx,
    );
    assert_eq!(text(&replica.call(c).await.unwrap()), "completed 3 steps");
    let mut progress = 0;
    while let Ok(event) = rx.try_recv() {
        if let CallEvent::Notification(m) = event
            && m.method.as_deref() == Some("notifications/progress")
        {
            assert_eq!(json(m.params.as_deref().unwrap())["progressToken"], "tok");
            progress += 1;
        }
    }
    assert_eq!(progress, 3);

    // A sampling request on the POST's stream belongs to that call.
    let (tx, mut rx) = mpsc::channel(8);
    let mut c = call("ask_llm", serde_json::json!({"prompt": "hi"}));
    c.events = Some(Arc::new(tx) as CallEventSink);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let CallEvent::Request { message, reply } = event {
                assert_eq!(message.method.as_deref(), Some("sampling/createMessage"));
                let result = serde_json::json!({"role": "assistant", "content": {"type": "text", "text": "yo"}, "model": "m"});
                let _ = reply.send(Ok(vecgate_backends::jsonrpc::to_raw(&result)));
            }
        }
    });
    assert_eq!(text(&replica.call(c).await.unwrap()), "m says: yo");
    pool.shutdown().await;
    server.kill().await.unwrap();
}

#[tokio::test]
async fn a_lost_http_upstream_fails_calls_and_is_reinitialized_when_back() {
    let (mut server, url) = demo_http("127.0.0.1:0").await;
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    let (pool, mut events) = ready_pool(http_spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    let slow = {
        let replica = replica.clone();
        tokio::spawn(async move {
            replica
                .call(call("sleep", serde_json::json!({"ms": 20_000})))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill().await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("must not hang")
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, CallError::Unavailable { .. }), "{error:?}");
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(
            e,
            PoolEvent::ReplicaState {
                state: ReplicaState::Down,
                ..
            }
        )
    })
    .await;

    // The server comes back on the same address: the replica opens a new session.
    let (mut server, _) = demo_http(&addr.to_string()).await;
    wait_event(&mut events, Duration::from_secs(20), |e| {
        matches!(
            e,
            PoolEvent::ReplicaState {
                state: ReplicaState::Ready,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        text(
            &replica
                .call(call("echo", serde_json::json!({"text": "back"})))
                .await
                .unwrap()
        ),
        "back"
    );
    pool.shutdown().await;
    server.kill().await.unwrap();
}

#[tokio::test]
async fn bad_http_specs_fail_cleanly() {
    let (tx, mut events) = mpsc::channel(64);
    let mut spec = http_spec("https://example.invalid/mcp");
    spec.init_timeout = Duration::from_secs(2);
    let pool = vecgate_backends::Pool::start(1, spec, identity(), tx);
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(
            e,
            PoolEvent::ReplicaState {
                pool: 1,
                state: ReplicaState::Down,
                ..
            }
        )
    })
    .await;
    assert!(
        pool.replicas()[0].last_error().unwrap().contains("https"),
        "{:?}",
        pool.replicas()[0].last_error()
    );
    // Nothing listens on port 9 of localhost: connection refused, reported, retried.
    let (tx, mut events) = mpsc::channel(64);
    let pool2 =
        vecgate_backends::Pool::start(2, http_spec("http://127.0.0.1:9/mcp"), identity(), tx);
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(
            e,
            PoolEvent::ReplicaState {
                state: ReplicaState::Down,
                ..
            }
        )
    })
    .await;
    assert!(pool2.replicas()[0].last_error().is_some());
    pool.shutdown().await;
    pool2.shutdown().await;
}
