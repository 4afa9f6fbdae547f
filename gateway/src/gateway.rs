//! The gateway object: pools, the aggregated catalog, sessions and the router, plus the task
//! that reacts to what pools report (catalog changes, unsolicited notifications).

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::config::UpstreamIdentity;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code, to_raw};
use vecgate_backends::pool::{Pool, PoolEvent};

use crate::catalog::{Aggregate, ListKind};
use crate::config::Config;
use crate::router::Router;
use crate::seal::Sealer;
use crate::session::SessionTable;

/// Capacity of the channel pools report events on; a pool waits when it is full, so it is
/// sized for bursts of notifications from many replicas.
const POOL_EVENT_CAPACITY: usize = 1024;

/// vecgate's name and version as it presents itself (serverInfo / clientInfo).
pub const NAME: &str = "vecgate";
/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The system random source failed (needed for session keys).
    #[error("cannot read system randomness: {0}")]
    Random(getrandom::Error),
    /// The routing policy is unknown or misconfigured.
    #[error("routing policy: {0}")]
    Policy(String),
}

/// The running gateway, shared by every front.
pub struct Gateway {
    /// The validated configuration.
    pub config: Config,
    /// The pools, indexed by their position in the config.
    pub pools: Vec<Arc<Pool>>,
    /// The aggregated catalog, swapped atomically on change.
    pub catalog: ArcSwap<Aggregate>,
    /// Client sessions.
    pub sessions: SessionTable,
    /// Replica selection.
    pub router: Router,
    /// Reusable answers of read-only tools.
    pub cache: crate::cache::AnswerCache,
}

impl Gateway {
    /// Start every pool and the event task. Returns at once; pools come up in the background
    /// (use [`Gateway::wait_ready`] to wait for them).
    pub fn start(config: Config) -> Result<Arc<Gateway>, StartError> {
        config.validate()?;
        let sealer = match config.session_key_bytes()? {
            Some(key) => Sealer::new(key),
            None => Sealer::random().map_err(StartError::Random)?,
        };
        let router = Router::new(&config).map_err(StartError::Policy)?;
        let (tx, rx) = mpsc::channel(POOL_EVENT_CAPACITY);
        let identity = UpstreamIdentity {
            client_info: serde_json::json!({ "name": NAME, "version": VERSION }),
            // vecgate relays these to its clients; a client that lacks one gets a clear error
            // for that request (see dispatch::relay_server_request).
            capabilities: serde_json::json!({
                "sampling": {},
                "elicitation": {},
                "roots": { "listChanged": true },
            }),
        };
        let pools = config
            .pool_specs()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Pool::start(i as u32, spec, identity.clone(), tx.clone()))
            .collect();
        let gateway = Arc::new(Gateway {
            config,
            pools,
            catalog: ArcSwap::from_pointee(Aggregate::default()),
            sessions: SessionTable::new(sealer),
            router,
            cache: crate::cache::AnswerCache::new(),
        });
        tokio::spawn(pool_events(Arc::downgrade(&gateway), rx));
        tokio::spawn(evict_idle_sessions(Arc::downgrade(&gateway)));
        Ok(gateway)
    }

    /// Wait until every pool has a ready replica or `timeout` passes; returns the names of
    /// pools still not ready. The endpoint serves either way.
    pub async fn wait_ready(&self, timeout: Duration) -> Vec<String> {
        let waits = self.pools.iter().map(|p| p.wait_ready(timeout));
        let ready = futures::future::join_all(waits).await;
        self.rebuild_catalog();
        self.pools
            .iter()
            .zip(ready)
            .filter(|(_, ok)| !ok)
            .map(|(p, _)| p.name().to_owned())
            .collect()
    }

    /// Rebuild the aggregated catalog from the pools' current catalogs. Returns the list kinds
    /// whose client-visible content changed.
    pub fn rebuild_catalog(&self) -> Vec<ListKind> {
        let parts: Vec<_> = self
            .pools
            .iter()
            .map(|p| (p.index(), p.name(), p.catalog()))
            .collect();
        let fresh = Aggregate::build(&parts, self.config.namespace);
        let old = self.catalog.load();
        let changed = [
            ListKind::Tools,
            ListKind::Resources,
            ListKind::ResourceTemplates,
            ListKind::Prompts,
        ]
        .into_iter()
        .filter(|k| old.fingerprint(*k) != fresh.fingerprint(*k))
        .collect();
        self.catalog.store(Arc::new(fresh));
        changed
    }

    /// Stop every pool (children are killed, not orphaned).
    /// Then stop the learner and write its snapshot when `state_dir` is set.
    pub async fn shutdown(&self) {
        futures::future::join_all(self.pools.iter().map(|p| p.shutdown())).await;
        match self.router.persist() {
            Ok(Some(path)) => tracing::info!(path = %path.display(), "learned state saved"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "learned state not saved"),
        }
    }

    /// The `initialize` result vecgate answers with.
    pub fn initialize_result(
        &self,
        version: crate::protocol::Version,
    ) -> Box<serde_json::value::RawValue> {
        to_raw(&serde_json::json!({
            "protocolVersion": version.as_str(),
            "capabilities": {
                "tools": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "prompts": { "listChanged": true },
                "logging": {},
                "completions": {},
            },
            "serverInfo": { "name": NAME, "title": "vecgate MCP gateway", "version": VERSION },
            "instructions": "vecgate aggregates the tools, resources and prompts of several MCP servers behind one endpoint.",
        }))
    }
}

/// React to pool events until the gateway is dropped.
async fn pool_events(gateway: std::sync::Weak<Gateway>, mut rx: mpsc::Receiver<PoolEvent>) {
    while let Some(event) = rx.recv().await {
        let Some(gw) = gateway.upgrade() else { return };
        match event {
            PoolEvent::CatalogChanged { pool } => {
                gw.cache.invalidate_pool(pool);
                for kind in gw.rebuild_catalog() {
                    let method = match kind {
                        ListKind::Tools => "notifications/tools/list_changed",
                        ListKind::Prompts => "notifications/prompts/list_changed",
                        ListKind::Resources | ListKind::ResourceTemplates => {
                            "notifications/resources/list_changed"
                        }
                    };
                    for session in gw.sessions.all() {
                        session.push(Message::notification(method, None));
                    }
                    metrics::counter!("vecgate_list_changed_total", "list" => kind.field())
                        .increment(1);
                }
            }
            PoolEvent::Notification {
                pool,
                replica,
                message,
            } => {
                crate::dispatch::relay_unsolicited(&gw, pool, replica, message);
            }
            PoolEvent::ServerRequest {
                pool,
                replica,
                message,
                reply,
            } => {
                tracing::debug!(pool, replica, method = ?message.method, "server request with no client to relay to");
                let err = ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    "vecgate cannot relay a server request that is not tied to a client request",
                );
                let _ = reply.send(Err(err.to_raw()));
            }
            PoolEvent::ReplicaState {
                pool,
                replica,
                state,
            } => {
                tracing::info!(pool, replica, ?state, "replica state");
            }
        }
    }
}

async fn evict_idle_sessions(gateway: std::sync::Weak<Gateway>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let Some(gw) = gateway.upgrade() else { return };
        let n = gw.sessions.evict_idle();
        if n > 0 {
            tracing::debug!(evicted = n, "idle sessions dropped from the local cache");
        }
    }
}
