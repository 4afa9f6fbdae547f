//! `knn`: route on the request's nearest past trajectories and nothing else learned.
//!
//! Each candidate's latency is predicted from the [`super::Evidence`] rows about it: a geometric
//! mean of the neighbours' mean latencies weighted by `similarity² · count / (count +
//! prior_count)` (close neighbours count more, and a mean over many outcomes more than a single
//! sample). A
//! candidate no neighbour has used gets the weighted mean over all rows (neutral, neither
//! penalised nor favoured). Cost = prediction × (1 + in-flight / slots). With no usable evidence
//! at all (cold index, novel request) it falls back to `p2c-peak-ewma`, the same safety net as
//! `vector`, which is the only state it keeps itself.

use serde::{Deserialize, Serialize};

use super::evidence::EvidenceSummary;
use super::peak_ewma::{PeakEwmaConfig, PeakEwmaTable};
use super::pick::{argmin_eligible, load_factor};
use super::{CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy};
use crate::error::LearnerError;
use crate::rng::Rng;

/// k-NN settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnConfig {
    /// Neighbours less similar than this are ignored (cosine).
    pub min_similarity: f32,
    /// Pseudo-count of the confidence weight `count / (count + prior_count)`.
    pub prior_count: f32,
}

impl Default for KnnConfig {
    fn default() -> KnnConfig {
        KnnConfig {
            min_similarity: 0.5,
            prior_count: 2.0,
        }
    }
}

impl KnnConfig {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), LearnerError> {
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err(LearnerError::InvalidConfig {
                key: "knn.min_similarity",
                value: self.min_similarity.to_string(),
                reason: "must be in [-1, 1]",
            });
        }
        if !(self.prior_count.is_finite() && self.prior_count >= 0.0) {
            return Err(LearnerError::InvalidConfig {
                key: "knn.prior_count",
                value: self.prior_count.to_string(),
                reason: "must be a finite number >= 0",
            });
        }
        Ok(())
    }
}

/// The `knn` policy.
#[derive(Debug)]
pub struct Knn {
    cfg: KnnConfig,
    fallback: PeakEwmaTable,
}

impl Knn {
    /// A policy with the given settings (validated by the caller).
    pub fn new(cfg: &KnnConfig, peak: &PeakEwmaConfig) -> Knn {
        Knn {
            cfg: cfg.clone(),
            fallback: PeakEwmaTable::new(peak),
        }
    }

    fn summary(&self, query: &RouteQuery<'_>) -> EvidenceSummary {
        EvidenceSummary::gather(
            query.evidence,
            query.candidates,
            self.cfg.min_similarity,
            self.cfg.prior_count,
        )
    }

    /// Predicted ms and evidence count for candidate `i`, given the all-rows prior (log ms).
    fn predict(
        &self,
        s: &EvidenceSummary,
        query: &RouteQuery<'_>,
        i: usize,
        prior_log: f64,
    ) -> (f64, u64) {
        let m = s.candidate(i, query.evidence, &query.candidates[i]);
        (m.log_mean().unwrap_or(prior_log).exp(), m.count)
    }
}

impl RoutingPolicy for Knn {
    fn name(&self) -> &'static str {
        "knn"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        let s = self.summary(query);
        let Some(prior) = s.all.log_mean() else {
            return self.fallback.choose(query, rng);
        };
        let index = argmin_eligible(query.candidates, rng, |i, c| {
            self.predict(&s, query, i, prior).0 * load_factor(c)
        });
        Decision {
            index,
            predicted_ms: Some(self.predict(&s, query, index, prior).0),
            explored: false,
        }
    }

    fn observe(&self, outcome: &Outcome<'_>) {
        self.fallback.observe(outcome);
    }

    fn uses_evidence(&self) -> bool {
        true
    }

    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        let s = self.summary(query);
        match s.all.log_mean() {
            None => Explanation {
                policy: self.name(),
                candidates: self.fallback.explain_rows(query),
                rule: String::from("no usable neighbour evidence: p2c-peak-ewma fallback"),
            },
            Some(prior) => Explanation {
                policy: self.name(),
                candidates: query
                    .candidates
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let (ms, n) = self.predict(&s, query, i, prior);
                        CandidateExplanation {
                            replica: c.replica,
                            predicted_ms: Some(ms),
                            score: Some(ms * load_factor(c)),
                            evidence: n,
                        }
                    })
                    .collect(),
                rule: String::from("lowest neighbour-predicted latency × (1 + in-flight / slots)"),
            },
        }
    }
}
