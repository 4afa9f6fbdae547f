//! `vecgate-bare-forwarder`: the floor under any hyper-based HTTP/1.1 proxy on this machine,
//! for the load benchmark. It forwards every request body to one upstream URL over pooled
//! keep-alive connections (a LIFO stack of hyper `SendRequest`s, as vecgate's own client) and
//! answers with the upstream's status, content type and body. No MCP, no sessions, no routing,
//! no learning: what remains is the HTTP and scheduling work both hops cost, so
//! `vecgate / bare forwarder` says how much of vecgate's cost is its own.
//!
//! Usage: `vecgate-bare-forwarder --listen ADDR --upstream http://HOST:PORT/PATH`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

type Sender = SendRequest<Full<Bytes>>;

/// The upstream and its idle connections.
struct Upstream {
    uri: Uri,
    authority: String,
    idle: Mutex<Vec<Sender>>,
}

impl Upstream {
    async fn checkout(&self) -> std::io::Result<Sender> {
        loop {
            let idle = self
                .idle
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .pop();
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => return self.connect().await,
            }
        }
    }

    async fn connect(&self) -> std::io::Result<Sender> {
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, String> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let mut upstream =
            Request::post(self.uri.path()).header(http::header::HOST, &self.authority);
        for name in [
            http::header::CONTENT_TYPE,
            http::header::ACCEPT,
            http::HeaderName::from_static("mcp-session-id"),
            http::HeaderName::from_static("mcp-protocol-version"),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                upstream = upstream.header(name, value);
            }
        }
        let upstream = upstream.body(Full::new(body)).map_err(|e| e.to_string())?;
        let mut sender = self.checkout().await.map_err(|e| e.to_string())?;
        let response = sender
            .send_request(upstream)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        // The body has ended, so the connection is free for the next request.
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
        let mut answer = Response::new(Full::new(body));
        *answer.status_mut() = parts.status;
        for name in [
            http::header::CONTENT_TYPE,
            http::HeaderName::from_static("mcp-session-id"),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                answer.headers_mut().insert(name, value.clone());
            }
        }
        Ok(answer)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr: SocketAddr = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
    let mut upstream: Option<Uri> = None;
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| std::io::Error::other(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--listen" => addr = value()?.parse().map_err(std::io::Error::other)?,
            "--upstream" => upstream = Some(value()?.parse().map_err(std::io::Error::other)?),
            other => {
                return Err(std::io::Error::other(format!(
                    "unknown argument {other}; use --listen ADDR --upstream URL"
                )));
            }
        }
    }
    let uri = upstream.ok_or_else(|| std::io::Error::other("--upstream URL is required"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| std::io::Error::other("--upstream needs host:port"))?
        .to_string();
    let upstream = Arc::new(Upstream {
        uri,
        authority,
        idle: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}/mcp", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let upstream = upstream.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(match upstream.forward(req).await {
                        Ok(response) => response,
                        Err(e) => {
                            let mut response = Response::new(Full::new(Bytes::from(e)));
                            *response.status_mut() = StatusCode::BAD_GATEWAY;
                            response
                        }
                    })
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
