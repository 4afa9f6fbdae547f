//! Keeps each replica up, in the spirit of an OTP `one_for_one` supervisor: every replica has
//! its own supervisor task, and one replica's crash never touches its siblings.
//!
//! The life of a replica:
//! ```text
//!   Starting ──handshake ok──▶ Ready ──dies / fails health──▶ Down ──backoff──▶ Starting
//!      │                        │  └──idle_timeout (stdio)──▶ Idle ──next call──▶ Starting
//!      └──handshake fails──▶ Down                             any ──shutdown──▶ Stopped
//! ```
//! Restarts wait a [`Backoff`] delay (exponential, jittered, reset after a long enough good
//! run). While ready, the supervisor refreshes the catalog on `list_changed`, pings a replica
//! that has been silent for [`HEALTH_INTERVAL`] and restarts it if the ping fails, and stops
//! an idle stdio replica. Every state change is reported as [`PoolEvent::ReplicaState`].

use crate::backoff::Backoff;
use crate::catalog::Catalog;
use crate::config::{PoolSpec, TransportSpec, UpstreamIdentity};
use crate::error::CallError;
use crate::handshake::{self, HandshakeError};
use crate::mux::Mux;
use crate::pool::{PoolEvent, PoolObserver};
use crate::replica::{Connection, Replica, ReplicaState};
use crate::telemetry::Meters;
use crate::transport::{self, http::HttpClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A replica silent this long is pinged.
pub(crate) const HEALTH_INTERVAL: Duration = Duration::from_secs(20);

/// The longest a health ping may take before the replica is declared down.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Outbound queue of one replica: how many messages may wait for a slow upstream before
/// callers are pushed back.
const WRITE_QUEUE: usize = 1024;

/// What every supervisor of a pool shares.
pub(crate) struct PoolContext {
    pub(crate) index: u32,
    pub(crate) spec: Arc<PoolSpec>,
    pub(crate) identity: UpstreamIdentity,
    pub(crate) events: mpsc::Sender<PoolEvent>,
    pub(crate) observer: Option<Arc<dyn PoolObserver>>,
    pub(crate) client: HttpClient,
    pub(crate) shutdown: CancellationToken,
    /// How many replicas are ready.
    pub(crate) ready: watch::Sender<u32>,
    pub(crate) meters: Meters,
}

/// Why a ready replica stopped serving.
enum End {
    Died(String),
    Idle,
    Shutdown,
}

/// Supervise one replica until `stop` (the pool's shutdown, or this replica's removal).
pub(crate) async fn supervise(
    replica: Arc<Replica>,
    ctx: Arc<PoolContext>,
    stop: CancellationToken,
) {
    let seed = (u64::from(ctx.index) << 32 | u64::from(replica.index())) ^ 0x7665_6367_6174_6521;
    let mut backoff = Backoff::new(ctx.spec.restart, seed);
    let mut first = true;
    while !stop.is_cancelled() {
        if !first {
            ctx.meters.restarts.increment(1);
        }
        first = false;
        transition(&replica, &ctx, ReplicaState::Starting).await;
        let started = tokio::select! {
            r = tokio::time::timeout(ctx.spec.init_timeout, start(&replica, &ctx)) => r,
            _ = stop.cancelled() => break,
        };
        let end = match started {
            Ok(Ok((connection, catalog))) => {
                replica.set_error(None);
                let up_since = Instant::now();
                if let Some(observer) = &ctx.observer {
                    observer.replica_connected(ctx.index, replica.index());
                }
                replica.install(connection.clone(), Arc::new(catalog));
                transition(&replica, &ctx, ReplicaState::Ready).await;
                ready_changed(&ctx, 1).await;
                let end = serve(&replica, &connection, &ctx, &stop).await;
                replica.uninstall();
                ready_changed(&ctx, -1).await;
                let reason = match &end {
                    End::Died(reason) => reason.as_str(),
                    End::Idle => "idle",
                    End::Shutdown => "shutdown",
                };
                connection.shutdown(reason).await;
                if up_since.elapsed() >= backoff.reset_after() {
                    backoff.reset();
                }
                end
            }
            Ok(Err(error)) => End::Died(error),
            Err(_) => End::Died(format!(
                "handshake timed out after {:?}",
                ctx.spec.init_timeout
            )),
        };
        match end {
            End::Shutdown => break,
            End::Idle => {
                transition(&replica, &ctx, ReplicaState::Idle).await;
                tokio::select! {
                    _ = replica.wake.notified() => { backoff.reset(); continue; }
                    _ = stop.cancelled() => break,
                }
            }
            End::Died(reason) => {
                tracing::warn!(pool = %ctx.spec.name, replica = replica.index(), %reason, "replica down");
                replica.set_error(Some(reason));
                transition(&replica, &ctx, ReplicaState::Down).await;
            }
        }
        let delay = backoff.next_delay();
        tracing::debug!(pool = %ctx.spec.name, replica = replica.index(), ?delay, "restarting after backoff");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(connection) = replica.uninstall() {
        connection.shutdown("shutdown").await;
    }
    transition(&replica, &ctx, ReplicaState::Stopped).await;
}

/// Spawn/connect, handshake, fetch the catalog.
async fn start(replica: &Replica, ctx: &PoolContext) -> Result<(Arc<Connection>, Catalog), String> {
    let (mux, outbound) = Mux::new(
        replica.ident().clone(),
        ctx.meters.clone(),
        WRITE_QUEUE,
        ctx.events.clone(),
        ctx.observer.clone(),
    );
    let opened = transport::connect(
        &replica.spec().transport,
        &ctx.client,
        mux.clone(),
        outbound,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Until the connection exists, closing the mux is what stops the transport on failure.
    let guard = CloseOnDrop {
        mux: &mux,
        armed: true,
    };
    let server = handshake::initialize(&mux, &ctx.identity, ctx.spec.init_timeout)
        .await
        .map_err(|e| match e {
            HandshakeError::Call(e) => format!("initialize failed: {e}"),
            HandshakeError::Version(v) => format!("unsupported protocol version {v:?}"),
        })?;
    let server = Arc::new(server);
    let catalog = handshake::fetch_catalog(&mux, server.clone(), ctx.spec.init_timeout)
        .await
        .map_err(|e| format!("catalog fetch failed: {e}"))?;
    guard.disarm();
    tracing::info!(
        pool = %ctx.spec.name, replica = replica.index(), version = %server.protocol_version,
        tools = catalog.tools.len(), resources = catalog.resources.len(), prompts = catalog.prompts.len(),
        "replica ready"
    );
    Ok((Arc::new(Connection::new(mux, server, opened)), catalog))
}

struct CloseOnDrop<'a> {
    mux: &'a Mux,
    armed: bool,
}

impl CloseOnDrop<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.mux.close("handshake abandoned");
        }
    }
}

/// Serve until the connection dies, fails health, goes idle, or the pool shuts down.
async fn serve(
    replica: &Replica,
    connection: &Connection,
    ctx: &PoolContext,
    stop: &CancellationToken,
) -> End {
    let mux = &connection.mux;
    let idle_timeout = match ctx.spec.transport {
        TransportSpec::Stdio { .. } => ctx.spec.idle_timeout,
        _ => None,
    };
    let tick = idle_timeout
        .map(|t| (t / 4).clamp(Duration::from_millis(20), Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(1));
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = mux.closed_token().cancelled() => {
                return End::Died(mux.close_reason().unwrap_or_else(|| "closed".into()));
            }
            _ = stop.cancelled() => return End::Shutdown,
            _ = mux.list_changed() => refresh(replica, connection, ctx).await,
            _ = ticks.tick() => {
                // An open upstream `subscriptions/listen` never answers: it does not make the
                // replica busy for health pings, but while it carries resource subscriptions
                // it keeps the replica from being idle-stopped (they would lapse with the
                // process). One asking only for list changes does not: a restarted replica
                // fetches its catalog anew.
                let quiet = replica.inflight() == 0 && mux.pending_bounded() == 0;
                if let Some(limit) = idle_timeout
                    && quiet
                    && (mux.pending() == 0 || !replica.listen_holds_subscriptions())
                    && replica.idle_for() >= limit
                {
                    tracing::info!(pool = %ctx.spec.name, replica = replica.index(), "stopping idle replica");
                    return End::Idle;
                }
                if quiet && mux.idle_for() >= HEALTH_INTERVAL {
                    let timeout = ctx.spec.request_timeout.min(PING_TIMEOUT);
                    match mux.request("ping".into(), None, None, None, timeout).await {
                        // An error object is still an answer: the replica is alive.
                        Ok(_) | Err(CallError::Rpc(_)) => {}
                        Err(e) => return End::Died(format!("health check failed: {e}")),
                    }
                }
            }
        }
    }
}

/// Re-fetch the lists a `list_changed` invalidated and publish the new catalog.
async fn refresh(replica: &Replica, connection: &Connection, ctx: &PoolContext) {
    let kinds = connection.mux.take_dirty();
    let Some(current) = replica.catalog() else {
        return;
    };
    let mut next = Catalog::clone(&current);
    let mut changed = false;
    for kind in kinds {
        if !connection.server.has_capability(kind.capability()) {
            continue;
        }
        match handshake::fetch_list(&connection.mux, kind, ctx.spec.request_timeout).await {
            Ok(items) => {
                next.set_list(kind, items);
                changed = true;
            }
            Err(e) => {
                tracing::warn!(pool = %ctx.spec.name, replica = replica.index(), list = kind.method(), error = %e, "catalog refresh failed")
            }
        }
    }
    if changed {
        replica.set_catalog(Arc::new(next));
        let _ = ctx
            .events
            .send(PoolEvent::CatalogChanged { pool: ctx.index })
            .await;
    }
}

async fn transition(replica: &Replica, ctx: &PoolContext, state: ReplicaState) {
    if replica.set_state(state) {
        let event = PoolEvent::ReplicaState {
            pool: ctx.index,
            replica: replica.index(),
            state,
        };
        let _ = ctx.events.send(event).await;
    }
}

/// Count a replica in or out of readiness; the pool's catalog appears with its first ready
/// replica and disappears with its last.
async fn ready_changed(ctx: &PoolContext, delta: i32) {
    let mut edge = false;
    ctx.ready.send_modify(|n| {
        let before = *n;
        *n = n.saturating_add_signed(delta);
        edge = (before == 0) != (*n == 0);
    });
    if edge {
        let _ = ctx
            .events
            .send(PoolEvent::CatalogChanged { pool: ctx.index })
            .await;
    }
}
