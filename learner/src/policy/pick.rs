//! Allocation-free selection helpers shared by the policies: every scan honours
//! [`super::eligible`]'s rule (healthy candidates, or all of them when none is healthy).

use super::Candidate;
use crate::rng::Rng;

/// True when `c` may be chosen given whether any candidate is healthy.
#[inline]
pub(crate) fn is_eligible(c: &Candidate, any_healthy: bool) -> bool {
    c.healthy || !any_healthy
}

/// Whether any candidate is healthy.
#[inline]
pub(crate) fn any_healthy(candidates: &[Candidate]) -> bool {
    candidates.iter().any(|c| c.healthy)
}

/// Number of eligible candidates (≥ 1 for a non-empty slice).
#[inline]
pub(crate) fn eligible_count(candidates: &[Candidate], any_healthy: bool) -> usize {
    candidates
        .iter()
        .filter(|c| is_eligible(c, any_healthy))
        .count()
}

/// Index of the `rank`-th eligible candidate.
#[inline]
pub(crate) fn nth_eligible(candidates: &[Candidate], any_healthy: bool, rank: usize) -> usize {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| is_eligible(c, any_healthy))
        .nth(rank)
        .map_or(0, |(i, _)| i)
}

/// One eligible candidate, uniformly at random.
pub(crate) fn random_eligible(candidates: &[Candidate], rng: &mut Rng) -> usize {
    let any = any_healthy(candidates);
    let n = eligible_count(candidates, any);
    nth_eligible(candidates, any, rng.below(n.max(1)))
}

/// Two distinct eligible candidates chosen uniformly (the same index twice when only one is
/// eligible): the "two choices" of P2C.
pub(crate) fn two_eligible(candidates: &[Candidate], rng: &mut Rng) -> (usize, usize) {
    let any = any_healthy(candidates);
    let n = eligible_count(candidates, any);
    if n < 2 {
        let only = nth_eligible(candidates, any, 0);
        return (only, only);
    }
    let (a, b) = rng.two_distinct(n);
    (
        nth_eligible(candidates, any, a),
        nth_eligible(candidates, any, b),
    )
}

/// The eligible candidate minimising `score`, ties broken uniformly at random (reservoir
/// sampling, so equal scores never herd onto the first replica). NaN scores lose.
pub(crate) fn argmin_eligible(
    candidates: &[Candidate],
    rng: &mut Rng,
    mut score: impl FnMut(usize, &Candidate) -> f64,
) -> usize {
    let any = any_healthy(candidates);
    let mut best = usize::MAX;
    let mut best_score = f64::INFINITY;
    let mut ties = 0usize;
    for (i, c) in candidates.iter().enumerate() {
        if !is_eligible(c, any) {
            continue;
        }
        let s = score(i, c);
        let s = if s.is_nan() { f64::INFINITY } else { s };
        if best == usize::MAX || s < best_score {
            best = i;
            best_score = s;
            ties = 1;
        } else if s == best_score {
            ties += 1;
            if rng.below(ties) == 0 {
                best = i;
            }
        }
    }
    if best == usize::MAX { 0 } else { best }
}

/// The load multiplier `1 + in-flight / slots` (slots unknown counts as 1 slot, i.e.
/// `1 + in-flight`, peak-EWMA's `pending + 1`).
#[inline]
pub(crate) fn load_factor(c: &Candidate) -> f64 {
    1.0 + f64::from(c.inflight) / f64::from(c.slots.max(1))
}
