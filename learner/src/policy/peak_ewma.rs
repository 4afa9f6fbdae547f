//! `p2c-peak-ewma`: tower/linkerd's balancer. Two random eligible candidates, the one with the
//! lower `peak-EWMA latency × (in-flight + 1)` wins.
//!
//! Defaults are linkerd2-proxy's (`EWMA_DEFAULT_RTT` = 30 ms, `EWMA_DECAY` = 10 s). The same
//! table is the learned policies' safety net when they have too little evidence.

use serde::{Deserialize, Serialize};

use super::ewma::{DEFAULT_DECAY_SECS, DEFAULT_RTT_MS, PeakEwma};
use super::pick::two_eligible;
use super::table::ReplicaTable;
use super::{
    Candidate, CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy,
};
use crate::error::LearnerError;
use crate::rng::Rng;
use crate::time::Nanos;

/// Peak-EWMA settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeakEwmaConfig {
    /// Latency assumed for a replica with no samples, in ms (linkerd: 30).
    pub default_rtt_ms: f64,
    /// Time constant of the decay, in seconds (linkerd: 10).
    pub decay_secs: f64,
}

impl Default for PeakEwmaConfig {
    fn default() -> PeakEwmaConfig {
        PeakEwmaConfig {
            default_rtt_ms: DEFAULT_RTT_MS,
            decay_secs: DEFAULT_DECAY_SECS,
        }
    }
}

impl PeakEwmaConfig {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), LearnerError> {
        if !(self.default_rtt_ms.is_finite() && self.default_rtt_ms > 0.0) {
            return Err(LearnerError::InvalidConfig {
                key: "peak_ewma.default_rtt_ms",
                value: self.default_rtt_ms.to_string(),
                reason: "must be a finite number > 0",
            });
        }
        if !(self.decay_secs.is_finite() && self.decay_secs > 0.0) {
            return Err(LearnerError::InvalidConfig {
                key: "peak_ewma.decay_secs",
                value: self.decay_secs.to_string(),
                reason: "must be a finite number > 0",
            });
        }
        Ok(())
    }
}

/// Peak-EWMA estimates per (pool, replica), usable on their own or as a fallback.
#[derive(Debug)]
pub(crate) struct PeakEwmaTable {
    cells: ReplicaTable<PeakEwma>,
    default_ms: f64,
    decay_ns: f64,
}

impl PeakEwmaTable {
    pub(crate) fn new(cfg: &PeakEwmaConfig) -> PeakEwmaTable {
        PeakEwmaTable {
            cells: ReplicaTable::new(),
            default_ms: cfg.default_rtt_ms,
            decay_ns: cfg.decay_secs * 1e9,
        }
    }

    /// Records the outcome's response time.
    pub(crate) fn observe(&self, outcome: &Outcome<'_>) {
        self.cells.with(outcome.pool, outcome.replica, |cell| {
            cell.add(outcome.latency_ms, outcome.now, self.decay_ns)
        });
    }

    /// The decayed estimate for each candidate, passed to `f` with the cells borrowed once.
    pub(crate) fn with_estimates<R>(
        &self,
        pool: u32,
        now: Nanos,
        f: impl FnOnce(&dyn Fn(&Candidate) -> f64) -> R,
    ) -> R {
        self.cells.read(pool, |cells| {
            let estimate = |c: &Candidate| {
                cells
                    .get(c.replica as usize)
                    .map_or(self.default_ms, |cell| {
                        cell.get_at(now, self.default_ms, self.decay_ns)
                    })
            };
            f(&estimate)
        })
    }

    /// P2C on `estimate × (in-flight + 1)`; the prediction is the winner's estimate.
    pub(crate) fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        let (a, b) = two_eligible(query.candidates, rng);
        self.with_estimates(query.pool, query.now, |estimate| {
            let ca = &query.candidates[a];
            let cb = &query.candidates[b];
            let (ea, eb) = (estimate(ca), estimate(cb));
            let cost_a = ea * f64::from(ca.inflight + 1);
            let cost_b = eb * f64::from(cb.inflight + 1);
            let (index, predicted) = if cost_b < cost_a { (b, eb) } else { (a, ea) };
            Decision {
                index,
                predicted_ms: Some(predicted),
                explored: false,
            }
        })
    }

    /// One explanation row per candidate.
    pub(crate) fn explain_rows(&self, query: &RouteQuery<'_>) -> Vec<CandidateExplanation> {
        self.with_estimates(query.pool, query.now, |estimate| {
            query
                .candidates
                .iter()
                .map(|c| {
                    let e = estimate(c);
                    CandidateExplanation {
                        replica: c.replica,
                        predicted_ms: Some(e),
                        score: Some(e * f64::from(c.inflight + 1)),
                        evidence: 0,
                    }
                })
                .collect()
        })
    }

    /// Every recorded estimate as `(pool, replica, estimate_ms, stamp)`, for snapshots.
    pub(crate) fn export(&self) -> Vec<(u32, u32, f64, u64)> {
        let mut out = Vec::new();
        self.cells.for_each(|p, r, cell| {
            if let Some((est, stamp)) = cell.raw() {
                out.push((p, r, est, stamp));
            }
        });
        out
    }

    /// Restores estimates produced by [`PeakEwmaTable::export`].
    pub(crate) fn import(&self, rows: &[(u32, u32, f64, u64)]) {
        for &(p, r, est, stamp) in rows {
            if est.is_finite() && est >= 0.0 {
                self.cells.with(p, r, |cell| cell.set_raw(est, stamp));
            }
        }
    }
}

/// The `p2c-peak-ewma` policy.
#[derive(Debug)]
pub struct P2cPeakEwma {
    table: PeakEwmaTable,
}

impl P2cPeakEwma {
    /// A policy with the given settings (validated by the caller, see [`PeakEwmaConfig::validate`]).
    pub fn new(cfg: &PeakEwmaConfig) -> P2cPeakEwma {
        P2cPeakEwma {
            table: PeakEwmaTable::new(cfg),
        }
    }
}

impl RoutingPolicy for P2cPeakEwma {
    fn name(&self) -> &'static str {
        "p2c-peak-ewma"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        self.table.choose(query, rng)
    }

    fn observe(&self, outcome: &Outcome<'_>) {
        self.table.observe(outcome);
    }

    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        Explanation {
            policy: self.name(),
            candidates: self.table.explain_rows(query),
            rule: String::from(
                "two random healthy candidates; lower peak-EWMA latency × (in-flight + 1) wins",
            ),
        }
    }
}
