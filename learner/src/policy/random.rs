//! `random`: a uniformly random eligible candidate (the supermarket model's d = 1).

use super::pick::random_eligible;
use super::{Decision, Outcome, RouteQuery, RoutingPolicy};
use crate::rng::Rng;

/// Picks uniformly among the eligible candidates.
#[derive(Debug, Default)]
pub struct Random;

impl RoutingPolicy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        Decision::plain(random_eligible(query.candidates, rng))
    }

    fn observe(&self, _outcome: &Outcome<'_>) {}
}
