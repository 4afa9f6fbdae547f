//! MRTR bridging (SEP-2322): a 2026-07-28 client gets no server-to-client requests, so when an
//! old (2025-xx) upstream sends `sampling/createMessage`, `elicitation/create` or `roots/list`
//! during a stateless client's `tools/call`, `prompts/get` or `resources/read`, vecgate:
//!
//! 1. keeps the upstream call running ("parks" it, with the server request still waiting for
//!    its answer on the shared, multiplexed upstream session: other clients' calls are not held
//!    up),
//! 2. answers the client with `resultType: "input_required"`, the server requests as
//!    `inputRequests` (keyed `r<gateway id>`), and a `requestState` sealed with the session key
//!    for the client's principal ([`super::mrtr_state`]: the parked call's key, a digest of the
//!    request, a digest of each open server request, the answers of earlier rounds),
//! 3. on the client's retry (`inputResponses` + `requestState`), checks the state (authentic,
//!    not expired, and the retry is the same request: method, name and arguments hash to the
//!    sealed digest), hands each answer to the waiting upstream request under the upstream's own
//!    id, and goes on waiting: for the final result, or for the next server request (another
//!    `input_required` round, with a fresh state). An input the retry did not supply is asked
//!    for again, as the spec recommends.
//!
//! **A retry the parked call is not held for** (it reached another instance sharing
//! `session_key`, or this one restarted) is served the way SEP-2322 has stateless servers serve
//! every retry: by re-execution. vecgate sends the original request (the retry without its MRTR
//! fields) to the pool again, and when the upstream asks a server request whose digest (method
//! and canonical params, `_meta` aside) matches one the state names, answers it at once from
//! the retry's `inputResponses` or the state's earlier answers (each answer used once, in
//! order); a server request with no matching answer becomes a new `input_required` round whose
//! state carries the answers so far, so a client whose retries alternate between instances
//! still progresses. The original parked call on the first instance is left alone: nothing
//! tells it, and it expires after [`PARK_TIMEOUT`] like any unanswered one, which cancels it
//! upstream. A state is used once per instance: a second retry with it on the same instance is
//! refused, and the instance that holds the call resumes it rather than re-running it. Without
//! a shared store that is all vecgate can promise: a client that sends one state to two
//! instances runs the call's remainder on both.
//!
//! Re-running has the dangers re-execution has in the spec, which makes the same assumption of
//! stateless servers: whatever the tool did before its question it does again (a write before
//! "confirm?" is written twice, for a while the abandoned first run still blocks upstream), and
//! a tool whose question changes from run to run (a timestamp, a random id in the prompt) gets
//! no match, so its client is asked again (only the instance holding the call can then finish
//! it). It grants nothing new: the state opens only for the principal that could have sent the
//! original request itself, and only for [`PARK_TIMEOUT`] after it was issued.
//!
//! A parked call lives at most [`PARK_TIMEOUT`]; then it is dropped, which cancels it upstream
//! (`notifications/cancelled`) and answers its server request with an error, and a late retry
//! gets a clear JSON-RPC error asking to re-issue the request, as does a state of another format
//! (vecgates before this one issued format 1, which held no digests). A `requestState` vecgate
//! did not issue belongs to a 2026-07-28 upstream and passes through untouched, as does that
//! upstream's own `input_required` result (a session-based client gets that one completed by
//! vecgate instead: `dispatch::mrtr_upstream`).

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
use super::mrtr_state::{
    Digest, PREFIX, RequestState, request_digest, server_digest, unix_now, without_retry_fields,
};
use crate::dispatch;
use crate::session::Session;

/// How long a parked call waits for the client's retry (and how long its state is valid).
pub const PARK_TIMEOUT: Duration = Duration::from_secs(120);
/// Capacity of a bridged call's related-message channel.
const CALL_EVENTS: usize = 64;

/// Calls parked on an `input_required` answer, by the random key sealed in their state, and
/// the keys of states already used here.
#[derive(Default)]
pub struct ParkedCalls {
    calls: DashMap<[u8; 16], Parked>,
    /// Keys of states a retry used on this instance, until the state expires.
    spent: DashMap<[u8; 16], ()>,
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

    /// Use the state with `key` on this instance: its parked call if held here, `Spent` if a
    /// retry already used it here, else `Absent` (and it is now spent).
    fn take(&self, key: [u8; 16]) -> Taken {
        // Spent first, so two retries racing with one state cannot both find it unused.
        if self.spent.insert(key, ()).is_some() {
            return Taken::Spent;
        }
        match self.calls.remove(&key) {
            Some((_, parked)) => Taken::Held(parked),
            None => Taken::Absent,
        }
    }
}

/// What a state's key finds on this instance.
enum Taken {
    Held(Parked),
    Spent,
    Absent,
}

/// A stateless call whose upstream is waiting for the client's input.
struct Parked {
    method: String,
    /// The request's digest, sealed into every state so a retry can be checked against it.
    request: Digest,
    session: Arc<Session>,
    task: JoinHandle<Option<Message>>,
    events: mpsc::Receiver<Message>,
    /// Server requests still unanswered.
    open: Vec<Open>,
    /// Answers given so far, in order (carried by the next state, for a re-run).
    answered: Vec<(Digest, Box<RawValue>)>,
    /// Answers a re-run may still use, in order (from the retry and its state).
    book: Vec<(Digest, Box<RawValue>)>,
}

/// A server request waiting for the client.
struct Open {
    /// Its key in `inputRequests`.
    key: String,
    /// The id vecgate relayed it under (the session answers it by this id).
    gateway_id: u64,
    digest: Digest,
    /// `{method, params}`, as the client sees it.
    request: serde_json::Value,
}

impl Drop for Parked {
    fn drop(&mut self) {
        // Aborting drops the pipeline future, which cancels the upstream call.
        self.task.abort();
    }
}

impl Parked {
    /// A server request arrived: answer it from the book if it holds a matching answer,
    /// otherwise it waits for the client.
    fn server_request(&mut self, request: Message) {
        let Some(gateway_id) = request
            .id
            .as_ref()
            .and_then(|i| i.get().trim_matches('"').parse::<u64>().ok())
        else {
            return;
        };
        let method = request.method.as_deref().unwrap_or_default();
        let digest = server_digest(method, request.params.as_deref());
        if let Some(at) = self.book.iter().position(|(d, _)| *d == digest) {
            let (digest, answer) = self.book.remove(at);
            self.session
                .answer(&to_raw(&gateway_id), Ok(answer.clone()));
            self.answered.push((digest, answer));
            metrics::counter!("vecgate_mrtr_reused_answers_total").increment(1);
            return;
        }
        let params: serde_json::Value = request
            .params
            .as_ref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        self.open.push(Open {
            key: format!("r{gateway_id}"),
            gateway_id,
            digest,
            request: serde_json::json!({ "method": method, "params": params }),
        });
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

/// Serve a stateless `tools/call`, `prompts/get` or `resources/read`, bridging server requests.
pub async fn serve(front: Arc<HttpFront>, session: Arc<Session>, msg: Message) -> Response<Body> {
    let id = msg
        .id
        .clone()
        .unwrap_or_else(vecgate_backends::jsonrpc::null_raw);
    let method = msg.method.clone().unwrap_or_default();
    let request = request_digest(&method, msg.params.as_deref());
    let retry = retry_fields(&msg);
    let Some(text) = retry.state.as_deref().and_then(|s| s.strip_prefix(PREFIX)) else {
        return start(front, session, msg, request, Vec::new(), id).await;
    };
    let state = match RequestState::open(&front.gw.sessions, text, &session.principal, unix_now()) {
        Ok(state) => state,
        Err(e) => return answer(Message::error(Some(id), &e.to_error()), &method),
    };
    if state.request != request {
        // Checked before the state is used: a mismatched retry must not cost the real one.
        let err = ErrorObject::new(
            code::INVALID_PARAMS,
            "requestState belongs to a different request (its method, name or arguments differ from the ones it was issued for)",
        );
        return answer(Message::error(Some(id), &err), &method);
    }
    match front.gw.sessions.parked.take(state.key) {
        Taken::Held(parked) => resume(front, parked, id, retry.responses).await,
        Taken::Spent => {
            let err = ErrorObject::new(
                code::INVALID_PARAMS,
                "requestState was already used (each one answers a single retry); send the request again without requestState and inputResponses",
            );
            answer(Message::error(Some(id), &err), &method)
        }
        Taken::Absent => {
            forget_spent_at_expiry(&front, state.key, state.issued_at);
            rerun(front, session, msg, state, retry.responses, id).await
        }
    }
}

/// Start the call in the pipeline and drive it; `book` holds answers a re-run may reuse.
async fn start(
    front: Arc<HttpFront>,
    session: Arc<Session>,
    msg: Message,
    request: Digest,
    book: Vec<(Digest, Box<RawValue>)>,
    id: Box<RawValue>,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel(CALL_EVENTS);
    let method = msg.method.clone().unwrap_or_default();
    let task = tokio::spawn(dispatch::handle(
        Arc::clone(&front.gw),
        Arc::clone(&session),
        msg,
        tx,
    ));
    let parked = Parked {
        method,
        request,
        session,
        task,
        events: rx,
        open: Vec::new(),
        answered: Vec::new(),
        book,
    };
    drive(front, parked, id).await
}

/// Re-execute a call whose parked original is not held here, answering the server requests
/// the state names from the retry's `inputResponses` and the state's earlier answers.
async fn rerun(
    front: Arc<HttpFront>,
    session: Arc<Session>,
    mut msg: Message,
    state: RequestState,
    mut responses: BTreeMap<String, Box<RawValue>>,
    id: Box<RawValue>,
) -> Response<Body> {
    let mut book = state.answers;
    for (key, digest) in &state.open {
        if let Some(answer) = responses.remove(key) {
            book.push((*digest, answer));
        }
    }
    msg.params = msg.params.as_deref().map(without_retry_fields);
    metrics::counter!("vecgate_mrtr_reruns_total").increment(1);
    tracing::debug!(
        answers = book.len(),
        "re-running a call whose parked original this instance does not hold"
    );
    start(front, session, msg, state.request, book, id).await
}

/// Hand the client's answers to the waiting upstream requests, then go on driving the call.
async fn resume(
    front: Arc<HttpFront>,
    mut parked: Parked,
    id: Box<RawValue>,
    mut responses: BTreeMap<String, Box<RawValue>>,
) -> Response<Body> {
    let open = std::mem::take(&mut parked.open);
    for open in open {
        match responses.remove(&open.key) {
            Some(result) => {
                parked
                    .session
                    .answer(&to_raw(&open.gateway_id), Ok(result.clone()));
                parked.answered.push((open.digest, result));
            }
            None => parked.open.push(open),
        }
    }
    if !parked.open.is_empty() {
        // Some input is still missing: ask for it again rather than failing (SEP-2322).
        return park(front, parked, id);
    }
    drive(front, parked, id).await
}

/// Wait for the call's result or its next server request the book cannot answer.
async fn drive(front: Arc<HttpFront>, mut parked: Parked, id: Box<RawValue>) -> Response<Body> {
    loop {
        tokio::select! {
            biased;
            event = parked.events.recv() => match event {
                Some(event) if event.kind() == Kind::Request => {
                    parked.server_request(event);
                    // Server requests sent together go out in one round.
                    while let Ok(more) = parked.events.try_recv() {
                        if more.kind() == Kind::Request {
                            parked.server_request(more);
                        }
                    }
                    if !parked.open.is_empty() {
                        return park(front, parked, id);
                    }
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

/// Park the call and answer `input_required` with its open server requests.
fn park(front: Arc<HttpFront>, parked: Parked, id: Box<RawValue>) -> Response<Body> {
    let method = parked.method.clone();
    let mut key = [0u8; 16];
    let sealed = getrandom::fill(&mut key).ok().and_then(|()| {
        RequestState {
            key,
            issued_at: unix_now(),
            request: parked.request,
            open: parked
                .open
                .iter()
                .map(|o| (o.key.clone(), o.digest))
                .collect(),
            answers: parked
                .answered
                .iter()
                .chain(&parked.book)
                .cloned()
                .collect(),
        }
        .seal(&front.gw.sessions, &parked.session.principal)
        .ok()
    });
    let Some(sealed) = sealed else {
        let err = ErrorObject::new(code::INTERNAL_ERROR, "cannot seal the request state");
        return answer(Message::error(Some(id), &err), &method);
    };
    let requests: BTreeMap<&str, &serde_json::Value> = parked
        .open
        .iter()
        .map(|o| (o.key.as_str(), &o.request))
        .collect();
    let result = to_raw(&serde_json::json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": sealed,
    }));
    front.gw.sessions.parked.calls.insert(key, parked);
    metrics::counter!("vecgate_mrtr_parked_total").increment(1);
    let gw = Arc::downgrade(&front.gw);
    tokio::spawn(async move {
        tokio::time::sleep(PARK_TIMEOUT).await;
        if let Some(gw) = gw.upgrade() {
            gw.sessions.parked.spent.remove(&key);
            if gw.sessions.parked.calls.remove(&key).is_some() {
                metrics::counter!("vecgate_mrtr_expired_total").increment(1);
                tracing::debug!("a parked input_required call expired and was cancelled");
            }
        }
    });
    json(StatusCode::OK, Message::result(id, result).to_bytes())
}

/// Forget that another instance's state was used here once it has expired anyway.
fn forget_spent_at_expiry(front: &HttpFront, key: [u8; 16], issued_at: u64) {
    let left = (issued_at + PARK_TIMEOUT.as_secs()).saturating_sub(unix_now());
    let gw = Arc::downgrade(&front.gw);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(left)).await;
        if let Some(gw) = gw.upgrade() {
            gw.sessions.parked.spent.remove(&key);
        }
    });
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
