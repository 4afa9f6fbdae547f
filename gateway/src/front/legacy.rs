//! The legacy HTTP+SSE transport (protocol 2024-11-05): `GET /sse` opens a stream whose first
//! event names the endpoint to POST to (`/messages?sessionId=…`); every answer travels on the
//! stream, and each POST is acknowledged with 202.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use vecgate_backends::jsonrpc::{ErrorObject, Kind, Message, code};

use super::body::{self, Body};
use super::http::{HttpFront, read_body, rpc_error};
use crate::auth::Principal;
use crate::dispatch;
use crate::protocol::Version;
use crate::session::{ClientCaps, Session};

const STREAM_EVENTS: usize = 256;

/// One open legacy SSE connection.
pub struct LegacyConn {
    /// The connection's id (the `sessionId` query value).
    pub id: String,
    /// Messages to the client.
    pub tx: mpsc::Sender<Message>,
    /// The MCP session, once the client has initialized.
    pub session: OnceLock<Arc<Session>>,
    /// Who opened the stream; only they may post to it.
    pub principal: Principal,
}

/// GET /sse: open a stream and announce the POST endpoint.
pub async fn open(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        return rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorObject::new(code::INTERNAL_ERROR, "no system randomness"),
        );
    }
    let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let (tx, rx) = mpsc::channel(STREAM_EVENTS);
    let conn = Arc::new(LegacyConn {
        id: id.clone(),
        tx,
        session: OnceLock::new(),
        principal: super::gate::principal_of(&req),
    });
    front.legacy.insert(id.clone(), Arc::clone(&conn));
    let (out, body) = body::sse_channel(STREAM_EVENTS);
    let endpoint = Bytes::from(format!(
        "event: endpoint\ndata: /messages?sessionId={id}\n\n"
    ));
    let front_for_cleanup = Arc::clone(&front);
    tokio::spawn(async move {
        body::pump_sse(Some(endpoint), rx, out).await;
        front_for_cleanup.legacy.remove(&id);
        front_for_cleanup.gw.sessions.end(&id);
    });
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
}

fn session_id_of(req: &Request<Incoming>) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "sessionId").then(|| v.to_owned())
    })
}

/// POST /messages?sessionId=…: accept a message; its answer goes out on the stream.
pub async fn post(front: Arc<HttpFront>, req: Request<Incoming>) -> Response<Body> {
    let Some(id) = session_id_of(&req) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            ErrorObject::new(code::INVALID_REQUEST, "missing sessionId query parameter"),
        );
    };
    let principal = super::gate::principal_of(&req);
    let Some(conn) = front
        .legacy
        .get(&id)
        .map(|c| Arc::clone(&c))
        .filter(|c| c.principal == principal)
    else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            ErrorObject::new(
                code::INVALID_REQUEST,
                "unknown sessionId; open GET /sse first",
            ),
        );
    };
    let bytes = match read_body(req.into_body(), front.gw.config.max_body_bytes).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (messages, _) = match Message::parse_body(&bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                ErrorObject::new(e.code(), e.to_string()),
            );
        }
    };
    for msg in messages {
        if msg.kind() == Kind::Request && msg.method.as_deref() == Some("initialize") {
            let version = crate::session::init_params(&msg)
                .0
                .map(|v| Version::negotiate(&v))
                .unwrap_or(Version::V2024_11_05);
            let caps = ClientCaps::from_json(crate::session::init_params(&msg).1.as_ref());
            let session = front
                .gw
                .sessions
                .local_for(&conn.id, version, caps, &conn.principal);
            session.attach_stream(conn.tx.clone());
            let _ = conn.session.set(session);
            let id = msg.id.unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
            let _ = conn
                .tx
                .send(Message::result(id, front.gw.initialize_result(version)))
                .await;
            continue;
        }
        let session = match conn.session.get() {
            Some(s) => Arc::clone(s),
            None => {
                let s = front.gw.sessions.local_for(
                    &conn.id,
                    Version::V2024_11_05,
                    ClientCaps::default(),
                    &conn.principal,
                );
                s.attach_stream(conn.tx.clone());
                Arc::clone(conn.session.get_or_init(|| s))
            }
        };
        let gw = Arc::clone(&front.gw);
        let tx = conn.tx.clone();
        tokio::spawn(async move {
            if let Some(answer) = dispatch::handle(gw, session, msg, tx.clone()).await {
                let _ = tx.send(answer).await;
            }
        });
    }
    let mut resp = Response::new(body::full("Accepted"));
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp
}
