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
//!   unhealthy) is predicted as fast as the best trusted candidate, so it gets tried. The same
//!   holds per tool: a replica that has served a tool fewer than `tool_warmup` times is
//!   predicted no slower than the best candidate that knows the tool. Why: the model is
//!   additive, so a replica slow at one tool carries part of that slowness in its replica term
//!   and an unseen (tool, replica) pair is predicted slow; without this it was never tried
//!   again except by the 1 % exploration (issue 4).
//! - **Thompson sampling**: the load term breaks ties only when something is in flight;
//!   sequential traffic sees zero everywhere, and a deterministic argmin then sends all of it to
//!   whichever replica's estimate is marginally lower, so the others' estimates never improve.
//!   So when no eligible candidate has anything in flight (and only then: under load the draws
//!   cost p95 in replay and the load term already spreads), each candidate's log service time
//!   is drawn optimistically from its posterior,
//!   `mean − sd · |z|` with `z ~ N(0, 1)` (optimistic Thompson sampling: a sample is never
//!   worse than the mean, so evidence only ever adds exploration, never vetoes a candidate).
//!   `sd = thompson_scale · σ / √(1 + n)`: `σ` is the candidates' residual spread (the root
//!   mean of their change detectors' long-run variances, capped at 1 in log space; one value
//!   per route, since per replica a replica mispredicted at one tool was sampled wider and
//!   won the other tools' traffic in the unit test of this shape), `n` the outcomes behind
//!   the prediction (the tool's or exact key's count, the replica's when that is smaller),
//!   capped at the learning-rate floor's effective window `(2 − floor) / floor` (99 at the
//!   default floor): the weights are an EWMA that never knows more than that window, so the
//!   exploration never vanishes. Replicas whose means differ by several sd (a real speed
//!   difference) are still separated; replicas whose estimates are within noise share the
//!   traffic. The draws come from a generator seeded once per route from the caller's [`Rng`],
//!   so replay stays deterministic, and nothing is allocated.
//! - **Exploration**: with probability `explore_rate` (≤ 5 %, default 1 %), the eligible
//!   candidate knowing this request least (fewest exact-key outcomes) among the least loaded
//!   ones is chosen instead; it never picks a busier replica, so it cannot herd.

use std::sync::atomic::Ordering;

use super::evidence::EvidenceSummary;
use super::pick::{any_healthy, argmin_eligible, is_eligible, load_factor};
use super::{
    Candidate, CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy,
};
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

/// Largest residual spread (log space) a Thompson sample uses: a replica with erratic
/// residuals is explored at most as if its latency varied e-fold, so it cannot win traffic
/// through noise alone.
const MAX_SIGMA: f64 = 1.0;

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

/// Whether the model can decide a route.
enum Plan {
    Fallback,
    Model(Priors),
}

/// The optimistic priors of one route (log ms).
#[derive(Clone, Copy)]
struct Priors {
    /// The best prediction among replicas past `replica_warmup`.
    best_trusted: f64,
    /// The best among those that also know the request's tool (past `tool_warmup`); infinite
    /// when none does.
    best_tool_trusted: f64,
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

    /// Whether the model may decide, and the optimistic priors if so.
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
        let mut best_tool = f64::INFINITY;
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
                if p.tool_count >= cfg.tool_warmup {
                    best_tool = best_tool.min(p.log_ms);
                }
            }
        }
        if best.is_finite() {
            Plan::Model(Priors {
                best_trusted: best,
                best_tool_trusted: best_tool,
            })
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

    /// Predicted `ln(service_ms)`, with the optimistic priors for a little-known replica or a
    /// tool the replica has rarely served.
    fn mean_log(&self, p: &CandidatePrediction, priors: Priors) -> f64 {
        let cfg = self.cfg();
        if p.replica_count < cfg.replica_warmup {
            priors.best_trusted
        } else if p.tool_count < cfg.tool_warmup {
            p.log_ms.min(priors.best_tool_trusted)
        } else {
            p.log_ms
        }
    }

    /// Predicted service in ms (the posterior mean, without the Thompson draw).
    fn predicted_ms(&self, p: &CandidatePrediction, priors: Priors) -> f64 {
        self.mean_log(p, priors).exp()
    }

    /// The residual spread the Thompson draws use (log space): the root mean residual
    /// variance of the tracked eligible candidates, capped. One value for the whole route, so
    /// candidates differ only in their means and evidence: a replica whose residuals are wide
    /// because the model mispredicted one of its tools must not win the others' traffic by
    /// being sampled wider.
    fn route_sigma(&self, model: &PoolModel, candidates: &[Candidate]) -> f64 {
        let any = any_healthy(candidates);
        let (mut sum, mut n) = (0.0, 0u32);
        for c in candidates {
            if is_eligible(c, any)
                && let Some(r) = model.replicas.get(c.replica as usize)
            {
                sum += r.residual_sd().powi(2);
                n += 1;
            }
        }
        if n == 0 {
            return 0.0;
        }
        (sum / f64::from(n)).sqrt().min(MAX_SIGMA)
    }

    /// The posterior spread of one prediction (log space) given the route's `sigma`; see the
    /// module doc.
    fn spread(&self, sigma: f64, p: &CandidatePrediction) -> f64 {
        let cfg = self.cfg();
        let floor = f64::from(cfg.lr_floor);
        let window = (2.0 - floor) / floor;
        let n = f64::from(p.replica_count.min(p.tool_count.max(p.key_count))).min(window);
        cfg.thompson_scale * sigma / (1.0 + n).sqrt()
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
            let Plan::Model(priors) = self.plan(model, query, &mut preds, &inputs) else {
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
                    predicted_ms: Some(self.predicted_ms(&p, priors)),
                    explored: true,
                };
            }
            // Sampling only when the load term cannot break ties (nothing in flight on any
            // eligible candidate): under load the deterministic argmin does not herd, and
            // replay measured the draws costing p95 there (affinity +22 %). A generator of its
            // own, so the draws and argmin's tie-breaking can both borrow one; without draws the
            // caller's stream is consumed exactly as without sampling.
            let idle = {
                let any = any_healthy(query.candidates);
                query
                    .candidates
                    .iter()
                    .all(|c| !is_eligible(c, any) || c.inflight == 0)
            };
            let mut draws = (idle && self.cfg().thompson_scale > 0.0).then(|| {
                (
                    Rng::seed(rng.next_u64()),
                    self.route_sigma(model, query.candidates),
                )
            });
            let index = argmin_eligible(query.candidates, rng, |i, c| {
                let p = self.prediction(model, query, &preds, &inputs, i);
                let mut log = self.mean_log(&p, priors);
                if let Some((draws, sigma)) = draws.as_mut() {
                    log -= self.spread(*sigma, &p) * draws.normal().abs();
                }
                log.exp() * load_factor(c)
            });
            counters.model_routes.fetch_add(1, Ordering::Relaxed);
            let p = self.prediction(model, query, &preds, &inputs, index);
            Decision {
                index,
                predicted_ms: Some(self.predicted_ms(&p, priors)),
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
            let Plan::Model(priors) = self.plan(model, query, &mut preds, &inputs) else {
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
                    let ms = self.predicted_ms(&p, priors);
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
                    "lowest predicted service × (1 + in-flight / slots), each prediction an \
                     optimistic Thompson draw around the mean shown{}",
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
