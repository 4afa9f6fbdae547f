//! The engine: the one object the gateway and the replay simulator both use per request.
//!
//! It owns the embedder, the trajectory store and the policy, and runs the request's trip
//! through them:
//! 1. [`Engine::features`]: canonical key, tool key, size, and the embedding, computed once
//!    (embedding is skipped for content-blind policies);
//! 2. [`Engine::route`]: the neighbour search and evidence rows (only when the policy
//!    [uses evidence](RoutingPolicy::uses_evidence)), then the policy's choice;
//! 3. [`Engine::learn`]: the instant loop, synchronously (the simulator calls it inline; the
//!    gateway feeds it through an [`OutcomeSink`], see [`sink`]);
//! 4. [`Engine::background_tick`]: the learner's background loop, on the caller's timer;
//! 5. [`Engine::snapshot`] / [`Engine::from_snapshot`]: the store's and the learner's state in
//!    one index snapshot, so a restarted gateway routes well from its first request.
//!
//! The trajectory store records each outcome's *service* time when the caller knows it
//! (replay) and the response time otherwise (gateway): "how long this replica took on requests
//! like this" is what both `knn` and `vector` predict.

mod persist;
pub mod sink;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vecgate_index::canonical::{Canonicalizer, request_key, tool_key};
use vecgate_index::embed::{Embedder, HashingEmbedder, RequestView};
use vecgate_index::store::{
    HnswParams, Neighbour, StoreConfig, TrajectoryOutcome, TrajectoryStore,
};

pub use persist::LEARNER_SECTION_PREFIX;
pub use sink::{LearnerThread, OutcomeSink, OwnedOutcome};

use crate::error::LearnerError;
use crate::policy::{
    Candidate, Decision, Evidence, Explanation, Outcome, PolicyConfig, RequestFeatures, RouteQuery,
    RoutingPolicy,
};
use crate::rng::Rng;
use crate::time::Nanos;

/// Engine settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Neighbours fetched from the store per routed request (1..=64).
    pub neighbours: usize,
    /// HNSW candidate list (`ef`) of the routing search (1..=1024; raised to `neighbours` when
    /// smaller). Lower than the store's lookup `ef` (64): the neighbours only weight evidence,
    /// so a near neighbour found in place of a nearer one changes little. Measured in replay
    /// (`vector`, seed 1, the seven committed datasets): `ef` 24 left every p95 within 1.2 % of
    /// `ef` 64 (16 moved `bursty` by +1.5 %); `index_search` at 10K entries: best-of-3 p50
    /// 16.6 → 8.3 µs, recall@10 .991 → .959.
    pub search_ef: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            neighbours: 8,
            search_ef: 24,
        }
    }
}

/// HNSW parameters of the routing engine's trajectory graph: M 16, ef_construction
/// [`ROUTING_EF_CONSTRUCTION`], lookup ef 64 (the routing search itself uses
/// [`EngineConfig::search_ef`]). The store's defaults (M 20, ef_construction 200, ef 48) are
/// chosen for recall@10 ≥ 0.95 at 100K entries in `index_search` and build 2.4× slower than
/// M 16 at ef_construction 100. Routing needs neighbours whose outcomes predict latency, not
/// the exact top 10.
pub const ROUTING_HNSW: HnswParams = HnswParams {
    max_connections: 16,
    ef_construction: ROUTING_EF_CONSTRUCTION,
    ef_search: 64,
};

/// `ef_construction` of the routing engine's trajectory graph (M 16). Measured in replay (`vector`, seed 1, `--threads 1`,
/// the committed datasets): simulated req/s at 100 → 40 uniform 6,863 → 10,775, affinity
/// 9,312 → 12,671, drift 8,471 → 11,895, swarm 11,313 → 17,195, bursty 34,686 → 39,881,
/// hotspot 41,273 → 61,564, recorded-demo 53,604 → 79,482, with p95 within 1 % either way
/// (uniform 41.41 → 41.70, affinity 38.66 → 38.33, drift 37.74 → 38.04, swarm
/// 42.78 → 42.35, bursty 50.65 → 50.69, hotspot 20.58 → 20.60, recorded-demo 6.13 → 6.13).
/// In the gateway the insert runs
/// on the learner thread, off the request path, but on the same two cores.
pub const ROUTING_EF_CONSTRUCTION: usize = 40;

/// Similarity at which the routing store folds an outcome into its nearest entry instead of
/// adding one (the store's default, 0.98, keeps near-identical requests apart).
///
/// Routing asks "how fast was each replica on requests like this", so an entry is a request
/// *pattern* (a tool, an argument shape, similar values), and its per-replica statistics
/// gather the evidence of every request that falls into it. At 0.98 nearly every outcome of a
/// content-varied workload was novel, an insert, and the evidence per entry a single sample.
/// Measured in replay (seed 1, `--threads 1`, best of 3; 0.98 → 0.7): `vector` simulated
/// req/s affinity 9,820 → 56,421, drift 10,853 → 59,221, swarm 11,662 → 81,718, hotspot
/// 38,615 → 176,211, with the store at 14,635 → 293 entries on affinity; `vector` p95
/// affinity 38.33 → 38.19, drift 38.04 → 37.78, uniform 41.70 → 41.42, swarm 42.34 → 43.39,
/// bursty 50.69 → 50.84, hotspot 20.60 → 21.49, recorded-demo 6.13 → 6.23 (seeds 2 and 3:
/// within −1.5 … +2.1 %, hotspot +1.6 … +1.9 %); `knn`, which predicts from the neighbours
/// alone, gained most: p95 affinity 54.59 → 37.35, drift 54.94 → 37.05. 0.6 was faster still
/// but cost swarm up to +3 % p95; 0.8 gave a third of the speed-up and half of knn's p95 gain.
pub const ROUTING_MERGE_SIMILARITY: f32 = 0.7;

/// The trajectory store the engine routes with, in the gateway and in replay alike: the
/// store's defaults with the graph parameters [`ROUTING_HNSW`] and entries merged at
/// [`ROUTING_MERGE_SIMILARITY`].
pub fn routing_store_config() -> StoreConfig {
    StoreConfig {
        hnsw: ROUTING_HNSW,
        merge_similarity: ROUTING_MERGE_SIMILARITY,
        ..StoreConfig::default()
    }
}

/// Per-task buffers for [`Engine::features`]: reuse one per request task so embedding and
/// canonicalisation do not allocate in steady state.
#[derive(Debug, Default)]
pub struct FeatureScratch {
    embedding: Vec<f32>,
    canonical: String,
    canonicalizer: Canonicalizer,
}

/// Per-task buffers for [`Engine::route`] and [`Engine::explain`] (neighbours and evidence).
#[derive(Debug, Default)]
pub struct RouteScratch {
    neighbours: Vec<Neighbour>,
    evidence: Vec<Evidence>,
}

/// Counters of the engine's own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Requests whose embedding failed (routed without evidence).
    pub embed_errors: u64,
    /// Outcomes the store refused to record.
    pub record_errors: u64,
    /// Neighbour searches answered by the store's memo.
    pub memo_hits: u64,
}

/// See the module docs.
pub struct Engine {
    embedder: Arc<dyn Embedder>,
    store: Arc<TrajectoryStore>,
    policy: Arc<dyn RoutingPolicy>,
    cfg: EngineConfig,
    embed_errors: AtomicU64,
    record_errors: AtomicU64,
    memo_hits: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("embedder", &self.embedder.id())
            .field("policy", &self.policy.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over the given parts. The store's dimension must be the embedder's.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        store: Arc<TrajectoryStore>,
        policy: Arc<dyn RoutingPolicy>,
        cfg: EngineConfig,
    ) -> Result<Engine, LearnerError> {
        if !(1..=64).contains(&cfg.neighbours) {
            return Err(LearnerError::InvalidConfig {
                key: "engine.neighbours",
                value: cfg.neighbours.to_string(),
                reason: "must be in 1..=64",
            });
        }
        if !(1..=1024).contains(&cfg.search_ef) {
            return Err(LearnerError::InvalidConfig {
                key: "engine.search_ef",
                value: cfg.search_ef.to_string(),
                reason: "must be in 1..=1024",
            });
        }
        if store.config().dim != embedder.dim() {
            return Err(LearnerError::InvalidConfig {
                key: "store.dim",
                value: store.config().dim.to_string(),
                reason: "must equal the embedder's dimension",
            });
        }
        Ok(Engine {
            embedder,
            store,
            policy,
            cfg,
            embed_errors: AtomicU64::new(0),
            record_errors: AtomicU64::new(0),
            memo_hits: AtomicU64::new(0),
        })
    }

    /// The usual assembly: the hashing embedder at the store's dimension, a new store, and the
    /// policy `policy.policy` built from `policy`.
    pub fn from_config(
        policy: &PolicyConfig,
        store: StoreConfig,
        cfg: EngineConfig,
    ) -> Result<Engine, LearnerError> {
        let embedder = Arc::new(HashingEmbedder::new(store.dim));
        let store = Arc::new(TrajectoryStore::new(store).map_err(vecgate_index::IndexError::from)?);
        Engine::new(embedder, store, policy.build()?, cfg)
    }

    /// An engine over this one's embedder and trajectory store with another policy (built from
    /// `policy`), for a live policy change: the trajectories (and so `knn`'s and `vector`'s
    /// neighbour evidence) carry over; the new policy's own statistics start empty.
    pub fn with_policy(&self, policy: &PolicyConfig) -> Result<Engine, LearnerError> {
        Engine::new(
            Arc::clone(&self.embedder),
            Arc::clone(&self.store),
            policy.build()?,
            self.cfg.clone(),
        )
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<dyn RoutingPolicy> {
        &self.policy
    }

    /// The trajectory store.
    pub fn store(&self) -> &Arc<TrajectoryStore> {
        &self.store
    }

    /// The embedder.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The request's routing features. `args_raw_json` is the raw JSON of the arguments (or
    /// params); text that is not JSON is keyed as is. The embedding is empty when the policy is
    /// content-blind or embedding failed.
    pub fn features<'a>(
        &self,
        method: &str,
        name: Option<&str>,
        args_raw_json: Option<&str>,
        scratch: &'a mut FeatureScratch,
    ) -> RequestFeatures<'a> {
        let raw = args_raw_json.unwrap_or("");
        let canonical: &str = if raw.is_empty() {
            ""
        } else if scratch
            .canonicalizer
            .canonicalize(raw, &mut scratch.canonical)
            .is_ok()
        {
            &scratch.canonical
        } else {
            raw
        };
        let key = request_key(method, name, canonical).as_u64();
        let size = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        self.assemble(
            method,
            name,
            args_raw_json,
            key,
            size,
            &mut scratch.embedding,
        )
    }

    /// [`Engine::features`] of arguments already in canonical form (as a compiled replay
    /// workload keeps them): the same features, without canonicalising a second time.
    pub fn features_canonical<'a>(
        &self,
        method: &str,
        name: Option<&str>,
        canonical_args: Option<&str>,
        scratch: &'a mut FeatureScratch,
    ) -> RequestFeatures<'a> {
        let key = request_key(method, name, canonical_args.unwrap_or("")).as_u64();
        self.features_canonical_keyed(method, name, canonical_args, key, scratch)
    }

    /// [`Engine::features_canonical`] with the request key already computed
    /// ([`request_key`] of the same method, name and canonical arguments, as a compiled replay
    /// workload holds it): hashing kilobytes of arguments again per policy was a tenth of a
    /// learned policy's replay.
    pub fn features_canonical_keyed<'a>(
        &self,
        method: &str,
        name: Option<&str>,
        canonical_args: Option<&str>,
        key: u64,
        scratch: &'a mut FeatureScratch,
    ) -> RequestFeatures<'a> {
        let size = u32::try_from(canonical_args.map_or(0, str::len)).unwrap_or(u32::MAX);
        self.assemble(
            method,
            name,
            canonical_args,
            key,
            size,
            &mut scratch.embedding,
        )
    }

    /// The features around `key` and `size`: the tool key, and the request embedded into
    /// `embedding` when the policy uses evidence (empty when it does not, or when embedding
    /// failed, which is counted).
    fn assemble<'a>(
        &self,
        method: &str,
        name: Option<&str>,
        arguments: Option<&str>,
        key: u64,
        size: u32,
        embedding: &'a mut Vec<f32>,
    ) -> RequestFeatures<'a> {
        let mut embedded = false;
        if self.policy.uses_evidence() {
            embedding.resize(self.embedder.dim(), 0.0);
            let view = RequestView {
                method,
                name,
                arguments,
            };
            embedded = self.embedder.embed(&view, embedding).is_ok();
            if !embedded {
                self.embed_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        RequestFeatures {
            embedding: if embedded { embedding } else { &[] },
            key,
            tool: tool_key(method, name),
            size,
        }
    }

    /// Fills `scratch.evidence` with the neighbours' per-replica statistics in `pool`.
    fn gather_evidence(
        &self,
        pool: u32,
        features: &RequestFeatures<'_>,
        scratch: &mut RouteScratch,
    ) {
        scratch.evidence.clear();
        if !self.policy.uses_evidence() || features.embedding.is_empty() {
            return;
        }
        let hit = self.store.search_memo_ef(
            features.key,
            features.embedding,
            self.cfg.neighbours,
            self.cfg.search_ef,
            &mut scratch.neighbours,
        );
        if hit {
            self.memo_hits.fetch_add(1, Ordering::Relaxed);
        }
        let evidence = &mut scratch.evidence;
        for n in &scratch.neighbours {
            self.store.for_each_stat(n.entry, pool, |s| {
                evidence.push(Evidence {
                    similarity: n.similarity,
                    replica: s.replica,
                    mean_ms: s.mean_ms,
                    count: s.count,
                });
            });
        }
    }

    /// Chooses a candidate for the request. `hindsight_ms` is replay-only (the oracle's input).
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        pool: u32,
        features: &RequestFeatures<'_>,
        candidates: &[Candidate],
        now: Nanos,
        rng: &mut Rng,
        hindsight_ms: Option<&[f64]>,
        scratch: &mut RouteScratch,
    ) -> Decision {
        if candidates.len() <= 1 {
            return Decision::plain(0);
        }
        self.gather_evidence(pool, features, scratch);
        let query = RouteQuery {
            pool,
            now,
            features,
            candidates,
            evidence: &scratch.evidence,
            hindsight_ms,
        };
        let d = self.policy.choose(&query, rng);
        debug_assert!(
            d.index < candidates.len(),
            "policy returned an invalid index"
        );
        if d.index < candidates.len() {
            d
        } else {
            Decision::plain(0)
        }
    }

    /// What the policy would do for this request, and why (`route/explain`). Changes nothing.
    pub fn explain(
        &self,
        pool: u32,
        features: &RequestFeatures<'_>,
        candidates: &[Candidate],
        now: Nanos,
        scratch: &mut RouteScratch,
    ) -> Explanation {
        self.gather_evidence(pool, features, scratch);
        self.policy.explain(&RouteQuery {
            pool,
            now,
            features,
            candidates,
            evidence: &scratch.evidence,
            hindsight_ms: None,
        })
    }

    /// The instant loop for one outcome: the policy learns, and the trajectory is recorded in
    /// the store (when the request was embedded).
    pub fn learn(&self, outcome: &Outcome<'_>) {
        self.learn_with_result(outcome, 0);
    }

    /// [`Engine::learn`], also recording the result's size in bytes.
    pub fn learn_with_result(&self, outcome: &Outcome<'_>, result_bytes: u32) {
        self.policy.observe(outcome);
        let embedding = outcome.features.embedding;
        if embedding.is_empty() {
            return;
        }
        let took = outcome.service_ms.unwrap_or(outcome.latency_ms);
        let trajectory = TrajectoryOutcome {
            pool: outcome.pool,
            replica: outcome.replica,
            latency_ms: took as f32,
            success: outcome.success,
            result_bytes,
            at_ms: outcome.now.as_ms() as u64,
        };
        // The routing search left this request's neighbours in the store's memo under its key:
        // recording reuses them instead of searching again.
        if self
            .store
            .record_keyed(outcome.features.key, embedding, &trajectory)
            .is_err()
        {
            self.record_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The learner's background loop (see [`RoutingPolicy::background_tick`]).
    pub fn background_tick(&self, now: Nanos) {
        self.policy.background_tick(now);
    }

    /// The policy's learned state, for the snapshot's learner section.
    pub fn snapshot_policy(&self) -> Vec<u8> {
        self.policy.snapshot()
    }

    /// Restores the policy's learned state from [`Engine::snapshot_policy`]'s bytes.
    pub fn restore_policy(&self, bytes: &[u8]) -> Result<(), LearnerError> {
        self.policy.restore(bytes)
    }

    /// The engine's counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            embed_errors: self.embed_errors.load(Ordering::Relaxed),
            record_errors: self.record_errors.load(Ordering::Relaxed),
            memo_hits: self.memo_hits.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
