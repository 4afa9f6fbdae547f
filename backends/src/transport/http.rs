//! The Streamable HTTP client (MCP 2025-03-26 and later).
//!
//! Each outbound message is one POST on the pooled client ([`super::client`]: keep-alive,
//! `TCP_NODELAY`, a connection per concurrent call).
//! A request's answer comes back as `application/json` or as a `text/event-stream` on which
//! the server may first send progress, logs and its own requests for that call; everything
//! read there is dispatched with [`Origin::Call`]. Notifications and responses get `202`.
//! The `Mcp-Session-Id` from the `initialize` answer and the negotiated
//! `MCP-Protocol-Version` go on every later request. A `404` on a live session means the
//! server forgot it: the session is closed and the supervisor re-initializes. Once the
//! session is initialized, a GET stream is opened for unsolicited messages if the server
//! offers one (`405` means it does not).
//!
//! A stateless (2026-07-28) upstream, found by `server/discover`, has no session: every POST
//! carries `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method` and, on `tools/call`,
//! `resources/read` and `prompts/get`, `Mcp-Name` (the tool or prompt name or the URI), which
//! the server checks against the body ([`stateless_headers`]). Abandoning a request there
//! closes its response stream, which is its cancellation (see [`DirectSend::set_stateless`]).

pub(crate) use super::client::HttpClient;
use super::client::{Upstream, UpstreamBody};
use super::event_stream::Parser;
use crate::error::CallError;
use crate::handshake::STATELESS_VERSION;
use crate::jsonrpc::{Kind, Message, ParamsPeek};
use crate::mux::{BoxFuture, DirectSend, Mux, Origin};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const ACCEPT_SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON answer body larger than this is refused.
const MAX_BODY: usize = 64 << 20;

/// How many times a response stream closed early is resumed with `Last-Event-ID`.
const MAX_RESUMES: usize = 3;

/// Parse and check an upstream URL (plain `http` only: TLS upstreams need a TLS connector
/// vecgate does not ship yet).
pub(crate) fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") if uri.authority().is_some() => Ok(uri),
        Some("https") => Err(format!("{url:?}: https upstreams are not supported yet")),
        _ => Err(format!("{url:?}: expected an http:// URL")),
    }
}

/// Parse extra headers once.
pub(crate) fn parse_headers(
    headers: &[(String, String)],
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    headers
        .iter()
        .map(|(k, v)| {
            let name =
                HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k:?}: {e}"))?;
            let value =
                HeaderValue::try_from(v.as_str()).map_err(|e| format!("header {k:?}: {e}"))?;
            Ok((name, value))
        })
        .collect()
}

struct Session {
    upstream: Upstream,
    url: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    mux: Arc<Mux>,
    session_id: Mutex<Option<HeaderValue>>,
    protocol_version: Mutex<Option<HeaderValue>>,
    /// Every header a POST of a message carries, built when the session id or the protocol
    /// version changes (twice per session) rather than inserted one by one per message.
    post_headers: Mutex<http::HeaderMap>,
    /// A stateless (2026-07-28) upstream: each POST also carries [`stateless_headers`].
    stateless: AtomicBool,
}

/// Start the session task; nothing is sent until the handshake's first message.
pub(crate) fn start(
    client: HttpClient,
    url: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    mux: Arc<Mux>,
    mut outbound: mpsc::Receiver<Message>,
) -> JoinHandle<()> {
    // `parse_url` admits only URLs with a host, so this fails only for a caller's bug.
    let upstream = match client.upstream(&url) {
        Ok(upstream) => upstream,
        Err(e) => {
            mux.close(format!("{url}: {e}"));
            return tokio::spawn(async {});
        }
    };
    let session = Arc::new(Session {
        upstream,
        url,
        headers,
        mux,
        session_id: Mutex::new(None),
        protocol_version: Mutex::new(None),
        post_headers: Mutex::new(http::HeaderMap::new()),
        stateless: AtomicBool::new(false),
    });
    session.refresh_post_headers();
    // Requests are POSTed from the caller's task; notifications, answers to server requests
    // and cancellations still go through the outbound queue. Weak: the mux must not keep its
    // own transport alive.
    session
        .mux
        .set_direct(Arc::new(Direct(Arc::downgrade(&session))));
    tokio::spawn(async move {
        let closed = session.mux.closed_token().clone();
        loop {
            tokio::select! {
                message = outbound.recv() => match message {
                    Some(message) => { tokio::spawn(session.clone().post(message)); }
                    None => break,
                },
                _ = closed.cancelled() => break,
            }
        }
        session.terminate().await;
    })
}

/// The session's [`DirectSend`]: one POST, in the caller's task.
struct Direct(Weak<Session>);

impl DirectSend for Direct {
    fn send(&self, message: Message) -> Option<BoxFuture> {
        let session = self.0.upgrade()?;
        Some(Box::pin(session.post(message)))
    }

    fn set_stateless(&self) -> bool {
        let Some(session) = self.0.upgrade() else {
            return false;
        };
        // No session and a fixed version: both set before the first stateless POST
        // (`server/discover`) is built.
        *session.session_id.lock() = None;
        *session.protocol_version.lock() = Some(HeaderValue::from_static(STATELESS_VERSION));
        session.refresh_post_headers();
        session.stateless.store(true, Ordering::Release);
        true
    }
}

impl Session {
    fn request(&self, method: Method, accept: HeaderValue, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = self.headers_for(accept);
        request
    }

    /// The headers of a message POST (see [`Session::post_headers`]).
    fn post_request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = self.post_headers.lock().clone();
        request
    }

    /// `Accept`, the session's id and protocol version, and the configured headers.
    fn headers_for(&self, accept: HeaderValue) -> http::HeaderMap {
        let mut headers = http::HeaderMap::with_capacity(3 + self.headers.len());
        headers.insert(ACCEPT, accept);
        if let Some(id) = self.session_id.lock().clone() {
            headers.insert(SESSION_ID, id);
        }
        if let Some(version) = self.protocol_version.lock().clone() {
            headers.insert(PROTOCOL_VERSION, version);
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        headers
    }

    /// Rebuild [`Session::post_headers`] after the session id or protocol version changed.
    fn refresh_post_headers(&self) {
        // Built under the template's lock, so two refreshes cannot leave the older of the
        // two (lock order: the template, then the id and version).
        let mut template = self.post_headers.lock();
        let mut headers = self.headers_for(ACCEPT_BOTH);
        headers.insert(CONTENT_TYPE, JSON);
        *template = headers;
    }

    async fn post(self: Arc<Self>, message: Message) {
        let call = match message.kind() {
            Kind::Request => message
                .id
                .as_deref()
                .and_then(|id| id.get().parse::<u64>().ok()),
            _ => None,
        };
        let initialize = message.method.as_deref() == Some("initialize");
        let initialized = message.method.as_deref() == Some("notifications/initialized");
        let mut request = self.post_request(Bytes::from(message.to_bytes()));
        if self.stateless.load(Ordering::Acquire) {
            stateless_headers(&message, request.headers_mut());
        }
        let response = match self.upstream.request(request).await {
            Ok(response) => response,
            Err(e) => {
                // The server is unreachable: every call on this session is lost.
                self.mux.close(format!("POST failed: {e}"));
                return;
            }
        };
        let status = response.status();
        if status == StatusCode::NOT_FOUND && self.session_id.lock().is_some() {
            self.mux
                .close("the server ended the session (404); re-initializing");
            return;
        }
        if initialize && let Some(id) = response.headers().get(SESSION_ID) {
            *self.session_id.lock() = Some(id.clone());
            self.refresh_post_headers();
        }
        if status == StatusCode::ACCEPTED {
            if let Some(id) = call {
                self.mux.fail(
                    id,
                    self.mux
                        .protocol("202 Accepted in answer to a request".into()),
                );
            }
            if initialized {
                tokio::spawn(self.clone().listen());
            }
            return;
        }
        // A handle on the header's bytes (no copy): the response is consumed below.
        let media = response.headers().get(CONTENT_TYPE).cloned();
        let content_type = media.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin = call.map_or(Origin::Unknown, Origin::Call);
        if starts_with_ignore_case(content_type, "text/event-stream") && status.is_success() {
            self.read_stream(response.into_body(), origin, call).await;
        } else {
            self.read_json(status, content_type, response.into_body(), origin, call)
                .await;
        }
        if initialized && status.is_success() {
            tokio::spawn(self.clone().listen());
        }
    }

    async fn read_json(
        &self,
        status: StatusCode,
        content_type: &str,
        body: UpstreamBody,
        origin: Origin,
        call: Option<u64>,
    ) {
        let bytes = match read_body(body).await {
            Ok(bytes) => bytes,
            Err(e) => {
                if let Some(id) = call {
                    self.mux
                        .fail(id, self.mux.unavailable(format!("reading the answer: {e}")));
                }
                return;
            }
        };
        let parsed =
            if starts_with_ignore_case(content_type, "application/json") || !status.is_success() {
                Message::parse_body(&bytes).ok()
            } else {
                None
            };
        match parsed {
            Some((messages, _)) => {
                for message in messages {
                    self.dispatch(message, origin);
                }
            }
            None if status.is_success() && bytes.is_empty() && call.is_none() => {}
            None => {
                let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                let detail = format!("HTTP {status} ({content_type:?}): {shown}");
                match call {
                    Some(id) if status.is_server_error() => {
                        self.mux.fail(id, self.mux.unavailable(detail))
                    }
                    // An error with a null id (the server could not read or attribute the
                    // request, e.g. a 400 for a header mismatch) answering a POST that carried
                    // one request is that request's answer: the caller gets the server's error
                    // rather than "no response" (the handshake falls back to `server/discover`
                    // on the former only). The envelope refuses it: responses need an id.
                    Some(id) => match unattributed_error(&bytes) {
                        Some(error) => self.mux.fail(id, CallError::Rpc(error)),
                        None => self.mux.fail(id, self.mux.protocol(detail)),
                    },
                    None if status.is_success() => self.mux.bad_message(&bytes, "unexpected body"),
                    None => {
                        tracing::warn!(pool = %self.mux.ident().pool_name, %detail, "upstream refused a message")
                    }
                }
            }
        }
        // A JSON answer that did not contain our response would leave the call pending
        // forever. (Checked first: building the error allocates, and nearly every answer did
        // contain its response.)
        if let Some(id) = call
            && self.mux.is_pending(id)
        {
            self.mux.fail(
                id,
                self.mux.protocol(format!(
                    "HTTP {status}: the answer did not contain the response"
                )),
            );
        }
    }

    /// Read a POST's event stream; resume it with `Last-Event-ID` if it closes before the
    /// response (2025-11-25 lets servers close streams at will).
    async fn read_stream(&self, body: UpstreamBody, origin: Origin, call: Option<u64>) {
        let mut parser = Parser::default();
        let mut body = body;
        for attempt in 0..=MAX_RESUMES {
            if let Err(e) = self.pump(body, &mut parser, origin).await {
                tracing::debug!(pool = %self.mux.ident().pool_name, error = %e, "response stream broke");
            }
            let Some(id) = call else { return };
            if !self.mux.is_pending(id) {
                return;
            }
            let Some(last) = parser.last_id.clone().filter(|_| attempt < MAX_RESUMES) else {
                break;
            };
            let mut request = self.request(Method::GET, ACCEPT_SSE, Bytes::new());
            if let Ok(value) = HeaderValue::try_from(last) {
                request.headers_mut().insert(LAST_EVENT_ID, value);
            }
            match self.upstream.request(request).await {
                Ok(response) if response.status().is_success() => body = response.into_body(),
                Ok(_) => break,
                Err(e) => {
                    // Cannot even reconnect: the server is gone, and so is this session.
                    self.mux.close(format!("upstream unreachable: {e}"));
                    return;
                }
            }
        }
        if let Some(id) = call {
            self.mux.fail(
                id,
                self.mux
                    .unavailable("the response stream closed before the response".into()),
            );
        }
    }

    async fn pump(
        &self,
        mut body: UpstreamBody,
        parser: &mut Parser,
        origin: Origin,
    ) -> Result<(), String> {
        let closed = self.mux.closed_token().clone();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                _ = closed.cancelled() => return Ok(()),
            };
            let Some(frame) = frame else { return Ok(()) };
            let frame = frame.map_err(|e| e.to_string())?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for event in parser.feed(&data)? {
                if event.kind() != "message" || event.data.trim().is_empty() {
                    continue;
                }
                match Message::parse(event.data.as_bytes()) {
                    Ok(message) => self.dispatch(message, origin),
                    Err(e) => self.mux.bad_message(event.data.as_bytes(), &e.to_string()),
                }
            }
        }
    }

    fn dispatch(&self, message: Message, origin: Origin) {
        // The negotiated version must be on every request after initialize, including the
        // `notifications/initialized` the handshake sends as soon as this is dispatched.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Init<'a> {
            #[serde(borrow)]
            protocol_version: Option<std::borrow::Cow<'a, str>>,
        }
        if let (Kind::Response, Some(result)) = (message.kind(), message.result.as_deref())
            && self.protocol_version.lock().is_none()
            && let Ok(Init {
                protocol_version: Some(v),
            }) = serde_json::from_str::<Init<'_>>(result.get())
            && let Ok(value) = HeaderValue::try_from(v.as_ref())
        {
            *self.protocol_version.lock() = Some(value);
            self.refresh_post_headers();
        }
        self.mux.dispatch(message, origin);
    }

    /// The GET stream for server messages unrelated to any request; reconnects while the
    /// session lives, stops when the server does not offer one.
    async fn listen(self: Arc<Self>) {
        let mut parser = Parser::default();
        let mut failures = 0u32;
        while !self.mux.is_closed() {
            let mut request = self.request(Method::GET, ACCEPT_SSE, Bytes::new());
            if let Some(last) = parser
                .last_id
                .clone()
                .and_then(|l| HeaderValue::try_from(l).ok())
            {
                request.headers_mut().insert(LAST_EVENT_ID, last);
            }
            let response = tokio::select! {
                r = self.upstream.request(request) => r,
                _ = self.mux.closed_token().cancelled() => return,
            };
            match response {
                Ok(r) if r.status().is_success() => {
                    failures = 0;
                    // Servers announce tools they register after `initialized` (e.g. the ones
                    // that depend on client capabilities) with a list_changed on this stream,
                    // which is lost if it was sent before the stream connected: refetch once.
                    self.mux.mark_all_dirty();
                    let _ = self
                        .pump(r.into_body(), &mut parser, Origin::Unrelated)
                        .await;
                }
                Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    self.mux
                        .close("the server ended the session (404 on GET); re-initializing");
                    return;
                }
                Ok(_) => failures += 1,
                Err(e) => {
                    self.mux.close(format!("upstream unreachable: {e}"));
                    return;
                }
            }
            if failures > 5 {
                return;
            }
            let delay = Duration::from_millis(250 * u64::from(failures.max(1)));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.mux.closed_token().cancelled() => return,
            }
        }
    }

    /// DELETE the session when vecgate is done with it (best effort, bounded).
    async fn terminate(&self) {
        if self.session_id.lock().is_none() {
            return;
        }
        let request = self.request(Method::DELETE, ACCEPT_BOTH, Bytes::new());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.upstream.request(request)).await;
    }
}

/// The per-message headers of the stateless revision: `Mcp-Method`, and `Mcp-Name` where the
/// method names a tool, prompt or resource (a server rejects a POST whose headers do not
/// match its body with `400`). Only stateless upstreams pay for peeking at the params.
fn stateless_headers(message: &Message, headers: &mut http::HeaderMap) {
    let Some(method) = message.method.as_deref() else {
        return;
    };
    headers.insert(MCP_METHOD, header_value(method));
    let peek: ParamsPeek<'_>;
    let name = match method {
        "tools/call" | "prompts/get" => {
            peek = message.peek_params();
            peek.name
        }
        "resources/read" => {
            peek = message.peek_params();
            peek.uri
        }
        _ => return,
    };
    if let Some(name) = name {
        headers.insert(MCP_NAME, header_value(&name));
    }
}

/// `value` as an MCP header carries it: as is when it is visible ASCII (0x20 to 0x7E) without
/// surrounding whitespace, otherwise (or when it looks like the sentinel itself)
/// `=?base64?…?=` of its UTF-8 bytes.
fn header_value(value: &str) -> HeaderValue {
    use base64::Engine as _;
    let plain = value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    let encoded;
    let text = if plain {
        value
    } else {
        encoded = format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        );
        &encoded
    };
    // Both forms are visible ASCII, which a header value always admits.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn read_body(body: UpstreamBody) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

/// Whether `value` starts with `prefix`, ASCII case-insensitively (media types are).
fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The error object of a JSON-RPC error response whose `id` is null.
fn unattributed_error(body: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
    #[derive(serde::Deserialize)]
    struct NullIdError {
        jsonrpc: String,
        id: Option<serde::de::IgnoredAny>,
        error: Box<serde_json::value::RawValue>,
    }
    let answer: NullIdError = serde_json::from_slice(body).ok()?;
    (answer.jsonrpc == "2.0" && answer.id.is_none()).then_some(answer.error)
}
