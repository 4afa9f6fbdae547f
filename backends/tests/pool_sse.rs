//! The legacy HTTP+SSE transport (2024-11-05) against a minimal in-process hyper server that
//! speaks it: `GET /sse` opens the event stream and names the POST endpoint, answers travel on
//! the stream. (The bundled demo server speaks Streamable HTTP only.)

mod pool_support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pool_support::*;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use vecgate_backends::{CallError, PoolEvent, PoolSpec, ReplicaState, TransportSpec};

type Body = BoxBody<Bytes, Infallible>;

/// The one SSE stream of the (single-session) server.
#[derive(Default)]
struct Server {
    stream: Mutex<Option<mpsc::Sender<Bytes>>>,
}

impl Server {
    async fn push(&self, message: serde_json::Value) {
        let frame = Bytes::from(format!("event: message\ndata: {message}\n\n"));
        if let Some(tx) = self.stream.lock().await.as_ref() {
            let _ = tx.send(frame).await;
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let empty = || Full::new(Bytes::new()).map_err(|e| match e {}).boxed();
        if req.method() == hyper::Method::GET && req.uri().path() == "/sse" {
            let (tx, rx) = mpsc::channel::<Bytes>(64);
            tx.send(Bytes::from_static(
                b": hello\n\nevent: endpoint\ndata: /messages?session=1\n\n",
            ))
            .await
            .unwrap();
            *self.stream.lock().await = Some(tx);
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            let response = Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap();
            return Ok(response);
        }
        if req.method() == hyper::Method::POST && req.uri().path() == "/messages" {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let msg: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = msg["id"].clone();
            let result = match msg["method"].as_str().unwrap_or_default() {
                "initialize" => Some(serde_json::json!({
                    "protocolVersion": "2024-11-05",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "legacy-sse", "version": "1"}
                })),
                "tools/list" => Some(
                    serde_json::json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
                ),
                "tools/call" => {
                    let said = msg["params"]["arguments"]["text"].clone();
                    Some(serde_json::json!({"content": [{"type": "text", "text": said}]}))
                }
                "ping" => Some(serde_json::json!({})),
                _ => None,
            };
            if let (Some(result), false) = (result, id.is_null()) {
                let server = self.clone();
                // Answer asynchronously, as real servers do, so answers can overtake each other.
                tokio::spawn(async move {
                    server
                        .push(serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}))
                        .await;
                });
            }
            return Ok(Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(empty())
                .unwrap());
        }
        Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(empty())
            .unwrap())
    }
}

/// Serve on 127.0.0.1:0; returns the SSE URL and the accept loop (abort it to stop the server).
async fn serve() -> (String, Arc<Server>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::default());
    let state = server.clone();
    let accept = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| state.clone().handle(req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}/sse"), server, accept)
}

fn sse_spec(url: &str) -> PoolSpec {
    let mut spec = demo_stdio("legacy", 1);
    spec.transport = TransportSpec::Sse {
        urls: vec![url.to_owned()],
        headers: vec![],
    };
    spec
}

#[tokio::test]
async fn legacy_sse_handshake_catalog_and_concurrent_calls() {
    let (url, server, accept) = serve().await;
    let (pool, mut events) = ready_pool(sse_spec(&url)).await;
    let replica = pool.replicas()[0].clone();
    assert_eq!(replica.server().unwrap().protocol_version, "2024-11-05");
    assert_eq!(pool.catalog().unwrap().tools[0].key, "echo");
    let mut calls = Vec::new();
    for i in 0..16 {
        let replica = replica.clone();
        calls.push(tokio::spawn(async move {
            let r = replica
                .call(call("echo", serde_json::json!({"text": format!("s{i}")})))
                .await
                .unwrap();
            assert_eq!(text(&r), format!("s{i}"));
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    // The server goes away: its stream ends, calls in flight fail, the replica goes down.
    accept.abort();
    *server.stream.lock().await = None;
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
    assert!(matches!(
        replica
            .call(call("echo", serde_json::json!({"text": "x"})))
            .await,
        Err(CallError::Unavailable { .. })
    ));
    pool.shutdown().await;
}
