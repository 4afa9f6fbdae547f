//! `p2c-inflight`: the power of two choices on in-flight counts (Envoy's default least-request,
//! Finagle's default P2C least-loaded). Mitzenmacher: nearly as good as a full scan.

use super::pick::two_eligible;
use super::{Decision, Outcome, RouteQuery, RoutingPolicy};
use crate::rng::Rng;

/// Samples two distinct eligible candidates and keeps the one with fewer requests in flight.
#[derive(Debug, Default)]
pub struct P2cInflight;

impl RoutingPolicy for P2cInflight {
    fn name(&self) -> &'static str {
        "p2c-inflight"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        let (a, b) = two_eligible(query.candidates, rng);
        let c = query.candidates;
        Decision::plain(if c[b].inflight < c[a].inflight { b } else { a })
    }

    fn observe(&self, _outcome: &Outcome<'_>) {}
}
