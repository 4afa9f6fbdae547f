//! MRTR (SEP-2322) towards a 2026-07-28 upstream, for a client that cannot speak it.
//!
//! A stateless (2026-07-28) upstream asks for client input by answering `tools/call`,
//! `prompts/get` or `resources/read` with `resultType: "input_required"`, `inputRequests`
//! (`elicitation/create`, `sampling/createMessage`, `roots/list`) and an opaque
//! `requestState`. A client on a session-based version (2024-11-05 to 2025-11-25, Streamable
//! HTTP, legacy SSE or `vecgate stdio`) does not know that result, so vecgate plays the MRTR
//! client for it:
//!
//! 1. each input request goes to the client as an ordinary server-to-client request on the
//!    call's own stream, under a gateway id of the session (the client's answer is matched in
//!    the session, as an old upstream's server requests are); a request for a capability the
//!    client did not declare in `initialize` is not sent: the call fails with -32021
//!    naming it;
//! 2. once every answer is in, the same request (same params) goes to the same replica again,
//!    with `inputResponses` keyed like `inputRequests` and the upstream's `requestState`
//!    byte for byte; an `input_required` without `inputRequests` is retried at once;
//! 3. this repeats while the upstream answers `input_required`, at most [`MAX_ROUNDS`] times;
//!    the final result is the call's answer.
//!
//! `InputResponses` carries results only (the schema has no error form), so a client that
//! answers an input request with an error ends the call with that error, its code kept.
//! Progress of every round reaches the client through the call's relay; a client cancel drops
//! this future, which cancels an upstream retry in flight and forgets the open server
//! requests. A 2026-07-28 client is an MRTR client itself: it gets `input_required` untouched
//! ([`bridges`] is false for it).

use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code, to_raw};
use vecgate_backends::replica::Replica;
use vecgate_backends::{AfterCall, Call, CallError, CallEventSink};

use super::{EventSink, Failure};
use crate::protocol::Version;
use crate::session::Session;

/// How many `input_required` answers one call may get before vecgate gives up (a server that
/// keeps asking is broken or looping; SEP-2322 lets it re-ask for missing input, not forever).
pub(super) const MAX_ROUNDS: usize = 8;

/// How long the client has to answer one round's input requests (a human may be filling in
/// a form; the same bound as a parked call in the other direction, `front::mrtr`).
pub(super) const INPUT_TIMEOUT: Duration = crate::front::mrtr::PARK_TIMEOUT;

/// Whether vecgate runs MRTR rounds for this session's `method` calls: the methods that may
/// answer `input_required`, from a client that predates 2026-07-28.
pub(super) fn bridges(session: &Session, method: &str) -> bool {
    session.version != Version::V2026_07_28
        && matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// The parts of an `input_required` result vecgate acts on.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InputRequired {
    #[serde(default)]
    input_requests: BTreeMap<String, InputRequest>,
    /// Kept raw: it goes back to the upstream exactly as it came.
    #[serde(default)]
    request_state: Option<Box<RawValue>>,
}

#[derive(serde::Deserialize)]
struct InputRequest {
    method: String,
    #[serde(default)]
    params: Option<Box<RawValue>>,
}

/// `Some` when `result` is an `input_required` answer (an unreadable one is an error).
fn input_required(result: &RawValue) -> Result<Option<InputRequired>, Failure> {
    if !super::is_input_required(result) {
        return Ok(None);
    }
    serde_json::from_str(result.get()).map(Some).map_err(|e| {
        Failure::Local(ErrorObject::new(
            code::INTERNAL_ERROR,
            format!("the upstream's input_required result is malformed: {e}"),
        ))
    })
}

/// One upstream request and where its rounds go: enough to send it again.
pub(super) struct Rounds<'a> {
    /// The session the call belongs to.
    pub(super) session: &'a Arc<Session>,
    /// The replica that answered `input_required` (its `requestState` is its own).
    pub(super) replica: &'a Replica,
    /// `tools/call`, `prompts/get` or `resources/read`.
    pub(super) method: Cow<'static, str>,
    /// The params as first forwarded (after any renaming).
    pub(super) params: Option<Box<RawValue>>,
    /// The call's event sink (its POST stream, the legacy SSE stream or stdout).
    pub(super) events: &'a EventSink,
    /// The call's relay, reused for every retry.
    pub(super) relay: CallEventSink,
}

impl Rounds<'_> {
    /// Run MRTR rounds from the upstream's first answer until it is final.
    pub(super) async fn complete(self, first: Box<RawValue>) -> Result<Box<RawValue>, Failure> {
        let mut base: BTreeMap<String, Box<RawValue>> = match &self.params {
            Some(p) => serde_json::from_str(p.get()).map_err(|_| {
                Failure::Local(ErrorObject::new(
                    code::INVALID_PARAMS,
                    "params must be an object",
                ))
            })?,
            None => BTreeMap::new(),
        };
        base.remove("inputResponses");
        base.remove("requestState");
        let mut result = first;
        let mut rounds = 0;
        while let Some(needed) = input_required(&result)? {
            if rounds == MAX_ROUNDS {
                metrics::counter!("vecgate_mrtr_upstream_exhausted_total").increment(1);
                return Err(Failure::Local(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!(
                        "the upstream still asked for input after {MAX_ROUNDS} rounds of {} (vecgate's bound); giving up",
                        self.method
                    ),
                )));
            }
            rounds += 1;
            metrics::counter!("vecgate_mrtr_upstream_rounds_total").increment(1);
            let responses = ask_client(self.session, self.events, needed.input_requests).await?;
            let mut params = base.clone();
            if !responses.is_empty() {
                params.insert("inputResponses".to_owned(), to_raw(&responses));
            }
            if let Some(state) = needed.request_state {
                params.insert("requestState".to_owned(), state);
            }
            result = self
                .replica
                .call(Call {
                    method: self.method.clone(),
                    params: Some(to_raw(&params)),
                    events: Some(Arc::clone(&self.relay)),
                    timeout: None,
                    after: Some(Arc::clone(self.session) as Arc<dyn AfterCall>),
                })
                .await
                .map_err(|e| match e {
                    CallError::Rpc(raw) => Failure::Upstream(raw),
                    other => Failure::Local(other.to_error_object()),
                })?;
        }
        Ok(result)
    }
}

/// Server requests this round sent to the client, forgotten in the session if the round is
/// abandoned (cancel, error, timeout): a late answer then matches nothing.
struct Open<'a> {
    session: &'a Session,
    ids: Vec<u64>,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            self.session.forget_request(*id);
        }
    }
}

/// Send one round's input requests to the client and collect its answers, by input key.
async fn ask_client(
    session: &Session,
    events: &EventSink,
    requests: BTreeMap<String, InputRequest>,
) -> Result<BTreeMap<String, Box<RawValue>>, Failure> {
    // Checked before anything is sent: a round the client cannot finish is not started.
    for request in requests.values() {
        check_capability(session, &request.method)?;
    }
    let mut open = Open {
        session,
        ids: Vec::with_capacity(requests.len()),
    };
    // Sending is inside the bound too: a client that does not read its stream fills it.
    let exchange = async {
        let mut waiting = Vec::with_capacity(requests.len());
        for (key, request) in requests {
            let (id, answer) = session.register_request();
            open.ids.push(id);
            let message = Message::request(to_raw(&id), request.method.clone(), request.params);
            let delivered = match events.send(message).await {
                Ok(()) => true,
                // The request's own stream has closed: the session's GET stream, if it has one.
                Err(tokio::sync::mpsc::error::SendError(message)) => session.push(message),
            };
            if !delivered {
                return Err(Failure::Local(ErrorObject::new(
                    code::UPSTREAM_UNAVAILABLE,
                    "the client's stream closed before the upstream's input request could be sent",
                )));
            }
            waiting.push((key, request.method, answer));
        }
        let mut responses = BTreeMap::new();
        for (key, method, answer) in waiting {
            match answer.await {
                Ok(Ok(result)) => {
                    responses.insert(key, result);
                }
                Ok(Err(error)) => return Err(client_refused(&method, &error)),
                Err(_) => {
                    return Err(Failure::Local(ErrorObject::new(
                        code::INTERNAL_ERROR,
                        "the client session ended before answering the upstream's input request",
                    )));
                }
            }
        }
        Ok(responses)
    };
    match tokio::time::timeout(INPUT_TIMEOUT, exchange).await {
        Ok(answers) => answers,
        Err(_) => Err(Failure::Local(ErrorObject::new(
            code::UPSTREAM_TIMEOUT,
            format!(
                "the client did not answer the upstream's input request within {} s",
                INPUT_TIMEOUT.as_secs()
            ),
        ))),
    }
}

/// The capability a client must have declared to be sent `method`, by its `initialize` name.
fn capability(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("elicitation"),
        "sampling/createMessage" => Some("sampling"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

fn check_capability(session: &Session, method: &str) -> Result<(), Failure> {
    let Some(capability) = capability(method) else {
        return Err(Failure::Local(ErrorObject::new(
            code::INTERNAL_ERROR,
            format!(
                "the upstream asked for input with {method:?}, which is not an MRTR input request (elicitation/create, sampling/createMessage, roots/list)"
            ),
        )));
    };
    if session.caps.allows(method) {
        return Ok(());
    }
    let mut error = ErrorObject::new(
        code::MISSING_CLIENT_CAPABILITY,
        format!(
            "the upstream needs {method} to complete this request, but this client did not declare the {capability} capability in initialize"
        ),
    );
    error.data = Some(serde_json::json!({ "requiredCapabilities": { capability: {} } }));
    Err(Failure::Local(error))
}

/// The call's error when the client answered an input request with an error: its code and
/// data kept, its message prefixed with what it was answering.
fn client_refused(method: &str, error: &RawValue) -> Failure {
    let (code, message, data) = match serde_json::from_str::<ErrorObject>(error.get()) {
        Ok(e) => (e.code, e.message, e.data),
        Err(_) => (code::INTERNAL_ERROR, error.get().to_owned(), None),
    };
    let mut out = ErrorObject::new(
        code,
        format!("the client answered the upstream's {method} with an error: {message}"),
    );
    out.data = data;
    Failure::Local(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn only_input_required_results_start_rounds() {
        let complete = raw(r#"{"resultType":"complete","content":[]}"#);
        assert!(input_required(&complete).ok().expect("readable").is_none());
        let old = raw(r#"{"content":[]}"#);
        assert!(input_required(&old).ok().expect("readable").is_none());
        let asked = raw(
            r#"{"resultType":"input_required","inputRequests":{"a":{"method":"roots/list"}},"requestState":"s\u00e9"}"#,
        );
        let needed = input_required(&asked)
            .ok()
            .flatten()
            .expect("input_required");
        assert_eq!(needed.input_requests["a"].method, "roots/list");
        // The state stays byte for byte what the upstream sent, escapes included.
        assert_eq!(needed.request_state.expect("state").get(), r#""s\u00e9""#);
    }

    #[test]
    fn a_client_error_keeps_its_code_and_says_what_it_answered() {
        let Failure::Local(e) = client_refused(
            "sampling/createMessage",
            &raw(r#"{"code":-1,"message":"user rejected","data":{"why":"no"}}"#),
        ) else {
            panic!("a local error");
        };
        assert_eq!(e.code, -1);
        assert!(
            e.message.contains("sampling/createMessage") && e.message.contains("user rejected")
        );
        assert_eq!(e.data, Some(serde_json::json!({"why": "no"})));
    }
}
