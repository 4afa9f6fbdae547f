//! Latency estimators whose time is an argument (like `linkerd/ewma`'s `get_at(now)`), stored in
//! atomics so a policy shared by many tasks reads them without a lock.
//!
//! Concurrent writers to one cell may lose an update (load-compute-store); estimators are
//! statistical and a lost sample is harmless, while a lock on every completion is not free.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::Nanos;

/// linkerd2-proxy's `EWMA_DEFAULT_RTT`: what a replica with no samples is assumed to take.
pub const DEFAULT_RTT_MS: f64 = 30.0;
/// linkerd2-proxy's `EWMA_DECAY`: the time constant of the decay, in seconds.
pub const DEFAULT_DECAY_SECS: f64 = 10.0;

/// Peak-EWMA round-trip estimate (Finagle `PeakEwma`, tower `load::peak_ewma`).
///
/// - A sample worse than the estimate replaces it at once (react to slowness immediately).
/// - A better sample is blended in with weight `1 − exp(−elapsed/decay)`, so a quiet period
///   lets a single fast sample count for more.
/// - Reading with [`PeakEwma::get_at`] decays the estimate towards 0 with the same time
///   constant (without mutating, unlike tower), so a penalised replica is eventually retried.
#[derive(Debug)]
pub struct PeakEwma {
    /// `f64` bits of the estimate in ms; `u64::MAX` = no sample yet.
    estimate: AtomicU64,
    /// [`Nanos`] of the last update.
    stamp: AtomicU64,
}

const UNSET: u64 = u64::MAX;

impl Default for PeakEwma {
    fn default() -> PeakEwma {
        PeakEwma {
            estimate: AtomicU64::new(UNSET),
            stamp: AtomicU64::new(0),
        }
    }
}

impl PeakEwma {
    /// Records one response time observed at `now`.
    pub fn add(&self, sample_ms: f64, now: Nanos, decay_ns: f64) {
        if !sample_ms.is_finite() || sample_ms < 0.0 {
            return;
        }
        let bits = self.estimate.load(Ordering::Relaxed);
        let next = if bits == UNSET {
            sample_ms
        } else {
            let est = f64::from_bits(bits);
            if sample_ms > est {
                sample_ms
            } else {
                let elapsed = now.0.saturating_sub(self.stamp.load(Ordering::Relaxed)) as f64;
                let w = (-elapsed / decay_ns).exp();
                est * w + sample_ms * (1.0 - w)
            }
        };
        self.estimate.store(next.to_bits(), Ordering::Relaxed);
        self.stamp.store(now.0, Ordering::Relaxed);
    }

    /// The estimate at `now` in ms: `default_ms` before any sample, else the last estimate
    /// decayed towards 0 by the time since it was updated.
    pub fn get_at(&self, now: Nanos, default_ms: f64, decay_ns: f64) -> f64 {
        let bits = self.estimate.load(Ordering::Relaxed);
        if bits == UNSET {
            return default_ms;
        }
        let elapsed = now.0.saturating_sub(self.stamp.load(Ordering::Relaxed)) as f64;
        f64::from_bits(bits) * (-elapsed / decay_ns).exp()
    }

    /// The raw state `(estimate_ms, stamp)` for snapshots (`None` before any sample).
    pub fn raw(&self) -> Option<(f64, u64)> {
        let bits = self.estimate.load(Ordering::Relaxed);
        (bits != UNSET).then(|| (f64::from_bits(bits), self.stamp.load(Ordering::Relaxed)))
    }

    /// Restores a state produced by [`PeakEwma::raw`].
    pub fn set_raw(&self, estimate_ms: f64, stamp: u64) {
        self.estimate
            .store(estimate_ms.to_bits(), Ordering::Relaxed);
        self.stamp.store(stamp, Ordering::Relaxed);
    }
}

/// A plain exponentially weighted moving average with a fixed weight on new samples.
#[derive(Debug)]
pub struct Ewma {
    value: AtomicU64,
}

impl Default for Ewma {
    fn default() -> Ewma {
        Ewma {
            value: AtomicU64::new(UNSET),
        }
    }
}

impl Ewma {
    /// Blends `sample` in with weight `alpha` (the first sample is taken as is).
    pub fn add(&self, sample: f64, alpha: f64) {
        if !sample.is_finite() {
            return;
        }
        let bits = self.value.load(Ordering::Relaxed);
        let next = if bits == UNSET {
            sample
        } else {
            alpha * sample + (1.0 - alpha) * f64::from_bits(bits)
        };
        self.value.store(next.to_bits(), Ordering::Relaxed);
    }

    /// The average, or `None` before any sample.
    pub fn get(&self) -> Option<f64> {
        let bits = self.value.load(Ordering::Relaxed);
        (bits != UNSET).then(|| f64::from_bits(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: f64 = DEFAULT_DECAY_SECS * 1e9;

    #[test]
    fn peak_takes_worse_samples_at_once_and_decays_better_ones() {
        let e = PeakEwma::default();
        assert_eq!(e.get_at(Nanos(0), DEFAULT_RTT_MS, DECAY), DEFAULT_RTT_MS);
        e.add(10.0, Nanos(0), DECAY);
        e.add(50.0, Nanos(1_000), DECAY);
        assert!((e.get_at(Nanos(1_000), 30.0, DECAY) - 50.0).abs() < 1e-9);
        // A better sample right away barely moves it; after a long gap it dominates.
        e.add(5.0, Nanos(2_000), DECAY);
        assert!(e.get_at(Nanos(2_000), 30.0, DECAY) > 49.9);
        e.add(5.0, Nanos(2_000 + 100_000_000_000), DECAY);
        assert!((e.get_at(Nanos(2_000 + 100_000_000_000), 30.0, DECAY) - 5.0).abs() < 0.01);
    }

    #[test]
    fn reading_decays_towards_zero_without_mutating() {
        let e = PeakEwma::default();
        e.add(100.0, Nanos(0), DECAY);
        let later = Nanos(10_000_000_000);
        let v = e.get_at(later, 30.0, DECAY);
        assert!((v - 100.0 / std::f64::consts::E).abs() < 1e-6, "{v}");
        assert_eq!(e.get_at(Nanos(0), 30.0, DECAY), 100.0);
    }

    #[test]
    fn ewma_blends() {
        let e = Ewma::default();
        assert_eq!(e.get(), None);
        e.add(10.0, 0.3);
        e.add(20.0, 0.3);
        assert!((e.get().unwrap() - 13.0).abs() < 1e-12);
    }
}
