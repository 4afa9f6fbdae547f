//! The demo server binary over stdio, driven by a minimal JSON-lines MCP client: initialize,
//! list tools, call `echo`, `long_task` with progress and cancellation, and per-replica state.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
    time::timeout,
};

/// Longest wait for any single message; a hung server fails the test instead of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON-lines MCP client over a child's stdin/stdout.
struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Client {
    async fn spawn(args: &[&str]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vecgate-demo-server"))
            .args(args)
            .env_remove("VECGATE_DEMO_SLOW")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn vecgate-demo-server");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Client {
            child,
            stdin,
            lines,
        }
    }

    async fn send(&mut self, message: Value) {
        let mut line = serde_json::to_vec(&message).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = timeout(READ_TIMEOUT, self.lines.next_line())
            .await
            .expect("server answered in time")
            .expect("read stdout")
            .expect("server closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a request and returns (messages seen before the response, the response).
    async fn request(&mut self, id: u64, method: &str, params: Value) -> (Vec<Value>, Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut before = Vec::new();
        loop {
            let message = self.recv().await;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return (before, message);
            }
            before.push(message);
        }
    }

    async fn initialize(&mut self) -> Value {
        let (_, response) = self
            .request(
                0,
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "demo-stdio-test", "version": "0"}
                }),
            )
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        response
    }

    async fn call(&mut self, id: u64, tool: &str, arguments: Value) -> (Vec<Value>, Value) {
        self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
        .await
    }

    async fn shutdown(mut self) {
        drop(self.stdin);
        let status = timeout(READ_TIMEOUT, self.child.wait())
            .await
            .expect("server exits when stdin closes")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

fn text_of(response: &Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
}

#[tokio::test]
async fn initialize_list_and_echo() {
    let mut client = Client::spawn(&["--replica", "1"]).await;
    let init = client.initialize().await;
    let result = &init["result"];
    assert_eq!(result["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(result["serverInfo"]["name"], "vecgate-demo");
    for capability in ["tools", "resources", "prompts", "logging", "completions"] {
        assert!(
            result["capabilities"].get(capability).is_some(),
            "{capability}: {init}"
        );
    }
    assert_eq!(result["capabilities"]["resources"]["subscribe"], true);

    let (_, tools) = client.request(1, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "echo",
        "search_code",
        "read_file",
        "long_task",
        "kv_put",
        "test_simple_text",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let echo = &tools["result"]["tools"].as_array().unwrap()
        [names.iter().position(|n| *n == "echo").unwrap()];
    assert_eq!(echo["annotations"]["readOnlyHint"], true);
    assert_eq!(echo["annotations"]["openWorldHint"], false);

    let (_, echoed) = client
        .call(2, "echo", json!({"text": "héllo, vecgate"}))
        .await;
    assert_eq!(text_of(&echoed), "héllo, vecgate");
    assert_ne!(echoed["result"]["isError"], true);

    // Bad arguments are a tool error the model can read; an unknown tool is a protocol error.
    let (_, bad) = client.call(3, "echo", json!({"txt": 1})).await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let (_, unknown) = client.call(4, "no_such_tool", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    client.shutdown().await;
}

#[tokio::test]
async fn long_task_reports_progress_then_answers() {
    let mut client = Client::spawn(&[]).await;
    client.initialize().await;
    let params = json!({
        "name": "long_task",
        "arguments": {"steps": 4, "step_ms": 5},
        "_meta": {"progressToken": "job-7"}
    });
    let (before, response) = client.request(1, "tools/call", params).await;
    assert_eq!(text_of(&response), "completed 4 steps");
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| &m["params"])
        .collect();
    assert_eq!(progress.len(), 4, "{before:?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["progressToken"], "job-7");
        assert_eq!(p["progress"], json!((i + 1) as f64));
        assert_eq!(p["total"], json!(4.0));
    }

    // Without a progress token there are no progress notifications.
    let (before, response) = client
        .call(2, "long_task", json!({"steps": 2, "step_ms": 1}))
        .await;
    assert_eq!(text_of(&response), "completed 2 steps");
    assert!(
        before
            .iter()
            .all(|m| m["method"] != "notifications/progress"),
        "{before:?}"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn cancelled_long_task_never_answers() {
    let mut client = Client::spawn(&[]).await;
    client.initialize().await;
    client
        .send(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "long_task", "arguments": {"steps": 200, "step_ms": 50}}}))
        .await;
    client
        .send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 9, "reason": "test"}}),
        )
        .await;
    // Well after the cancellation (the task would take 10 s), ping: the server answers the ping
    // and never the cancelled call.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (before, pong) = client.request(10, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));
    assert!(
        before.iter().all(|m| m.get("id") != Some(&json!(9))),
        "{before:?}"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn key_value_state_is_per_replica_and_readable_as_a_resource() {
    let mut client = Client::spawn(&["--replica", "2"]).await;
    client.initialize().await;
    let (_, missing) = client.call(1, "kv_get", json!({"key": "color"})).await;
    assert_eq!(missing["result"]["isError"], true);
    let (before, stored) = client
        .call(2, "kv_put", json!({"key": "color", "value": "blue"}))
        .await;
    assert_eq!(text_of(&stored), "stored \"color\" on replica 2");
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/resources/list_changed"),
        "a new key is a new resource: {before:?}"
    );
    let (_, got) = client.call(3, "kv_get", json!({"key": "color"})).await;
    assert_eq!(text_of(&got), "blue");
    assert_eq!(
        got["result"]["content"][1],
        json!({"type": "resource_link", "uri": "demo://kv/color", "name": "kv:color"}),
        "the answer links the resource it was read from"
    );
    let (_, read) = client
        .request(4, "resources/read", json!({"uri": "demo://kv/color"}))
        .await;
    assert_eq!(read["result"]["contents"][0]["text"], "blue", "{read}");

    // Subscribed: the next write is announced.
    let (_, subscribed) = client
        .request(5, "resources/subscribe", json!({"uri": "demo://kv/color"}))
        .await;
    assert_eq!(subscribed["result"], json!({}));
    let (before, _) = client
        .call(6, "kv_put", json!({"key": "color", "value": "red"}))
        .await;
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/resources/updated"
                && m["params"]["uri"] == "demo://kv/color"),
        "{before:?}"
    );
    client.shutdown().await;
}
