//! MRTR bridging (SEP-2322): a 2026-07-28 client gets no server-to-client requests, so when an
//! old (2025-xx) upstream sends `sampling/createMessage`, `elicitation/create` or `roots/list`
//! during a stateless client's `tools/call`, `prompts/get` or `resources/read`, vecgate:
//!
//! 1. keeps the upstream call running ("parks" it, with the server request still waiting for
//!    its answer on the shared, multiplexed upstream session: other clients' calls are not held
//!    up),
//! 2. answers the client with `resultType: "input_required"`, the server requests as
//!    `inputRequests` (keyed `r<gateway id>`), and a `requestState` sealed with the session key
//!    (ChaCha20-Poly1305, as session ids are) that names the parked call,
//! 3. on the client's retry (`inputResponses` + `requestState`), checks the state (authentic,
//!    not expired, same method and name), hands each answer to the waiting upstream request
//!    under the upstream's own id, and goes on waiting: for the final result, or for the next
//!    server request (another `input_required` round, with a fresh single-use state). An input
//!    the retry did not supply is asked for again, as the spec recommends.
//!
//! A parked call lives at most [`PARK_TIMEOUT`]; then it is dropped, which cancels it upstream
//! (`notifications/cancelled`) and answers its server request with an error, and a late retry
//! gets a clear JSON-RPC error asking to re-issue the request. Parked calls are held by the
//! instance that started them: a retry that reaches another instance (even one sharing the key)
//! gets the same error. A `requestState` vecgate did not issue belongs to a 2026-07-28 upstream
//! and passes through untouched, as does that upstream's own `input_required` result.

use dashmap::DashMap;
use http::{Response, StatusCode};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vecgate_backends::jsonrpc::{ErrorObject, Kind, Message, code, to_raw};

use super::body::Body;
use super::http::{HttpFront, json};
use crate::dispatch;
use crate::protocol::Version;
use crate::seal::SealedState;
use crate::session::Session;

/// How long a parked call waits for the client's retry.
pub const PARK_TIMEOUT: Duration = Duration::from_secs(120);
/// Prefix of a `requestState` vecgate issued (anything else is an upstream's).
const STATE_PREFIX: &str = "vecgate-mrtr.";
/// Capacity of a bridged call's related-message channel.
const CALL_EVENTS: usize = 64;

/// Calls parked on an `input_required` answer, by the random key sealed in their state.
#[derive(Default)]
pub struct ParkedCalls {
    calls: DashMap<[u8; 16], Parked>,
}

impl ParkedCalls {
    /// How many calls are parked.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// A stateless call whose upstream is waiting for the client's input.
struct Parked {
    method: String,
    name: Option<String>,
    session: Arc<Session>,
    task: JoinHandle<Option<Message>>,
    events: mpsc::Receiver<Message>,
    /// Server requests still unanswered: (key in `inputRequests`, gateway id, the request).
    open: Vec<(String, u64, serde_json::Value)>,
}

impl Drop for Parked {
    fn drop(&mut self) {
        // Aborting drops the pipeline future, which cancels the upstream call.
        self.task.abort();
    }
}

/// What a request says about MRTR in its params.
struct Retry {
    state: Option<String>,
    responses: BTreeMap<String, Box<RawValue>>,
}

fn retry_fields(msg: &Message) -> Retry {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        #[serde(default)]
        request_state: Option<String>,
        #[serde(default)]
        input_responses: Option<BTreeMap<String, Box<RawValue>>>,
    }
    let fields: Fields = msg
        .params
        .as_ref()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    Retry {
        state: fields.request_state,
        responses: fields.input_responses.unwrap_or_default(),
    }
}

/// The name (or URI) a call is about, to bind a `requestState` to its request.
fn subject(msg: &Message) -> Option<String> {
    let peek = msg.peek_params();
    match msg.method.as_deref() {
        Some("resources/read") => peek.uri.map(|u| u.into_owned()),
        _ => peek.name.map(|n| n.into_owned()),
    }
}

/// Serve a stateless `tools/call`, `prompts/get` or `resources/read`, bridging server requests.
pub async fn serve(front: Arc<HttpFront>, session: Arc<Session>, msg: Message) -> Response<Body> {
    let id = msg
        .id
        .clone()
        .unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let method = msg.method.clone().unwrap_or_default();
    let retry = retry_fields(&msg);
    if let Some(state) = retry
        .state
        .as_deref()
        .and_then(|s| s.strip_prefix(STATE_PREFIX))
    {
        let subject = subject(&msg);
        let parked = match unpark(&front, &session, state, &method, subject.as_deref()) {
            Ok(p) => p,
            Err(e) => return answer(Message::error(Some(id), &e), &method),
        };
        return resume(front, parked, id, retry.responses).await;
    }
    let (tx, rx) = mpsc::channel(CALL_EVENTS);
    let name = subject(&msg);
    let task = tokio::spawn(dispatch::handle(
        Arc::clone(&front.gw),
        Arc::clone(&session),
        msg,
        tx,
    ));
    let parked = Parked {
        method,
        name,
        session,
        task,
        events: rx,
        open: Vec::new(),
    };
    drive(front, parked, id).await
}

/// Find and take the parked call a `requestState` names, checking it fits this request.
fn unpark(
    front: &HttpFront,
    session: &Session,
    sealed: &str,
    method: &str,
    name: Option<&str>,
) -> Result<Parked, ErrorObject> {
    let expired = || {
        ErrorObject::new(
            code::INVALID_PARAMS,
            "requestState is unknown or expired on this vecgate instance (calls wait for input at most 120 s); send the request again without requestState and inputResponses",
        )
    };
    // Sealed for the principal that parked the call: another principal cannot resume it.
    let state = front
        .gw
        .sessions
        .open(sealed, &session.principal)
        .ok_or_else(expired)?;
    let (_, parked) = front
        .gw
        .sessions
        .parked
        .calls
        .remove(&state.nonce)
        .ok_or_else(expired)?;
    if parked.method != method || parked.name.as_deref() != name {
        // Put it back: a mismatched retry must not cost the real one its call.
        front.gw.sessions.parked.calls.insert(state.nonce, parked);
        return Err(ErrorObject::new(
            code::INVALID_PARAMS,
            "requestState belongs to a different request (method or name differs)",
        ));
    }
    Ok(parked)
}

/// Hand the client's answers to the waiting upstream requests, then go on driving the call.
async fn resume(
    front: Arc<HttpFront>,
    mut parked: Parked,
    id: Box<RawValue>,
    mut responses: BTreeMap<String, Box<RawValue>>,
) -> Response<Body> {
    let open = std::mem::take(&mut parked.open);
    for (key, gateway_id, request) in open {
        match responses.remove(&key) {
            Some(result) => {
                parked.session.answer(&to_raw(&gateway_id), Ok(result));
            }
            None => parked.open.push((key, gateway_id, request)),
        }
    }
    if !parked.open.is_empty() {
        // Some input is still missing: ask for it again rather than failing (SEP-2322).
        return park(front, parked, id);
    }
    drive(front, parked, id).await
}

/// Wait for the call's result or its next server request.
async fn drive(front: Arc<HttpFront>, mut parked: Parked, id: Box<RawValue>) -> Response<Body> {
    loop {
        tokio::select! {
            biased;
            event = parked.events.recv() => match event {
                Some(event) if event.kind() == Kind::Request => {
                    add_open(&mut parked, event);
                    // Server requests sent together go out in one round.
                    while let Ok(more) = parked.events.try_recv() {
                        if more.kind() == Kind::Request {
                            add_open(&mut parked, more);
                        }
                    }
                    return park(front, parked, id);
                }
                // Progress and log lines: a JSON answer has nowhere to put them.
                Some(_) => {}
                None => {
                    let method = parked.method.clone();
                    return finish((&mut parked.task).await, id, &method);
                }
            },
            done = &mut parked.task => {
                let method = parked.method.clone();
                return finish(done, id, &method);
            }
        }
    }
}

fn add_open(parked: &mut Parked, request: Message) {
    let Some(gateway_id) = request
        .id
        .as_ref()
        .and_then(|i| i.get().trim_matches('"').parse::<u64>().ok())
    else {
        return;
    };
    let params: serde_json::Value = request
        .params
        .as_ref()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    let entry = serde_json::json!({ "method": request.method, "params": params });
    parked
        .open
        .push((format!("r{gateway_id}"), gateway_id, entry));
}

/// Park the call and answer `input_required` with its open server requests.
fn park(front: Arc<HttpFront>, parked: Parked, id: Box<RawValue>) -> Response<Body> {
    let method = parked.method.clone();
    let mut key = [0u8; 16];
    let sealed = getrandom::fill(&mut key).ok().and_then(|()| {
        front
            .gw
            .sessions
            .seal(
                &SealedState {
                    version: Version::V2026_07_28,
                    caps: 0,
                    nonce: key,
                    issued_at: 0,
                },
                &parked.session.principal,
            )
            .ok()
    });
    let Some(sealed) = sealed else {
        let err = ErrorObject::new(code::INTERNAL_ERROR, "cannot seal the request state");
        return answer(Message::error(Some(id), &err), &method);
    };
    let requests: BTreeMap<&str, &serde_json::Value> = parked
        .open
        .iter()
        .map(|(k, _, r)| (k.as_str(), r))
        .collect();
    let result = to_raw(&serde_json::json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": format!("{STATE_PREFIX}{sealed}"),
    }));
    front.gw.sessions.parked.calls.insert(key, parked);
    metrics::counter!("vecgate_mrtr_parked_total").increment(1);
    let gw = Arc::downgrade(&front.gw);
    tokio::spawn(async move {
        tokio::time::sleep(PARK_TIMEOUT).await;
        if let Some(gw) = gw.upgrade()
            && gw.sessions.parked.calls.remove(&key).is_some()
        {
            metrics::counter!("vecgate_mrtr_expired_total").increment(1);
            tracing::debug!("a parked input_required call expired and was cancelled");
        }
    });
    json(StatusCode::OK, Message::result(id, result).to_bytes())
}

fn finish(
    done: Result<Option<Message>, tokio::task::JoinError>,
    id: Box<RawValue>,
    method: &str,
) -> Response<Body> {
    match done {
        Ok(Some(mut msg)) => {
            msg.id = Some(id);
            answer(msg, method)
        }
        Ok(None) | Err(_) => {
            let err = ErrorObject::new(code::INTERNAL_ERROR, "the call ended without an answer");
            answer(Message::error(Some(id), &err), method)
        }
    }
}

/// The final JSON answer, with the 2026-07-28 result fields.
fn answer(mut msg: Message, method: &str) -> Response<Body> {
    if let Some(result) = msg.result.take() {
        msg.result = Some(super::stateless::with_result_fields(&result, method));
    }
    json(StatusCode::OK, msg.to_bytes())
}
