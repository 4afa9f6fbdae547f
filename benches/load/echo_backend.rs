//! `vecgate-echo-backend`: the smallest honest MCP server over Streamable HTTP, for the load
//! benchmark. It answers `initialize` (issuing a session id), `notifications/*` (202),
//! `tools/list` (one `echo` tool) and `tools/call` of `echo` with JSON, on hyper 1 with
//! `TCP_NODELAY` — the shape of the backend the other gateways were measured against
//! (`../shared/notes/local-measurements.md` §9). `--bare` turns it into a plain HTTP responder
//! that answers every request with a fixed body: the machine's limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;

async fn handle(req: Request<Incoming>, bare: bool) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    if bare {
        *resp.body_mut() = Full::new(Bytes::from_static(b"{\"ok\":true}"));
        return Ok(resp);
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(resp);
        }
    };
    let msg: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            *resp.body_mut() = Full::new(Bytes::from(
                serde_json::json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":e.to_string()}}).to_string(),
            ));
            return Ok(resp);
        }
    };
    let id = msg.get("id").cloned();
    let method = msg.get("method").and_then(|m| m.as_str()).unwrap_or("");
    let Some(id) = id else {
        *resp.status_mut() = StatusCode::ACCEPTED;
        return Ok(resp);
    };
    let result = match method {
        "initialize" => {
            resp.headers_mut().insert(
                "mcp-session-id",
                http::HeaderValue::from_static("echo-session"),
            );
            serde_json::json!({
                "protocolVersion": msg["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "vecgate-echo-backend", "version": env!("CARGO_PKG_VERSION") },
            })
        }
        "ping" => serde_json::json!({}),
        "tools/list" => serde_json::json!({ "tools": [{
            "name": "echo",
            "description": "Echo the text back.",
            "inputSchema": { "type": "object", "properties": { "text": { "type": "string" } } },
        }]}),
        "tools/call" => {
            let text = msg["params"]["arguments"]["text"].as_str().unwrap_or("");
            serde_json::json!({ "content": [{ "type": "text", "text": text }], "isError": false })
        }
        other => {
            let body = serde_json::json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":format!("unknown method {other}")}});
            *resp.body_mut() = Full::new(Bytes::from(body.to_string()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return Ok(resp);
        }
    };
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result });
    *resp.body_mut() = Full::new(Bytes::from(body.to_string()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr: SocketAddr = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
    let mut bare = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                addr = args
                    .next()
                    .ok_or_else(|| std::io::Error::other("--listen needs ADDR"))?
                    .parse()
                    .map_err(std::io::Error::other)?;
            }
            "--bare" => bare = true,
            other => {
                return Err(std::io::Error::other(format!(
                    "unknown argument {other}; use --listen ADDR [--bare]"
                )));
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}/mcp", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, bare));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
