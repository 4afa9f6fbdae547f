//! A small, decaying quantile sketch: a log-spaced latency histogram.
//!
//! 32 bins, each `√2` wider than the last, from 0.1 ms: about ±19 % relative error on any
//! quantile between 0.1 ms and 6.5 s (values outside clamp to the end bins). 128 bytes, no
//! allocation, O(1) insert; counts decay per background tick so the sketch follows drift.

/// Number of bins.
pub const BINS: usize = 32;
const FIRST_MS: f64 = 0.1;

/// A log-bucketed latency histogram with decaying counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySketch {
    counts: [f32; BINS],
}

impl LatencySketch {
    fn bin(ms: f64) -> usize {
        if ms.is_nan() || ms <= FIRST_MS {
            return 0;
        }
        // log_{√2}(ms / FIRST_MS) = 2·log2(ms / FIRST_MS)
        let b = (2.0 * (ms / FIRST_MS).log2()) as usize;
        b.min(BINS - 1)
    }

    /// The geometric middle of bin `b`, in ms.
    fn mid(b: usize) -> f64 {
        FIRST_MS * 2f64.powf((b as f64 + 0.5) / 2.0)
    }

    /// Adds one latency.
    pub fn add(&mut self, ms: f64) {
        if ms.is_finite() {
            self.counts[Self::bin(ms)] += 1.0;
        }
    }

    /// Multiplies every count by `factor` (forgetting).
    pub fn decay(&mut self, factor: f32) {
        for c in &mut self.counts {
            *c *= factor;
        }
    }

    /// The total (decayed) count.
    pub fn total(&self) -> f32 {
        self.counts.iter().sum()
    }

    /// The `q`-quantile in ms (`q` in [0, 1]), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = f64::from(self.total());
        if total <= 0.0 {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += f64::from(c);
            if seen >= target && c > 0.0 {
                return Some(Self::mid(b));
            }
        }
        Some(Self::mid(BINS - 1))
    }

    /// The raw counts (for snapshots).
    pub fn counts(&self) -> &[f32; BINS] {
        &self.counts
    }

    /// A sketch from raw counts (non-finite or negative counts become 0).
    pub fn from_counts(counts: [f32; BINS]) -> LatencySketch {
        let mut s = LatencySketch { counts };
        for c in &mut s.counts {
            if !(c.is_finite() && *c >= 0.0) {
                *c = 0.0;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn quantiles_within_bin_error() {
        let mut s = LatencySketch::default();
        assert_eq!(s.quantile(0.5), None);
        let mut rng = Rng::seed(1);
        let mut xs: Vec<f64> = (0..10_000).map(|_| 1.0 + 99.0 * rng.unit()).collect();
        for &x in &xs {
            s.add(x);
        }
        xs.sort_by(|a, b| a.total_cmp(b));
        for q in [0.5, 0.95, 0.99] {
            let exact = xs[(q * xs.len() as f64) as usize];
            let est = s.quantile(q).unwrap();
            assert!((est / exact - 1.0).abs() < 0.2, "q{q}: {est} vs {exact}");
        }
        s.decay(0.5);
        assert!((s.total() - 5_000.0).abs() < 1.0);
        s.add(f64::NAN);
        s.add(1e9);
        assert_eq!(s.quantile(1.0), Some(LatencySketch::mid(BINS - 1)));
    }
}
