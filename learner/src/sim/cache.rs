//! The response-cache model replay applies to read-only requests.
//!
//! It is the gateway's own cache, [`vecgate_index::cache::ExactCache`] (full-key verified,
//! TTL'd, byte-bounded LRU), driven by the gateway's invalidation rule
//! (`gateway/src/dispatch.rs`, documented in `gateway/src/cache.rs`), so the hit and wrong-hit
//! rates replay reports are the ones the gateway would see:
//!
//! - an entry is stored when a routed read-only request completes successfully, and expires
//!   after `ttl`;
//! - a `tools/call` of a tool that is not cacheable (a possible write) drops **every** entry of
//!   its pool when it arrives, before it is forwarded: the gateway cannot know what a write
//!   touches;
//! - a completed request that announces updated resources (`invalidates`, the backend's
//!   `notifications/resources/updated`) drops every entry of its pool again, as the gateway does
//!   for that notification (tool answers may derive from any resource).
//!
//! Pools whose server announces what its writes change (`cache_invalidation = "announced"`)
//! follow the gateway's other rule instead:
//! - resource reads are cacheable too, and every entry is tagged with the URIs it derives
//!   from (a read's own URI, a tool answer's `links`);
//! - a write drops only the entries tagged with a URI it announces (`invalidates`). It does so
//!   when it arrives, because that is when the dataset's answers change: a server announces a
//!   change when it makes it, and the gateway applies the announcement as it reads it;
//! - an answer read before such an invalidation is not stored after it (the pool's
//!   tags were invalidated since its lookup).
//!
//! A hit is *wrong* when the cached answer identity differs from the record's true answer at
//! that moment (records without an answer identity count as right). Under this rule a wrong hit
//! can only come from a race the gateway has too: a read that arrived before a write, and so
//! carries the old answer, completing (and being stored) after the write's invalidations.

use bytes::Bytes;
use vecgate_index::cache::{CacheKey, ExactCache, ExactCacheConfig, Target};

use crate::time::Nanos;

/// The principal every simulated client is (the gateway has no authentication yet either).
const PRINCIPAL: &str = "anonymous";

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

/// The cache's state during one run.
pub(crate) struct CacheModel {
    exact: ExactCache,
    ttl_ms: u64,
}

impl std::fmt::Debug for CacheModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheModel")
            .field("entries", &self.exact.stats().entries)
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

/// The result of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Miss,
    Hit { wrong: bool },
}

/// The 16 hex digits of a request key: the simulator knows requests by their 64-bit canonical
/// key, and the exact cache verifies keys byte for byte, so the digits stand in for the
/// canonical arguments (no allocation).
fn hex(key: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((key >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

fn with_key<R>(pool: u32, key: u64, f: impl FnOnce(&CacheKey<'_>) -> R) -> R {
    let digits = hex(key);
    let args = std::str::from_utf8(&digits).unwrap_or_default();
    f(&CacheKey {
        principal: PRINCIPAL,
        shared: false,
        pool,
        method: "",
        target: Target::None,
        canonical_args: args,
    })
}

impl CacheModel {
    /// An empty cache with the gateway's byte bound.
    pub(crate) fn new(cfg: &CacheConfig) -> CacheModel {
        CacheModel {
            exact: ExactCache::new(ExactCacheConfig::default()),
            ttl_ms: (cfg.ttl.0 / 1_000_000).max(1),
        }
    }

    /// Looks up `(pool, key)` at `now`; `answer` is the true answer now (0 = unknown).
    pub(crate) fn lookup(&self, pool: u32, key: u64, answer: u32, now: Nanos) -> Lookup {
        let stored = with_key(pool, key, |k| self.exact.get(k, now_ms(now)));
        match stored {
            None => Lookup::Miss,
            Some(bytes) => {
                let cached = <[u8; 4]>::try_from(&bytes[..]).map_or(0, u32::from_le_bytes);
                Lookup::Hit {
                    wrong: answer != 0 && cached != 0 && cached != answer,
                }
            }
        }
    }

    /// Stores an answer that arrived at `now`.
    #[cfg(test)]
    pub(crate) fn insert(&self, pool: u32, key: u64, answer: u32, now: Nanos) {
        let value = Bytes::copy_from_slice(&answer.to_le_bytes());
        with_key(pool, key, |k| {
            self.exact.insert(k, value, self.ttl_ms, now_ms(now));
        });
    }

    /// The invalidation generation (read when a lookup misses).
    pub(crate) fn generation(&self) -> u64 {
        self.exact.generation()
    }

    /// Stores an answer that arrived at `now` for a request that missed at `generation`,
    /// tagged with the interned resource URIs `links` it derives from (a read's own URI, a
    /// tool answer's `resource_link`s; empty outside `announced` pools). Refused, as in the
    /// gateway, if anything it is tagged with was invalidated since (the answer may predate
    /// the write); an announced update of any link drops it ([`CacheModel::invalidate_uri`]).
    pub(crate) fn insert_linked(
        &self,
        pool: u32,
        key: u64,
        answer: u32,
        now: Nanos,
        generation: u64,
        links: &[u32],
    ) {
        let value = Bytes::copy_from_slice(&answer.to_le_bytes());
        let digits: Vec<[u8; 16]> = links.iter().map(|&u| hex(u64::from(u))).collect();
        let uris: Vec<&str> = digits
            .iter()
            .map(|d| std::str::from_utf8(d).unwrap_or_default())
            .collect();
        with_key(pool, key, |k| {
            self.exact
                .insert_linked(k, value, self.ttl_ms, now_ms(now), generation, &uris);
        });
    }

    /// Drops the answers of `pool` linked to the interned URI `uri` (the server announced
    /// its update).
    pub(crate) fn invalidate_uri(&self, pool: u32, uri: u32) {
        let digits = hex(u64::from(uri));
        let uri = std::str::from_utf8(&digits).unwrap_or_default();
        self.exact.invalidate_target(pool, Target::Resource(uri));
    }

    /// Drops every entry of `pool` (a possible write arrived, or the pool announced an
    /// updated resource).
    pub(crate) fn invalidate_pool(&self, pool: u32) {
        self.exact.invalidate_pool(pool);
    }
}

fn now_ms(now: Nanos) -> u64 {
    now.0 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn hits_expire_invalidate_by_pool_and_detect_stale_answers() {
        let cfg = CacheConfig {
            ttl: Nanos(100 * MS),
            ..CacheConfig::default()
        };
        let cache = CacheModel::new(&cfg);
        assert_eq!(cache.lookup(0, 7, 1, Nanos(0)), Lookup::Miss);
        cache.insert(0, 7, 1, Nanos(10 * MS));
        cache.insert(0, 8, 5, Nanos(10 * MS));
        cache.insert(1, 7, 1, Nanos(10 * MS));
        assert_eq!(
            cache.lookup(0, 7, 1, Nanos(50 * MS)),
            Lookup::Hit { wrong: false }
        );
        assert_eq!(
            cache.lookup(0, 7, 2, Nanos(60 * MS)),
            Lookup::Hit { wrong: true }
        );
        assert_eq!(
            cache.lookup(2, 7, 1, Nanos(60 * MS)),
            Lookup::Miss,
            "pools are separate"
        );
        assert_eq!(
            cache.lookup(0, 7, 1, Nanos(110 * MS)),
            Lookup::Miss,
            "expired"
        );
        cache.insert(0, 7, 1, Nanos(200 * MS));
        cache.invalidate_pool(0);
        assert_eq!(
            cache.lookup(0, 7, 1, Nanos(201 * MS)),
            Lookup::Miss,
            "invalidated"
        );
        assert_eq!(
            cache.lookup(0, 8, 5, Nanos(20 * MS)),
            Lookup::Miss,
            "a write drops every key of its pool, not just the one it names"
        );
        assert_eq!(
            cache.lookup(1, 7, 1, Nanos(20 * MS)),
            Lookup::Hit { wrong: false },
            "other pools keep their entries"
        );
    }

    #[test]
    fn keys_that_differ_in_any_digit_are_different_entries() {
        let cache = CacheModel::new(&CacheConfig::default());
        cache.insert(0, 0x0123_4567_89ab_cdef, 1, Nanos(0));
        assert_eq!(
            cache.lookup(0, 0x0123_4567_89ab_cdee, 1, Nanos(1)),
            Lookup::Miss
        );
        assert_eq!(
            cache.lookup(0, 0x0123_4567_89ab_cdef, 1, Nanos(1)),
            Lookup::Hit { wrong: false }
        );
        assert_eq!(&hex(0xfedc_ba98_7654_3210), b"fedcba9876543210");
    }
}
