//! The transport-independent core of one upstream MCP session.
//!
//! Many client sessions share one upstream session, so the [`Mux`] owns everything that keeps
//! their requests apart: it allocates the upstream JSON-RPC ids, rewrites each request's
//! `_meta.progressToken` to a replica-unique token (the upstream id itself) and restores the
//! caller's token on the way back, and routes every incoming message to the one call it belongs
//! to. Transports only move bytes: they take [`Message`]s from the outbound queue and hand
//! what they read to [`Mux::dispatch`], saying which request it arrived with ([`Origin`]).
//!
//! # Attribution of server→client traffic
//! Responses and progress are self-identifying (id, token). Server requests (`sampling/…`,
//! `elicitation/create`, `roots/list`) and `notifications/message` are not:
//! - Streamable HTTP says which POST they came on ([`Origin::Call`]): that call gets them.
//! - The HTTP GET stream carries traffic unrelated to any request ([`Origin::Unrelated`]):
//!   it becomes a [`PoolEvent`].
//! - stdio and legacy SSE have no association ([`Origin::Unknown`]): the call with an events
//!   channel gets them if exactly one is in flight, else the most recent such call (the
//!   highest upstream id); with none, a [`PoolEvent`].
//!
//! Upstream `ping` requests are answered here. Nothing in this module blocks: per-call and
//! pool channels are written with `try_send`, and drops are counted.

use crate::catalog::ListKind;
use crate::error::CallError;
use crate::jsonrpc::{ErrorObject, Kind, Message, code, to_raw};
use crate::pool::{PoolEvent, PoolObserver};
use crate::replica::{AfterCall, CallEvent, CallEventSink, STRAGGLER_WINDOW, ServerReply};
use crate::telemetry::Meters;
use meta::{Meta, parse_id, replace_field, rewrite_request_params};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Which request an incoming message arrived with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// On the response stream of the request with this upstream id.
    Call(u64),
    /// On a stream reserved for traffic unrelated to any request (the HTTP GET stream).
    Unrelated,
    /// The transport cannot tell (stdio, legacy SSE).
    Unknown,
}

/// Which replica a mux serves, for events and error messages.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaIdent {
    pub(crate) pool: u32,
    pub(crate) replica: u32,
    pub(crate) pool_name: Arc<str>,
}

struct Pending {
    method: Cow<'static, str>,
    reply: oneshot::Sender<Result<Box<RawValue>, CallError>>,
    events: Option<CallEventSink>,
    /// The caller's own progress token, restored on `notifications/progress`.
    progress_token: Option<Box<RawValue>>,
    /// Where the call's stragglers go after its answer.
    after: Option<Arc<dyn AfterCall>>,
    /// When the call times out, in [`Mux::deadline_nanos`] (see [`deadline`]).
    deadline: u64,
    /// The timeout it was given, for the error.
    timeout: Duration,
    /// A request that stays open until cancelled (see [`Mux::open_request`]): no deadline,
    /// and never the owner of a message that does not name it.
    open: bool,
}

/// A call answered within the last [`STRAGGLER_WINDOW`], that may still get stragglers.
struct Answered {
    at: Instant,
    after: Arc<dyn AfterCall>,
}

/// How many answered calls are remembered for their stragglers.
const ANSWERED_KEPT: usize = 8;

/// The deadline of a call whose timeout does not fit an `Instant` (a year is as good as never).
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// A transport that can send a request from the caller's own task (Streamable HTTP: one POST
/// per message), instead of through the outbound queue and a writer task. That saves a queue
/// hop, a task spawn and a cross-thread wake-up per call on the forward path.
pub(crate) trait DirectSend: Send + Sync {
    /// Send `message` and read what comes back with it, dispatching it to the mux. The
    /// future owns everything it needs, so it may be finished on another task. `None` when
    /// the transport has shut down.
    fn send(&self, message: Message) -> Option<BoxFuture>;

    /// The upstream speaks the stateless revision (2026-07-28): from now on every message
    /// carries that revision's transport metadata (Streamable HTTP: its headers). Returns
    /// whether the transport cancels a request by closing its response stream, in which
    /// case no `notifications/cancelled` is sent for it.
    fn set_stateless(&self) -> bool {
        false
    }
}

/// What [`DirectSend::send`] returns.
pub(crate) type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One upstream session's request table and dispatcher.
pub(crate) struct Mux {
    ident: ReplicaIdent,
    meters: Meters,
    next_id: AtomicU64,
    pending: Mutex<Table>,
    out: mpsc::Sender<Message>,
    closed: CancellationToken,
    pool_events: mpsc::Sender<PoolEvent>,
    observer: Option<Arc<dyn PoolObserver>>,
    /// Lists invalidated by `list_changed`, as [`ListKind::bit`]s, and a wake-up for the
    /// refresher.
    dirty: AtomicU8,
    changed: Notify,
    /// Milliseconds since `born` at the last message in either direction.
    last_activity: AtomicU64,
    born: Instant,
    /// 2026-07-28 stateless upstreams: `_meta` fields added to every request.
    stateless_meta: Mutex<Option<Arc<Meta>>>,
    /// A stateless HTTP upstream: abandoning a request closes its stream, which is its
    /// cancellation (no `notifications/cancelled`, see [`DirectSend::set_stateless`]).
    cancel_by_close: AtomicBool,
    /// Server→client requests being relayed, by the upstream's raw id: firing the sender
    /// abandons the relay when the upstream cancels its request.
    relayed: Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>,
    /// Set once by a transport that sends requests from the caller's task.
    direct: std::sync::OnceLock<Arc<dyn DirectSend>>,
    /// The deadline the sweeper sleeps until ([`deadline::UNSCHEDULED`] when idle), and its
    /// wake-up for an earlier one.
    sweep_at: AtomicU64,
    sweep_wake: Arc<Notify>,
}

struct Table {
    /// By our own upstream id. foldhash, not SipHash: the keys are ours (a counter), so
    /// there is nothing to flood, and this map is hit twice per call.
    calls: HashMap<u64, Pending, foldhash::fast::RandomState>,
    /// The most recently answered calls that take stragglers, newest last.
    answered: VecDeque<Answered>,
    closed: Option<String>,
}

impl Mux {
    /// A mux whose outbound messages go to the returned receiver (the transport's writer),
    /// which holds at most `queue` messages: a stalled upstream pushes back on callers.
    pub(crate) fn new(
        ident: ReplicaIdent,
        meters: Meters,
        queue: usize,
        pool_events: mpsc::Sender<PoolEvent>,
        observer: Option<Arc<dyn PoolObserver>>,
    ) -> (Arc<Mux>, mpsc::Receiver<Message>) {
        let (out, rx) = mpsc::channel(queue.max(1));
        let mux = Mux {
            ident,
            meters,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(Table {
                calls: HashMap::default(),
                answered: VecDeque::with_capacity(ANSWERED_KEPT),
                closed: None,
            }),
            out,
            closed: CancellationToken::new(),
            pool_events,
            observer,
            dirty: AtomicU8::new(0),
            changed: Notify::new(),
            last_activity: AtomicU64::new(0),
            born: Instant::now(),
            stateless_meta: Mutex::new(None),
            cancel_by_close: AtomicBool::new(false),
            relayed: Arc::new(Mutex::new(HashMap::new())),
            direct: std::sync::OnceLock::new(),
            sweep_at: AtomicU64::new(deadline::UNSCHEDULED),
            sweep_wake: Arc::new(Notify::new()),
        };
        let mux = Arc::new(mux);
        // Outside a runtime (never in vecgate) calls would have no deadline.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(deadline::sweep(Arc::downgrade(&mux)));
        }
        (mux, rx)
    }

    pub(crate) fn ident(&self) -> &ReplicaIdent {
        &self.ident
    }

    /// Cancelled when the session is over (transport died, closed, or shut down).
    pub(crate) fn closed_token(&self) -> &CancellationToken {
        &self.closed
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// How long since the last message in either direction.
    pub(crate) fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(last)
    }

    /// Why the session ended, once it has.
    pub(crate) fn close_reason(&self) -> Option<String> {
        self.pending.lock().closed.clone()
    }

    /// Whether the request with upstream id `id` still awaits its answer.
    pub(crate) fn is_pending(&self, id: u64) -> bool {
        self.pending.lock().calls.contains_key(&id)
    }

    /// Requests awaiting their answer, open ones ([`Mux::open_request`]) included.
    pub(crate) fn pending(&self) -> usize {
        self.pending.lock().calls.len()
    }

    /// Requests awaiting their answer that will have one: the open ones left out (a
    /// replica holding a `subscriptions/listen` is still quiet enough for a health ping).
    pub(crate) fn pending_bounded(&self) -> usize {
        self.pending
            .lock()
            .calls
            .values()
            .filter(|c| !c.open)
            .count()
    }

    fn touch(&self) {
        self.touch_at(Instant::now());
    }

    /// [`Mux::touch`] with a time the caller already read.
    fn touch_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.born).as_millis() as u64;
        self.last_activity.store(ms, Ordering::Relaxed);
    }

    /// Let requests be sent from the caller's task through `direct` (see [`DirectSend`]).
    pub(crate) fn set_direct(&self, direct: Arc<dyn DirectSend>) {
        let _ = self.direct.set(direct);
    }

    /// Switch to 2026-07-28 stateless mode: every later request carries these `_meta` fields.
    pub(crate) fn set_stateless_meta(&self, meta: Meta) {
        *self.stateless_meta.lock() = Some(Arc::new(meta));
        if let Some(direct) = self.direct.get()
            && direct.set_stateless()
        {
            self.cancel_by_close.store(true, Ordering::Relaxed);
        }
    }

    /// End the session: fail every call in flight with `Unavailable` and stop the transport.
    pub(crate) fn close(&self, reason: impl Into<String>) {
        let reason = reason.into();
        let calls = {
            let mut table = self.pending.lock();
            if table.closed.is_none() {
                table.closed = Some(reason.clone());
            }
            std::mem::take(&mut table.calls)
        };
        for (_, call) in calls {
            let _ = call.reply.send(Err(self.unavailable(reason.clone())));
        }
        self.closed.cancel();
    }

    pub(crate) fn unavailable(&self, reason: String) -> CallError {
        CallError::Unavailable {
            pool: self.ident.pool_name.to_string(),
            replica: self.ident.replica,
            reason,
        }
    }

    pub(crate) fn protocol(&self, detail: String) -> CallError {
        CallError::Protocol {
            pool: self.ident.pool_name.to_string(),
            replica: self.ident.replica,
            detail,
        }
    }

    /// Send one request and wait for its answer. Dropping the future sends
    /// `notifications/cancelled` upstream; so does the deadline passing (enforced by the
    /// mux's sweeper, [`deadline`], so a call costs no timer of its own). On a stateless
    /// HTTP upstream both close the request's stream instead.
    pub(crate) async fn request(
        &self,
        method: Cow<'static, str>,
        params: Option<Box<RawValue>>,
        events: Option<CallEventSink>,
        after: Option<Arc<dyn AfterCall>>,
        timeout: Duration,
    ) -> Result<Box<RawValue>, CallError> {
        let started = Instant::now();
        self.meters.calls.increment(1);
        let result = self
            .request_inner(method, params, events, after, started, Some(timeout))
            .await;
        match &result {
            Ok(_) | Err(CallError::Rpc(_)) => self
                .meters
                .call_seconds
                .record(started.elapsed().as_secs_f64()),
            Err(_) => {}
        }
        if let Err(e) = &result {
            self.meters.error(e);
        }
        result
    }

    /// One request; `timeout: None` is an open request ([`Mux::open_request`]).
    async fn request_inner(
        &self,
        method: Cow<'static, str>,
        params: Option<Box<RawValue>>,
        events: Option<CallEventSink>,
        after: Option<Arc<dyn AfterCall>>,
        started: Instant,
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let open = timeout.is_none();
        // An open request's deadline is the sweeper's "nothing scheduled": never due, and
        // never what the sweeper sleeps until.
        let deadline = match timeout {
            Some(t) => self.deadline_nanos(started.checked_add(t).unwrap_or(started + FOREVER)),
            None => deadline::UNSCHEDULED,
        };
        let timeout = timeout.unwrap_or(FOREVER);
        let stateless = self.stateless_meta.lock().clone();
        let (params, progress_token) = rewrite_request_params(params, id, stateless.as_deref())
            .map_err(|e| self.protocol(e))?;
        let (reply, answer) = oneshot::channel();
        {
            let mut table = self.pending.lock();
            if let Some(reason) = &table.closed {
                return Err(self.unavailable(reason.clone()));
            }
            let pending = Pending {
                method: method.clone(),
                reply,
                events,
                progress_token,
                after,
                deadline,
                timeout,
                open,
            };
            table.calls.insert(id, pending);
        }
        self.schedule(deadline);
        // From here on, leaving early (drop, deadline) must tell the upstream.
        let guard = CancelOnDrop {
            mux: self,
            id,
            armed: true,
        };
        let message = Message::request(to_raw(&id), &*method, params);
        // (No second touch after the answer: dispatching the answer touched.)
        self.touch_at(started);
        let result = match self.direct.get() {
            Some(direct) => {
                let Some(sending) = direct.send(message) else {
                    drop(guard);
                    return Err(self.unavailable("the transport is closed".into()));
                };
                // An open request's stream ends with it, and so does any request's on a
                // stateless HTTP upstream: closing that stream is how a 2026-07-28 HTTP
                // upstream learns it was cancelled.
                let close_cancels = open || self.cancel_by_close.load(Ordering::Relaxed);
                let mut sending = Detached {
                    sending: Some(sending),
                    detach: !close_cancels,
                };
                let mut answer = answer;
                let result = loop {
                    tokio::select! {
                        biased;
                        result = &mut answer => break result,
                        () = sending.run(), if sending.is_pending() => {}
                    }
                };
                // Answered by the upstream: the rest of the POST is read on (the connection
                // is kept). Only a deadline or a drop closes the stream.
                if close_cancels
                    && !open
                    && matches!(result, Ok(Ok(_)) | Ok(Err(CallError::Rpc(_))))
                {
                    sending.detach = true;
                }
                result
            }
            None => {
                // The answer side is watched while waiting for room in the queue too: a
                // stalled upstream's full queue must not hold a call past its deadline (the
                // sweeper fails it through `answer`).
                let mut answer = answer;
                tokio::select! {
                    biased;
                    result = &mut answer => result,
                    sent = self.out.send(message) => match sent {
                        Ok(()) => answer.await,
                        Err(_) => {
                            drop(guard);
                            return Err(self.unavailable("the transport is closed".into()));
                        }
                    },
                }
            }
        };
        guard.disarm();
        match result {
            Ok(result) => result,
            Err(_) => Err(self.unavailable("the session ended".into())),
        }
    }

    /// Send one notification upstream.
    pub(crate) async fn notify(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
    ) -> Result<(), CallError> {
        if let Some(reason) = &self.pending.lock().closed {
            return Err(self.unavailable(reason.clone()));
        }
        self.touch();
        self.out
            .send(Message::notification(method, params))
            .await
            .map_err(|_| self.unavailable("the transport is closed".into()))
    }

    /// Fail one call from the transport side (e.g. its HTTP POST failed).
    pub(crate) fn fail(&self, id: u64, error: CallError) {
        if let Some(call) = self.pending.lock().calls.remove(&id) {
            let _ = call.reply.send(Err(error));
        }
    }

    /// Route one message read from the upstream.
    pub(crate) fn dispatch(&self, message: Message, origin: Origin) {
        self.touch();
        match message.kind() {
            Kind::Response => self.on_response(message),
            Kind::Notification => self.on_notification(message, origin),
            Kind::Request => self.on_server_request(message, origin),
        }
    }

    /// Count (and log) upstream output that is not JSON-RPC. If it still names one of our
    /// request ids, that request fails with a protocol error instead of waiting for its
    /// deadline.
    pub(crate) fn bad_message(&self, bytes: &[u8], detail: &str) {
        self.meters.bad_messages.increment(1);
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        tracing::warn!(pool = %self.ident.pool_name, replica = self.ident.replica, %detail, output = %shown, "bad upstream output");
        #[derive(serde::Deserialize)]
        struct IdOnly {
            id: Option<serde_json::Value>,
        }
        if let Ok(IdOnly { id: Some(id) }) = serde_json::from_slice::<IdOnly>(bytes)
            && let Some(id) = id.as_u64()
        {
            self.fail(id, self.protocol(format!("{detail}: {shown}")));
        }
    }

    fn on_response(&self, message: Message) {
        let Some(id) = message.id.as_ref().and_then(|id| parse_id(id)) else {
            tracing::debug!(pool = %self.ident.pool_name, id = ?message.id, "response to an id vecgate did not send");
            return;
        };
        let call = {
            let mut table = self.pending.lock();
            let call = table.calls.remove(&id);
            if let Some(after) = call.as_ref().and_then(|c| c.after.clone()) {
                if table.answered.len() == ANSWERED_KEPT {
                    table.answered.pop_front();
                }
                table.answered.push_back(Answered {
                    at: Instant::now(),
                    after,
                });
            }
            call
        };
        let Some(call) = call else {
            // Late answer to a cancelled or timed-out request.
            tracing::debug!(pool = %self.ident.pool_name, id, "response to a request no longer pending");
            return;
        };
        let result = match (message.result, message.error) {
            (Some(result), None) => Ok(result),
            (None, Some(error)) => Err(CallError::Rpc(error)),
            _ => Err(self.protocol(format!("malformed response to {}", call.method))),
        };
        let _ = call.reply.send(result);
    }

    fn on_notification(&self, message: Message, origin: Origin) {
        let method = message.method.as_deref().unwrap_or_default();
        if method == "notifications/resources/updated"
            && let Some(observer) = &self.observer
            && let Some(uri) = message.peek_params().uri
        {
            // Before the next message (the answer of the write that caused it, over stdio).
            observer.resource_updated(self.ident.pool, self.ident.replica, &uri);
        }
        // What an upstream `subscriptions/listen` sends is its own (the acknowledgement) or
        // routed like any unsolicited notification, without the upstream's tag.
        let Some(message) = self.on_subscription_message(message) else {
            return;
        };
        let method = message.method.as_deref().unwrap_or_default();
        match method {
            "notifications/progress" => self.on_progress(message),
            "notifications/cancelled" => {
                // The upstream cancels one of its own requests that vecgate is relaying, or
                // (2026-07-28 over stdio) ends one of vecgate's open listens.
                let id = message
                    .peek_params()
                    .request_id
                    .map(|id| id.get().to_owned());
                let Some(id) = id else { return };
                if let Some(cancel) = self.relayed.lock().remove(&id) {
                    let _ = cancel.send(());
                } else {
                    self.end_open(&id);
                }
            }
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed" => {
                let bits = ListKind::from_list_changed(method)
                    .iter()
                    .fold(0, |b, k| b | k.bit());
                self.dirty.fetch_or(bits, Ordering::AcqRel);
                self.changed.notify_one();
            }
            // Log lines are often sent on the GET stream even when a call caused them (rmcp
            // does this), so they get the same attribution as stdio traffic: the call in flight,
            // else the most recent one, else the call answered last if that was a moment ago
            // (the line raced its answer). Other GET-stream traffic is never attributed.
            "notifications/message" => match self.attribute(match origin {
                Origin::Unrelated => Origin::Unknown,
                other => other,
            }) {
                Some((_, events)) => self.to_call(&events, CallEvent::Notification(message)),
                None => match self.last_answered(origin) {
                    Some(after) => after.straggler(message),
                    None => self.to_pool(message),
                },
            },
            _ => match origin {
                Origin::Call(id) => match self.events_of(id) {
                    Some(events) => self.to_call(&events, CallEvent::Notification(message)),
                    None => self.to_pool(message),
                },
                Origin::Unrelated | Origin::Unknown => self.to_pool(message),
            },
        }
    }

    fn on_progress(&self, mut message: Message) {
        let peek = message.peek_params();
        let Some(id) = peek.progress_token.and_then(parse_id) else {
            return;
        };
        let target = {
            let table = self.pending.lock();
            table.calls.get(&id).and_then(|call| {
                let events = call.events.clone()?;
                let token = call.progress_token.clone()?;
                Some((events, token))
            })
        };
        // Progress is forwarded only while its request is active, and only to it.
        let Some((events, token)) = target else {
            return;
        };
        match replace_field(message.params.as_deref(), "progressToken", token) {
            Ok(params) => {
                message.params = Some(params);
                self.to_call(&events, CallEvent::Notification(message));
            }
            Err(e) => self.bad_message(b"", &format!("notifications/progress params: {e}")),
        }
    }

    fn on_server_request(&self, message: Message, origin: Origin) {
        let Some(their_id) = message.id.clone() else {
            return;
        };
        if message.method.as_deref() == Some("ping") {
            let _ = self
                .out
                .try_send(Message::result(their_id, to_raw(&serde_json::json!({}))));
            return;
        }
        let (reply, answer) = oneshot::channel::<ServerReply>();
        let event = CallEvent::Request { message, reply };
        let undelivered = match self.attribute(origin) {
            Some((_, events)) => match events.deliver(event) {
                Ok(()) => None,
                Err(e) => {
                    self.meters.events_dropped.increment(1);
                    Some(e)
                }
            },
            None => Some(event),
        };
        if let Some(CallEvent::Request { message, reply }) = undelivered {
            let ident = &self.ident;
            let pool_event = PoolEvent::ServerRequest {
                pool: ident.pool,
                replica: ident.replica,
                message,
                reply,
            };
            if let Err(e) = self.pool_events.try_send(pool_event) {
                self.meters.events_dropped.increment(1);
                // Dropping the event drops `reply`: the task below answers with an error.
                drop(e);
            }
        }
        let out = self.out.clone();
        let key = their_id.get().to_owned();
        let (cancel, cancelled) = oneshot::channel::<()>();
        self.relayed.lock().insert(key.clone(), cancel);
        let relayed = self.relayed.clone();
        tokio::spawn(async move {
            let answer = tokio::select! {
                answer = answer => answer,
                // The upstream withdrew its request: no response may be sent.
                Ok(()) = cancelled => return,
            };
            relayed.lock().remove(&key);
            let answer = match answer {
                Ok(Ok(result)) => Message::result(their_id, result),
                Ok(Err(error)) => Message::raw_error(their_id, error),
                Err(_) => Message::error(
                    Some(their_id),
                    &ErrorObject::new(
                        code::INTERNAL_ERROR,
                        "vecgate could not relay this request to a client",
                    ),
                ),
            };
            let _ = out.send(answer).await;
        });
    }

    /// The call that a non-self-identifying message belongs to (see the module doc).
    fn attribute(&self, origin: Origin) -> Option<(u64, CallEventSink)> {
        match origin {
            Origin::Call(id) => self.events_of(id).map(|e| (id, e)),
            Origin::Unrelated => None,
            Origin::Unknown => {
                let table = self.pending.lock();
                table
                    .calls
                    .iter()
                    .filter(|(_, call)| !call.open)
                    .filter_map(|(id, call)| {
                        call.events
                            .as_ref()
                            .filter(|e| !e.is_closed())
                            .map(|e| (*id, e))
                    })
                    .max_by_key(|(id, _)| *id)
                    .map(|(id, e)| (id, e.clone()))
            }
        }
    }

    /// The call answered last, if within [`STRAGGLER_WINDOW`]; only for messages that name
    /// no request.
    fn last_answered(&self, origin: Origin) -> Option<Arc<dyn AfterCall>> {
        if matches!(origin, Origin::Call(_)) {
            return None;
        }
        let mut table = self.pending.lock();
        let now = Instant::now();
        while table
            .answered
            .front()
            .is_some_and(|a| now.duration_since(a.at) > STRAGGLER_WINDOW)
        {
            table.answered.pop_front();
        }
        table.answered.back().map(|a| a.after.clone())
    }

    /// The events of call `id`; none for an open request, whose own messages are routed by
    /// their subscription id ([`Mux::on_subscription_message`]).
    fn events_of(&self, id: u64) -> Option<CallEventSink> {
        self.pending
            .lock()
            .calls
            .get(&id)
            .filter(|c| !c.open)
            .and_then(|c| c.events.clone())
    }

    fn to_call(&self, events: &CallEventSink, event: CallEvent) {
        if events.deliver(event).is_err() {
            self.meters.events_dropped.increment(1);
        }
    }

    fn to_pool(&self, message: Message) {
        let event = PoolEvent::Notification {
            pool: self.ident.pool,
            replica: self.ident.replica,
            message,
        };
        if self.pool_events.try_send(event).is_err() {
            self.meters.events_dropped.increment(1);
        }
    }

    /// Mark every list stale and wake the refresher: list changes may have been missed (e.g.
    /// sent before the HTTP GET stream connected).
    pub(crate) fn mark_all_dirty(&self) {
        let bits = ListKind::ALL.iter().fold(0, |b, k| b | k.bit());
        self.dirty.fetch_or(bits, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// Take the set of lists invalidated since the last call.
    pub(crate) fn take_dirty(&self) -> Vec<ListKind> {
        let bits = self.dirty.swap(0, Ordering::AcqRel);
        ListKind::ALL
            .into_iter()
            .filter(|k| bits & k.bit() != 0)
            .collect()
    }

    /// Wait until some `list_changed` arrives.
    pub(crate) async fn list_changed(&self) {
        self.changed.notified().await
    }
}

/// A direct send that finishes on its own task if its caller stops polling it: the answer can
/// arrive before the rest of an SSE response, and a caller that gives up (deadline, client
/// cancel) must not cut the upstream connection mid-response. Unless `detach` is false (an
/// open request): then dropping it closes the response stream.
struct Detached {
    sending: Option<BoxFuture>,
    detach: bool,
}

impl Detached {
    fn is_pending(&self) -> bool {
        self.sending.is_some()
    }

    async fn run(&mut self) {
        if let Some(sending) = self.sending.as_mut() {
            sending.await;
            self.sending = None;
        }
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        // The sweeper holds only a weak reference: wake it so it sees the mux is gone
        // rather than sleeping out its wait.
        self.sweep_wake.notify_one();
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(sending) = self.sending.take()
            && self.detach
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(sending);
        }
    }
}

/// Sends `notifications/cancelled` for a request abandoned before its answer.
struct CancelOnDrop<'a> {
    mux: &'a Mux,
    id: u64,
    armed: bool,
}

impl CancelOnDrop<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let was_pending = self.mux.pending.lock().calls.remove(&self.id).is_some();
        if was_pending {
            self.mux.cancel_upstream(self.id, "cancelled by vecgate");
        }
    }
}

impl Mux {
    /// Tell the upstream that vecgate gave up on request `id` (`notifications/cancelled`),
    /// unless the session is closed or the upstream is stateless over HTTP (dropping the
    /// POST closed its stream, which is the cancellation there). Best effort: a full queue means the upstream is stalled
    /// anyway, and the drop is counted.
    fn cancel_upstream(&self, id: u64, reason: &str) {
        // A stateless HTTP upstream was told by its stream closing.
        if self.is_closed() || self.cancel_by_close.load(Ordering::Relaxed) {
            return;
        }
        let params = serde_json::json!({"requestId": id, "reason": reason});
        let cancel = Message::notification("notifications/cancelled", Some(to_raw(&params)));
        if self.out.try_send(cancel).is_err() {
            self.meters.events_dropped.increment(1);
        }
    }
}

mod deadline;
mod meta;
mod open;

#[cfg(test)]
mod tests;
