//! `least-inflight`: a full scan for the fewest in-flight requests (Envoy's `FULL_SCAN`
//! least-request), ties broken at random.

use super::pick::argmin_eligible;
use super::{CandidateExplanation, Decision, Explanation, Outcome, RouteQuery, RoutingPolicy};
use crate::rng::Rng;

/// Chooses the eligible candidate with the fewest requests in flight from this gateway.
#[derive(Debug, Default)]
pub struct LeastInflight;

impl RoutingPolicy for LeastInflight {
    fn name(&self) -> &'static str {
        "least-inflight"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        Decision::plain(argmin_eligible(query.candidates, rng, |_, c| {
            f64::from(c.inflight)
        }))
    }

    fn observe(&self, _outcome: &Outcome<'_>) {}

    fn explain(&self, query: &RouteQuery<'_>) -> Explanation {
        Explanation {
            policy: self.name(),
            candidates: query
                .candidates
                .iter()
                .map(|c| CandidateExplanation {
                    replica: c.replica,
                    predicted_ms: None,
                    score: Some(f64::from(c.inflight)),
                    evidence: 0,
                })
                .collect(),
            rule: String::from("fewest in-flight requests among healthy candidates"),
        }
    }
}
