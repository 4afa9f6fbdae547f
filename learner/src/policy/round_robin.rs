//! `round-robin`: each eligible candidate in turn. The baseline every other policy is compared
//! with; content- and load-blind.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::pick::{any_healthy, eligible_count, nth_eligible};
use super::{Decision, Outcome, RouteQuery, RoutingPolicy};
use crate::rng::Rng;

/// Cycles through the eligible candidates. One counter is shared by all pools: with one pool
/// the sequence is exact, with several each pool still sees an even spread.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A round-robin policy starting at the first candidate.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }
}

impl RoutingPolicy for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn choose(&self, query: &RouteQuery<'_>, _rng: &mut Rng) -> Decision {
        let any = any_healthy(query.candidates);
        let n = eligible_count(query.candidates, any).max(1);
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Decision::plain(nth_eligible(query.candidates, any, turn % n))
    }

    fn observe(&self, _outcome: &Outcome<'_>) {}
}
