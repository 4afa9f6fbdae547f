//! A token bucket per principal: `requests_per_second` sustained, `burst` at once.
//!
//! Time is an argument ([`RateLimiter::check_at`]) so tests control it. The table is bounded:
//! past [`MAX_BUCKETS`] principals, buckets that have refilled completely (idle principals,
//! indistinguishable from new ones) are dropped.

use dashmap::DashMap;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::config::RateLimitConfig;

/// Principals tracked before idle buckets are swept.
const MAX_BUCKETS: usize = 65_536;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Per-principal request-rate limits.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: DashMap<Arc<str>, Mutex<Bucket>>,
}

impl RateLimiter {
    /// A limiter for validated settings.
    pub(crate) fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            rate: config.requests_per_second,
            burst: f64::from(config.burst),
            buckets: DashMap::new(),
        }
    }

    /// Take one token for `principal` now; `Err(wait)` says when the next one is available.
    pub(crate) fn check(&self, principal: &str) -> Result<(), Duration> {
        self.check_at(principal, Instant::now())
    }

    /// [`RateLimiter::check`] at a given time.
    pub(crate) fn check_at(&self, principal: &str, now: Instant) -> Result<(), Duration> {
        if let Some(bucket) = self.buckets.get(principal) {
            return self.take(&mut bucket.lock(), now);
        }
        if self.buckets.len() >= MAX_BUCKETS {
            self.buckets.retain(|_, b| {
                let b = b.lock();
                b.tokens + now.duration_since(b.last).as_secs_f64() * self.rate < self.burst
            });
        }
        let entry = self.buckets.entry(principal.into()).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: self.burst,
                last: now,
            })
        });
        self.take(&mut entry.lock(), now)
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_per_principal() {
        let limiter = RateLimiter::new(RateLimitConfig {
            requests_per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(
            limiter.check_at("b", t0).is_ok(),
            "buckets are per principal"
        );
        assert!(
            limiter
                .check_at("a", t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .check_at("a", t0 + Duration::from_millis(500))
                .is_err()
        );
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0 + Duration::from_secs(60)).is_ok());
        }
        assert!(
            limiter.check_at("a", t0 + Duration::from_secs(60)).is_err(),
            "capped at burst"
        );
    }
}
