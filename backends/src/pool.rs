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
use parking_lot::Mutex;
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
    replicas: Vec<Arc<Replica>>,
    supervisors: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("index", &self.ctx.index)
            .field("name", &self.ctx.spec.name)
            .field("replicas", &self.replicas)
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
        let pool_name: Arc<str> = Arc::from(spec.name.as_str());
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
        let replicas: Vec<Arc<Replica>> = (0..spec.transport.replica_count())
            .map(|replica| {
                let ident = ReplicaIdent {
                    pool: index,
                    replica,
                    pool_name: pool_name.clone(),
                };
                Arc::new(Replica::new(ident, spec.clone()))
            })
            .collect();
        let supervisors = replicas
            .iter()
            .map(|replica| tokio::spawn(supervisor::supervise(replica.clone(), ctx.clone())))
            .collect();
        Arc::new(Pool {
            ctx,
            replicas,
            supervisors: Mutex::new(supervisors),
        })
    }

    /// The pool's index (its position in the gateway's config).
    pub fn index(&self) -> u32 {
        self.ctx.index
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.ctx.spec.name
    }

    /// The spec the pool was started with.
    pub fn spec(&self) -> &PoolSpec {
        &self.ctx.spec
    }

    /// All replicas, ready or not, in index order.
    pub fn replicas(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    /// The catalog of a ready replica (replicas are interchangeable); `None` while none is.
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.replicas
            .iter()
            .filter(|r| r.is_ready())
            .find_map(|r| r.catalog())
    }

    /// How many replicas are ready now.
    pub fn ready_count(&self) -> u32 {
        *self.ctx.ready.borrow()
    }

    /// Wait until at least one replica is ready; false if none is within `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ctx.ready.subscribe();
        matches!(
            tokio::time::timeout(timeout, ready.wait_for(|n| *n > 0)).await,
            Ok(Ok(_))
        )
    }

    /// Stop every replica: calls in flight fail with `Unavailable`, children are closed,
    /// killed if they linger, and reaped.
    pub async fn shutdown(&self) {
        self.ctx.shutdown.cancel();
        let supervisors = std::mem::take(&mut *self.supervisors.lock());
        for supervisor in supervisors {
            let _ = supervisor.await;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Supervisors stop on their own; their children are killed on drop.
        self.ctx.shutdown.cancel();
    }
}
