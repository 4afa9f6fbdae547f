//! The gateway object: pools, the aggregated catalog, sessions and the router, plus the task
//! that reacts to what pools report (catalog changes, unsolicited notifications).
//!
//! What a reload can change (pools, auth, cache settings, …) lives in one [`Live`] value,
//! swapped atomically by [`crate::reload`]; a request sees either the old or the new one,
//! never a mix. Pool indices are never reused: a pool added or replaced by a reload gets a
//! fresh index, so a route, cache entry or subscription of a pool that is gone finds nothing
//! instead of reaching its successor.

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use vecgate_backends::config::UpstreamIdentity;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code, to_raw};
use vecgate_backends::pool::{Pool, PoolEvent};

use crate::auth::Authenticator;
use crate::cache::AnswerCache;
use crate::cache::announced::CacheObserver;
use crate::catalog::{Aggregate, ListKind};
use crate::config::{CacheInvalidation, Config, PoolConfig};
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

/// One pool as the gateway runs it: the pool and the config entry it was started from.
pub struct LivePool {
    /// The running pool.
    pub pool: Arc<Pool>,
    /// Its `[[pool]]` entry (cache settings are read from here).
    pub config: PoolConfig,
}

/// Everything a reload replaces at once.
pub struct Live {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The pools, in config order.
    pub pools: Vec<LivePool>,
    /// Client and admin authentication built from `config`.
    pub auth: Authenticator,
}

impl Live {
    /// The pool with this index, if it is still configured.
    pub fn pool(&self, index: u32) -> Option<&Arc<Pool>> {
        self.entry(index).map(|p| &p.pool)
    }

    /// The pool and its config entry.
    pub fn entry(&self, index: u32) -> Option<&LivePool> {
        // A handful of pools: a scan beats a map.
        self.pools.iter().find(|p| p.pool.index() == index)
    }

    /// Every pool, in config order.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.pools.iter().map(|p| &p.pool)
    }

    /// Whether `pool` runs with `cache_invalidation = "announced"`.
    pub fn announces_updates(&self, pool: u32) -> bool {
        self.entry(pool)
            .is_some_and(|p| p.config.cache_invalidation == CacheInvalidation::Announced)
    }

    /// How a tool of `pool` may be cached: (operator opt-in via `cacheable_tools`, shared
    /// between principals via `shared_tools`).
    pub fn tool_cache_policy(&self, pool: u32, upstream_tool: &str) -> (bool, bool) {
        self.entry(pool).map_or((false, false), |p| {
            let listed = |list: &[String]| list.iter().any(|t| t == upstream_tool);
            (
                listed(&p.config.cacheable_tools),
                listed(&p.config.shared_tools),
            )
        })
    }
}

/// Where [`crate::reload`] re-reads the configuration from.
#[derive(Clone, Debug)]
pub struct ReloadSource {
    /// The `--config` file.
    pub path: PathBuf,
    /// A `--listen` given on the command line, which wins over the file's `listen`.
    pub listen_override: Option<String>,
}

/// The running gateway, shared by every front.
pub struct Gateway {
    /// The configuration the gateway started with. Settings that need a restart (`listen`,
    /// `session_key`, `max_body_bytes`, `state_dir`) are read from here; everything a
    /// reload may change is read from [`Gateway::live`].
    pub config: Config,
    live: ArcSwap<Live>,
    /// The aggregated catalog, swapped atomically on change.
    pub catalog: ArcSwap<Aggregate>,
    /// Serializes catalog rebuilds: each reads the live pools inside it, so the last rebuild
    /// to store is one that saw the latest pools (see [`Gateway::rebuild_catalog`]).
    catalog_rebuild: Mutex<()>,
    /// Client sessions.
    pub sessions: SessionTable,
    /// Replica selection.
    pub router: Router,
    /// Reusable answers of read-only tools (shared with each pool's [`CacheObserver`]).
    pub cache: Arc<AnswerCache>,
    /// Per-request counters (registered once; see [`crate::meters`]).
    pub meters: crate::meters::RequestMeters,
    /// Where pools report; every pool started later gets a clone.
    events: mpsc::Sender<PoolEvent>,
    /// How vecgate presents itself to upstreams.
    identity: UpstreamIdentity,
    /// The next pool index (never reused).
    next_pool: AtomicU32,
    /// Pools removed or replaced by a reload that are still finishing their calls.
    pub(crate) retired: Mutex<Vec<Arc<Pool>>>,
    /// Serializes reloads.
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
    /// The file reloads read (none: the embedded default, which cannot be reloaded).
    pub(crate) reload_source: Option<ReloadSource>,
}

impl Gateway {
    /// Start every pool and the event task. Returns at once; pools come up in the background
    /// (use [`Gateway::wait_ready`] to wait for them).
    pub fn start(config: Config) -> Result<Arc<Gateway>, StartError> {
        Gateway::start_reloadable(config, None)
    }

    /// [`Gateway::start`], remembering the file that `SIGHUP` and `POST /admin/reload` re-read.
    pub fn start_reloadable(
        config: Config,
        reload_source: Option<ReloadSource>,
    ) -> Result<Arc<Gateway>, StartError> {
        config.validate()?;
        let auth = Authenticator::from_config(&config)?;
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
        let cache = Arc::new(AnswerCache::new());
        let pools = config
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| start_pool(i as u32, p, &identity, &tx, &cache))
            .collect();
        let live = Live {
            config: Arc::new(config.clone()),
            pools,
            auth,
        };
        let gateway = Arc::new(Gateway {
            next_pool: AtomicU32::new(config.pools.len() as u32),
            config,
            live: ArcSwap::from_pointee(live),
            catalog: ArcSwap::from_pointee(Aggregate::default()),
            sessions: SessionTable::new(sealer),
            router,
            cache,
            meters: crate::meters::RequestMeters::new(),
            events: tx,
            identity,
            retired: Mutex::new(Vec::new()),
            reload_lock: tokio::sync::Mutex::new(()),
            catalog_rebuild: Mutex::new(()),
            reload_source,
        });
        tokio::spawn(pool_events(Arc::downgrade(&gateway), rx));
        tokio::spawn(evict_idle_sessions(Arc::downgrade(&gateway)));
        Ok(gateway)
    }

    /// What is in force now (do not hold the guard across an `.await`).
    pub fn live(&self) -> Guard<Arc<Live>> {
        self.live.load()
    }

    /// The pool with this index, if it is still configured.
    pub fn pool(&self, index: u32) -> Option<Arc<Pool>> {
        self.live.load().pool(index).cloned()
    }

    /// Put a new [`Live`] in force (see [`crate::reload`]).
    pub(crate) fn swap_live(&self, live: Live) -> Arc<Live> {
        self.live.swap(Arc::new(live))
    }

    /// Start a pool under a fresh index.
    pub(crate) fn start_pool(&self, config: &PoolConfig) -> LivePool {
        let index = self.next_pool.fetch_add(1, Ordering::Relaxed);
        start_pool(index, config, &self.identity, &self.events, &self.cache)
    }

    /// Wait until every pool has a ready replica or `timeout` passes; returns the names of
    /// pools still not ready. The endpoint serves either way.
    pub async fn wait_ready(&self, timeout: Duration) -> Vec<String> {
        let pools: Vec<Arc<Pool>> = self.live.load().pools().cloned().collect();
        let waits = pools.iter().map(|p| p.wait_ready(timeout));
        let ready = futures::future::join_all(waits).await;
        self.rebuild_catalog();
        pools
            .iter()
            .zip(ready)
            .filter(|(_, ok)| !ok)
            .map(|(p, _)| p.name().to_owned())
            .collect()
    }

    /// Rebuild the aggregated catalog from the pools' current catalogs. Returns the list kinds
    /// whose client-visible content changed.
    ///
    /// Rebuilds run one at a time (pool events and reloads call this from different tasks).
    /// Unserialized, a pool event that read the pools before a reload swapped them could
    /// store its aggregate after the reload's, and the catalog would lose the new pools until
    /// the next event.
    pub fn rebuild_catalog(&self) -> Vec<ListKind> {
        let _one_rebuild = self.catalog_rebuild.lock();
        let live = self.live.load();
        let parts: Vec<_> = live
            .pools()
            .map(|p| (p.index(), p.name(), p.catalog()))
            .collect();
        let fresh = Aggregate::build(&parts, live.config.namespace);
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

    /// Tell every session that these lists changed.
    pub fn notify_list_changed(&self, kinds: &[ListKind]) {
        let mut methods: Vec<&'static str> =
            kinds.iter().map(|k| list_changed_method(*k)).collect();
        methods.sort_unstable();
        methods.dedup();
        for kind in kinds {
            metrics::counter!("vecgate_list_changed_total", "list" => kind.field()).increment(1);
        }
        if methods.is_empty() {
            return;
        }
        for session in self.sessions.all() {
            for method in &methods {
                session.push(Message::notification(*method, None));
            }
        }
    }

    /// Stop every pool, including retired ones still draining (children are killed, not
    /// orphaned). Then stop the learner and write its snapshot when `state_dir` is set.
    pub async fn shutdown(&self) {
        let mut pools: Vec<Arc<Pool>> = self.live.load().pools().cloned().collect();
        pools.extend(self.retired.lock().drain(..));
        futures::future::join_all(pools.iter().map(|p| p.shutdown())).await;
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

/// Start the pool `config` under `index`, its replicas' announcements applied to `cache`.
fn start_pool(
    index: u32,
    config: &PoolConfig,
    identity: &UpstreamIdentity,
    events: &mpsc::Sender<PoolEvent>,
    cache: &Arc<AnswerCache>,
) -> LivePool {
    let announced = config.cache_invalidation == CacheInvalidation::Announced;
    let observer = Arc::new(CacheObserver::new(cache.clone(), announced));
    LivePool {
        pool: Pool::start_observed(
            index,
            config.to_spec(),
            identity.clone(),
            events.clone(),
            Some(observer),
        ),
        config: config.clone(),
    }
}

/// React to pool events until the gateway is dropped.
async fn pool_events(gateway: std::sync::Weak<Gateway>, mut rx: mpsc::Receiver<PoolEvent>) {
    while let Some(event) = rx.recv().await {
        let Some(gw) = gateway.upgrade() else { return };
        match event {
            PoolEvent::CatalogChanged { pool } => {
                gw.cache.invalidate_pool(pool);
                let changed = gw.rebuild_catalog();
                gw.notify_list_changed(&changed);
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

/// The notification that tells clients a list of this kind changed.
pub fn list_changed_method(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Tools => "notifications/tools/list_changed",
        ListKind::Prompts => "notifications/prompts/list_changed",
        ListKind::Resources | ListKind::ResourceTemplates => "notifications/resources/list_changed",
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
