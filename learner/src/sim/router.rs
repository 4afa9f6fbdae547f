//! What the simulator routes with.
//!
//! [`PolicyRouter`] drives a bare [`RoutingPolicy`] with the request's precomputed features
//! (key, tool, size; no embedding, no neighbour evidence): the right harness for content-blind
//! policies and for the supermarket sanity test. [`EngineRouter`] drives the learner's engine,
//! the code path the gateway runs for every request.

use std::collections::HashMap;
use std::sync::Arc;

use super::workload::Workload;
use crate::engine::{Engine, FeatureScratch, RouteScratch};
use crate::policy::{Candidate, Decision, Outcome, RequestFeatures, RouteQuery, RoutingPolicy};
use crate::rng::Rng;
use crate::time::Nanos;
use vecgate_index::store::StoreStats;

/// One routing decision's inputs, as the simulator knows them.
#[derive(Clone, Copy, Debug)]
pub struct RouteInput<'a> {
    /// Request index in the workload.
    pub request: usize,
    /// Now, in virtual time.
    pub now: Nanos,
    /// The pool's replicas with live load and health.
    pub candidates: &'a [Candidate],
    /// True service time on each candidate (for the oracle only).
    pub hindsight_ms: &'a [f64],
}

/// One completed request, as the simulator knows it.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// Request index in the workload.
    pub request: usize,
    /// Replica index within the pool.
    pub replica: u32,
    /// When it was sent.
    pub sent: Nanos,
    /// When it completed.
    pub now: Nanos,
    /// Latency including queueing, ms.
    pub latency_ms: f64,
    /// Service time alone, ms.
    pub service_ms: f64,
    /// Whether it succeeded.
    pub success: bool,
}

/// The simulator's view of a router: route, learn, tick. Implemented for a bare policy here
/// and for the learner's engine (embedder + index + policy).
pub trait SimRouter {
    /// The policy's name.
    fn name(&self) -> &'static str;
    /// Chooses a candidate for one request.
    fn route(&mut self, workload: &Workload, input: &RouteInput<'_>, rng: &mut Rng) -> Decision;
    /// Learns from one completion.
    fn learn(&mut self, workload: &Workload, completion: &Completion);
    /// The background loop, called once per virtual second.
    fn tick(&mut self, now: Nanos);
    /// The shape of the trajectory store behind the policy, if it has one (reported beside
    /// the run, not part of its figures).
    fn store_stats(&self) -> Option<StoreStats> {
        None
    }
}

/// A bare policy fed precomputed features.
pub struct PolicyRouter {
    policy: Arc<dyn RoutingPolicy>,
}

impl PolicyRouter {
    /// Wraps `policy`.
    pub fn new(policy: Arc<dyn RoutingPolicy>) -> PolicyRouter {
        PolicyRouter { policy }
    }
}

fn features(workload: &Workload, request: usize) -> RequestFeatures<'static> {
    let r = &workload.requests[request];
    RequestFeatures {
        embedding: &[],
        key: r.key,
        tool: r.tool,
        size: r.size,
    }
}

impl SimRouter for PolicyRouter {
    fn name(&self) -> &'static str {
        self.policy.name()
    }

    fn route(&mut self, workload: &Workload, input: &RouteInput<'_>, rng: &mut Rng) -> Decision {
        let features = features(workload, input.request);
        let query = RouteQuery {
            pool: workload.requests[input.request].pool,
            now: input.now,
            features: &features,
            candidates: input.candidates,
            evidence: &[],
            hindsight_ms: Some(input.hindsight_ms),
        };
        self.policy.choose(&query, rng)
    }

    fn learn(&mut self, workload: &Workload, c: &Completion) {
        let features = features(workload, c.request);
        self.policy.observe(&Outcome {
            pool: workload.requests[c.request].pool,
            replica: c.replica,
            features: &features,
            sent: c.sent,
            now: c.now,
            latency_ms: c.latency_ms,
            service_ms: Some(c.service_ms),
            success: c.success,
        });
    }

    fn tick(&mut self, now: Nanos) {
        self.policy.background_tick(now);
    }
}

/// The learner's [`Engine`] (embedder + trajectory index + policy), exactly as the gateway
/// drives it: features from the request's method, target and arguments, neighbour evidence
/// from the index when the policy uses it, learning that records trajectories. Needs a
/// workload compiled with its request text.
pub struct EngineRouter {
    engine: Engine,
    features: FeatureScratch,
    route: RouteScratch,
    /// Features of routed requests not yet completed, by request index: learning reuses them,
    /// as the gateway carries them from its route to its outcome, instead of canonicalising and
    /// embedding the request a second time.
    pending: HashMap<usize, Pending>,
    /// Recycled embedding buffers.
    spare: Vec<Vec<f32>>,
}

/// A routed request's features, owned.
struct Pending {
    embedding: Vec<f32>,
    key: u64,
    tool: u64,
    size: u32,
}

impl EngineRouter {
    /// Wraps `engine`.
    pub fn new(engine: Engine) -> EngineRouter {
        EngineRouter {
            engine,
            features: FeatureScratch::default(),
            route: RouteScratch::default(),
            pending: HashMap::new(),
            spare: Vec::new(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl SimRouter for EngineRouter {
    fn name(&self) -> &'static str {
        self.engine.policy().name()
    }

    fn route(&mut self, workload: &Workload, input: &RouteInput<'_>, rng: &mut Rng) -> Decision {
        let pool = workload.requests[input.request].pool;
        let Some(text) = workload.text(input.request) else {
            // Compiled without text: fall back to the precomputed features.
            let features = features(workload, input.request);
            let mut scratch = RouteScratch::default();
            return self.engine.route(
                pool,
                &features,
                input.candidates,
                input.now,
                rng,
                Some(input.hindsight_ms),
                &mut scratch,
            );
        };
        let name = (!text.target.is_empty()).then_some(text.target.as_str());
        let args = (!text.args.is_empty()).then_some(text.args.as_str());
        // The workload keeps arguments canonical already, and their key: canonicalising them
        // again per policy was a fifth of a learned policy's replay, hashing them a tenth.
        let key = workload.requests[input.request].key;
        let features =
            self.engine
                .features_canonical_keyed(&text.method, name, args, key, &mut self.features);
        let mut embedding = self.spare.pop().unwrap_or_default();
        embedding.clear();
        embedding.extend_from_slice(features.embedding);
        let stashed = Pending {
            embedding,
            key: features.key,
            tool: features.tool,
            size: features.size,
        };
        if let Some(old) = self.pending.insert(input.request, stashed) {
            self.spare.push(old.embedding);
        }
        self.engine.route(
            pool,
            &features,
            input.candidates,
            input.now,
            rng,
            Some(input.hindsight_ms),
            &mut self.route,
        )
    }

    fn learn(&mut self, workload: &Workload, c: &Completion) {
        let pool = workload.requests[c.request].pool;
        if let Some(p) = self.pending.remove(&c.request) {
            let features = RequestFeatures {
                embedding: &p.embedding,
                key: p.key,
                tool: p.tool,
                size: p.size,
            };
            self.engine.learn(&outcome(pool, c, &features));
            self.spare.push(p.embedding);
            return;
        }
        match workload.text(c.request) {
            Some(text) => {
                let name = (!text.target.is_empty()).then_some(text.target.as_str());
                let args = (!text.args.is_empty()).then_some(text.args.as_str());
                let key = workload.requests[c.request].key;
                let features = self.engine.features_canonical_keyed(
                    &text.method,
                    name,
                    args,
                    key,
                    &mut self.features,
                );
                self.engine.learn(&outcome(pool, c, &features));
            }
            None => {
                let features = features(workload, c.request);
                self.engine.learn(&outcome(pool, c, &features));
            }
        }
    }

    fn tick(&mut self, now: Nanos) {
        self.engine.background_tick(now);
    }

    fn store_stats(&self) -> Option<StoreStats> {
        // Content-blind policies never record: no store worth reporting.
        self.engine
            .policy()
            .uses_evidence()
            .then(|| self.engine.store().stats())
    }
}

fn outcome<'a>(pool: u32, c: &Completion, features: &'a RequestFeatures<'a>) -> Outcome<'a> {
    Outcome {
        pool,
        replica: c.replica,
        features,
        sent: c.sent,
        now: c.now,
        latency_ms: c.latency_ms,
        service_ms: Some(c.service_ms),
        success: c.success,
    }
}
