//! A pool: the replicas of one upstream MCP server, each under its own supervisor.
//!
//! [`Pool::start`] returns at once; replicas come up in the background and report through
//! the pool's [`PoolEvent`] channel. A pool whose upstream cannot start keeps retrying with
//! backoff and never blocks or panics the process.

use crate::config::{PoolSpec, UpstreamIdentity};
use crate::jsonrpc::Message;
use crate::mux::ReplicaIdent;
use crate::replica::{Replica, ReplicaState, ServerReply};
use crate::supervisor::{self, PoolContext};
use crate::telemetry::Meters;
use crate::transport::http;
use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::catalog::{Catalog, CatalogItem, ListKind, ServerInfo, ToolHints};

/// What the gateway must learn of at once, on the replica's own reader, rather than through
/// the [`PoolEvent`] channel: a channel can be full (events are then dropped) and is read by
/// another task, so a cache invalidated from it could still serve a stale answer after the
/// write that changed it has been answered.
pub trait PoolObserver: Send + Sync {
    /// A replica sent `notifications/resources/updated` for `uri`. Called before the replica's
    /// next message is read, so over stdio before the answer to the call that caused it.
    fn resource_updated(&self, pool: u32, replica: u32, uri: &str);
    /// A replica finished its handshake on a new connection (a start or a restart), and has
    /// not served a call on it yet: whatever it was subscribed to before is gone.
    fn replica_connected(&self, pool: u32, replica: u32);
}

/// Something a pool tells the gateway that is not the answer to a call.
#[derive(Debug)]
pub enum PoolEvent {
    /// A notification not tied to any call: `notifications/resources/updated`, a log message
    /// sent while no call was in flight, anything from the HTTP GET stream, …
    Notification {
        /// The pool's index.
        pool: u32,
        /// The replica's index.
        replica: u32,
        /// The notification as the upstream sent it.
        message: Message,
    },
    /// A server→client request not attributable to any call. Answer through `reply`
    /// (dropping it answers the upstream with an error).
    ServerRequest {
        /// The pool's index.
        pool: u32,
        /// The replica's index.
        replica: u32,
        /// The request, with the upstream's id.
        message: Message,
        /// Where the answer goes.
        reply: oneshot::Sender<ServerReply>,
    },
    /// The pool's catalog changed: a `list_changed` refresh, its first replica became ready,
    /// or its last ready replica went away.
    CatalogChanged {
        /// The pool's index.
        pool: u32,
    },
    /// A replica changed state.
    ReplicaState {
        /// The pool's index.
        pool: u32,
        /// The replica's index.
        replica: u32,
        /// The new state.
        state: ReplicaState,
    },
}

/// The replicas of one upstream server.
pub struct Pool {
    ctx: Arc<PoolContext>,
    /// What callers route over: replaced whole by [`Pool::resize`], so a reader sees one
    /// consistent set for as long as it holds the guard.
    replicas: ArcSwap<Vec<Arc<Replica>>>,
    /// The spec of the current replica set (`ctx.spec` is the one the pool started with; the
    /// two differ at most in the replica set).
    current: ArcSwap<PoolSpec>,
    /// Every routable replica's supervisor.
    members: Mutex<Vec<Member>>,
    /// Removed replicas still draining, by index: the task that stops each one. A replica
    /// added later at the same index starts only after it (see [`Pool::resize`]).
    retiring: Mutex<HashMap<u32, JoinHandle<()>>>,
}

/// One replica's supervisor and the token that stops it alone.
struct Member {
    replica: Arc<Replica>,
    stop: CancellationToken,
    supervisor: JoinHandle<()>,
}

/// Why [`Pool::resize`] refused a spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResizeError {
    /// The new spec differs in more than the replica set.
    #[error("pool {0:?}: only the replica set can change in place")]
    NotResizable(String),
    /// No replica would be left.
    #[error("pool {0:?}: a pool needs at least one replica")]
    Empty(String),
}

/// What [`Pool::resize`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resized {
    /// Replicas before.
    pub from: u32,
    /// Replicas after.
    pub to: u32,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("index", &self.ctx.index)
            .field("name", &self.ctx.spec.name)
            .field("replicas", &**self.replicas.load())
            .finish()
    }
}

impl Pool {
    /// Start a pool: one supervisor task per replica. Returns at once; must be called inside
    /// a Tokio runtime. `events` should be drained promptly: notifications and server
    /// requests that do not fit are dropped (and counted).
    pub fn start(
        index: u32,
        spec: PoolSpec,
        identity: UpstreamIdentity,
        events: mpsc::Sender<PoolEvent>,
    ) -> Arc<Pool> {
        Pool::start_observed(index, spec, identity, events, None)
    }

    /// [`Pool::start`], with an observer told of resource updates and reconnections as they
    /// happen (see [`PoolObserver`]).
    pub fn start_observed(
        index: u32,
        spec: PoolSpec,
        identity: UpstreamIdentity,
        events: mpsc::Sender<PoolEvent>,
        observer: Option<Arc<dyn PoolObserver>>,
    ) -> Arc<Pool> {
        let spec = Arc::new(spec);
        let ctx = Arc::new(PoolContext {
            index,
            spec: spec.clone(),
            identity,
            events,
            observer,
            client: http::HttpClient::new(),
            shutdown: CancellationToken::new(),
            ready: watch::Sender::new(0),
            meters: Meters::new(&spec.name),
        });
        let members: Vec<Member> = (0..spec.transport.replica_count())
            .map(|replica| spawn_member(&ctx, &spec, replica, None))
            .collect();
        let replicas = members.iter().map(|m| m.replica.clone()).collect();
        Arc::new(Pool {
            ctx,
            replicas: ArcSwap::from_pointee(replicas),
            current: ArcSwap::new(spec),
            members: Mutex::new(members),
            retiring: Mutex::new(HashMap::new()),
        })
    }

    /// Change the replica set in place: a stdio pool's `replicas` count, or an HTTP or SSE
    /// pool's URL list when one list is the other with URLs appended or removed at the end.
    /// The pool keeps its index, so what the gateway learned about the replicas that stay
    /// (routing statistics, cached answers, subscriptions) stays valid.
    ///
    /// New replicas start in the background, as at [`Pool::start`]. Removed ones (the
    /// highest indices) leave the routable set at once; their calls in flight may finish
    /// for up to the pool's request timeout, then they stop. A replica added at an index
    /// whose previous holder is still draining (a shrink followed at once by a grow) is
    /// routable but not ready until that holder has stopped: two live replicas never share
    /// an index, which names them in routing statistics, sessions and server requests.
    pub fn resize(&self, spec: PoolSpec) -> Result<Resized, ResizeError> {
        let name = || self.ctx.spec.name.clone();
        let current = self.current.load_full();
        if !same_but_replicas(&current, &spec) {
            return Err(ResizeError::NotResizable(name()));
        }
        let (from, to) = (
            current.transport.replica_count(),
            spec.transport.replica_count(),
        );
        if to == 0 {
            return Err(ResizeError::Empty(name()));
        }
        let spec = Arc::new(spec);
        let mut members = self.members.lock();
        let mut retiring = self.retiring.lock();
        retiring.retain(|_, task| !task.is_finished());
        let mut replicas: Vec<Arc<Replica>> = self.replicas.load().iter().cloned().collect();
        let leaving: Vec<Arc<Replica>> = replicas.split_off((to as usize).min(replicas.len()));
        for index in from..to {
            let member = spawn_member(&self.ctx, &spec, index, retiring.remove(&index));
            replicas.push(member.replica.clone());
            members.push(member);
        }
        self.replicas.store(Arc::new(replicas));
        self.current.store(spec);
        // A new replica may have come up before it joined the routable set: wake
        // `wait_ready` to count again.
        self.ctx.ready.send_modify(|_| {});
        let timeout = self.ctx.spec.request_timeout;
        for replica in leaving {
            let Some(at) = members
                .iter()
                .position(|m| Arc::ptr_eq(&m.replica, &replica))
            else {
                continue;
            };
            let member = members.swap_remove(at);
            let index = member.replica.index();
            retiring.insert(index, tokio::spawn(retire(member, timeout)));
        }
        Ok(Resized { from, to })
    }

    /// The pool's index (its position in the gateway's config).
    pub fn index(&self) -> u32 {
        self.ctx.index
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.ctx.spec.name
    }

    /// The spec the pool was started with. Its settings (timeouts, affinity, slots) never
    /// change in place; its replica set may have ([`Pool::resize`]): [`Pool::replicas`] is the
    /// current one.
    pub fn spec(&self) -> &PoolSpec {
        &self.ctx.spec
    }

    /// The routable replicas, ready or not, in index order (a consistent set: a concurrent
    /// [`Pool::resize`] publishes a new one).
    pub fn replicas(&self) -> Guard<Arc<Vec<Arc<Replica>>>> {
        self.replicas.load()
    }

    /// The catalog of a ready replica (replicas are interchangeable); `None` while none is.
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.replicas
            .load()
            .iter()
            .filter(|r| r.is_ready())
            .find_map(|r| r.catalog())
    }

    /// How many routable replicas are ready now. A replica a [`Pool::resize`] removed is not
    /// counted while it drains its calls in flight, although it still answers them.
    pub fn ready_count(&self) -> u32 {
        let ready = self.replicas.load().iter().filter(|r| r.is_ready()).count();
        u32::try_from(ready).unwrap_or(u32::MAX)
    }

    /// Wait until at least one routable replica is ready ([`Pool::ready_count`]); false if
    /// none is within `timeout`. A replica a resize removed does not count while it drains.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ctx.ready.subscribe();
        // The supervisors' counter changes whenever any replica, routable or draining, comes
        // up or goes down, so it is the wake-up; the routable set is what is counted.
        matches!(
            tokio::time::timeout(timeout, ready.wait_for(|_| self.ready_count() > 0)).await,
            Ok(Ok(_))
        )
    }

    /// Stop every replica: calls in flight fail with `Unavailable`, children are closed,
    /// killed if they linger, and reaped.
    pub async fn shutdown(&self) {
        self.ctx.shutdown.cancel();
        let members = std::mem::take(&mut *self.members.lock());
        let retiring = std::mem::take(&mut *self.retiring.lock());
        for member in members {
            let _ = member.supervisor.await;
        }
        for (_, task) in retiring {
            let _ = task.await;
        }
    }
}

/// A replica of `spec` at `index`, under a supervisor of its own. With `predecessor` (the
/// task stopping a removed replica that had this index), the supervisor waits for it first.
fn spawn_member(
    ctx: &Arc<PoolContext>,
    spec: &Arc<PoolSpec>,
    index: u32,
    predecessor: Option<JoinHandle<()>>,
) -> Member {
    let ident = ReplicaIdent {
        pool: ctx.index,
        replica: index,
        pool_name: Arc::from(spec.name.as_str()),
    };
    let replica = Arc::new(Replica::new(ident, spec.clone()));
    // A child of the pool's token: the pool's shutdown stops it too.
    let stop = ctx.shutdown.child_token();
    let supervised = supervisor::supervise(replica.clone(), ctx.clone(), stop.clone());
    let supervisor = match predecessor {
        None => tokio::spawn(supervised),
        Some(predecessor) => tokio::spawn(async move {
            // Always awaited, even when this replica is stopped meanwhile, so whoever waits
            // for this supervisor (a shutdown) also waits for the old process. A supervisor
            // whose token is already cancelled only marks its replica stopped.
            let _ = predecessor.await;
            supervised.await;
        }),
    };
    Member {
        replica,
        stop,
        supervisor,
    }
}

/// Pause before a removed replica's in-flight count is trusted: a call that loaded the old
/// replica set just before the resize may not have reached it yet.
const RETIRE_SETTLE: Duration = Duration::from_millis(200);
/// How often a removed replica's in-flight count is checked.
const RETIRE_POLL: Duration = Duration::from_millis(50);

/// Let a removed replica's calls finish (up to `timeout`), then stop it.
async fn retire(member: Member, timeout: Duration) {
    tokio::time::sleep(RETIRE_SETTLE).await;
    let deadline = tokio::time::Instant::now() + timeout;
    while member.replica.inflight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(RETIRE_POLL).await;
    }
    member.stop.cancel();
    let _ = member.supervisor.await;
    tracing::info!(pool = %member.replica.ident().pool_name, replica = member.replica.index(), "removed replica stopped");
}

/// Whether `a` and `b` differ at most in the replica set, and in a way [`Pool::resize`] can
/// apply: any stdio count, or URL lists of which one extends the other.
fn same_but_replicas(a: &PoolSpec, b: &PoolSpec) -> bool {
    use crate::config::TransportSpec::{Sse, Stdio, StreamableHttp};
    let prefix = |x: &[String], y: &[String]| x.starts_with(y) || y.starts_with(x);
    let transport = match (&a.transport, &b.transport) {
        (
            Stdio {
                command,
                args,
                env,
                cwd,
                replicas: _,
            },
            Stdio {
                command: c2,
                args: a2,
                env: e2,
                cwd: d2,
                replicas: _,
            },
        ) => command == c2 && args == a2 && env == e2 && cwd == d2,
        (
            StreamableHttp { urls, headers },
            StreamableHttp {
                urls: u2,
                headers: h2,
            },
        )
        | (
            Sse { urls, headers },
            Sse {
                urls: u2,
                headers: h2,
            },
        ) => headers == h2 && prefix(urls, u2),
        _ => false,
    };
    fn settings(s: &PoolSpec) -> impl PartialEq + '_ {
        (
            &s.name,
            s.request_timeout,
            s.init_timeout,
            s.idle_timeout,
            s.affinity,
            s.slots_per_replica,
            format!("{:?}", s.restart),
        )
    }
    transport && settings(a) == settings(b)
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Supervisors stop on their own; their children are killed on drop.
        self.ctx.shutdown.cancel();
    }
}
