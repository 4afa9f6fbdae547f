//! Exponential restart backoff with jitter: the one restart schedule every replica uses.
//!
//! Jitter keeps N replicas of a pool that died together (an upstream restart, a bad deploy)
//! from hammering it in lock-step. The random source is a seeded SplitMix64, so a test (or a
//! replay) with the same seed sees the same delays.

use crate::config::BackoffSpec;
use std::time::Duration;

/// The restart schedule of one replica.
#[derive(Clone, Debug)]
pub struct Backoff {
    spec: BackoffSpec,
    /// Consecutive failures since the last reset.
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A schedule following `spec`, jittered by a generator seeded with `seed`.
    pub fn new(spec: BackoffSpec, seed: u64) -> Backoff {
        Backoff {
            spec,
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The delay before the next restart; each call counts one more consecutive failure.
    pub fn next_delay(&mut self) -> Duration {
        let factor = if self.spec.factor.is_finite() {
            self.spec.factor.max(1.0)
        } else {
            1.0
        };
        let base = self.spec.min.as_secs_f64() * factor.powi(self.attempt.min(64) as i32);
        let capped = base.min(self.spec.max.as_secs_f64());
        self.attempt = self.attempt.saturating_add(1);
        let jitter = if self.spec.jitter.is_finite() {
            self.spec.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // A uniform factor in [1 - jitter, 1 + jitter].
        let spread = 1.0 + jitter * (2.0 * self.rng.next_unit() - 1.0);
        Duration::from_secs_f64((capped * spread).clamp(0.0, self.spec.max.as_secs_f64()))
    }

    /// Forget past failures: the next delay is `min` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Consecutive failures counted since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// How long a replica must stay up before [`Backoff::reset`] is due.
    pub fn reset_after(&self) -> Duration {
        self.spec.reset_after
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for jitter.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(jitter: f64) -> BackoffSpec {
        BackoffSpec {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            factor: 2.0,
            jitter,
            reset_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn grows_exponentially_to_the_cap_and_resets() {
        let mut b = Backoff::new(spec(0.0), 7);
        let delays: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_seeded() {
        let mut a = Backoff::new(spec(0.5), 42);
        let mut b = Backoff::new(spec(0.5), 42);
        let mut c = Backoff::new(spec(0.5), 43);
        let mut differs = false;
        for _ in 0..3 {
            let (da, db, dc) = (a.next_delay(), b.next_delay(), c.next_delay());
            assert_eq!(da, db);
            differs |= da != dc;
        }
        assert!(differs, "different seeds should give different jitter");
        let mut d = Backoff::new(spec(0.5), 1);
        for _ in 0..1000 {
            d.reset();
            let ms = d.next_delay().as_millis();
            assert!((50..=150).contains(&ms), "{ms} ms outside 100 ms ±50%");
        }
    }

    #[test]
    fn nonsense_specs_do_not_panic() {
        let mut b = Backoff::new(
            BackoffSpec {
                factor: f64::NAN,
                jitter: f64::INFINITY,
                ..spec(0.0)
            },
            0,
        );
        assert_eq!(b.next_delay(), Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
