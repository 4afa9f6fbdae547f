//! The demo server binary over Streamable HTTP, checked at the HTTP level with raw requests:
//! the printed address, `/mcp` only, loopback-only `Host` (DNS rebinding), and a JSON-RPC
//! `initialize` answered with a session id. (The full protocol over HTTP is covered by the
//! conformance suite, `tests/conformance/run.sh`.)

mod pool_support;

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::Child,
    time::timeout,
};

const WAIT: Duration = Duration::from_secs(10);

async fn start() -> (Child, String) {
    let (child, url) = pool_support::spawn_listening(
        pool_support::DEMO,
        &["--http", "127.0.0.1:0", "--replica", "1"],
    )
    .await;
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .unwrap_or_else(|| panic!("{url}"))
        .to_owned();
    assert!(
        !authority.ends_with(":0"),
        "the real port is printed: {authority}"
    );
    (child, authority)
}

/// Sends one HTTP/1.1 request and returns the whole response (the server closes after it).
async fn exchange(authority: &str, request: String) -> String {
    let mut stream = timeout(WAIT, TcpStream::connect(authority))
        .await
        .unwrap()
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the headers and a first body chunk are in (SSE responses stay open).
    loop {
        let n = match timeout(Duration::from_millis(1500), stream.read(&mut buf)).await {
            Ok(read) => read.unwrap(),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&response).contains("\"result\"") {
            break;
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn post(host: &str, body: &str) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

#[tokio::test]
async fn serves_mcp_on_loopback_hosts_only() {
    let (_child, authority) = start().await;

    let accepted = exchange(&authority, post(&authority, INITIALIZE)).await;
    assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
    assert!(
        accepted.to_ascii_lowercase().contains("mcp-session-id:"),
        "{accepted}"
    );
    assert!(accepted.contains("\"vecgate-demo\""), "{accepted}");

    let rebinding = exchange(&authority, post("evil.example.com", INITIALIZE)).await;
    let status: u16 = rebinding[9..12].parse().unwrap();
    assert!((400..500).contains(&status), "{rebinding}");

    let elsewhere = exchange(
        &authority,
        format!("GET /other HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
}
