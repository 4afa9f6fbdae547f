//! The HTTP server: accepts connections (HTTP/1.1 and h2c), applies the tower layers, and routes
//! by path. Every failure becomes a response with a status and, for MCP paths, a JSON-RPC error
//! body; nothing here panics on client input.
//!
//! Layers, outermost first: overload → 503 mapping, load shedding above a global concurrency
//! limit ([`super::shed`]), then the router ([`route`]), which checks `Origin`/`Host` (403),
//! then credentials and the per-principal rate limit ([`super::gate`]: 401/429), then
//! dispatches by path.

use bytes::Bytes;
use dashmap::DashMap;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use vecgate_backends::jsonrpc::{ErrorObject, Message, code};

use super::body::{self, Body};
use super::legacy::LegacyConn;
use crate::gateway::Gateway;

/// Requests handled at once before new ones are shed with 503.
const MAX_CONCURRENT_REQUESTS: usize = 10_000;

/// Shared state of the HTTP front.
pub struct HttpFront {
    /// The gateway.
    pub gw: Arc<Gateway>,
    /// Legacy SSE connections by their `sessionId` query value.
    pub legacy: DashMap<String, Arc<LegacyConn>>,
    /// Renders `/metrics`, when a Prometheus recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// Whether the listener is on a loopback address (then `Host` must be loopback too).
    pub loopback: bool,
}

/// Serve HTTP on `listener` until `shutdown` resolves, then finish open connections.
pub async fn serve(
    front: Arc<HttpFront>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limit = super::shed::ShedAboveLayer::new(MAX_CONCURRENT_REQUESTS);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let front = Arc::clone(&front);
        let svc = ServiceBuilder::new()
            .map_result(overload_to_503)
            .layer(limit.clone())
            .service_fn(move |req: Request<Incoming>| {
                let front = Arc::clone(&front);
                async move { Ok::<_, Infallible>(route(front, req, peer).await) }
            });
        let svc =
            hyper::service::service_fn(move |req: Request<Incoming>| svc.clone().oneshot(req));
        let conn = auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
            tracing::warn!("connections still open after 5 s; closing");
        }
    }
}

/// Shed requests become 503 responses. (The error type stays `BoxError` because tower's
/// `MapResult` needs `From<inner error>`; this function never returns `Err`.)
fn overload_to_503(
    result: Result<Response<Body>, tower::BoxError>,
) -> Result<Response<Body>, tower::BoxError> {
    Ok(result.unwrap_or_else(|e| {
        metrics::counter!("vecgate_shed_total").increment(1);
        rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorObject::new(code::OVERLOADED, format!("vecgate is overloaded: {e}")),
        )
    }))
}

/// Route one request by method and path.
pub async fn route(
    front: Arc<HttpFront>,
    mut req: Request<Incoming>,
    _peer: SocketAddr,
) -> Response<Body> {
    if let Err(resp) = check_origin(&front, req.headers()) {
        return resp;
    }
    if let Err(resp) = super::gate::admit(&front, &mut req) {
        return resp;
    }
    let path = req.uri().path();
    if req.method() == Method::GET
        && super::gate::is_metadata_path(&front, path)
        && let Some(resp) = super::gate::metadata(&front)
    {
        return resp;
    }
    match (req.method(), path) {
        (&Method::POST, "/mcp") => super::streamable::post(front, req).await,
        // The other routes' futures are boxed: a future is as large as its largest branch,
        // and the `/mcp` POST one is moved several times per request on its way into
        // hyper's dispatcher.
        (&Method::GET, "/mcp") => Box::pin(super::streamable::get(front, req)).await,
        (&Method::DELETE, "/mcp") => Box::pin(super::streamable::delete(front, req)).await,
        (&Method::GET, "/sse") => Box::pin(super::legacy::open(front, req)).await,
        (&Method::POST, "/messages") => Box::pin(super::legacy::post(front, req)).await,
        (&Method::GET, "/healthz") => health(&front),
        (&Method::POST, "/admin/route/explain") => Box::pin(explain(front, req)).await,
        (&Method::POST, "/admin/reload") => Box::pin(reload(front)).await,
        (&Method::POST, "/admin/cache/clear") => {
            let dropped = front.gw.cache.clear();
            plain(
                StatusCode::OK,
                "application/json",
                serde_json::json!({ "dropped": dropped }).to_string(),
            )
        }
        (&Method::GET, "/metrics") => match &front.metrics {
            Some(handle) => {
                front.gw.router.publish_gauges();
                plain(StatusCode::OK, "text/plain; version=0.0.4", handle.render())
            }
            None => plain(
                StatusCode::NOT_FOUND,
                "text/plain",
                "metrics are not enabled".into(),
            ),
        },
        (_, "/mcp") => rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorObject::new(code::INVALID_REQUEST, "use POST, GET or DELETE on /mcp"),
        ),
        _ => plain(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no route for {path}; the MCP endpoint is /mcp"),
        ),
    }
}

/// `POST /admin/reload`: re-read the `--config` file; 400 naming the bad key (or line) keeps
/// the old configuration.
async fn reload(front: Arc<HttpFront>) -> Response<Body> {
    match crate::reload::reload(&front.gw).await {
        Ok(report) => plain(
            StatusCode::OK,
            "application/json",
            serde_json::to_string(&report).unwrap_or_default(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the old configuration stays in force");
            let status = match e {
                crate::reload::ReloadError::NoConfigFile => StatusCode::CONFLICT,
                crate::reload::ReloadError::Config(_) | crate::reload::ReloadError::Policy(_) => {
                    StatusCode::BAD_REQUEST
                }
            };
            plain(
                status,
                "application/json",
                serde_json::json!({ "error": e.to_string() }).to_string(),
            )
        }
    }
}

fn health(front: &HttpFront) -> Response<Body> {
    let live = front.gw.live();
    let pools: Vec<_> = live
        .pools()
        .map(|p| {
            let ready = p.replicas().iter().filter(|r| r.is_ready()).count();
            serde_json::json!({ "name": p.name(), "replicas": p.replicas().len(), "ready": ready })
        })
        .collect();
    let all_ready = live
        .pools()
        .all(|p| p.replicas().iter().any(|r| r.is_ready()));
    let body = serde_json::json!({
        "status": if all_ready { "ok" } else { "degraded" },
        "pools": pools,
        "sessions": front.gw.sessions.len(),
        "policy": front.gw.router.policy_name(),
    });
    let status = if all_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, "application/json", body.to_string())
}

/// `POST /admin/route/explain` with a `tools/call` (or any forwarded) JSON-RPC message: what the
/// policy would choose for it and why, per replica. Changes nothing.
async fn explain(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let bytes = match read_body(req.into_body(), front.gw.config.max_body_bytes).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let msg = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::new(e.code(), e.to_string()),
            );
        }
    };
    let method = msg.method.clone().unwrap_or_default();
    let peek = msg.peek_params();
    let catalog = front.gw.catalog.load();
    let target = match method.as_str() {
        "tools/call" => peek
            .name
            .as_deref()
            .and_then(|n| catalog.tool(n))
            .map(|r| (r.pool, Some(r.upstream.to_string()))),
        "prompts/get" => peek
            .name
            .as_deref()
            .and_then(|n| catalog.prompt(n))
            .map(|r| (r.pool, Some(r.upstream.to_string()))),
        _ => peek
            .uri
            .as_deref()
            .and_then(|u| catalog.resource_pool(u))
            .map(|p| (p, peek.uri.as_deref().map(str::to_owned))),
    };
    let Some((pool_index, name)) = target else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            ErrorObject::new(
                code::INVALID_PARAMS,
                "no pool serves this request (unknown tool, prompt or URI)",
            ),
        );
    };
    let Some(pool) = front.gw.pool(pool_index) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            ErrorObject::new(code::INVALID_PARAMS, "unknown pool"),
        );
    };
    let arguments = peek.arguments.map(|a| a.get());
    let explanation = front
        .gw
        .router
        .explain(&pool, &method, name.as_deref(), arguments);
    let body = serde_json::json!({ "pool": pool.name(), "explanation": explanation });
    plain(StatusCode::OK, "application/json", body.to_string())
}

/// DNS-rebinding protection: a browser `Origin` must be loopback or allow-listed, and on a
/// loopback listener the `Host` must be loopback too.
fn check_origin(front: &HttpFront, headers: &HeaderMap) -> Result<(), Response<Body>> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let allowed = is_loopback_origin(origin)
            || front
                .gw
                .live()
                .config
                .allowed_origins
                .iter()
                .any(|a| origin_matches(a, origin));
        if !allowed {
            return Err(rpc_error(
                StatusCode::FORBIDDEN,
                ErrorObject::new(
                    code::INVALID_REQUEST,
                    format!("origin {origin:?} is not allowed"),
                ),
            ));
        }
    }
    if front.loopback
        && let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok())
        && !is_loopback_host(host)
    {
        return Err(rpc_error(
            StatusCode::FORBIDDEN,
            ErrorObject::new(
                code::INVALID_REQUEST,
                format!("host {host:?} is not allowed on a loopback listener"),
            ),
        ));
    }
    Ok(())
}

fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host_part(host), "localhost" | "127.0.0.1" | "::1")
}

fn is_loopback_origin(origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    is_loopback_host(authority.split('/').next().unwrap_or(""))
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.strip_suffix(":*") {
        Some(prefix) => {
            origin == prefix
                || origin.strip_prefix(prefix).is_some_and(|rest| {
                    rest.strip_prefix(':')
                        .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()))
                })
        }
        None => pattern == origin,
    }
}

/// Read a whole request body, refusing one larger than `limit` (413).
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    let body = http_body_util::Limited::new(body, limit);
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorObject::new(
                code::INVALID_REQUEST,
                format!("request body exceeds {limit} bytes"),
            ),
        )),
        Err(e) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(code::PARSE_ERROR, format!("cannot read request body: {e}")),
        )),
    }
}

/// A response carrying a JSON-RPC error with a null id.
pub fn rpc_error(status: StatusCode, error: ErrorObject) -> Response<Body> {
    json(status, Message::error(None, &error).to_bytes())
}

/// A JSON response.
pub fn json(status: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(body::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn plain(status: StatusCode, content_type: &'static str, text: String) -> Response<Body> {
    let mut resp = Response::new(body::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_hosts() {
        assert!(is_loopback_origin("http://localhost:3000"));
        assert!(is_loopback_origin("http://127.0.0.1"));
        assert!(is_loopback_origin("http://[::1]:8080"));
        assert!(!is_loopback_origin("http://evil.example"));
        assert!(!is_loopback_origin("http://localhost.evil.example"));
        assert!(!is_loopback_origin("null"));
        assert!(origin_matches(
            "https://app.example:*",
            "https://app.example:8443"
        ));
        assert!(origin_matches(
            "https://app.example:*",
            "https://app.example"
        ));
        assert!(!origin_matches(
            "https://app.example:*",
            "https://app.example.evil:1"
        ));
        assert!(is_loopback_host("127.0.0.1:8383"));
        assert!(!is_loopback_host("rebind.example:8383"));
    }
}
