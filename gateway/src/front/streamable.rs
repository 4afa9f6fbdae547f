//! Streamable HTTP on `/mcp` (protocol 2025-03-26, 2025-06-18, 2025-11-25).
//!
//! A POSTed request is answered as `application/json` while nothing streams. If the backend sends
//! a related message (progress, a log line, a sampling request) before the result and the client
//! accepts `text/event-stream`, the answer switches to an SSE stream carrying those messages and
//! then the result. So the common case costs no stream set-up, and nothing is lost when a call
//! does stream.

use bytes::Bytes;
use http::header::{AsHeaderName, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::{ErrorObject, Kind, Message, code};

use super::body::{self, Body};
use super::http::{HttpFront, json, read_body, rpc_error};
use super::replay::{REPLAY_EVENTS, Resumed, StreamId, StreamKind, parse_event_id};
use crate::auth::Principal;
use crate::dispatch;
use crate::protocol::{Version, supported_list};
use crate::session::{ClientCaps, Session, SessionLookup};

/// The session header. (Names are parsed once here: a lookup by `&str` parses and
/// validates the name on every request.)
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
/// The protocol version header.
pub const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The SSE resumption header.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Capacity of one request's related-message channel.
const REQUEST_EVENTS: usize = 64;
/// Capacity of a GET stream's message queue.
const STREAM_EVENTS: usize = 256;

struct Accepts {
    json: bool,
    sse: bool,
}

fn accepts(headers: &HeaderMap) -> Accepts {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Accepts {
            json: true,
            sse: false,
        };
    };
    let any = accept.contains("*/*");
    Accepts {
        json: any || accept.contains("application/json") || accept.contains("application/*"),
        sse: accept.contains("text/event-stream"),
    }
}

fn header_str(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Check `MCP-Protocol-Version`: absent means 2025-03-26 (per spec); present must be known.
fn check_version(headers: &HeaderMap) -> Result<(), Response<Body>> {
    match header_str(headers, VERSION_HEADER) {
        None => Ok(()),
        Some(v) if Version::parse(v).is_some() => Ok(()),
        Some(v) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(
                code::INVALID_REQUEST,
                format!(
                    "unsupported MCP-Protocol-Version {v:?}; supported: {}",
                    supported_list()
                ),
            ),
        )),
    }
}

/// The session named by the header, if it belongs to `principal` (another principal's session
/// is 404, as an unknown one).
fn lookup(
    front: &HttpFront,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<Arc<Session>, Response<Body>> {
    front
        .gw
        .sessions
        .get(header_str(headers, SESSION_HEADER), principal)
        .map_err(|e| match e {
            SessionLookup::Missing => rpc_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::new(
                    code::INVALID_REQUEST,
                    "missing Mcp-Session-Id header; send initialize first",
                ),
            ),
            SessionLookup::Unknown => rpc_error(
                StatusCode::NOT_FOUND,
                ErrorObject::new(
                    code::INVALID_REQUEST,
                    "unknown or expired session; initialize a new one",
                ),
            ),
        })
}

/// POST /mcp: one JSON-RPC message (or a 2025-03-26 batch).
pub async fn post(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let principal = super::gate::principal_of(&req);
    // Owned, not cloned: the body is read on its own below.
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let content_type = header_str(&headers, header::CONTENT_TYPE).unwrap_or("");
    if !content_type.starts_with("application/json") {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "Content-Type must be application/json",
            ),
        );
    }
    let accept = accepts(&headers);
    if !accept.json && !accept.sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "Accept must allow application/json or text/event-stream",
            ),
        );
    }
    if let Err(resp) = check_version(&headers) {
        return resp;
    }
    let bytes = match read_body(body, front.gw.config.max_body_bytes).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (messages, batch) = match Message::parse_body(&bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::new(e.code(), e.to_string()),
            );
        }
    };
    if !batch
        && messages[0].method.as_deref() == Some("initialize")
        && messages[0].kind() == Kind::Request
    {
        let Some(msg) = messages.into_iter().next() else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::new(code::INVALID_REQUEST, "empty body"),
            );
        };
        return initialize(&front, msg, &principal);
    }
    if messages
        .iter()
        .any(|m| m.method.as_deref() == Some("initialize"))
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "initialize must be sent alone, not in a batch",
            ),
        );
    }
    if !batch
        && header_str(&headers, SESSION_HEADER).is_none()
        && super::stateless::is_stateless(&headers, &messages[0])
    {
        let Some(msg) = messages.into_iter().next() else {
            return accepted();
        };
        return Box::pin(super::stateless::serve(front, &headers, msg, principal)).await;
    }
    let session = match lookup(&front, &headers, &principal) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if batch && !session.version.allows_batch() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(
                code::INVALID_REQUEST,
                format!(
                    "JSON-RPC batches are not allowed in protocol {}",
                    session.version.as_str()
                ),
            ),
        );
    }
    let requests = messages
        .iter()
        .filter(|m| m.kind() == Kind::Request)
        .count();
    if requests == 0 {
        for msg in messages {
            let (tx, _rx) = mpsc::channel(1);
            // Boxed, as the other rare paths below: inline, a `handle` future (kilobytes)
            // would size the whole POST future, which is moved several times per request.
            Box::pin(dispatch::handle(
                Arc::clone(&front.gw),
                Arc::clone(&session),
                msg,
                tx,
            ))
            .await;
        }
        return accepted();
    }
    if batch {
        return Box::pin(run_batch(&front, &session, messages)).await;
    }
    let Some(msg) = messages.into_iter().next() else {
        return accepted();
    };
    respond(front, session, msg, accept.sse).await
}

fn accepted() -> Response<Body> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}

fn initialize(front: &HttpFront, msg: Message, principal: &Principal) -> Response<Body> {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct InitParams {
        #[serde(default)]
        protocol_version: Option<String>,
        #[serde(default)]
        capabilities: Option<serde_json::Value>,
    }
    let params: InitParams = match msg.params.as_ref().map(|p| serde_json::from_str(p.get())) {
        None => InitParams::default(),
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            let err = ErrorObject::new(code::INVALID_PARAMS, format!("initialize params: {e}"));
            return json(StatusCode::OK, Message::error(msg.id, &err).to_bytes());
        }
    };
    let Some(requested) = params.protocol_version else {
        let err = ErrorObject::new(
            code::INVALID_PARAMS,
            "initialize needs params.protocolVersion",
        );
        return json(StatusCode::OK, Message::error(msg.id, &err).to_bytes());
    };
    let version = Version::negotiate(&requested);
    let caps = ClientCaps::from_json(params.capabilities.as_ref());
    let session = match front.gw.sessions.create(version, caps, principal) {
        Ok(s) => s,
        Err(e) => {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!("cannot create a session: {e}"),
                ),
            );
        }
    };
    let id = msg.id.unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let mut resp = json(
        StatusCode::OK,
        Message::result(id, front.gw.initialize_result(version)).to_bytes(),
    );
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        resp.headers_mut().insert(SESSION_HEADER, value);
    }
    metrics::counter!("vecgate_sessions_created_total").increment(1);
    resp
}

/// Answer one request: JSON unless something streams first (see the module docs).
async fn respond(
    front: Arc<HttpFront>,
    session: Arc<Session>,
    msg: Message,
    sse: bool,
) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel(REQUEST_EVENTS);
    let mut answer = Box::pin(dispatch::handle(
        Arc::clone(&front.gw),
        Arc::clone(&session),
        msg,
        tx,
    ));
    loop {
        tokio::select! {
            biased;
            Some(event) = rx.recv() => {
                if sse {
                    return stream_rest(session, event, rx, answer);
                }
                // A JSON-only client gets related messages on its GET stream, if it has one.
                session.push(event);
            }
            response = &mut answer => {
                return match response {
                    Some(msg) => json(StatusCode::OK, msg.to_bytes()),
                    None => accepted(),
                };
            }
        }
    }
}

/// Stream the rest of a request's answer. Every event gets an id and is kept for replay
/// ([`super::replay`]); if the client goes away the request keeps running (in these versions
/// disconnection is not cancellation), so a GET with `Last-Event-ID` can pick the stream up.
fn stream_rest(
    session: Arc<Session>,
    first: Message,
    mut rx: mpsc::Receiver<Message>,
    answer: std::pin::Pin<Box<impl std::future::Future<Output = Option<Message>> + Send + 'static>>,
) -> Response<Body> {
    let stream = session.replay().open(StreamKind::Post);
    let (out, body) = body::sse_channel(REQUEST_EVENTS);
    tokio::spawn(async move {
        let mut answer = answer;
        let mut live = Some(out);
        emit(&session, stream, &first, &mut live).await;
        loop {
            tokio::select! {
                biased;
                Some(event) = rx.recv() => emit(&session, stream, &event, &mut live).await,
                response = &mut answer => {
                    while let Ok(event) = rx.try_recv() {
                        emit(&session, stream, &event, &mut live).await;
                    }
                    if let Some(msg) = response {
                        emit(&session, stream, &msg, &mut live).await;
                    }
                    session.replay().finish(stream);
                    return;
                }
            }
        }
    });
    sse_response(body)
}

/// Record one event of a POST stream and write it to the client while it is still there.
async fn emit(
    session: &Session,
    stream: StreamId,
    msg: &Message,
    live: &mut Option<mpsc::Sender<Bytes>>,
) {
    let frame = session.replay().record(stream, msg);
    if let Some(out) = live
        && out.send(frame).await.is_err()
    {
        *live = None;
    }
}

/// An SSE response with the headers every vecgate stream carries (no caching, no proxy
/// buffering).
pub(crate) fn sse_response(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

async fn run_batch(
    front: &Arc<HttpFront>,
    session: &Arc<Session>,
    messages: Vec<Message>,
) -> Response<Body> {
    // Related messages of batched requests go to the session's GET stream.
    let (tx, mut rx) = mpsc::channel::<Message>(REQUEST_EVENTS);
    let relay_session = Arc::clone(session);
    let relay = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            relay_session.push(m);
        }
    });
    let answers = futures::future::join_all(
        messages
            .into_iter()
            .map(|m| dispatch::handle(Arc::clone(&front.gw), Arc::clone(session), m, tx.clone())),
    )
    .await;
    drop(tx);
    let _ = relay.await;
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, msg) in answers.iter().flatten().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        msg.write_to(&mut out);
    }
    out.push(b']');
    json(StatusCode::OK, Bytes::from(out))
}

/// GET /mcp: the session's server-to-client SSE stream.
pub async fn get(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let headers = req.headers();
    if !accepts(headers).sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "GET /mcp needs Accept: text/event-stream",
            ),
        );
    }
    if let Err(resp) = check_version(headers) {
        return resp;
    }
    let session = match lookup(&front, headers, &super::gate::principal_of(&req)) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let resume = header_str(headers, LAST_EVENT_ID).and_then(parse_event_id);
    // Room for a full replay on top of the live queue.
    let (out, body) = body::sse_channel(STREAM_EVENTS + REPLAY_EVENTS);
    let stream = match resume {
        Some((stream, after)) if session.replay().knows(stream) => {
            metrics::counter!("vecgate_sse_resumed_total").increment(1);
            match session.replay().resume(stream, after, out.clone()) {
                // A POST stream: the replay and the rest of its request, then it ends.
                Resumed::Post => return sse_response(body),
                Resumed::Get => stream,
            }
        }
        _ => session.replay().open(StreamKind::Get),
    };
    let (tx, rx) = mpsc::channel(STREAM_EVENTS);
    session.attach_stream(tx);
    tokio::spawn(super::replay::pump_get(session, stream, rx, out));
    sse_response(body)
}

/// DELETE /mcp: end the session.
pub async fn delete(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let Some(id) = header_str(req.headers(), SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(code::INVALID_REQUEST, "missing Mcp-Session-Id header"),
        );
    };
    let principal = super::gate::principal_of(&req);
    if front.gw.sessions.get(Some(id), &principal).is_ok() && front.gw.sessions.end(id) {
        let mut resp = Response::new(body::empty());
        *resp.status_mut() = StatusCode::OK;
        resp
    } else {
        rpc_error(
            StatusCode::NOT_FOUND,
            ErrorObject::new(code::INVALID_REQUEST, "unknown or expired session"),
        )
    }
}
