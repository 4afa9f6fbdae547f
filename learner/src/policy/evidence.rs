//! Neighbour evidence summarised per candidate in one pass, for `knn` and `vector`.
//!
//! Each usable row (similarity ≥ threshold, count > 0, finite positive mean) weighs
//! `similarity² · count / (count + prior_count)`: close neighbours count more, and a mean over
//! many outcomes more than a single sample. Rows are combined as a weighted geometric mean
//! (latency is log-normal-ish). One pass, one logarithm per row, no allocation: the first
//! [`SUMMARISED`] candidates get stack slots; any beyond are rescanned on demand.

use super::{Candidate, Evidence};

/// Candidates summarised on the stack.
pub(crate) const SUMMARISED: usize = 16;

/// Weighted log-latency sums over some rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct LogMean {
    /// `Σ w · ln(mean_ms)`.
    pub(crate) sum: f64,
    /// `Σ w`.
    pub(crate) weight: f64,
    /// `Σ count` of the rows used.
    pub(crate) count: u64,
}

impl LogMean {
    fn add(&mut self, w: f64, log_ms: f64, count: u32) {
        self.sum += w * log_ms;
        self.weight += w;
        self.count += u64::from(count);
    }

    /// The weighted mean of `ln(ms)`, if any row contributed.
    pub(crate) fn log_mean(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.sum / self.weight)
    }
}

/// Weight and log-latency of a row, or `None` when the row is unusable.
#[inline]
fn weigh(e: &Evidence, min_similarity: f32, prior_count: f32) -> Option<(f64, f64)> {
    if e.similarity < min_similarity || e.count == 0 || !(e.mean_ms.is_finite() && e.mean_ms > 0.0)
    {
        return None;
    }
    let n = e.count as f32;
    let w = e.similarity * e.similarity * n / (n + prior_count);
    Some((f64::from(w), f64::from(e.mean_ms.ln())))
}

/// The evidence of one request, summarised per candidate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EvidenceSummary {
    per_candidate: [LogMean; SUMMARISED],
    /// Over every usable row, whatever the replica (the neutral prior).
    pub(crate) all: LogMean,
    min_similarity: f32,
    prior_count: f32,
}

impl EvidenceSummary {
    /// Summarises `evidence` for `candidates` in one pass.
    pub(crate) fn gather(
        evidence: &[Evidence],
        candidates: &[Candidate],
        min_similarity: f32,
        prior_count: f32,
    ) -> EvidenceSummary {
        let mut s = EvidenceSummary {
            per_candidate: [LogMean::default(); SUMMARISED],
            all: LogMean::default(),
            min_similarity,
            prior_count,
        };
        let head = &candidates[..candidates.len().min(SUMMARISED)];
        for e in evidence {
            let Some((w, log_ms)) = weigh(e, min_similarity, prior_count) else {
                continue;
            };
            s.all.add(w, log_ms, e.count);
            for (i, c) in head.iter().enumerate() {
                if c.replica == e.replica {
                    s.per_candidate[i].add(w, log_ms, e.count);
                }
            }
        }
        s
    }

    /// The rows about candidate `i` (rescanned when `i` is beyond the stack slots).
    pub(crate) fn candidate(&self, i: usize, evidence: &[Evidence], c: &Candidate) -> LogMean {
        if i < SUMMARISED {
            return self.per_candidate[i];
        }
        let mut m = LogMean::default();
        for e in evidence.iter().filter(|e| e.replica == c.replica) {
            if let Some((w, log_ms)) = weigh(e, self.min_similarity, self.prior_count) {
                m.add(w, log_ms, e.count);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_a_rescan_and_skips_bad_rows() {
        let candidates: Vec<Candidate> = (0..20)
            .map(|replica| Candidate {
                replica,
                inflight: 0,
                slots: 1,
                healthy: true,
            })
            .collect();
        let rows: Vec<Evidence> = (0..60)
            .map(|i| Evidence {
                similarity: if i % 7 == 0 { 0.1 } else { 0.9 },
                replica: i % 20,
                mean_ms: if i % 11 == 0 {
                    f32::NAN
                } else {
                    1.0 + i as f32
                },
                count: i % 5,
            })
            .collect();
        let s = EvidenceSummary::gather(&rows, &candidates, 0.5, 2.0);
        let far = EvidenceSummary::gather(&rows, &[], 0.5, 2.0);
        for (i, c) in candidates.iter().enumerate() {
            // Candidates past the stack slots are rescanned: same answer.
            let fast = s.candidate(i, &rows, c);
            let slow = far.candidate(SUMMARISED + i, &rows, c);
            assert!(
                (fast.sum - slow.sum).abs() < 1e-9 && fast.count == slow.count,
                "{i}"
            );
        }
        assert!(s.all.weight > 0.0);
        assert_eq!(
            EvidenceSummary::gather(&[], &candidates, 0.5, 2.0)
                .all
                .log_mean(),
            None
        );
    }
}
