//! Everything the learner knows about one pool: the hashed additive model, per-replica change
//! detectors and epochs, the pattern bank and the optional adapter. The instant loop
//! ([`PoolModel::learn`]) and the predictions routing uses ([`PoolModel::predict`]) live here.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::adapter::{Adapter, Projection};
use super::change::{Cusum, INITIAL_VAR as INITIAL_RESIDUAL_VAR};
use super::config::VectorConfig;
use super::model::{Epochs, RequestTerms, WeightTable};
use super::patterns::PatternBank;
use crate::policy::RequestFeatures;
use crate::policy::evidence::LogMean;

/// Failed requests are learned as this many times slower than predicted (or observed, if
/// worse): a replica that fails fast must not look fast.
const FAILURE_PENALTY: f64 = 4.0;
/// Smallest service time learned, in ms (the log of 0 is not a number).
const MIN_MS: f64 = 0.01;
/// Pseudo-count of the exact-key term's confidence when blending neighbour evidence.
const KEY_CONFIDENCE: f64 = 4.0;

/// Per-replica learner state.
#[derive(Debug, Default)]
pub(crate) struct ReplicaState {
    /// Bumped when change is detected or the replica recovers: its weights then relearn fast.
    pub(crate) epoch: AtomicU32,
    /// Residual change detector (written by the instant loop, read by the background loop).
    pub(crate) cusum: Mutex<Cusum>,
    /// Set when routing saw the replica unhealthy; cleared (with an epoch bump) on recovery.
    pub(crate) was_unhealthy: AtomicBool,
    /// Changes detected so far.
    pub(crate) alarms: AtomicU64,
    /// The CUSUM's long-run residual variance as `f64` bits (0 = none yet), mirrored here so
    /// routing reads it without taking the detector's lock.
    residual_var: AtomicU64,
}

impl ReplicaState {
    /// Standard deviation of this replica's prediction residuals (log space).
    pub(crate) fn residual_sd(&self) -> f64 {
        match self.residual_var.load(Ordering::Relaxed) {
            0 => INITIAL_RESIDUAL_VAR.sqrt(),
            bits => f64::from_bits(bits).sqrt(),
        }
    }

    /// Sets the mirrored residual variance (after a learning step or a snapshot restore).
    pub(crate) fn set_residual_var(&self, var: f64) {
        if var.is_finite() && var > 0.0 {
            self.residual_var.store(var.to_bits(), Ordering::Relaxed);
        }
    }
}

/// A request as the model sees it: computed once per route, reused for every candidate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestContext {
    pub(crate) terms: RequestTerms,
    pub(crate) projection: Option<Projection>,
}

/// The prediction for one candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CandidatePrediction {
    /// Predicted `ln(service_ms)` after the evidence correction.
    pub(crate) log_ms: f64,
    /// Outcomes behind the replica term.
    pub(crate) replica_count: u32,
    /// Outcomes behind the tool term.
    pub(crate) tool_count: u32,
    /// Outcomes behind the exact-key term.
    pub(crate) key_count: u32,
    /// Outcomes behind the neighbour evidence used.
    pub(crate) evidence_count: u64,
}

/// One pool's model.
#[derive(Debug)]
pub(crate) struct PoolModel {
    pub(crate) table: WeightTable,
    pub(crate) replicas: Box<[ReplicaState]>,
    pub(crate) patterns: PatternBank,
    pub(crate) adapter: RwLock<Option<Adapter>>,
    pub(crate) outcomes: AtomicU64,
}

impl PoolModel {
    pub(crate) fn new(cfg: &VectorConfig) -> PoolModel {
        PoolModel {
            table: WeightTable::new(cfg.table_bits),
            replicas: (0..cfg.max_replicas)
                .map(|_| ReplicaState::default())
                .collect(),
            patterns: PatternBank::new(
                cfg.max_patterns,
                cfg.pattern_similarity,
                cfg.pattern_window,
                cfg.max_replicas,
            ),
            adapter: RwLock::new(None),
            outcomes: AtomicU64::new(0),
        }
    }

    /// True when the model tracks `replica`.
    pub(crate) fn tracks(&self, replica: u32) -> bool {
        (replica as usize) < self.replicas.len()
    }

    fn epochs(&self, replica: u32, pattern: Option<u16>) -> Epochs {
        Epochs {
            replica: self.replicas[replica as usize]
                .epoch
                .load(Ordering::Relaxed) as u16,
            pattern: self.patterns.epoch(pattern, replica),
        }
    }

    /// The request's model context (pattern assignment and adapter projection).
    pub(crate) fn context(&self, features: &RequestFeatures<'_>) -> RequestContext {
        let pattern = self.patterns.assign(features.embedding);
        let projection = self
            .adapter
            .read()
            .as_ref()
            .and_then(|a| a.project(features.embedding));
        RequestContext {
            terms: RequestTerms::new(features.key, features.tool, features.size, pattern),
            projection,
        }
    }

    /// Predicts the request's service time on a tracked `replica`, blending in the neighbour
    /// evidence about that replica where the exact key is still little known.
    pub(crate) fn predict(
        &self,
        ctx: &RequestContext,
        replica: u32,
        evidence: LogMean,
        cfg: &VectorConfig,
    ) -> CandidatePrediction {
        let p = self
            .table
            .predict(&ctx.terms, replica, self.epochs(replica, ctx.terms.pattern));
        let mut log_ms = p.log_ms;
        if let Some(proj) = &ctx.projection
            && let Some(a) = self.adapter.read().as_ref()
        {
            log_ms += a.delta(proj, replica);
        }
        let mut evidence_count = 0;
        if cfg.evidence_weight > 0.0
            && let Some(neighbours_log) = evidence.log_mean()
        {
            let w = evidence.weight;
            let key_conf = f64::from(p.key_count) / (f64::from(p.key_count) + KEY_CONFIDENCE);
            let lambda = f64::from(cfg.evidence_weight) * (w / (w + 1.0)) * (1.0 - key_conf);
            log_ms = (1.0 - lambda) * log_ms + lambda * neighbours_log;
            evidence_count = evidence.count;
        }
        CandidatePrediction {
            log_ms,
            replica_count: p.replica_count,
            tool_count: p.tool_count,
            key_count: p.key_count,
            evidence_count,
        }
    }

    /// The instant loop for one outcome on a tracked replica: SGD on the model (and adapter),
    /// residual into the change detectors, latency into the pattern statistics.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn learn(
        &self,
        features: &RequestFeatures<'_>,
        replica: u32,
        latency_ms: f64,
        service_ms: Option<f64>,
        success: bool,
        cfg: &VectorConfig,
    ) {
        let ctx = self.ensure_adapter_context(features, cfg);
        let epochs = self.epochs(replica, ctx.terms.pattern);
        let offset = match &ctx.projection {
            Some(proj) => self
                .adapter
                .read()
                .as_ref()
                .map_or(0.0, |a| a.delta(proj, replica)),
            None => 0.0,
        };
        let observed = service_ms.unwrap_or(latency_ms).max(MIN_MS);
        let target = if success {
            observed.ln()
        } else {
            let predicted = self.table.predict(&ctx.terms, replica, epochs).log_ms + offset;
            observed.ln().max(predicted) + FAILURE_PENALTY.ln()
        };
        let residual = self
            .table
            .learn(&ctx.terms, replica, epochs, target, offset, cfg.lr_floor);
        if let Some(proj) = &ctx.projection
            && let Some(a) = self.adapter.write().as_mut()
        {
            a.learn(features.embedding, proj, replica, residual);
        }
        let state = &self.replicas[replica as usize];
        let var = {
            let mut cusum = state.cusum.lock();
            cusum.add(residual);
            cusum.variance()
        };
        state.set_residual_var(var);
        if let Some(p) = ctx.terms.pattern {
            self.patterns.record(p, replica, observed, residual);
        }
        self.patterns.remember(features.embedding);
        self.outcomes.fetch_add(1, Ordering::Relaxed);
    }

    /// Like [`PoolModel::context`], creating the adapter on the first embedding when enabled.
    fn ensure_adapter_context(
        &self,
        features: &RequestFeatures<'_>,
        cfg: &VectorConfig,
    ) -> RequestContext {
        if cfg.adapter_rank > 0 && !features.embedding.is_empty() {
            let dim = features.embedding.len();
            let stale = self.adapter.read().as_ref().is_none_or(|a| a.dim() != dim);
            if stale {
                *self.adapter.write() = Some(Adapter::new(
                    usize::from(cfg.adapter_rank),
                    dim,
                    self.replicas.len(),
                    cfg.adapter_lr,
                    cfg.seed,
                ));
            }
        }
        self.context(features)
    }

    /// Marks a replica seen unhealthy by routing.
    pub(crate) fn saw_unhealthy(&self, replica: u32) {
        // Load first: the common case (already marked) must not write the shared line.
        if let Some(r) = self.replicas.get(replica as usize)
            && !r.was_unhealthy.load(Ordering::Relaxed)
        {
            r.was_unhealthy.store(true, Ordering::Relaxed);
        }
    }

    /// Marks a replica seen healthy; if it was unhealthy, its knowledge is aged so it is tried
    /// again (the optimistic prior) and relearned fast.
    pub(crate) fn saw_healthy(&self, replica: u32) {
        if let Some(r) = self.replicas.get(replica as usize)
            && r.was_unhealthy.load(Ordering::Relaxed)
            && r.was_unhealthy.swap(false, Ordering::Relaxed)
        {
            r.epoch.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The background loop for this pool: replica and pattern change detection, sketch decay,
    /// reclustering. Returns the number of changes detected.
    pub(crate) fn tick(&self, tick: u64, cfg: &VectorConfig) -> u32 {
        let mut alarms = 0;
        for r in self.replicas.iter() {
            let mut c = r.cusum.lock();
            if c.alarmed(cfg.change_threshold) {
                c.reset();
                r.epoch.fetch_add(1, Ordering::Relaxed);
                r.alarms.fetch_add(1, Ordering::Relaxed);
                alarms += 1;
            }
        }
        alarms
            + self
                .patterns
                .tick(tick, cfg.change_threshold, cfg.sketch_decay)
    }
}
