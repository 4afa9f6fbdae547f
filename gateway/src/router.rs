//! Replica selection and learning: session affinity where a pool asks for it, otherwise the
//! learner's [`Engine`] (embed the request, search the trajectory index, ask the configured
//! `RoutingPolicy`) — the same code `vecgate replay` runs. Outcomes go to the learner thread
//! through a bounded channel; a full channel drops and counts, it never blocks a request.

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vecgate_backends::pool::Pool;
use vecgate_backends::replica::Replica;
use vecgate_index::snapshot::Snapshot;
use vecgate_learner::engine::{
    Engine, EngineConfig, FeatureScratch, LearnerThread, OutcomeSink, OwnedOutcome, RouteScratch,
    routing_store_config,
};
use vecgate_learner::policy::PolicyConfig;
use vecgate_learner::{Candidate, Decision, Explanation, Nanos, Rng};

use crate::config::Config;

/// Outcomes queued for the learner before new ones are dropped (and counted).
const OUTCOME_CAPACITY: usize = 65_536;
/// Period of the learner's background loop (pattern distillation, change detection).
const BACKGROUND_TICK: Duration = Duration::from_secs(1);
/// The snapshot file inside `state_dir`.
const SNAPSHOT_FILE: &str = "vecgate.snapshot";

/// What one runtime thread keeps for routing: buffers for embedding, neighbour search and the
/// candidate list, and the thread's own random stream. Requests never hold it across an
/// `.await`, so one per thread is enough; the hot path neither allocates nor takes a lock.
struct RouteLocal {
    features: FeatureScratch,
    route: RouteScratch,
    candidates: Vec<Candidate>,
    /// `None` until the thread first routes; then seeded from the router's seed and a
    /// per-thread sequence number, so threads draw independent streams.
    rng: Option<Rng>,
}

thread_local! {
    static LOCAL: std::cell::RefCell<RouteLocal> = std::cell::RefCell::new(RouteLocal {
        features: FeatureScratch::default(),
        route: RouteScratch::default(),
        candidates: Vec::new(),
        rng: None,
    });
}

/// Distinguishes the random streams of runtime threads.
static RNG_STREAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Chooses replicas and feeds outcomes to the learner.
pub struct Router {
    /// The engine in force; a live policy change swaps in one over the same store.
    engine: Arc<ArcSwap<Engine>>,
    sink: OutcomeSink,
    learner: Mutex<Option<LearnerThread>>,
    /// Policies take randomness as input; the gateway's threads seed theirs from this, which
    /// comes from the OS once.
    seed: u64,
    origin: Instant,
    snapshot_path: Option<PathBuf>,
}

/// A routing decision with what is needed to report its outcome.
pub struct Routed {
    /// The chosen replica.
    pub replica: Arc<Replica>,
    /// The policy's decision (none under affinity or with a single replica).
    pub decision: Option<Decision>,
    /// When the request was sent.
    pub sent: Nanos,
    key: u64,
    tool: u64,
    size: u32,
    /// A buffer of the outcome sink's pool, handed to the learner with the outcome.
    embedding: Vec<f32>,
}

impl Router {
    /// A router running the policy named in `config`, warm-started from `state_dir` when a
    /// snapshot is there.
    pub fn new(config: &Config) -> Result<Router, String> {
        let policy = PolicyConfig {
            policy: config.policy.clone(),
            ..PolicyConfig::default()
        };
        policy.validate().map_err(|e| e.to_string())?;
        let snapshot_path = config.state_dir.as_ref().map(|d| d.join(SNAPSHOT_FILE));
        let engine = match snapshot_path.as_deref().filter(|p| p.exists()) {
            Some(path) => {
                let snap = Snapshot::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let engine = Engine::from_snapshot(
                    &policy,
                    routing_store_config(),
                    EngineConfig::default(),
                    &snap,
                )
                .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), entries = engine.store().len(), "learned state restored");
                engine
            }
            None => Engine::from_config(&policy, routing_store_config(), EngineConfig::default())
                .map_err(|e| e.to_string())?,
        };
        let engine = Arc::new(ArcSwap::from_pointee(engine));
        let origin = Instant::now();
        let clock: Arc<dyn Fn() -> Nanos + Send + Sync> =
            Arc::new(move || Nanos(origin.elapsed().as_nanos() as u64));
        let (sink, learner) = LearnerThread::spawn(
            Arc::clone(&engine),
            OUTCOME_CAPACITY,
            BACKGROUND_TICK,
            clock,
        )
        .map_err(|e| e.to_string())?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        Ok(Router {
            engine,
            sink,
            learner: Mutex::new(Some(learner)),
            seed: u64::from_le_bytes(seed),
            origin,
            snapshot_path,
        })
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.engine.load().policy().name()
    }

    /// An engine running the policy named `policy` over the current engine's trajectory store
    /// (so the neighbour evidence carries over; the new policy's statistics start empty), for
    /// [`Router::install`]. Built apart from installing so a reload can refuse a bad policy
    /// before it changes anything.
    pub fn engine_for_policy(&self, policy: &str) -> Result<Engine, String> {
        let config = PolicyConfig {
            policy: policy.to_owned(),
            ..PolicyConfig::default()
        };
        config.validate().map_err(|e| e.to_string())?;
        self.engine
            .load()
            .with_policy(&config)
            .map_err(|e| e.to_string())
    }

    /// Route with `engine` from the next request on. Requests already routed report their
    /// outcomes to whichever engine is in force when they finish.
    pub fn install(&self, engine: Engine) {
        self.engine.store(Arc::new(engine));
    }

    /// Sets the learner's and the trajectory store's gauges (`vecgate_learner_*`,
    /// `vecgate_index_*`) from their counters; `/metrics` calls it before rendering, so the
    /// figures are as of the scrape and nothing on the request path updates them.
    pub fn publish_gauges(&self) {
        let engine = self.engine.load();
        let store = engine.store().stats();
        let counters = engine.stats();
        let learned = self.learner.lock().as_ref().map_or(0, |l| l.learned());
        let gauges: [(&'static str, f64); 11] = [
            ("vecgate_learner_outcomes_learned", learned as f64),
            (
                "vecgate_learner_outcomes_dropped",
                self.sink.dropped() as f64,
            ),
            ("vecgate_learner_embed_errors", counters.embed_errors as f64),
            (
                "vecgate_learner_record_errors",
                counters.record_errors as f64,
            ),
            ("vecgate_index_entries", f64::from(store.entries)),
            ("vecgate_index_graph_entries", f64::from(store.graph_len)),
            (
                "vecgate_index_graph_in_use",
                f64::from(u8::from(store.graph_in_use)),
            ),
            ("vecgate_index_search_ef", store.search_ef as f64),
            (
                "vecgate_index_sampled_recall",
                store.sampled_recall.map_or(f64::NAN, f64::from),
            ),
            ("vecgate_index_merged_outcomes", store.merges as f64),
            ("vecgate_index_memo_hits", store.memo_hits as f64),
        ];
        for (name, value) in gauges {
            metrics::gauge!(name).set(value);
        }
    }

    /// Now, on the clock policies see.
    pub fn now(&self) -> Nanos {
        Nanos(self.origin.elapsed().as_nanos() as u64)
    }

    /// Pick a replica of `pool` for a request (`method`, tool/prompt/URI `name`, raw
    /// `arguments`). `affinity_seed` pins the session's requests to one replica when the pool
    /// asks for affinity (rendezvous hashing over ready replicas, so every instance agrees and a
    /// replica that goes down moves only its own sessions).
    pub fn pick(
        &self,
        pool: &Pool,
        affinity_seed: u64,
        method: &str,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Option<Routed> {
        let replicas = pool.replicas();
        if replicas.is_empty() {
            return None;
        }
        let now = self.now();
        let engine = self.engine.load();
        LOCAL.with_borrow_mut(|local| {
            let RouteLocal {
                features: features_scratch,
                route: route_scratch,
                candidates,
                rng,
            } = local;
            let features = engine.features(method, name, arguments, features_scratch);
            let (index, decision) = if pool.spec().affinity {
                (affinity_pick(&replicas, affinity_seed), None)
            } else if replicas.len() == 1 {
                (0, None)
            } else {
                fill_candidates(pool, &replicas, candidates);
                let rng = rng.get_or_insert_with(|| {
                    let stream = RNG_STREAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Rng::seed(self.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                });
                let d = engine.route(
                    pool.index(),
                    &features,
                    candidates,
                    now,
                    rng,
                    None,
                    route_scratch,
                );
                (d.index, Some(d))
            };
            // Content-blind policies embed nothing: no pooled buffer (and no pool lock) then.
            let embedding = if features.embedding.is_empty() {
                Vec::new()
            } else {
                let mut buffer = self.sink.buffer();
                buffer.extend_from_slice(features.embedding);
                buffer
            };
            Some(Routed {
                replica: Arc::clone(replicas.get(index).unwrap_or(&replicas[0])),
                decision,
                sent: now,
                key: features.key,
                tool: features.tool,
                size: features.size,
                embedding,
            })
        })
    }

    /// What the policy would choose for this request and why (`route/explain`).
    pub fn explain(
        &self,
        pool: &Pool,
        method: &str,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Explanation {
        let engine = self.engine.load();
        LOCAL.with_borrow_mut(|local| {
            let features = engine.features(method, name, arguments, &mut local.features);
            fill_candidates(pool, &pool.replicas(), &mut local.candidates);
            engine.explain(
                pool.index(),
                &features,
                &local.candidates,
                self.now(),
                &mut local.route,
            )
        })
    }

    /// Report how a routed request went (off the request path: queued for the learner).
    pub fn observe(&self, pool: u32, routed: Routed, success: bool, result_bytes: u32) {
        let now = self.now();
        let queued = self.sink.send(OwnedOutcome {
            pool,
            replica: routed.replica.index(),
            embedding: routed.embedding,
            key: routed.key,
            tool: routed.tool,
            size: routed.size,
            sent: routed.sent,
            now,
            latency_ms: now.ms_since(routed.sent),
            service_ms: None,
            success,
            result_bytes,
        });
        if !queued {
            metrics::counter!("vecgate_outcomes_dropped_total").increment(1);
        }
    }

    /// Stop the learner and write the snapshot to `state_dir` (atomically), if configured.
    pub fn persist(&self) -> Result<Option<PathBuf>, String> {
        if let Some(learner) = self.learner.lock().take() {
            learner.shutdown();
        }
        let Some(path) = &self.snapshot_path else {
            return Ok(None);
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let snap = self.engine.load().snapshot().map_err(|e| e.to_string())?;
        snap.write(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(path.clone()))
    }

    /// The snapshot file, if a state directory is configured.
    pub fn snapshot_path(&self) -> Option<&Path> {
        self.snapshot_path.as_deref()
    }
}

/// Replaces `out` with `replicas` (one consistent set of `pool`'s) as the policy sees them now.
fn fill_candidates(pool: &Pool, replicas: &[Arc<Replica>], out: &mut Vec<Candidate>) {
    let slots = pool.spec().slots_per_replica;
    out.clear();
    out.extend(replicas.iter().map(|r| Candidate {
        replica: r.index(),
        inflight: r.inflight(),
        slots,
        healthy: r.is_ready(),
    }));
}

/// The replica (position in `replicas`) a session with `seed` is pinned to in an affinity pool.
pub fn affinity_pick(replicas: &[Arc<Replica>], seed: u64) -> usize {
    replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ready())
        .max_by_key(|(_, r)| {
            let mut key = [0u8; 12];
            key[..8].copy_from_slice(&seed.to_le_bytes());
            key[8..].copy_from_slice(&r.index().to_le_bytes());
            xxhash_rust::xxh3::xxh3_64(&key)
        })
        .map_or(0, |(i, _)| i)
}
