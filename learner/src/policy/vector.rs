//! `vector` (the default): route on the learner's per-request latency predictions.
//!
//! Per candidate the learner predicts the request's service time (additive model over key,
//! tool, size bucket and pattern, plus neighbour evidence where the key is little known; see
//! [`crate::learn`]). Cost = predicted service × (1 + in-flight / slots): the load term
//! multiplies the prediction, so a replica that is fast for a class of requests is not herded
//! onto (calibration showed that predicting completion time including the queue instead loses,
//! errors compound across queued requests).
//!
//! - **Safety net**: a cold pool (fewer than `warmup` outcomes), a candidate the model does not
//!   track, or no candidate with trusted evidence: p2c-peak-ewma decides.
//! - **Optimism**: a replica with fewer than `replica_warmup` outcomes (new, or recovered from
//!   unhealthy) is predicted as fast as the best trusted candidate, so it gets tried.
//! - **Exploration**: with probability `explore_rate` (≤ 5 %, default 1 %), the eligible
//!   candidate knowing this request least (fewest exact-key outcomes) among the least loaded
//!   ones is chosen instead; it never picks a busier replica, so it cannot herd.

use std::sync::atomic::Ordering;

use super::evidence::EvidenceSummary;
use super::pick::{any_healthy, argmin_eligible, is_eligible, load_factor};
use super::{CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy};
use crate::error::LearnerError;
use crate::learn::pool::{CandidatePrediction, PoolModel, RequestContext};
use crate::learn::{Learner, LearnerStats, VectorConfig, snapshot};
use crate::policy::peak_ewma::PeakEwmaConfig;
use crate::rng::Rng;
use crate::time::Nanos;

/// Predictions kept on the stack per route; larger candidate sets recompute the rest.
const STACK_CANDIDATES: usize = super::evidence::SUMMARISED;

/// Pseudo-count of the neighbour rows' confidence weight (as `knn`'s default).
const EVIDENCE_PRIOR_COUNT: f32 = 2.0;

/// One route's inputs, computed once: the model context and the evidence summary.
struct RouteInputs {
    ctx: RequestContext,
    evidence: EvidenceSummary,
}

/// The `vector` policy.
#[derive(Debug)]
pub struct VectorPolicy {
    learner: Learner,
}

/// Why the model cannot decide a route.
enum Plan {
    Fallback,
    Model { best_trusted_log: f64 },
}

impl VectorPolicy {
    /// A cold policy (configs validated by the caller).
    pub fn new(cfg: &VectorConfig, peak: &PeakEwmaConfig) -> VectorPolicy {
        VectorPolicy {
            learner: Learner::new(cfg, peak),
        }
    }

    /// The learner behind the policy.
    pub fn learner(&self) -> &Learner {
        &self.learner
    }

    /// The learner's counters.
    pub fn stats(&self) -> LearnerStats {
        self.learner.stats()
    }

    fn cfg(&self) -> &VectorConfig {
        &self.learner.cfg
    }

    /// Whether the model may decide, and the best trusted prediction if so.
    fn plan(
        &self,
        model: &PoolModel,
        query: &RouteQuery<'_>,
        preds: &mut [CandidatePrediction; STACK_CANDIDATES],
        inputs: &RouteInputs,
    ) -> Plan {
        let cfg = self.cfg();
        if model.outcomes.load(Ordering::Relaxed) < u64::from(cfg.warmup) {
            return Plan::Fallback;
        }
        let any = any_healthy(query.candidates);
        let mut best = f64::INFINITY;
        for (i, c) in query.candidates.iter().enumerate() {
            if !is_eligible(c, any) {
                continue;
            }
            if !model.tracks(c.replica) {
                return Plan::Fallback;
            }
            let ev = inputs.evidence.candidate(i, query.evidence, c);
            let p = model.predict(&inputs.ctx, c.replica, ev, cfg);
            if i < STACK_CANDIDATES {
                preds[i] = p;
            }
            if p.replica_count >= cfg.replica_warmup {
                best = best.min(p.log_ms);
            }
        }
        if best.is_finite() {
            Plan::Model {
                best_trusted_log: best,
            }
        } else {
            Plan::Fallback
        }
    }

    fn prediction(
        &self,
        model: &PoolModel,
        query: &RouteQuery<'_>,
        preds: &[CandidatePrediction; STACK_CANDIDATES],
        inputs: &RouteInputs,
        i: usize,
    ) -> CandidatePrediction {
        if i < STACK_CANDIDATES {
            preds[i]
        } else {
            let c = &query.candidates[i];
            let ev = inputs.evidence.candidate(i, query.evidence, c);
            model.predict(&inputs.ctx, c.replica, ev, self.cfg())
        }
    }

    fn inputs(&self, model: &PoolModel, query: &RouteQuery<'_>) -> RouteInputs {
        let evidence = if self.cfg().evidence_weight > 0.0 {
            EvidenceSummary::gather(
                query.evidence,
                query.candidates,
                self.cfg().evidence_min_similarity,
                EVIDENCE_PRIOR_COUNT,
            )
        } else {
            EvidenceSummary::gather(&[], query.candidates, 1.0, EVIDENCE_PRIOR_COUNT)
        };
        RouteInputs {
            ctx: model.context(query.features),
            evidence,
        }
    }

    /// Predicted service in ms, with the optimistic prior for little-known replicas.
    fn predicted_ms(&self, p: &CandidatePrediction, best_trusted_log: f64) -> f64 {
        if p.replica_count >= self.cfg().replica_warmup {
            p.log_ms.exp()
        } else {
            best_trusted_log.exp()
        }
    }

    fn fallback(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        self.learner
            .counters
            .fallback_routes
            .fetch_add(1, Ordering::Relaxed);
        self.learner.fallback.choose(query, rng)
    }
}

impl RoutingPolicy for VectorPolicy {
    fn name(&self) -> &'static str {
        "vector"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        self.learner.with_pool(query.pool, |model| {
            let Some(model) = model else {
                return self.fallback(query, rng);
            };
            for c in query.candidates {
                if c.healthy {
                    model.saw_healthy(c.replica);
                } else {
                    model.saw_unhealthy(c.replica);
                }
            }
            let inputs = self.inputs(model, query);
            let mut preds = [CandidatePrediction::default(); STACK_CANDIDATES];
            let Plan::Model { best_trusted_log } = self.plan(model, query, &mut preds, &inputs)
            else {
                return self.fallback(query, rng);
            };
            let counters = &self.learner.counters;
            let explore = self.cfg().explore_rate;
            if explore > 0.0 && rng.unit() < explore {
                let least_loaded = query
                    .candidates
                    .iter()
                    .filter(|c| is_eligible(c, any_healthy(query.candidates)))
                    .map(|c| c.inflight)
                    .min()
                    .unwrap_or(0);
                let index = argmin_eligible(query.candidates, rng, |i, c| {
                    if c.inflight > least_loaded {
                        f64::INFINITY
                    } else {
                        f64::from(self.prediction(model, query, &preds, &inputs, i).key_count)
                    }
                });
                counters.explored.fetch_add(1, Ordering::Relaxed);
                let p = self.prediction(model, query, &preds, &inputs, index);
                return Decision {
                    index,
                    predicted_ms: Some(self.predicted_ms(&p, best_trusted_log)),
                    explored: true,
                };
            }
            let index = argmin_eligible(query.candidates, rng, |i, c| {
                let p = self.prediction(model, query, &preds, &inputs, i);
                self.predicted_ms(&p, best_trusted_log) * load_factor(c)
            });
            counters.model_routes.fetch_add(1, Ordering::Relaxed);
            let p = self.prediction(model, query, &preds, &inputs, index);
            Decision {
                index,
                predicted_ms: Some(self.predicted_ms(&p, best_trusted_log)),
                explored: false,
            }
        })
    }

    fn observe(&self, outcome: &Outcome<'_>) {
        self.learner.observe(outcome);
    }

    fn uses_evidence(&self) -> bool {
        true
    }

    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        self.learner.with_pool(query.pool, |model| {
            let fallback = |rule: &str| Explanation {
                policy: "vector",
                candidates: self.learner.fallback.explain_rows(query),
                rule: format!("{rule}: p2c-peak-ewma safety net"),
            };
            let Some(model) = model else {
                return fallback("no outcomes for this pool yet");
            };
            let inputs = self.inputs(model, query);
            let mut preds = [CandidatePrediction::default(); STACK_CANDIDATES];
            let Plan::Model { best_trusted_log } = self.plan(model, query, &mut preds, &inputs)
            else {
                return fallback("too little evidence");
            };
            let candidates = query
                .candidates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let p = if model.tracks(c.replica) {
                        self.prediction(model, query, &preds, &inputs, i)
                    } else {
                        CandidatePrediction::default()
                    };
                    let ms = self.predicted_ms(&p, best_trusted_log);
                    let in_pattern = inputs
                        .ctx
                        .terms
                        .pattern
                        .and_then(|pat| model.patterns.stats(pat, c.replica))
                        .map_or(0, |s| s.count);
                    CandidateExplanation {
                        replica: c.replica,
                        predicted_ms: Some(ms),
                        score: Some(ms * load_factor(c)),
                        evidence: u64::from(p.key_count) + p.evidence_count + in_pattern,
                    }
                })
                .collect();
            Explanation {
                policy: "vector",
                candidates,
                rule: format!(
                    "lowest predicted service × (1 + in-flight / slots){}",
                    match inputs.ctx.terms.pattern {
                        Some(p) => format!("; request in pattern {p}"),
                        None => String::new(),
                    }
                ),
            }
        })
    }

    fn background_tick(&self, now: Nanos) {
        self.learner.background_tick(now);
    }

    fn snapshot(&self) -> Vec<u8> {
        snapshot::encode(&self.learner)
    }

    fn restore(&self, bytes: &[u8]) -> Result<(), LearnerError> {
        snapshot::restore(&self.learner, bytes)
    }
}

#[cfg(test)]
#[path = "vector_tests.rs"]
mod tests;
