//! Stdio pools against the real bundled demo MCP server (`vecgate-demo-server`).

mod pool_support;

use pool_support::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::{
    CallError, CallEvent, CallEventSink, Pool, PoolEvent, ReplicaState, TransportSpec,
};

#[tokio::test]
async fn handshake_negotiates_and_fetches_the_catalog() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = &pool.replicas()[0];
    let server = replica.server().unwrap();
    assert_eq!(server.protocol_version, "2025-11-25");
    assert!(!server.stateless);
    assert!(server.server_info.get().contains("vecgate-demo"));
    let catalog = pool.catalog().unwrap();
    let names: HashSet<&str> = catalog.tools.iter().map(|t| t.key.as_str()).collect();
    for tool in ["echo", "sleep", "long_task", "ask_llm", "confirm"] {
        assert!(names.contains(tool), "{tool} missing from {names:?}");
    }
    assert!(!catalog.prompts.is_empty(), "the demo declares prompts");
    // Items are kept whole, and annotations are read.
    let echo = catalog.tool("echo").unwrap();
    assert!(echo.raw.get().contains("inputSchema"));
    assert!(
        catalog.tools.iter().any(|t| t.annotations.read_only),
        "some demo tools are read-only"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_are_multiplexed_over_one_process_without_cross_talk() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = pool.replicas()[0].clone();
    let pid = replica.pid().unwrap();
    let mut calls = Vec::new();
    for i in 0..64u64 {
        let replica = replica.clone();
        calls.push(tokio::spawn(async move {
            if i % 4 == 0 {
                // Interleave slow calls so answers come back out of order.
                let ms = 5 + (i * 7) % 40;
                let result = replica
                    .call(call("sleep", serde_json::json!({"ms": ms})))
                    .await
                    .unwrap();
                assert_eq!(text(&result), format!("slept {ms} ms"));
            } else {
                let result = replica
                    .call(call(
                        "echo",
                        serde_json::json!({"text": format!("msg-{i}")}),
                    ))
                    .await
                    .unwrap();
                assert_eq!(text(&result), format!("msg-{i}"));
            }
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    assert_eq!(replica.pid(), Some(pid), "one process served everything");
    assert_eq!(replica.inflight(), 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn progress_goes_to_its_own_call_with_the_callers_token() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = pool.replicas()[0].clone();
    // Two clients that happen to use the same token, and a third with a numeric one.
    let tokens = [
        serde_json::json!("same"),
        serde_json::json!("same"),
        serde_json::json!(7),
    ];
    let mut runs = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let replica = replica.clone();
        runs.push(tokio::spawn(async move {
            let steps = 3 + i as u64;
            let (tx, mut rx) = mpsc::channel(64);
            let c = call_with_progress(
                "long_task",
                serde_json::json!({"steps": steps, "step_ms": 20}),
                token.clone(),
                tx,
            );
            let result = replica.call(c).await.unwrap();
            assert_eq!(text(&result), format!("completed {steps} steps"));
            let mut progress = Vec::new();
            while let Ok(event) = rx.try_recv() {
                if let CallEvent::Notification(m) = event
                    && m.method.as_deref() == Some("notifications/progress")
                {
                    let p = json(m.params.as_deref().unwrap());
                    assert_eq!(
                        p["progressToken"], token,
                        "the caller's own token is restored"
                    );
                    assert_eq!(p["total"].as_f64(), Some(steps as f64), "no cross-talk");
                    progress.push(p["progress"].as_f64().unwrap());
                }
            }
            let expected: Vec<f64> = (1..=steps).map(|s| s as f64).collect();
            assert_eq!(progress, expected);
        }));
    }
    for r in runs {
        r.await.unwrap();
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn sampling_and_elicitation_are_relayed_to_the_calling_call() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = pool.replicas()[0].clone();

    let (tx, mut rx) = mpsc::channel(8);
    let mut c = call("ask_llm", serde_json::json!({"prompt": "the answer?"}));
    c.events = Some(Arc::new(tx) as CallEventSink);
    let answer = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let CallEvent::Request { message, reply } = event {
                assert_eq!(message.method.as_deref(), Some("sampling/createMessage"));
                assert!(message.params.unwrap().get().contains("the answer?"));
                let result = serde_json::json!({"role": "assistant", "content": {"type": "text", "text": "42"}, "model": "test-model"});
                reply
                    .send(Ok(vecgate_backends::jsonrpc::to_raw(&result)))
                    .unwrap();
            }
        }
    });
    let result = replica.call(c).await.unwrap();
    assert_eq!(text(&result), "test-model says: 42");
    answer.await.unwrap();

    let (tx, mut rx) = mpsc::channel(8);
    let mut c = call("confirm", serde_json::json!({"question": "ship it?"}));
    c.events = Some(Arc::new(tx) as CallEventSink);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let CallEvent::Request { message, reply } = event {
                assert_eq!(message.method.as_deref(), Some("elicitation/create"));
                let result =
                    serde_json::json!({"action": "accept", "content": {"confirmed": true}});
                let _ = reply.send(Ok(vecgate_backends::jsonrpc::to_raw(&result)));
            }
        }
    });
    assert_eq!(text(&replica.call(c).await.unwrap()), "confirmed");

    // A call without an events channel: the server request becomes a pool event, and an
    // unanswered one is refused upstream rather than left hanging.
    let (pool2, mut events2) = ready_pool(demo_stdio("demo2", 1)).await;
    let call_task = {
        let replica = pool2.replicas()[0].clone();
        tokio::spawn(async move {
            replica
                .call(call("confirm", serde_json::json!({"question": "q"})))
                .await
        })
    };
    wait_event(&mut events2, Duration::from_secs(10), |e| {
        matches!(e, PoolEvent::ServerRequest { message, .. } if message.method.as_deref() == Some("elicitation/create"))
    })
    .await;
    let result = call_task.await.unwrap().unwrap();
    assert!(text(&result).contains("did not elicit"), "{}", result.get());
    pool.shutdown().await;
    pool2.shutdown().await;
}

#[tokio::test]
async fn a_killed_replica_fails_its_calls_at_once_and_is_restarted() {
    let (pool, mut events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = pool.replicas()[0].clone();
    let pid = replica.pid().unwrap();
    let slow = {
        let replica = replica.clone();
        tokio::spawn(async move {
            replica
                .call(call("sleep", serde_json::json!({"ms": 20_000})))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill9(pid);
    let started = tokio::time::Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("the call must not hang")
        .unwrap()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    match &error {
        CallError::Unavailable {
            pool,
            replica,
            reason,
        } => {
            assert_eq!((pool.as_str(), *replica), ("demo", 0));
            assert!(
                reason.contains("exited") || reason.contains("closed"),
                "{reason}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let object = error.to_error_object();
    assert!(
        object.message.contains("\"demo\"") && object.message.contains("replica 0"),
        "{}",
        object.message
    );
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
    let new_pid = replica.pid().unwrap();
    assert_ne!(new_pid, pid);
    assert!(!process_exists(pid), "the killed child was reaped");
    let result = replica
        .call(call("echo", serde_json::json!({"text": "again"})))
        .await
        .unwrap();
    assert_eq!(text(&result), "again");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_deadline_fails_the_call_and_the_replica_keeps_serving() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 1)).await;
    let replica = pool.replicas()[0].clone();
    let mut slow = call("sleep", serde_json::json!({"ms": 5_000}));
    slow.timeout = Some(Duration::from_millis(200));
    let started = tokio::time::Instant::now();
    match replica.call(slow).await {
        Err(CallError::Timeout { method, after, .. }) => {
            assert_eq!(
                (method.as_str(), after),
                ("tools/call", Duration::from_millis(200))
            )
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let result = replica
        .call(call("echo", serde_json::json!({"text": "still here"})))
        .await
        .unwrap();
    assert_eq!(text(&result), "still here");
    assert!(replica.is_ready());
    pool.shutdown().await;
}

#[tokio::test]
async fn an_idle_replica_is_stopped_and_started_again_on_demand() {
    let mut spec = demo_stdio("demo", 1);
    spec.idle_timeout = Some(Duration::from_millis(300));
    let (pool, mut events) = ready_pool(spec).await;
    let replica = pool.replicas()[0].clone();
    let pid = replica.pid().unwrap();
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(
            e,
            PoolEvent::ReplicaState {
                state: ReplicaState::Idle,
                ..
            }
        )
    })
    .await;
    assert!(
        !process_exists(pid),
        "the idle child was stopped and reaped"
    );
    let result = replica
        .call(call("echo", serde_json::json!({"text": "wake up"})))
        .await
        .unwrap();
    assert_eq!(text(&result), "wake up");
    assert!(replica.is_ready());
    assert_ne!(replica.pid(), Some(pid));
    pool.shutdown().await;
}

#[tokio::test]
async fn replicas_are_independent_and_shutdown_reaps_every_child() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 3)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while pool.ready_count() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replicas never all ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids: Vec<u32> = pool.replicas().iter().map(|r| r.pid().unwrap()).collect();
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), 3);
    kill9(pids[1]);
    // The siblings keep serving while replica 1 restarts.
    for i in [0, 2] {
        let r = pool.replicas()[i]
            .call(call("echo", serde_json::json!({"text": "x"})))
            .await
            .unwrap();
        assert_eq!(text(&r), "x");
    }
    pool.shutdown().await;
    for replica in pool.replicas().iter() {
        assert_eq!(replica.state(), ReplicaState::Stopped);
    }
    for pid in pids {
        assert!(!process_exists(pid), "child {pid} left behind");
    }
}

/// Poll until `pool` has `n` ready replicas.
async fn until_ready(pool: &Pool, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while pool.ready_count() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} replicas ready",
            pool.ready_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn resize_adds_and_removes_replicas_and_keeps_the_ones_that_stay() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 2)).await;
    until_ready(&pool, 2).await;
    let kept: Vec<u32> = pool.replicas().iter().map(|r| r.pid().unwrap()).collect();

    let grown = pool.resize(demo_stdio("demo", 4)).unwrap();
    assert_eq!((grown.from, grown.to), (2, 4));
    assert_eq!(pool.replicas().len(), 4);
    until_ready(&pool, 4).await;
    let now: Vec<u32> = pool.replicas().iter().map(|r| r.pid().unwrap()).collect();
    assert_eq!(&now[..2], &kept[..], "the first two are the same processes");
    assert_eq!(now.iter().collect::<HashSet<_>>().len(), 4);

    // A call in flight on a removed replica finishes; then its process is reaped.
    let leaving = pool.replicas()[3].clone();
    let slow = tokio::spawn(async move {
        leaving
            .call(call("sleep", serde_json::json!({"ms": 400})))
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let shrunk = pool.resize(demo_stdio("demo", 1)).unwrap();
    assert_eq!((shrunk.from, shrunk.to), (4, 1));
    assert_eq!(
        pool.replicas().len(),
        1,
        "removed replicas leave the set at once"
    );
    assert_eq!(
        pool.ready_count(),
        1,
        "a draining replica is not counted ready"
    );
    assert!(slow.await.unwrap().is_ok(), "the call in flight finishes");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while now[1..].iter().any(|&pid| process_exists(pid)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "removed children left behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_ready(&pool, 1).await;
    assert_eq!(pool.replicas()[0].pid(), Some(kept[0]));

    // Anything but the replica set cannot change in place; nor can a pool empty itself.
    let mut other = demo_stdio("demo", 2);
    other.request_timeout = Duration::from_secs(99);
    assert!(pool.resize(other).is_err());
    assert!(pool.resize(stdio_spec("demo", DEMO, &[], 2)).is_err());
    assert!(pool.resize(demo_stdio("demo", 0)).is_err());
    assert_eq!(pool.replicas().len(), 1);
    pool.shutdown().await;
    assert!(!process_exists(kept[0]));
}

#[tokio::test]
async fn a_replica_regrown_at_a_draining_index_starts_after_the_old_one_stops() {
    let (pool, _events) = ready_pool(demo_stdio("demo", 2)).await;
    until_ready(&pool, 2).await;
    let old = pool.replicas()[1].clone();
    let old_pid = old.pid().unwrap();
    let slow = tokio::spawn(async move {
        old.call(call("sleep", serde_json::json!({"ms": 1500})))
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    pool.resize(demo_stdio("demo", 1)).unwrap();
    pool.resize(demo_stdio("demo", 2)).unwrap();
    assert_eq!(
        pool.replicas().len(),
        2,
        "index 1 is routable again at once"
    );

    // While the old holder of index 1 drains its call, the new one does not start: two
    // live processes never answer for the same replica index.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        process_exists(old_pid),
        "the call in flight keeps the old process"
    );
    let new = pool.replicas()[1].clone();
    assert!(!new.is_ready(), "the new replica waits for the old one");
    assert_eq!(new.pid(), None);
    assert_eq!(pool.replicas().iter().filter(|r| r.is_ready()).count(), 1);

    assert!(slow.await.unwrap().is_ok(), "the draining call finishes");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !new.is_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new replica never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_exists(old_pid), "the old process is reaped first");
    let new_pid = pool.replicas()[1].pid().unwrap();
    assert_ne!(new_pid, old_pid);
    let answer = pool.replicas()[1]
        .call(call("echo", serde_json::json!({"text": "again"})))
        .await;
    assert!(answer.is_ok(), "{answer:?}");

    // Shrink and grow again, then shut down while the new one waits: shutdown waits for both.
    pool.resize(demo_stdio("demo", 1)).unwrap();
    pool.resize(demo_stdio("demo", 2)).unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool.shutdown())
        .await
        .expect("shutdown is prompt");
    assert!(!process_exists(new_pid));
}

#[tokio::test]
async fn a_pool_that_cannot_start_never_blocks() {
    let (tx, mut events) = mpsc::channel(64);
    let spec = stdio_spec("broken", "/nonexistent/mcp-server", &[], 1);
    assert!(matches!(spec.transport, TransportSpec::Stdio { .. }));
    let pool = Pool::start(0, spec, identity(), tx);
    assert!(!pool.wait_ready(Duration::from_millis(300)).await);
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
    let replica = &pool.replicas()[0];
    assert!(
        replica.last_error().unwrap().contains("cannot spawn"),
        "{:?}",
        replica.last_error()
    );
    match replica
        .call(call("echo", serde_json::json!({"text": "x"})))
        .await
    {
        Err(CallError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(pool.catalog().is_none());
    tokio::time::timeout(Duration::from_secs(5), pool.shutdown())
        .await
        .expect("shutdown is prompt");
}
