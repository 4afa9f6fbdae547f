//! The online learner behind the `vector` policy, in SONA's vocabulary.
//!
//! A **trajectory** is one request's path: its embedding and features, the steps taken (the
//! routing decision, the backend's execution) and its **quality** ([`quality`]: success × a
//! latency score against the pool's SLO).
//!
//! - **Instant loop** (per outcome, microseconds, [`Learner::observe`]): peak-EWMA per replica
//!   (the safety net), one SGD step of the additive model ([`model`]), the residual into the
//!   change detectors ([`change`]), the latency into the pattern × replica EWMA and quantile
//!   sketch ([`patterns`], [`sketch`]), and the optional low-rank adapter ([`adapter`]). The
//!   engine also records the trajectory in the index.
//! - **Background loop** (seconds, [`Learner::background_tick`]): distils recent embeddings
//!   into the pattern bank, raises change alarms (CUSUM on residuals) that age out the affected
//!   replica's or pattern × replica's weights (while quiet ones keep their knowledge), and
//!   decays the sketches.
//!
//! State snapshots ([`snapshot`]) let a restarted gateway route well from its first request.

pub mod adapter;
pub mod change;
pub mod config;
pub mod model;
pub mod patterns;
pub(crate) mod pool;
pub mod sketch;
pub mod snapshot;

#[cfg(test)]
mod ablation;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

pub use config::VectorConfig;

use crate::policy::Outcome;
use crate::policy::peak_ewma::{PeakEwmaConfig, PeakEwmaTable};
use crate::policy::table::MAX_POOLS;
use crate::time::Nanos;
use pool::PoolModel;

/// SONA's trajectory quality in `[0, 1]`: 0 for a failure, else 1 within the SLO and
/// `slo / latency` beyond it.
pub fn quality(success: bool, latency_ms: f64, slo_ms: f64) -> f64 {
    if !success || !latency_ms.is_finite() {
        return 0.0;
    }
    if latency_ms <= slo_ms {
        1.0
    } else {
        (slo_ms / latency_ms).clamp(0.0, 1.0)
    }
}

/// Counters describing what the learner has done, for metrics and replay reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LearnerStats {
    /// Outcomes learned from.
    pub outcomes: u64,
    /// Routes decided by the model.
    pub model_routes: u64,
    /// Routes decided by the p2c-peak-ewma safety net (cold pool or untracked replica).
    pub fallback_routes: u64,
    /// Routes that explored.
    pub explored: u64,
    /// Changes detected (replica and pattern × replica alarms).
    pub changes_detected: u64,
    /// Active patterns over all pools.
    pub patterns: u64,
    /// Background ticks run.
    pub ticks: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) model_routes: AtomicU64,
    pub(crate) fallback_routes: AtomicU64,
    pub(crate) explored: AtomicU64,
    pub(crate) changes: AtomicU64,
    pub(crate) ticks: AtomicU64,
}

/// The learner: one model per pool plus the peak-EWMA safety net.
#[derive(Debug)]
pub struct Learner {
    pub(crate) cfg: VectorConfig,
    pub(crate) pools: RwLock<Vec<Option<Box<PoolModel>>>>,
    pub(crate) fallback: PeakEwmaTable,
    pub(crate) counters: Counters,
}

impl Learner {
    /// A cold learner (configs validated by the caller).
    pub fn new(cfg: &VectorConfig, peak: &PeakEwmaConfig) -> Learner {
        Learner {
            cfg: cfg.clone(),
            pools: RwLock::new(Vec::new()),
            fallback: PeakEwmaTable::new(peak),
            counters: Counters::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &VectorConfig {
        &self.cfg
    }

    /// Runs `f` on the pool's model, if the pool has one.
    pub(crate) fn with_pool<R>(&self, pool: u32, f: impl FnOnce(Option<&PoolModel>) -> R) -> R {
        let pools = self.pools.read();
        f(pools.get(pool as usize).and_then(|p| p.as_deref()))
    }

    /// The instant loop for one outcome.
    pub fn observe(&self, outcome: &Outcome<'_>) {
        self.fallback.observe(outcome);
        if outcome.pool >= MAX_POOLS || outcome.replica >= self.cfg.max_replicas {
            return;
        }
        let p = outcome.pool as usize;
        let missing = self.pools.read().get(p).is_none_or(Option::is_none);
        if missing {
            let mut pools = self.pools.write();
            if pools.len() <= p {
                pools.resize_with(p + 1, || None);
            }
            if pools[p].is_none() {
                pools[p] = Some(Box::new(PoolModel::new(&self.cfg)));
            }
        }
        self.with_pool(outcome.pool, |model| {
            if let Some(model) = model {
                model.learn(
                    outcome.features,
                    outcome.replica,
                    outcome.latency_ms,
                    outcome.service_ms,
                    outcome.success,
                    &self.cfg,
                );
            }
        });
    }

    /// The background loop: change detection, pattern distillation, sketch decay. `now` is
    /// the caller's clock (wall time in the gateway, virtual time in replay); it is recorded
    /// for staleness only, so ticks may be irregular.
    pub fn background_tick(&self, _now: Nanos) {
        let tick = self.counters.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let pools = self.pools.read();
        let mut alarms = 0u64;
        for model in pools.iter().flatten() {
            alarms += u64::from(model.tick(tick, &self.cfg));
        }
        self.counters.changes.fetch_add(alarms, Ordering::Relaxed);
    }

    /// What the learner has done so far.
    pub fn stats(&self) -> LearnerStats {
        let pools = self.pools.read();
        LearnerStats {
            outcomes: pools
                .iter()
                .flatten()
                .map(|m| m.outcomes.load(Ordering::Relaxed))
                .sum(),
            model_routes: self.counters.model_routes.load(Ordering::Relaxed),
            fallback_routes: self.counters.fallback_routes.load(Ordering::Relaxed),
            explored: self.counters.explored.load(Ordering::Relaxed),
            changes_detected: self.counters.changes.load(Ordering::Relaxed),
            patterns: pools
                .iter()
                .flatten()
                .map(|m| m.patterns.active() as u64)
                .sum(),
            ticks: self.counters.ticks.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quality;

    #[test]
    fn quality_scores_success_against_the_slo() {
        assert_eq!(quality(false, 1.0, 100.0), 0.0);
        assert_eq!(quality(true, 50.0, 100.0), 1.0);
        assert_eq!(quality(true, 200.0, 100.0), 0.5);
        assert_eq!(quality(true, f64::NAN, 100.0), 0.0);
    }
}
