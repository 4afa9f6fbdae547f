//! One replica: one MCP session with one upstream (a spawned process or one URL), shared by
//! every client session the gateway routes to it.
//!
//! A [`Replica`] outlives its connections: the supervisor replaces the connection after a
//! crash, a failed health check or an idle stop, and callers keep the same handle.

use crate::catalog::{Catalog, ServerInfo};
use crate::config::PoolSpec;
pub use crate::error::CallError;
use crate::jsonrpc::Message;
use crate::listen::{self, ListChanges, UpstreamListen};
use crate::mux::{Mux, ReplicaIdent};
use crate::transport::Opened;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The answer to a server→client request: the raw `result`, or a raw JSON-RPC error object.
pub type ServerReply = Result<Box<RawValue>, Box<RawValue>>;

/// One upstream request.
#[derive(Debug)]
pub struct Call {
    /// The method (`tools/call`, `resources/read`, …); borrowed when it is a literal, so
    /// the common methods cost no allocation per call.
    pub method: Cow<'static, str>,
    /// Raw params; a `_meta.progressToken` in them is rewritten upstream and restored on the
    /// progress notifications sent back through `events`.
    pub params: Option<Box<RawValue>>,
    /// Where progress, log messages and server→client requests caused by this call go. With
    /// `None` they are dropped (server requests are then answered with an error).
    pub events: Option<CallEventSink>,
    /// Deadline; the pool's `request_timeout` when `None`.
    pub timeout: Option<Duration>,
    /// Where the call's stragglers go once its answer is in (see [`AfterCall`]); with `None`
    /// they are treated as unsolicited.
    pub after: Option<Arc<dyn AfterCall>>,
}

/// How long after a call's answer a log line that names no request is still taken to be the
/// call's. Streamable HTTP servers (rmcp among them) send a call's log lines on the GET
/// stream, which races the call's POST answer through vecgate: what the server wrote first can
/// arrive second. The MCP conformance suite waits 200 ms for such lines; so does this.
pub const STRAGGLER_WINDOW: Duration = Duration::from_millis(250);

/// Receives a call's stragglers: `notifications/message` lines that arrived within
/// [`STRAGGLER_WINDOW`] after the call's answer, with no call of any session in flight on the
/// replica to claim them. The gateway hands them to the client session that made the call.
pub trait AfterCall: Send + Sync {
    /// One straggling log line, as the upstream sent it.
    fn straggler(&self, message: Message);
}

impl std::fmt::Debug for dyn AfterCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterCall")
    }
}

/// Something the upstream sent about one in-flight [`Call`].
#[derive(Debug)]
pub enum CallEvent {
    /// A notification related to the call: `notifications/progress` (with the caller's
    /// original `progressToken`), `notifications/message`, …
    Notification(Message),
    /// A server→client request (`sampling/createMessage`, `elicitation/create`,
    /// `roots/list`) caused by the call. `message.id` is the upstream's id: give the client
    /// its own. Send the answer through `reply`; dropping `reply` answers with an error.
    Request {
        /// The request as the upstream sent it.
        message: Message,
        /// Where the answer goes; vecgate writes it upstream under the upstream's id.
        reply: oneshot::Sender<ServerReply>,
    },
}

/// Takes the [`CallEvent`]s of one call, as the replica's reader delivers them: without
/// blocking and in the order the upstream sent them.
///
/// A channel sender is one (the caller reads a receiver); the gateway implements it directly
/// so an event goes to the client's stream without a second hop through a per-call channel.
pub trait CallEvents: Send + Sync {
    /// Take `event` now, or hand it back (the receiver is full or gone): the replica then
    /// counts it as dropped, and a dropped server request is answered with an error.
    fn deliver(&self, event: CallEvent) -> Result<(), CallEvent>;

    /// Whether nobody will read this call's events any more; such a call is not chosen as
    /// the owner of an unattributed message.
    fn is_closed(&self) -> bool;
}

/// Where one call's events go.
pub type CallEventSink = Arc<dyn CallEvents>;

impl std::fmt::Debug for dyn CallEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallEvents")
    }
}

impl CallEvents for mpsc::Sender<CallEvent> {
    fn deliver(&self, event: CallEvent) -> Result<(), CallEvent> {
        self.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
        })
    }

    fn is_closed(&self) -> bool {
        mpsc::Sender::is_closed(self)
    }
}

/// The lifecycle of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    /// Spawning or connecting, handshaking, fetching the catalog.
    Starting,
    /// Serving requests.
    Ready,
    /// Failed; waiting for its restart backoff.
    Down,
    /// Stopped after `idle_timeout` without calls; the next call starts it again.
    Idle,
    /// Shut down for good.
    Stopped,
}

/// One live MCP session of a replica; replaced on every restart.
pub(crate) struct Connection {
    pub(crate) mux: Arc<Mux>,
    pub(crate) server: Arc<ServerInfo>,
    pid: Option<u32>,
    transport: Mutex<Option<JoinHandle<()>>>,
}

impl Connection {
    pub(crate) fn new(mux: Arc<Mux>, server: Arc<ServerInfo>, opened: Opened) -> Connection {
        Connection {
            mux,
            server,
            pid: opened.pid,
            transport: Mutex::new(Some(opened.task)),
        }
    }

    /// Close the session and wait (bounded) for the transport to finish, child reaped.
    pub(crate) async fn shutdown(&self, reason: &str) {
        self.mux.close(reason);
        let task = self.transport.lock().take();
        if let Some(task) = task {
            // The stdio transport needs at most its grace period plus a kill to finish.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Also covers a handshake abandoned half-way: the transport sees the cancellation and
        // kills its child.
        self.mux.close("replica stopped");
    }
}

/// One replica of a pool. Cheap to share (`Arc<Replica>`).
pub struct Replica {
    ident: ReplicaIdent,
    spec: Arc<PoolSpec>,
    state: watch::Sender<ReplicaState>,
    connection: RwLock<Option<Arc<Connection>>>,
    catalog: RwLock<Option<Arc<Catalog>>>,
    inflight: AtomicU32,
    /// Wakes the supervisor of an idle replica.
    pub(crate) wake: Notify,
    /// When the last call started (ms after `born`), for idle reaping. An atomic, not a
    /// lock: every call writes it, from whichever worker runs it.
    last_call_ms: AtomicU64,
    born: Instant,
    last_error: Mutex<Option<String>>,
    /// Resource subscriptions when the upstream is stateless (see [`crate::listen`]).
    listen: Arc<UpstreamListen>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("pool", &self.ident.pool_name)
            .field("index", &self.ident.replica)
            .field("state", &self.state())
            .field("inflight", &self.inflight())
            .finish()
    }
}

impl Replica {
    pub(crate) fn new(ident: ReplicaIdent, spec: Arc<PoolSpec>) -> Replica {
        Replica {
            ident,
            spec,
            state: watch::Sender::new(ReplicaState::Starting),
            connection: RwLock::new(None),
            catalog: RwLock::new(None),
            inflight: AtomicU32::new(0),
            wake: Notify::new(),
            last_call_ms: AtomicU64::new(0),
            born: Instant::now(),
            last_error: Mutex::new(None),
            listen: Arc::default(),
        }
    }

    /// The replica's index in its pool.
    pub fn index(&self) -> u32 {
        self.ident.replica
    }

    /// The current state.
    pub fn state(&self) -> ReplicaState {
        *self.state.borrow()
    }

    /// Whether the replica serves requests now.
    pub fn is_ready(&self) -> bool {
        self.state() == ReplicaState::Ready
    }

    /// Calls in progress through this handle (including those waiting for an idle replica to
    /// start).
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// What the upstream said in the handshake; `None` until the replica is ready.
    pub fn server(&self) -> Option<Arc<ServerInfo>> {
        self.connection.read().as_ref().map(|c| c.server.clone())
    }

    /// Whether the replica's upstream speaks the stateless 2026-07-28 revision (false until it
    /// is ready). Cheaper than [`Replica::server`]: no handle is cloned.
    pub fn is_stateless(&self) -> bool {
        self.connection
            .read()
            .as_ref()
            .is_some_and(|c| c.server.stateless)
    }

    /// The process id of a ready stdio replica's child (for operators and tests).
    pub fn pid(&self) -> Option<u32> {
        self.connection.read().as_ref().and_then(|c| c.pid)
    }

    /// The replica's catalog; `None` until it is ready.
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog.read().clone()
    }

    /// Why the replica last failed to start or went down, for operators.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// A receiver of state changes (e.g. to wait for readiness).
    pub fn watch_state(&self) -> watch::Receiver<ReplicaState> {
        self.state.subscribe()
    }

    /// Send one request and return its raw `result`.
    ///
    /// Dropping the future before it completes cancels the request upstream
    /// (`notifications/cancelled`). If the replica is idle-stopped it is started first; a
    /// replica that is down fails at once with [`CallError::Unavailable`] so the router can
    /// pick another.
    ///
    /// On a stateless (2026-07-28) upstream, which has no `resources/subscribe`,
    /// `resources/subscribe` and `resources/unsubscribe` change the replica's upstream
    /// `subscriptions/listen` instead (see [`crate::listen`]); the answer is the same as an
    /// old upstream's: success once the upstream acknowledged the URI.
    pub async fn call(&self, call: Call) -> Result<Box<RawValue>, CallError> {
        let timeout = call.timeout.unwrap_or(self.spec.request_timeout);
        let started = Instant::now();
        let _inflight = InflightGuard::enter(&self.inflight);
        self.mark_call(started);
        // The whole deadline when connected (the common case: no clock read), else what is
        // left after waiting for the replica to start.
        let (connection, left) = match self.connection() {
            Some(connection) => (connection, timeout),
            None => {
                let connection = self.connection_within(timeout).await?;
                (connection, timeout.saturating_sub(started.elapsed()))
            }
        };
        if connection.server.stateless && listen::is_subscription_method(&call.method) {
            return self
                .listen
                .change(&connection.mux, &call.method, call.params.as_deref(), left)
                .await;
        }
        match connection
            .mux
            .request(call.method, call.params, call.events, call.after, left)
            .await
        {
            // Report the caller's deadline, not what was left of it after waiting for a start.
            Err(CallError::Timeout {
                pool,
                replica,
                method,
                ..
            }) => Err(CallError::Timeout {
                pool,
                replica,
                method,
                after: timeout,
            }),
            other => other,
        }
    }

    /// Send one notification (e.g. `notifications/roots/list_changed`).
    pub async fn notify(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
    ) -> Result<(), CallError> {
        let connection = self.connection().ok_or_else(|| self.unavailable())?;
        connection.mux.notify(method, params).await
    }

    pub(crate) fn connection(&self) -> Option<Arc<Connection>> {
        self.connection.read().clone()
    }

    async fn connection_within(&self, timeout: Duration) -> Result<Arc<Connection>, CallError> {
        if let Some(connection) = self.connection() {
            return Ok(connection);
        }
        let mut states = self.state.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let state = *states.borrow_and_update();
                match state {
                    ReplicaState::Ready => {
                        if let Some(connection) = self.connection() {
                            return Some(connection);
                        }
                    }
                    ReplicaState::Idle => self.wake.notify_one(),
                    ReplicaState::Starting => {}
                    ReplicaState::Down | ReplicaState::Stopped => return None,
                }
                if states.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match waited {
            Ok(Some(connection)) => Ok(connection),
            Ok(None) | Err(_) => Err(self.unavailable()),
        }
    }

    fn unavailable(&self) -> CallError {
        let reason = match (self.state(), self.last_error()) {
            (ReplicaState::Down, Some(e)) => format!("down ({e})"),
            (state, _) => format!("not ready ({state:?})"),
        };
        CallError::Unavailable {
            pool: self.ident.pool_name.to_string(),
            replica: self.ident.replica,
            reason,
        }
    }

    // === supervisor side ===

    /// The spec this replica was started from (its pool's, at the time it was added).
    pub(crate) fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    pub(crate) fn ident(&self) -> &ReplicaIdent {
        &self.ident
    }

    pub(crate) fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_call_ms.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(last)
    }

    fn mark_call(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.born).as_millis() as u64;
        self.last_call_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn set_state(&self, state: ReplicaState) -> bool {
        self.state
            .send_if_modified(|s| std::mem::replace(s, state) != state)
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        *self.last_error.lock() = error;
    }

    pub(crate) fn install(&self, connection: Arc<Connection>, catalog: Arc<Catalog>) {
        *self.catalog.write() = Some(catalog);
        if connection.server.stateless {
            // A new connection holds no listen: open it for the list changes the server
            // advertises and the URIs still wanted.
            let lists = ListChanges::advertised(&connection.server);
            self.listen
                .connected(&connection.mux, lists, self.spec.request_timeout);
        }
        *self.connection.write() = Some(connection);
        // Idle time counts from readiness, not from the previous life.
        self.mark_call(Instant::now());
    }

    /// Whether the upstream listen carries resource subscriptions (see [`crate::listen`]).
    pub(crate) fn listen_holds_subscriptions(&self) -> bool {
        self.listen.holds_subscriptions()
    }

    pub(crate) fn set_catalog(&self, catalog: Arc<Catalog>) {
        *self.catalog.write() = Some(catalog);
    }

    pub(crate) fn uninstall(&self) -> Option<Arc<Connection>> {
        *self.catalog.write() = None;
        self.connection.write().take()
    }
}

struct InflightGuard<'a>(&'a AtomicU32);

impl<'a> InflightGuard<'a> {
    fn enter(counter: &'a AtomicU32) -> InflightGuard<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InflightGuard(counter)
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
