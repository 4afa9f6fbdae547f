//! `drift`: the affinity model, plus one replica that degrades mid-run for one pattern and
//! recovers later. Measures how fast a learned router notices and comes back.

use super::content::{Drift, generate_affinity};
use crate::format::Dataset;

/// Where the drift starts and ends, as fractions of the records (record `i` of `n` is degraded
/// when `from <= i / n < to`).
pub const DRIFT_SPAN: (f64, f64) = (0.4, 0.7);

/// `n` records; replica `r1` is 6× slower for `search_docs` from 40 % to 70 % of the run.
pub(crate) fn generate(n: usize, seed: u64) -> Dataset {
    generate_affinity(
        n,
        seed,
        Some(Drift {
            replica: 1,
            tool: 0,
            from: DRIFT_SPAN.0,
            to: DRIFT_SPAN.1,
            factor: 6.0,
        }),
    )
}
