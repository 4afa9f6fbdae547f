//! Hot reload: re-read the `--config` file on `SIGHUP` or `POST /admin/reload` and apply it
//! without dropping sessions.
//!
//! An invalid file changes nothing: the error (naming the key, or the line for a syntax error,
//! as `vecgate check-config` does) is logged and returned. A valid one is applied in this
//! order:
//! 1. pools that are new, or whose upstream settings changed, are started under fresh indices
//!    and given up to their `init_timeout_ms` to become ready;
//! 2. the new [`Live`] (pools, auth keys and JWT settings, rate limit, cache settings, page
//!    size, namespace rule, allowed origins) is swapped in atomically;
//! 3. the catalog is rebuilt and sessions get `notifications/*/list_changed` for what changed;
//! 4. pools removed or replaced are drained: they get no new calls, calls in flight finish (up
//!    to the pool's `request_timeout_ms`), then their replicas stop.
//!
//! A pool whose only change is `cacheable_tools` / `shared_tools` keeps running; its cached
//! answers are dropped. A pool whose replica set changes (a stdio `replicas` count, or `urls` /
//! `sse_urls` with URLs appended or removed at the end) is resized in place
//! ([`Pool::resize`]): it keeps its index, so the routing statistics, cached answers and
//! subscriptions of the replicas that stay carry over; new replicas start in the background,
//! removed ones (the highest indices) take no new calls and stop once their calls in flight
//! finish. Affinity sessions pinned to a replica that stays stay on it (rendezvous hashing). A changed `policy` takes over with the new [`Live`]: it routes over the
//! same trajectory store (the neighbour evidence carries over), while its own statistics start
//! empty. Settings read once at start (`listen`, `session_key`, `max_body_bytes`,
//! `state_dir`) are reported in `restart_required` and keep their old value. Resource
//! subscriptions to a replaced pool lapse with it.

use std::sync::Arc;
use std::time::Duration;
use vecgate_backends::pool::Pool;

use crate::auth::Authenticator;
use crate::catalog::ListKind;
use crate::config::{Config, ConfigError, PoolConfig};
use crate::gateway::{Gateway, Live, LivePool};

/// Why a reload was refused (the old configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway runs the embedded default, not a file.
    #[error("no --config file to reload (vecgate was started with the embedded default)")]
    NoConfigFile,
    /// The new file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new routing policy cannot be built.
    #[error("policy: {0}")]
    Policy(String),
}

/// What a reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadReport {
    /// Pools started.
    pub added: Vec<String>,
    /// Pools drained and stopped.
    pub removed: Vec<String>,
    /// Pools restarted with new settings.
    pub replaced: Vec<String>,
    /// Pools whose cache settings changed in place.
    pub updated: Vec<String>,
    /// Pools whose replica set changed in place, as `name: from -> to` replicas.
    pub resized: Vec<String>,
    /// New or replaced pools not ready when the new configuration went into force (their
    /// tools appear once they are).
    pub not_ready: Vec<String>,
    /// Changed settings that keep their old value until a restart.
    pub restart_required: Vec<String>,
    /// The routing policy now in force, when the reload changed it.
    pub policy: Option<String>,
    /// The lists whose content changed (clients were notified).
    pub list_changed: Vec<&'static str>,
}

/// A short pause before a retired pool's in-flight count is trusted: a request that read the
/// old [`Live`] just before the swap may not have reached its replica yet.
const DRAIN_SETTLE: Duration = Duration::from_millis(200);
/// How often a draining pool's in-flight count is checked.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// The longest a reload waits for new pools to become ready.
const MAX_READY_WAIT: Duration = Duration::from_secs(30);

/// Re-read the configuration file and apply it.
pub async fn reload(gw: &Arc<Gateway>) -> Result<ReloadReport, ReloadError> {
    let _one_at_a_time = gw.reload_lock.lock().await;
    let source = gw.reload_source.as_ref().ok_or(ReloadError::NoConfigFile)?;
    let mut config = Config::load(&source.path)?;
    if let Some(listen) = &source.listen_override {
        config.listen.clone_from(listen);
    }
    let auth = Authenticator::from_config(&config)?;
    let mut report = ReloadReport::default();
    let started = &gw.config;
    let restart_only = [
        ("listen", config.listen != started.listen),
        ("session_key", config.session_key != started.session_key),
        (
            "max_body_bytes",
            config.max_body_bytes != started.max_body_bytes,
        ),
        ("state_dir", config.state_dir != started.state_dir),
    ];
    report.restart_required = restart_only
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| (*key).to_owned())
        .collect();
    // Built before anything changes, so a policy that cannot be built refuses the whole file.
    let policy = if config.policy == gw.router.policy_name() {
        None
    } else {
        let engine = gw
            .router
            .engine_for_policy(&config.policy)
            .map_err(ReloadError::Policy)?;
        Some((config.policy.clone(), engine))
    };

    let old = gw.live();
    let mut pools = Vec::with_capacity(config.pools.len());
    let mut fresh: Vec<Arc<Pool>> = Vec::new();
    let mut retire: Vec<Arc<Pool>> = Vec::new();
    for entry in &config.pools {
        match old.pools.iter().find(|p| p.config.name == entry.name) {
            None => {
                let started = gw.start_pool(entry);
                fresh.push(Arc::clone(&started.pool));
                report.added.push(entry.name.clone());
                pools.push(started);
            }
            Some(current) if same_upstream(&current.config, entry) => {
                if current.config != *entry {
                    gw.cache.invalidate_pool(current.pool.index());
                    report.updated.push(entry.name.clone());
                }
                pools.push(LivePool {
                    pool: Arc::clone(&current.pool),
                    config: entry.clone(),
                });
            }
            Some(current)
                if same_but_replica_set(&current.config, entry)
                    && let Ok(resized) = current.pool.resize(entry.to_spec()) =>
            {
                if current.config.cacheable_tools != entry.cacheable_tools
                    || current.config.shared_tools != entry.shared_tools
                {
                    gw.cache.invalidate_pool(current.pool.index());
                }
                report.resized.push(format!(
                    "{}: {} -> {}",
                    entry.name, resized.from, resized.to
                ));
                pools.push(LivePool {
                    pool: Arc::clone(&current.pool),
                    config: entry.clone(),
                });
            }
            Some(current) => {
                let started = gw.start_pool(entry);
                fresh.push(Arc::clone(&started.pool));
                retire.push(Arc::clone(&current.pool));
                report.replaced.push(entry.name.clone());
                pools.push(started);
            }
        }
    }
    for current in &old.pools {
        if !config.pools.iter().any(|p| p.name == current.config.name) {
            retire.push(Arc::clone(&current.pool));
            report.removed.push(current.config.name.clone());
        }
    }
    drop(old);

    let waits = fresh.iter().map(|p| {
        let timeout = p.spec().init_timeout.min(MAX_READY_WAIT);
        async move { (p.name().to_owned(), p.wait_ready(timeout).await) }
    });
    for (name, ready) in futures::future::join_all(waits).await {
        if !ready {
            report.not_ready.push(name);
        }
    }

    // What the lists were before the swap: the new pools' own catalog events may rebuild the
    // catalog (and notify) before this function does, so the report compares against this.
    let before = gw.catalog.load_full();
    gw.swap_live(Live {
        config: Arc::new(config),
        pools,
        auth,
    });
    if let Some((name, engine)) = policy {
        gw.router.install(engine);
        tracing::info!(policy = %name, "routing policy changed");
        report.policy = Some(name);
    }
    let changed = gw.rebuild_catalog();
    gw.notify_list_changed(&changed);
    let after = gw.catalog.load();
    report.list_changed = ListKind::ALL
        .into_iter()
        .filter(|k| before.fingerprint(*k) != after.fingerprint(*k))
        .map(|k| k.field())
        .collect();

    for pool in retire {
        gw.cache.forget_pool(pool.index());
        gw.retired.lock().push(Arc::clone(&pool));
        tokio::spawn(drain(Arc::downgrade(gw), pool));
    }
    tracing::info!(?report, "configuration reloaded");
    Ok(report)
}

/// Whether two entries of the same pool can share the running replicas (they differ at most
/// in cache settings).
fn same_upstream(a: &PoolConfig, b: &PoolConfig) -> bool {
    // `cache_invalidation` is not stripped: the pool's observer applies it on the replicas'
    // readers, so changing it starts the pool anew.
    let strip = |p: &PoolConfig| PoolConfig {
        cacheable_tools: Vec::new(),
        shared_tools: Vec::new(),
        ..p.clone()
    };
    strip(a) == strip(b)
}

/// Whether two entries of the same pool differ at most in their replica set (and cache
/// settings), so the running pool can be resized instead of replaced. Whether the new set is
/// one [`Pool::resize`] can apply (any stdio count; URL lists of which one extends the other)
/// is its own check.
fn same_but_replica_set(a: &PoolConfig, b: &PoolConfig) -> bool {
    let strip = |p: &PoolConfig| PoolConfig {
        replicas: None,
        urls: Vec::new(),
        sse_urls: Vec::new(),
        cacheable_tools: Vec::new(),
        shared_tools: Vec::new(),
        ..p.clone()
    };
    strip(a) == strip(b)
}

/// Let a retired pool's calls in flight finish, then stop it.
async fn drain(gw: std::sync::Weak<Gateway>, pool: Arc<Pool>) {
    tokio::time::sleep(DRAIN_SETTLE).await;
    let deadline = tokio::time::Instant::now() + pool.spec().request_timeout;
    while pool.replicas().iter().any(|r| r.inflight() > 0) && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    pool.shutdown().await;
    if let Some(gw) = gw.upgrade() {
        gw.retired.lock().retain(|p| !Arc::ptr_eq(p, &pool));
    }
    tracing::info!(
        pool = pool.name(),
        index = pool.index(),
        "retired pool stopped"
    );
}

/// Reload on every `SIGHUP` until the gateway is dropped (Unix only).
pub fn on_sighup(gw: &Arc<Gateway>) {
    #[cfg(unix)]
    {
        let gw = Arc::downgrade(gw);
        tokio::spawn(async move {
            let kind = tokio::signal::unix::SignalKind::hangup();
            let Ok(mut hup) = tokio::signal::unix::signal(kind) else {
                tracing::warn!("cannot listen for SIGHUP; use POST /admin/reload");
                return;
            };
            while hup.recv().await.is_some() {
                let Some(gw) = gw.upgrade() else { return };
                match reload(&gw).await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "reload refused; the old configuration stays in force")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = gw;
}
