//! Shared helpers of the pool integration tests: specs for the bundled demo server and the
//! fault-injecting test upstream, and small readers of MCP results.
#![allow(dead_code)]

use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::to_raw;
use vecgate_backends::{
    BackoffSpec, Call, CallEvent, CallEventSink, Pool, PoolEvent, PoolSpec, TransportSpec,
    UpstreamIdentity,
};

pub const DEMO: &str = env!("CARGO_BIN_EXE_vecgate-demo-server");

/// The fault-injecting upstream (a small MCP server in Python, for failures the demo server
/// cannot produce on purpose).
pub fn fault_server() -> String {
    format!(
        "{}/tests/fixtures/fault_server.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn fast_restarts() -> BackoffSpec {
    BackoffSpec {
        min: Duration::from_millis(50),
        max: Duration::from_millis(500),
        factor: 2.0,
        jitter: 0.1,
        reset_after: Duration::from_secs(5),
    }
}

pub fn stdio_spec(name: &str, command: &str, args: &[&str], replicas: u32) -> PoolSpec {
    PoolSpec {
        name: name.to_owned(),
        transport: TransportSpec::Stdio {
            command: command.to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            cwd: None,
            replicas,
        },
        request_timeout: Duration::from_secs(10),
        init_timeout: Duration::from_secs(20),
        affinity: false,
        slots_per_replica: 0,
        idle_timeout: None,
        restart: fast_restarts(),
    }
}

pub fn demo_stdio(name: &str, replicas: u32) -> PoolSpec {
    stdio_spec(name, DEMO, &["--profile", "instant"], replicas)
}

pub fn identity() -> UpstreamIdentity {
    UpstreamIdentity {
        client_info: serde_json::json!({"name": "vecgate-test", "version": "0"}),
        capabilities: serde_json::json!({"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}}),
    }
}

/// Start a pool and wait until it has a ready replica.
pub async fn ready_pool(spec: PoolSpec) -> (Arc<Pool>, mpsc::Receiver<PoolEvent>) {
    let (tx, rx) = mpsc::channel(1024);
    let pool = Pool::start(0, spec, identity(), tx);
    assert!(
        pool.wait_ready(Duration::from_secs(30)).await,
        "pool never became ready: {:?}",
        pool.replicas()[0].last_error()
    );
    (pool, rx)
}

pub fn call(name: &str, arguments: serde_json::Value) -> Call {
    Call {
        method: "tools/call".into(),
        params: Some(to_raw(
            &serde_json::json!({"name": name, "arguments": arguments}),
        )),
        events: None,
        timeout: None,
        after: None,
    }
}

pub fn call_with_progress(
    name: &str,
    arguments: serde_json::Value,
    token: serde_json::Value,
    events: mpsc::Sender<CallEvent>,
) -> Call {
    let params = serde_json::json!({"name": name, "arguments": arguments, "_meta": {"progressToken": token}});
    Call {
        method: "tools/call".into(),
        params: Some(to_raw(&params)),
        events: Some(Arc::new(events) as CallEventSink),
        timeout: None,
        after: None,
    }
}

/// The text of the first content block of a `tools/call` result.
pub fn text(result: &RawValue) -> String {
    let v: serde_json::Value = serde_json::from_str(result.get()).unwrap();
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn json(raw: &RawValue) -> serde_json::Value {
    serde_json::from_str(raw.get()).unwrap()
}

/// Wait (bounded) until `pred` holds for some pool event; returns the events seen.
pub async fn wait_event(
    rx: &mut mpsc::Receiver<PoolEvent>,
    within: Duration,
    mut pred: impl FnMut(&PoolEvent) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv()).await;
        match event {
            Ok(Some(event)) => {
                seen.push(format!("{event:?}"));
                if pred(&event) {
                    return seen;
                }
            }
            _ => panic!("event not seen within {within:?}; saw {seen:#?}"),
        }
    }
}

/// Whether process `pid` still exists (a zombie counts as existing).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub fn kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Spawns `program` with `args` (an HTTP upstream that prints `listening on URL` first) and
/// returns the child (killed on drop) and that URL.
pub async fn spawn_listening(program: &str, args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

/// Ends two calls of the upstream's `hang` tool unanswered, the two ways a call can: one
/// dropped by its caller, one timed out by vecgate.
pub async fn abandon_two_hanging_calls(replica: &vecgate_backends::Replica) {
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        replica.call(call("hang", serde_json::json!({}))),
    )
    .await;
    assert!(dropped.is_err());
    let mut timed = call("hang", serde_json::json!({}));
    timed.timeout = Some(Duration::from_millis(200));
    assert!(matches!(
        replica.call(timed).await,
        Err(vecgate_backends::CallError::Timeout { .. })
    ));
}
