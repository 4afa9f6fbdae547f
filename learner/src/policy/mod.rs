//! Routing policies: which replica of a pool serves this request.
//!
//! One trait, [`RoutingPolicy`], is called by the gateway for every multi-replica choice and by
//! the replay simulator for every simulated request, so a policy measured offline is the policy
//! that runs in production.
//!
//! # Contract
//! - [`RoutingPolicy::choose`] runs on the request path. Budget: a few microseconds for 10
//!   candidates, no blocking, no allocation in steady state. It receives everything it needs as
//!   arguments: live load ([`Candidate::inflight`]), the request's features, the index's
//!   neighbours ([`Evidence`]), the time and an RNG.
//! - [`RoutingPolicy::observe`] receives each outcome, off the request path in the gateway
//!   (through a bounded channel) and inline in the simulator. Policies keep their state behind
//!   interior mutability so both callers can share one instance.
//! - Neither method reads a clock or a global RNG: time and randomness are inputs.

pub mod c3;
mod config;
pub(crate) mod evidence;
pub mod ewma;
pub mod knn;
pub mod least_inflight;
pub mod oracle;
pub mod p2c_inflight;
pub mod peak_ewma;
pub(crate) mod pick;
pub mod random;
pub mod round_robin;
pub(crate) mod table;
pub mod vector;

#[cfg(test)]
pub(crate) mod tests;

pub use config::{DEFAULT_POLICY, POLICY_NAMES, PolicyConfig, build};
pub use ewma::{DEFAULT_DECAY_SECS, DEFAULT_RTT_MS};

use crate::error::LearnerError;
use crate::rng::Rng;
use crate::time::Nanos;

/// What the caller knows about one candidate replica at decision time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The replica's index in its pool's configured replica list (stable across restarts).
    pub replica: u32,
    /// Requests this gateway has sent to the replica that have not completed.
    pub inflight: u32,
    /// How many requests the replica serves at once, if known (0 = unknown).
    pub slots: u32,
    /// False while the replica is down, restarting or circuit-broken. Policies never choose an
    /// unhealthy candidate when a healthy one exists.
    pub healthy: bool,
}

/// The request, as routing sees it. Cheap to build: the gateway computes it once per request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFeatures<'a> {
    /// The L2-normalised request embedding (see `vecgate_index::embed`). May be empty when the
    /// caller runs a content-blind policy and skipped embedding.
    pub embedding: &'a [f32],
    /// Hash of the canonical request (method, tool or URI, canonical arguments).
    pub key: u64,
    /// Hash of method and tool/URI/prompt name, without arguments.
    pub tool: u64,
    /// Size of the serialized arguments in bytes.
    pub size: u32,
}

/// One row of neighbour evidence from the trajectory index: how a similar past request fared on
/// one replica.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    /// Cosine similarity of the neighbour to this request, in `[-1, 1]`.
    pub similarity: f32,
    /// The replica the neighbour's statistics are about.
    pub replica: u32,
    /// Mean (EWMA) latency of the neighbour's requests on that replica, in ms.
    pub mean_ms: f32,
    /// How many outcomes that mean summarises.
    pub count: u32,
}

/// Everything a policy may look at to make one choice.
#[derive(Clone, Copy, Debug)]
pub struct RouteQuery<'a> {
    /// The pool the request goes to (the gateway's pool index).
    pub pool: u32,
    /// Now, on the caller's clock.
    pub now: Nanos,
    /// The request.
    pub features: &'a RequestFeatures<'a>,
    /// The replicas to choose from; never empty.
    pub candidates: &'a [Candidate],
    /// Neighbour evidence, empty when the policy does not use it or the index is cold.
    pub evidence: &'a [Evidence],
    /// Replay only: the request's true service time on each candidate (same order), which only
    /// the `oracle` policy reads. Always `None` in the gateway.
    pub hindsight_ms: Option<&'a [f64]>,
}

/// A policy's choice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Index into [`RouteQuery::candidates`].
    pub index: usize,
    /// The latency the policy expected from the chosen replica, in ms, if it predicts one.
    pub predicted_ms: Option<f64>,
    /// True when the choice was exploration rather than exploitation.
    pub explored: bool,
}

impl Decision {
    /// A choice with no prediction and no exploration.
    pub fn plain(index: usize) -> Decision {
        Decision {
            index,
            predicted_ms: None,
            explored: false,
        }
    }
}

/// What happened to one routed request.
#[derive(Clone, Copy, Debug)]
pub struct Outcome<'a> {
    /// The pool of the request.
    pub pool: u32,
    /// The replica that served it.
    pub replica: u32,
    /// The request, as it was when routed.
    pub features: &'a RequestFeatures<'a>,
    /// When the request was sent to the replica.
    pub sent: Nanos,
    /// When the answer arrived (the caller's clock).
    pub now: Nanos,
    /// Response time seen by the caller (queueing at the replica included), in ms.
    pub latency_ms: f64,
    /// Service time alone, when the caller knows it (the simulator does, the gateway does not).
    pub service_ms: Option<f64>,
    /// False for a transport error, a timeout or a JSON-RPC error answer.
    pub success: bool,
}

/// Why a policy would choose what it chooses: one row per candidate.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// The policy's name.
    pub policy: &'static str,
    /// Per candidate, in [`RouteQuery::candidates`] order.
    pub candidates: Vec<CandidateExplanation>,
    /// One sentence on the rule that decides.
    pub rule: String,
}

/// The policy's view of one candidate.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CandidateExplanation {
    /// The replica.
    pub replica: u32,
    /// Predicted latency in ms, if the policy predicts.
    pub predicted_ms: Option<f64>,
    /// The score the policy minimises (lower wins), if it scores.
    pub score: Option<f64>,
    /// How many observations back the prediction.
    pub evidence: u64,
}

/// A replica-selection policy. See the module docs for the contract.
pub trait RoutingPolicy: Send + Sync {
    /// The policy's name as used in config and replay (`round-robin`, `p2c-peak-ewma`, …).
    fn name(&self) -> &'static str;

    /// Choose one of `query.candidates`. Must return a valid index, and a healthy candidate
    /// whenever one exists.
    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision;

    /// Learn from one outcome. Content-blind policies may ignore most fields.
    fn observe(&self, outcome: &Outcome<'_>);

    /// True when the policy reads [`RouteQuery::evidence`] (or the embedding), so callers can skip
    /// the neighbour search for content-blind policies.
    fn uses_evidence(&self) -> bool {
        false
    }

    /// Explain a choice without making it (for `route/explain` and debugging). Must not change
    /// state.
    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        Explanation {
            policy: self.name(),
            candidates: query
                .candidates
                .iter()
                .map(|c| CandidateExplanation {
                    replica: c.replica,
                    ..CandidateExplanation::default()
                })
                .collect(),
            rule: String::from("this policy does not score candidates"),
        }
    }

    /// The learner's background loop (pattern distillation, change detection), called every
    /// second or so: by a timer in the gateway, in virtual time by the simulator. Stateless
    /// policies ignore it.
    fn background_tick(&self, now: Nanos) {
        let _ = now;
    }

    /// The learned state as bytes (empty for policies that learn nothing worth keeping).
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Replaces the learned state with one produced by [`RoutingPolicy::snapshot`] of the same
    /// policy and config. Policies without learned state accept only an empty snapshot.
    fn restore(&self, bytes: &[u8]) -> Result<(), LearnerError> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(LearnerError::Snapshot {
                policy: self.name(),
                reason: String::from("this policy keeps no learned state"),
            })
        }
    }
}

/// Indices of the healthy candidates, or of all candidates when none is healthy (a request must
/// still go somewhere; the replica answers with an error quickly).
pub fn eligible(candidates: &[Candidate]) -> impl Iterator<Item = usize> + '_ {
    let any_healthy = candidates.iter().any(|c| c.healthy);
    candidates
        .iter()
        .enumerate()
        .filter(move |(_, c)| c.healthy || !any_healthy)
        .map(|(i, _)| i)
}
