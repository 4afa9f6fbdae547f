//! The response-cache model replay applies to read-only requests.
//!
//! Exact-key semantics, as the gateway's pattern cache applies to `tools/call` by default: the
//! key is the canonical request key within its pool. An entry is stored when a routed
//! read-only request completes successfully, expires after `ttl`, and is dropped when a
//! completed request announces its target URI as updated (`invalidates`). A hit is *wrong*
//! when the cached answer identity differs from the record's true answer at that moment;
//! records without an answer identity count as right.

use std::collections::HashMap;

use crate::time::Nanos;

/// Cache settings for a replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheConfig {
    /// Whether read-only requests may be answered from the cache at all.
    pub enabled: bool,
    /// How long an entry lives.
    pub ttl: Nanos,
    /// Latency of a hit (lookup and answer), ms.
    pub hit_ms: f64,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            enabled: true,
            ttl: Nanos(30_000_000_000),
            hit_ms: 0.05,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    answer: u32,
    stored: Nanos,
}

/// The cache's state during one run.
#[derive(Debug, Default)]
pub(crate) struct CacheModel {
    entries: HashMap<(u32, u64), Entry>,
    /// Entries per target, for invalidation.
    by_target: HashMap<u32, Vec<(u32, u64)>>,
}

/// The result of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Miss,
    Hit { wrong: bool },
}

impl CacheModel {
    /// Looks up `(pool, key)` at `now`; `answer` is the true answer now (0 = unknown).
    pub(crate) fn lookup(
        &mut self,
        cfg: &CacheConfig,
        pool: u32,
        key: u64,
        answer: u32,
        now: Nanos,
    ) -> Lookup {
        match self.entries.get(&(pool, key)) {
            Some(e) if now.0.saturating_sub(e.stored.0) < cfg.ttl.0 => Lookup::Hit {
                wrong: answer != 0 && e.answer != 0 && e.answer != answer,
            },
            Some(_) => {
                self.entries.remove(&(pool, key));
                Lookup::Miss
            }
            None => Lookup::Miss,
        }
    }

    /// Stores an answer that arrived at `now`.
    pub(crate) fn insert(&mut self, pool: u32, key: u64, target: u32, answer: u32, now: Nanos) {
        let fresh = self
            .entries
            .insert(
                (pool, key),
                Entry {
                    answer,
                    stored: now,
                },
            )
            .is_none();
        if fresh && target != 0 {
            self.by_target.entry(target).or_default().push((pool, key));
        }
    }

    /// Drops every entry whose target is `target`.
    pub(crate) fn invalidate(&mut self, target: u32) {
        if let Some(keys) = self.by_target.remove(&target) {
            for k in keys {
                self.entries.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_expire_invalidate_and_detect_stale_answers() {
        let cfg = CacheConfig {
            ttl: Nanos(100),
            ..CacheConfig::default()
        };
        let mut cache = CacheModel::default();
        assert_eq!(cache.lookup(&cfg, 0, 7, 1, Nanos(0)), Lookup::Miss);
        cache.insert(0, 7, 3, 1, Nanos(10));
        assert_eq!(
            cache.lookup(&cfg, 0, 7, 1, Nanos(50)),
            Lookup::Hit { wrong: false }
        );
        assert_eq!(
            cache.lookup(&cfg, 0, 7, 2, Nanos(60)),
            Lookup::Hit { wrong: true }
        );
        assert_eq!(
            cache.lookup(&cfg, 1, 7, 1, Nanos(60)),
            Lookup::Miss,
            "pools are separate"
        );
        assert_eq!(
            cache.lookup(&cfg, 0, 7, 1, Nanos(110)),
            Lookup::Miss,
            "expired"
        );
        cache.insert(0, 7, 3, 1, Nanos(200));
        cache.invalidate(3);
        assert_eq!(
            cache.lookup(&cfg, 0, 7, 1, Nanos(201)),
            Lookup::Miss,
            "invalidated"
        );
    }
}
