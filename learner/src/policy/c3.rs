//! `c3`: adaptive replica selection from Suresh et al., "C3: Cutting Tail Latency in Cloud Data
//! Stores via Adaptive Replica Selection" (NSDI 2015), as Elasticsearch ships it.
//!
//! Score (lower wins) `Ψ = R̄ − T̄ + q̂³·T̄`, the paper's `R̄ − 1/μ̄ + q̂³/μ̄` written with the
//! service *time* `T̄ = 1/μ̄` (the note in `ResponseCollectorService` about ES dividing by a time
//! is why this is spelled out). MCP backends report no queue size, so `q̂ = 1 + in-flight ·
//! clients` comes from this gateway's own counts. `T̄` is the EWMA of service time when the
//! outcome carries it (replay) and of response time otherwise (then `Ψ = q̂³·R̄`). The paper's
//! rate control and backpressure are not part of replica ranking and are left out.

use serde::{Deserialize, Serialize};

use super::ewma::{DEFAULT_RTT_MS, Ewma};
use super::pick::argmin_eligible;
use super::table::ReplicaTable;
use super::{
    Candidate, CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy,
};
use crate::error::LearnerError;
use crate::rng::Rng;

/// C3 settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct C3Config {
    /// Weight of a new sample in the EWMAs (Elasticsearch's `ALPHA`: 0.3).
    pub alpha: f64,
    /// `n` in `q̂ = 1 + os·n`: how many gateways share the replicas (1 = this one alone).
    pub clients: u32,
    /// Response and service time assumed before any sample, in ms.
    pub default_ms: f64,
}

impl Default for C3Config {
    fn default() -> C3Config {
        C3Config {
            alpha: 0.3,
            clients: 1,
            default_ms: DEFAULT_RTT_MS,
        }
    }
}

impl C3Config {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), LearnerError> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(LearnerError::InvalidConfig {
                key: "c3.alpha",
                value: self.alpha.to_string(),
                reason: "must be in (0, 1]",
            });
        }
        if self.clients == 0 {
            return Err(LearnerError::InvalidConfig {
                key: "c3.clients",
                value: self.clients.to_string(),
                reason: "must be >= 1",
            });
        }
        if !(self.default_ms.is_finite() && self.default_ms > 0.0) {
            return Err(LearnerError::InvalidConfig {
                key: "c3.default_ms",
                value: self.default_ms.to_string(),
                reason: "must be a finite number > 0",
            });
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct C3Cell {
    response_ms: Ewma,
    service_ms: Ewma,
}

/// The `c3` policy: a full scan for the lowest C3 score.
#[derive(Debug)]
pub struct C3 {
    cells: ReplicaTable<C3Cell>,
    cfg: C3Config,
}

impl C3 {
    /// A policy with the given settings (validated by the caller).
    pub fn new(cfg: &C3Config) -> C3 {
        C3 {
            cells: ReplicaTable::new(),
            cfg: cfg.clone(),
        }
    }

    fn score(&self, cells: &[C3Cell], c: &Candidate) -> (f64, f64) {
        let (r, t) = cells.get(c.replica as usize).map_or(
            (self.cfg.default_ms, self.cfg.default_ms),
            |cell| {
                let r = cell.response_ms.get().unwrap_or(self.cfg.default_ms);
                (r, cell.service_ms.get().unwrap_or(r))
            },
        );
        let q = 1.0 + f64::from(c.inflight) * f64::from(self.cfg.clients);
        (r - t + q * q * q * t, r)
    }
}

impl RoutingPolicy for C3 {
    fn name(&self) -> &'static str {
        "c3"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        self.cells.read(query.pool, |cells| {
            let index = argmin_eligible(query.candidates, rng, |_, c| self.score(cells, c).0);
            Decision {
                index,
                predicted_ms: Some(self.score(cells, &query.candidates[index]).1),
                explored: false,
            }
        })
    }

    fn observe(&self, outcome: &Outcome<'_>) {
        let alpha = self.cfg.alpha;
        self.cells.with(outcome.pool, outcome.replica, |cell| {
            cell.response_ms.add(outcome.latency_ms, alpha);
            cell.service_ms
                .add(outcome.service_ms.unwrap_or(outcome.latency_ms), alpha);
        });
    }

    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        let candidates = self.cells.read(query.pool, |cells| {
            query
                .candidates
                .iter()
                .map(|c| {
                    let (score, r) = self.score(cells, c);
                    CandidateExplanation {
                        replica: c.replica,
                        predicted_ms: Some(r),
                        score: Some(score),
                        evidence: 0,
                    }
                })
                .collect()
        });
        Explanation {
            policy: self.name(),
            candidates,
            rule: String::from("lowest C3 score R̄ − T̄ + (1 + in-flight·clients)³·T̄"),
        }
    }
}
