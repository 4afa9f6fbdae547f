//! `oracle` (replay only): the hindsight-best candidate.
//!
//! It reads [`RouteQuery::hindsight_ms`], the request's true service time on each candidate,
//! and minimises `service × (1 + in-flight / slots)`: the `vector` policy's cost with a perfect
//! predictor, so "gap recovered" against it measures prediction quality alone. With
//! per-request noise it picks the luckiest draw, which no predictor can reach. Without
//! hindsight (the gateway) it degrades to `least-inflight`.

use super::pick::{argmin_eligible, load_factor};
use super::{Decision, Outcome, RouteQuery, RoutingPolicy};
use crate::rng::Rng;

/// The hindsight-best policy.
#[derive(Debug, Default)]
pub struct Oracle;

impl RoutingPolicy for Oracle {
    fn name(&self) -> &'static str {
        "oracle"
    }

    fn choose(&self, query: &RouteQuery<'_>, rng: &mut Rng) -> Decision {
        match query.hindsight_ms {
            Some(truth) if truth.len() == query.candidates.len() => {
                let index =
                    argmin_eligible(query.candidates, rng, |i, c| truth[i] * load_factor(c));
                Decision {
                    index,
                    predicted_ms: Some(truth[index]),
                    explored: false,
                }
            }
            _ => Decision::plain(argmin_eligible(query.candidates, rng, |_, c| {
                f64::from(c.inflight)
            })),
        }
    }

    fn observe(&self, _outcome: &Outcome<'_>) {}
}
