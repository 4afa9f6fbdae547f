//! The near layer: an opt-in cache where a close enough earlier request may answer.
//!
//! Off by default and meant only for tools the operator opted in (read-only, closed-world, and
//! tolerant of near-duplicates, e.g. a geocoder or a search whose arguments differ in
//! whitespace-like ways the canonical form cannot see). A lookup scans the embeddings stored for
//! the same (principal or shared, pool, tool) scope and answers with the most similar entry at
//! or above [`NearCacheConfig::min_similarity`]. Published semantic caches show why this must be
//! measured, not assumed (GPTCache's own benchmark: 94 % precision at threshold 0.95), so the
//! layer counts judged hits: when the caller (replay, or a shadow check) learns whether a near
//! answer was right, it calls [`NearCache::judge`] and [`NearStats::precision`] follows.
//!
//! Each scope keeps at most [`NearCacheConfig::max_per_scope`] entries, oldest replaced first;
//! a lookup holds the scope's shard lock for one flat scan of at most that many rows.

use super::key::{CacheKey, Target};
use crate::store::dot;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 16;

/// Near layer configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NearCacheConfig {
    /// Off by default: a near answer is a guess.
    pub enabled: bool,
    /// Cosine similarity at or above which a stored answer may serve.
    pub min_similarity: f32,
    /// Entries kept per (principal or shared, pool, tool).
    pub max_per_scope: usize,
    /// Embedding dimension.
    pub dim: usize,
}

impl Default for NearCacheConfig {
    fn default() -> Self {
        NearCacheConfig {
            enabled: false,
            min_similarity: 0.97,
            max_per_scope: 256,
            dim: crate::embed::DEFAULT_DIM,
        }
    }
}

/// A near answer.
#[derive(Clone, Debug, PartialEq)]
pub struct NearHit {
    /// The stored result.
    pub value: Bytes,
    /// Similarity of the stored request to this one.
    pub similarity: f32,
}

/// Counters of the near layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NearStats {
    /// Lookups made while enabled.
    pub lookups: u64,
    /// Lookups answered.
    pub hits: u64,
    /// Hits later judged correct.
    pub judged_correct: u64,
    /// Hits later judged wrong.
    pub judged_wrong: u64,
}

impl NearStats {
    /// Fraction of judged hits that were correct; `None` before any judgement.
    pub fn precision(&self) -> Option<f64> {
        let judged = self.judged_correct + self.judged_wrong;
        (judged > 0).then(|| self.judged_correct as f64 / judged as f64)
    }
}

struct Item {
    value: Bytes,
    expires_at_ms: u64,
}

struct Scope {
    /// Encoded scope key (verified: a hash collision between scopes must not leak answers).
    key: Box<[u8]>,
    pool: u32,
    tool_tag: u64,
    rows: Vec<f32>,
    items: Vec<Item>,
    /// Next position to overwrite once full.
    cursor: usize,
}

/// The near layer. See the module docs.
pub struct NearCache {
    config: NearCacheConfig,
    shards: Box<[Mutex<HashMap<u128, Scope>>]>,
    lookups: AtomicU64,
    hits: AtomicU64,
    correct: AtomicU64,
    wrong: AtomicU64,
}

/// The scope key of a near entry: the cache key without arguments.
fn scope_key<'a>(key: &CacheKey<'a>) -> CacheKey<'a> {
    CacheKey {
        canonical_args: "",
        ..*key
    }
}

impl NearCache {
    /// An empty near layer.
    pub fn new(config: NearCacheConfig) -> NearCache {
        NearCache {
            config,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            lookups: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            correct: AtomicU64::new(0),
            wrong: AtomicU64::new(0),
        }
    }

    /// Whether lookups can answer at all.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// The most similar unexpired answer in `key`'s scope (its arguments are ignored; the
    /// `embedding` stands for them), if at or above the threshold. `None` when disabled.
    pub fn get(&self, key: &CacheKey<'_>, embedding: &[f32], now_ms: u64) -> Option<NearHit> {
        if !self.config.enabled || embedding.len() != self.config.dim {
            return None;
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let scope = scope_key(key);
        let hash = scope.hash();
        let shard = self.shards[hash as usize % SHARDS].lock();
        let s = shard.get(&hash).filter(|s| scope.matches(&s.key))?;
        let mut best: Option<(usize, f32)> = None;
        for (i, row) in s.rows.chunks_exact(self.config.dim).enumerate() {
            let sim = dot(embedding, row);
            if sim >= self.config.min_similarity
                && s.items[i].expires_at_ms > now_ms
                && best.is_none_or(|(_, b)| sim > b)
            {
                best = Some((i, sim));
            }
        }
        let (i, similarity) = best?;
        let value = s.items[i].value.clone();
        drop(shard);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(NearHit { value, similarity })
    }

    /// Stores an answer for later near lookups (no-op when disabled or the embedding has the
    /// wrong length). Same cacheability rules as the exact layer: errors are never stored.
    pub fn insert(
        &self,
        key: &CacheKey<'_>,
        embedding: &[f32],
        value: Bytes,
        ttl_ms: u64,
        now_ms: u64,
    ) {
        if !self.config.enabled || embedding.len() != self.config.dim || ttl_ms == 0 {
            return;
        }
        let scope = scope_key(key);
        let hash = scope.hash();
        let item = Item {
            value,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        };
        let mut shard = self.shards[hash as usize % SHARDS].lock();
        let s = shard.entry(hash).or_insert_with(|| Scope {
            key: scope.encode(),
            pool: key.pool,
            tool_tag: super::key::target_tag(key.pool, key.target),
            rows: Vec::new(),
            items: Vec::new(),
            cursor: 0,
        });
        if !scope.matches(&s.key) {
            // Two scopes collided on 128 bits: keep the old one, never mix answers.
            return;
        }
        if s.items.len() < self.config.max_per_scope {
            s.rows.extend_from_slice(embedding);
            s.items.push(item);
        } else {
            let i = s.cursor;
            s.rows[i * self.config.dim..(i + 1) * self.config.dim].copy_from_slice(embedding);
            s.items[i] = item;
            s.cursor = (i + 1) % self.config.max_per_scope;
        }
    }

    /// Records whether a near hit turned out right (ground truth from replay or a shadow call).
    pub fn judge(&self, correct: bool) {
        let counter = if correct { &self.correct } else { &self.wrong };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops every scope of `pool`.
    pub fn invalidate_pool(&self, pool: u32) {
        for shard in self.shards.iter() {
            shard.lock().retain(|_, s| s.pool != pool);
        }
    }

    /// Drops every scope of (pool, target).
    pub fn invalidate_target(&self, pool: u32, target: Target<'_>) {
        let tag = super::key::target_tag(pool, target);
        for shard in self.shards.iter() {
            shard.lock().retain(|_, s| s.tool_tag != tag);
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            shard.lock().clear();
        }
    }

    /// Counters.
    pub fn stats(&self) -> NearStats {
        NearStats {
            lookups: self.lookups.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            judged_correct: self.correct.load(Ordering::Relaxed),
            judged_wrong: self.wrong.load(Ordering::Relaxed),
        }
    }
}
