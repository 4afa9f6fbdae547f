//! The exact pattern cache: full-key verified, TTL'd, byte-bounded LRU with tag invalidation.

use super::key::{CacheKey, Target, pool_tag, target_tag};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bytes charged per entry on top of its key and value (slot, map and tag bookkeeping).
pub const ENTRY_OVERHEAD: usize = 160;

const SHARDS: usize = 16;
const NIL: u32 = u32::MAX;
/// Live-entry counters and invalidation stamps, one per `tag % TAG_COUNTERS` (tags sharing a
/// counter only make an invalidation scan when it could have skipped, or refuse a store that
/// could have been kept).
const TAG_COUNTERS: usize = 4096;

/// How many live entries carry each tag (modulo [`TAG_COUNTERS`]), so that invalidating a tag
/// no entry carries (every write call to a pool with nothing cached, the common case) is one
/// atomic load instead of a walk over all 16 shard locks.
///
/// Counts are changed under the shard lock of the entry concerned and read without a lock.
/// Every access is `SeqCst` because an insert that checks a generation pairs with an
/// invalidation like Dekker's mutual exclusion: the insert raises the count *before* it reads
/// its tags' stamps, the invalidation stamps its tag *before* it reads the count, so either
/// the insert sees the new stamp (and refuses) or the invalidation sees the count (and scans,
/// waiting on the shard lock the insert holds).
struct TagCounts(Box<[AtomicU32]>);

impl TagCounts {
    fn new() -> TagCounts {
        TagCounts((0..TAG_COUNTERS).map(|_| AtomicU32::new(0)).collect())
    }

    fn counter(&self, tag: u64) -> &AtomicU32 {
        &self.0[(tag % TAG_COUNTERS as u64) as usize]
    }

    fn add(&self, tags: &[u64]) {
        for &tag in tags {
            self.counter(tag).fetch_add(1, Ordering::SeqCst);
        }
    }

    fn sub(&self, tags: &[u64]) {
        for &tag in tags {
            self.counter(tag).fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn none_carry(&self, tag: u64) -> bool {
        self.counter(tag).load(Ordering::SeqCst) == 0
    }
}

/// Exact cache configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExactCacheConfig {
    /// Bound on keys + values + [`ENTRY_OVERHEAD`] per entry, over all shards. Each of the 16
    /// shards gets 1/16 of it, and an entry larger than a shard's share is not stored.
    pub max_bytes: usize,
}

impl Default for ExactCacheConfig {
    fn default() -> Self {
        ExactCacheConfig {
            max_bytes: 64 << 20,
        }
    }
}

/// Counters of the exact cache (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered.
    pub hits: u64,
    /// Lookups not answered (absent, expired, or a hash collision).
    pub misses: u64,
    /// Entries stored.
    pub inserts: u64,
    /// Entries dropped to respect the byte bound.
    pub evictions: u64,
    /// Entries dropped because their TTL passed.
    pub expirations: u64,
    /// Entries dropped by invalidation.
    pub invalidations: u64,
    /// Lookups whose hash matched an entry with a different full key.
    pub collisions: u64,
    /// Inserts refused because the entry alone exceeds a shard's byte share.
    pub too_large: u64,
    /// Inserts refused because their pool was invalidated after the answer's lookup (the
    /// answer may predate the write that invalidated it).
    pub stale_refused: u64,
    /// Entries currently stored.
    pub entries: u64,
    /// Bytes currently charged.
    pub bytes: u64,
}

struct Slot {
    hash: u128,
    key: Box<[u8]>,
    value: Bytes,
    expires_at_ms: u64,
    cost: usize,
    /// The pool tag, the (pool, target) tag, then one (pool, resource) tag per linked URI.
    tags: Box<[u64]>,
    prev: u32,
    next: u32,
}

/// One lock's worth of the cache. LRU order is an intrusive list through `slots` (head = most
/// recent); tags map to the slots carrying them, so invalidation touches only those.
#[derive(Default)]
struct Shard {
    map: HashMap<u128, u32>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    bytes: usize,
    tags: HashMap<u64, HashSet<u32>>,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            head: NIL,
            tail: NIL,
            ..Shard::default()
        }
    }

    fn slot(&mut self, i: u32) -> &mut Slot {
        self.slots[i as usize]
            .as_mut()
            .expect("linked slot is live")
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = self.slot(i);
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slot(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slot(next).prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let head = self.head;
        {
            let s = self.slot(i);
            s.prev = NIL;
            s.next = head;
        }
        if head != NIL {
            self.slot(head).prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn remove(&mut self, i: u32, counts: &TagCounts) -> Slot {
        self.unlink(i);
        let slot = self.slots[i as usize].take().expect("live slot");
        counts.sub(&slot.tags);
        self.map.remove(&slot.hash);
        for &tag in slot.tags.iter() {
            if let Some(set) = self.tags.get_mut(&tag) {
                set.remove(&i);
                if set.is_empty() {
                    self.tags.remove(&tag);
                }
            }
        }
        self.bytes -= slot.cost;
        self.free.push(i);
        slot
    }
}

/// The exact layer of the pattern cache. See the [module docs](super).
pub struct ExactCache {
    /// `CacheKey::hash` in production; tests swap in a colliding hash to prove verification.
    hasher: fn(&CacheKey<'_>) -> u128,
    shards: Box<[Mutex<Shard>]>,
    shard_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    invalidations: AtomicU64,
    collisions: AtomicU64,
    too_large: AtomicU64,
    stale_refused: AtomicU64,
    /// The invalidation clock: advanced by every invalidation. [`ExactCache::generation`]
    /// reads it.
    clock: AtomicU64,
    /// Per `tag % TAG_COUNTERS`: the clock value of the tag's latest invalidation, written
    /// before any shard is touched. A store whose tags were stamped after its generation
    /// may hold what the invalidation replaced, and is refused.
    stamps: Box<[AtomicU64]>,
    /// The clock value of the latest [`ExactCache::clear`].
    cleared_at: AtomicU64,
    tag_counts: TagCounts,
}

impl ExactCache {
    /// An empty cache.
    pub fn new(config: ExactCacheConfig) -> ExactCache {
        ExactCache {
            hasher: |k| k.hash(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            shard_budget: config.max_bytes / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            expirations: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            collisions: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            stale_refused: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            stamps: (0..TAG_COUNTERS).map(|_| AtomicU64::new(0)).collect(),
            cleared_at: AtomicU64::new(0),
            tag_counts: TagCounts::new(),
        }
    }

    fn stamp(&self, tag: u64) -> &AtomicU64 {
        &self.stamps[(tag % TAG_COUNTERS as u64) as usize]
    }

    /// The invalidation generation. Read it when a lookup misses and pass it to
    /// [`ExactCache::insert_if_unchanged`] with the answer: a read that started before a write
    /// and finished after the write's invalidation would otherwise store a stale answer. Only
    /// invalidations that touch the entry's own tags (its pool, its target, its links) refuse
    /// the store, so a busy pool's writes to other resources do not.
    pub fn generation(&self) -> u64 {
        // SeqCst: see `TagCounts`.
        self.clock.load(Ordering::SeqCst)
    }

    /// Whether an invalidation of any of `tags` (or a clear) came after `generation`.
    fn invalidated_since(&self, tags: &[u64], generation: u64) -> bool {
        self.cleared_at.load(Ordering::SeqCst) > generation
            || tags
                .iter()
                .any(|&t| self.stamp(t).load(Ordering::SeqCst) > generation)
    }

    /// Advances the clock and stamps `tag` with it (before any shard is touched).
    fn stamp_tag(&self, tag: u64) {
        let now = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.stamp(tag).fetch_max(now, Ordering::SeqCst);
    }

    /// A cache whose key hash is `hasher` (tests force collisions with it).
    #[cfg(test)]
    pub(crate) fn with_hasher(
        config: ExactCacheConfig,
        hasher: fn(&CacheKey<'_>) -> u128,
    ) -> ExactCache {
        ExactCache {
            hasher,
            ..ExactCache::new(config)
        }
    }

    /// Whether every tag counter equals the number of live entries carrying its tags.
    #[cfg(test)]
    pub(crate) fn tag_counts_are_exact(&self) -> bool {
        let mut expected = vec![0u32; TAG_COUNTERS];
        for shard in self.shards.iter() {
            for slot in shard.lock().slots.iter().flatten() {
                for &tag in slot.tags.iter() {
                    expected[(tag % TAG_COUNTERS as u64) as usize] += 1;
                }
            }
        }
        expected
            .iter()
            .zip(self.tag_counts.0.iter())
            .all(|(&e, c)| c.load(Ordering::SeqCst) == e)
    }

    fn shard(&self, hash: u128) -> &Mutex<Shard> {
        &self.shards[(hash as usize) % SHARDS]
    }

    /// The stored answer for `key`, if present, unexpired at `now_ms`, and stored under exactly
    /// this key (the full key is compared, so a hash collision is a miss). Does not allocate.
    pub fn get(&self, key: &CacheKey<'_>, now_ms: u64) -> Option<Bytes> {
        let hash = (self.hasher)(key);
        let mut shard = self.shard(hash).lock();
        let Some(&i) = shard.map.get(&hash) else {
            drop(shard);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let slot = shard.slot(i);
        if !key.matches(&slot.key) {
            drop(shard);
            self.collisions.fetch_add(1, Ordering::Relaxed);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if slot.expires_at_ms <= now_ms {
            shard.remove(i, &self.tag_counts);
            drop(shard);
            self.expirations.fetch_add(1, Ordering::Relaxed);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let value = slot.value.clone();
        shard.unlink(i);
        shard.push_front(i);
        drop(shard);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// Stores `value` as the answer to `key` until `now_ms + ttl_ms`. Returns false when the
    /// entry alone is larger than a shard's byte share (nothing is stored then).
    ///
    /// The caller decides what is cacheable: only successful results (no JSON-RPC error, no
    /// `isError: true`) of requests whose tool is read-only, non-destructive and closed-world
    /// (or operator opt-in). This method stores whatever it is given.
    pub fn insert(&self, key: &CacheKey<'_>, value: Bytes, ttl_ms: u64, now_ms: u64) -> bool {
        self.insert_checked(key, value, ttl_ms, now_ms, None, &[])
    }

    /// Like [`ExactCache::insert`], but only if nothing the entry is tagged with (its pool, its
    /// target) has been invalidated since [`ExactCache::generation`] was `generation`. The
    /// check is made under the shard's lock and invalidation stamps its tag before it takes
    /// any shard's lock, so either the store sees the stamp and is refused, or the
    /// invalidation comes after it and removes it: a stale answer is never left behind.
    pub fn insert_if_unchanged(
        &self,
        key: &CacheKey<'_>,
        value: Bytes,
        ttl_ms: u64,
        now_ms: u64,
        generation: u64,
    ) -> bool {
        self.insert_checked(key, value, ttl_ms, now_ms, Some(generation), &[])
    }

    /// Like [`ExactCache::insert_if_unchanged`], for an answer derived from the resources
    /// `links` of the same pool (a tool result's `resource_link` URIs): an announced update
    /// of any of them ([`ExactCache::invalidate_target`] with [`Target::Resource`]) drops the
    /// entry, as it drops a cached read of the resource itself.
    pub fn insert_linked(
        &self,
        key: &CacheKey<'_>,
        value: Bytes,
        ttl_ms: u64,
        now_ms: u64,
        generation: u64,
        links: &[&str],
    ) -> bool {
        self.insert_checked(key, value, ttl_ms, now_ms, Some(generation), links)
    }

    fn insert_checked(
        &self,
        key: &CacheKey<'_>,
        value: Bytes,
        ttl_ms: u64,
        now_ms: u64,
        generation: Option<u64>,
        links: &[&str],
    ) -> bool {
        let hash = (self.hasher)(key);
        let encoded = key.encode();
        let cost = encoded.len() + value.len() + ENTRY_OVERHEAD;
        if cost > self.shard_budget || ttl_ms == 0 {
            self.too_large
                .fetch_add(u64::from(ttl_ms != 0), Ordering::Relaxed);
            return false;
        }
        let tags = key.tags(links);
        let mut evicted = 0;
        let mut shard = self.shard(hash).lock();
        // Counted before the generation is read, so that a racing invalidation cannot skip
        // this entry (see `TagCounts`).
        self.tag_counts.add(&tags);
        if generation.is_some_and(|g| self.invalidated_since(&tags, g)) {
            self.tag_counts.sub(&tags);
            drop(shard);
            self.stale_refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if let Some(&old) = shard.map.get(&hash) {
            // Same key (an update) or a colliding key: the newest answer wins the slot.
            shard.remove(old, &self.tag_counts);
        }
        while shard.bytes + cost > self.shard_budget && shard.tail != NIL {
            let tail = shard.tail;
            shard.remove(tail, &self.tag_counts);
            evicted += 1;
        }
        let i = match shard.free.pop() {
            Some(i) => i,
            None => {
                shard.slots.push(None);
                (shard.slots.len() - 1) as u32
            }
        };
        for &tag in tags.iter() {
            shard.tags.entry(tag).or_default().insert(i);
        }
        shard.slots[i as usize] = Some(Slot {
            hash,
            key: encoded,
            value,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            cost,
            tags,
            prev: NIL,
            next: NIL,
        });
        shard.push_front(i);
        shard.map.insert(hash, i);
        shard.bytes += cost;
        drop(shard);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        true
    }

    fn invalidate_tag(&self, tag: u64) -> usize {
        self.stamp_tag(tag);
        if self.tag_counts.none_carry(tag) {
            return 0;
        }
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            if let Some(set) = shard.tags.remove(&tag) {
                for i in set {
                    if shard.slots[i as usize].is_some() {
                        shard.remove(i, &self.tag_counts);
                        removed += 1;
                    }
                }
            }
        }
        self.invalidations
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Drops every entry of `pool` (e.g. the pool's configuration changed). Returns how many.
    pub fn invalidate_pool(&self, pool: u32) -> usize {
        self.invalidate_tag(pool_tag(pool))
    }

    /// Drops every entry of (pool, target): `Target::Tool` on `notifications/tools/list_changed`
    /// for each tool, `Target::Resource` on `notifications/resources/updated`. Returns how many.
    pub fn invalidate_target(&self, pool: u32, target: Target<'_>) -> usize {
        self.invalidate_tag(target_tag(pool, target))
    }

    /// Drops everything. Returns how many.
    pub fn clear(&self) -> usize {
        let now = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.cleared_at.fetch_max(now, Ordering::SeqCst);
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            removed += shard.map.len();
            for slot in shard.slots.iter().flatten() {
                self.tag_counts.sub(&slot.tags);
            }
            *shard = Shard::new();
        }
        self.invalidations
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0u64, 0u64);
        for shard in self.shards.iter() {
            let shard = shard.lock();
            entries += shard.map.len() as u64;
            bytes += shard.bytes as u64;
        }
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            inserts: load(&self.inserts),
            evictions: load(&self.evictions),
            expirations: load(&self.expirations),
            invalidations: load(&self.invalidations),
            collisions: load(&self.collisions),
            too_large: load(&self.too_large),
            stale_refused: load(&self.stale_refused),
            entries,
            bytes,
        }
    }
}
