//! Streamable HTTP transport: rmcp's `StreamableHttpService` on `/mcp`, served by hyper-util
//! (HTTP/1.1 and HTTP/2, `TCP_NODELAY`), with loopback-only `Host` checks against DNS rebinding.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tokio::{io::AsyncWriteExt, net::TcpListener};

use super::{
    DemoError,
    latency::LatencyModel,
    server::DemoServer,
    state::Replica,
    streams::{StreamRegistry, TrackedSessions},
};

/// The only path MCP is served on.
const MCP_PATH: &str = "/mcp";
/// `retry:` advertised in SSE priming events: how long a client waits before resuming.
const SSE_RETRY: Duration = Duration::from_millis(500);
/// A session idle this long is closed; clients then re-initialize (404 on the old id).
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// Binds `addr`, prints `listening on http://ADDR/mcp` on stdout, and serves until the process ends.
pub(crate) async fn serve(addr: SocketAddr, latency: LatencyModel) -> Result<(), DemoError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Bind { addr, source })?;
    let local = listener.local_addr()?;

    let mut local_sessions = LocalSessionManager::default();
    local_sessions.session_config.sse_retry = Some(SSE_RETRY);
    local_sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let local_sessions = Arc::new(local_sessions);
    let registry = Arc::new(StreamRegistry::new(local_sessions.clone(), SSE_RETRY));
    let sessions = Arc::new(TrackedSessions::new(local_sessions, registry.clone()));
    let replica = Arc::new(Replica::new(latency, Some(registry)));

    // rmcp's defaults allow only loopback Host headers (localhost, 127.0.0.1, ::1), which is
    // what a local server needs against DNS rebinding.
    let config = StreamableHttpServerConfig::default().with_sse_retry(Some(SSE_RETRY));
    let mcp = StreamableHttpService::new(
        move || Ok(DemoServer::new_session(&replica)),
        sessions,
        config,
    );

    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("listening on http://{local}{MCP_PATH}\n").as_bytes())
        .await?;
    stdout.flush().await?;

    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Latency of small JSON-RPC messages matters more than packet count.
        let _ = stream.set_nodelay(true);
        let mcp = mcp.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let mcp = mcp.clone();
                async move { Ok::<_, Infallible>(route(&mcp, request).await) }
            });
            // A client hanging up mid-request is its own business.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(
    mcp: &StreamableHttpService<DemoServer, TrackedSessions>,
    request: Request<Incoming>,
) -> Response<BoxBody<Bytes, Infallible>> {
    if request.uri().path() == MCP_PATH {
        return mcp.handle(request).await;
    }
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Full::new(Bytes::from_static(b"not found: MCP is served on /mcp\n")).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}
