//! The pattern cache in the request path: which answers may be reused, and when they stop
//! being reusable.
//!
//! Only `tools/call` of tools that are safe to reuse is cached: tools the server annotates
//! `readOnlyHint: true` and `openWorldHint: false` (annotations are hints, so this is only the
//! default), or tools the operator lists in the pool's `cacheable_tools`. Error answers
//! (JSON-RPC errors and `isError: true` results) are never stored. A stored answer carries
//! `_meta["io.vecgate/cache"] = "hit"` when served.
//!
//! Invalidation (each makes the stale answer unreachable at once, not at the next sweep)
//! follows the pool's `cache_invalidation`:
//! - `any-write` (default): a call to a tool of the same pool that is not cacheable (a
//!   possible write) drops every answer of the pool, before it is forwarded and again after its
//!   answer; so does the pool's `notifications/resources/updated`.
//! - `announced` (see [`announced`]): the operator states that the server announces every
//!   resource a write changes and that tool answers link (`resource_link`) the resources they
//!   derive from. `resources/read` answers are cached too; the gateway subscribes upstream to
//!   every URI an entry depends on, and an update drops exactly the reads of that URI and the
//!   answers linking it. Writes drop nothing else.
//!
//! In both, the pool's catalog changing (`list_changed`, a replica coming or going), TTL
//! expiry and `POST /admin/cache/clear` drop answers too, and an answer read before an
//! invalidation of anything it depends on is not stored after it.
//!
//! Entries are keyed by the session's principal ([`crate::auth::Principal`]), so one
//! principal's answer is never served to another, unless the operator lists the tool in the
//! pool's `shared_tools` (its answer does not depend on who asks); shared entries have one
//! key for everyone.

pub mod announced;

use bytes::Bytes;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use vecgate_backends::catalog::ToolHints;
use vecgate_index::cache::{CacheKey, ExactCache, ExactCacheConfig, Target};
use vecgate_index::canonical::canonical_json;

/// How long a cached tool answer lives.
pub const DEFAULT_TTL_MS: u64 = 30_000;
/// The `_meta` key that marks an answer served from the cache.
pub const HIT_MARK: &str = "io.vecgate/cache";

/// The gateway's answer cache.
pub struct AnswerCache {
    exact: ExactCache,
    /// Upstream resource subscriptions held for `announced` pools.
    watched: announced::Watched,
}

/// A request that may be answered from the cache, with its canonical key material.
pub struct Cacheable {
    principal: crate::auth::Principal,
    shared: bool,
    pool: u32,
    /// `tools/call` or `resources/read`.
    method: &'static str,
    /// The upstream tool name or resource URI.
    target: String,
    canonical_args: String,
}

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache::new()
    }
}

impl AnswerCache {
    /// A cache with the default byte bound.
    pub fn new() -> AnswerCache {
        AnswerCache {
            exact: ExactCache::new(ExactCacheConfig::default()),
            watched: announced::Watched::default(),
        }
    }

    /// Whether a tool's answers may be reused.
    pub fn tool_is_cacheable(hints: ToolHints, operator_opt_in: bool) -> bool {
        operator_opt_in || (hints.read_only && !hints.open_world)
    }

    /// Prepare the key of a `tools/call` of `tool` (the upstream name) in `pool` by
    /// `principal` (ignored when the tool is `shared`); `None` when the arguments are not
    /// canonicalizable JSON.
    pub fn key_for(
        principal: &crate::auth::Principal,
        shared: bool,
        pool: u32,
        tool: &str,
        arguments: Option<&RawValue>,
    ) -> Option<Cacheable> {
        let mut canonical_args = String::new();
        if let Some(args) = arguments {
            canonical_json(args.get(), &mut canonical_args).ok()?;
        }
        Some(Cacheable {
            principal: principal.clone(),
            shared,
            pool,
            method: "tools/call",
            target: tool.to_owned(),
            canonical_args,
        })
    }

    /// The key of a `resources/read` of `uri` (upstream) in `pool` by `principal`.
    pub fn resource_key(principal: &crate::auth::Principal, pool: u32, uri: &str) -> Cacheable {
        Cacheable {
            principal: principal.clone(),
            shared: false,
            pool,
            method: "resources/read",
            target: uri.to_owned(),
            canonical_args: String::new(),
        }
    }

    fn key<'a>(c: &'a Cacheable) -> CacheKey<'a> {
        CacheKey {
            principal: c.principal.name(),
            shared: c.shared,
            pool: c.pool,
            method: c.method,
            target: if c.method == "resources/read" {
                Target::Resource(&c.target)
            } else {
                Target::Tool(&c.target)
            },
            canonical_args: &c.canonical_args,
        }
    }

    /// The cached answer, marked as a hit.
    pub fn get(&self, c: &Cacheable) -> Option<Box<RawValue>> {
        let bytes = self.exact.get(&AnswerCache::key(c), now_ms());
        let outcome = if bytes.is_some() { "hit" } else { "miss" };
        metrics::counter!("vecgate_cache_lookups_total", "outcome" => outcome).increment(1);
        let bytes = bytes?;
        let text = std::str::from_utf8(&bytes).ok()?;
        RawValue::from_string(text.to_owned()).ok()
    }

    /// The invalidation generation: read it after a miss, before forwarding, and pass it to
    /// [`AnswerCache::put`].
    pub fn generation(&self) -> u64 {
        self.exact.generation()
    }

    /// Store a successful answer (ignored when it is an `isError` result or not an object),
    /// unless the pool was invalidated since `generation` was read: the answer may then
    /// predate a write, and storing it would serve a stale answer.
    pub fn put(&self, c: &Cacheable, result: &RawValue, generation: u64) {
        self.put_linked(c, result, generation, &[]);
    }

    /// [`AnswerCache::put`] for an answer derived from the resources `links` of its pool (a
    /// read's URI needs no link: its key names it): an update of any of them drops it.
    pub fn put_linked(&self, c: &Cacheable, result: &RawValue, generation: u64, links: &[&str]) {
        if let Some(marked) = mark_hit(result)
            && !self.exact.insert_linked(
                &AnswerCache::key(c),
                marked,
                DEFAULT_TTL_MS,
                now_ms(),
                generation,
                links,
            )
        {
            metrics::counter!("vecgate_cache_stores_refused_total").increment(1);
        }
    }

    /// Drop every answer of `pool`.
    pub fn invalidate_pool(&self, pool: u32) -> usize {
        self.exact.invalidate_pool(pool)
    }

    /// Drop the reads of `uri` in `pool` and the answers linking it.
    pub fn invalidate_resource(&self, pool: u32, uri: &str) -> usize {
        self.exact.invalidate_target(pool, Target::Resource(uri))
    }

    /// Drop everything.
    pub fn clear(&self) -> usize {
        self.exact.clear()
    }

    /// Hit/miss/eviction counters.
    pub fn stats(&self) -> vecgate_index::cache::CacheStats {
        self.exact.stats()
    }
}

/// The result with `_meta["io.vecgate/cache"] = "hit"` added, ready to be served from the
/// cache; `None` for results that must not be cached.
fn mark_hit(result: &RawValue) -> Option<Bytes> {
    let mut map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(result.get()).ok()?;
    if map.get("isError").is_some_and(|v| v.get() == "true") {
        return None;
    }
    // MRTR interim results (2026-07-28) are never cached.
    if map
        .get("resultType")
        .is_some_and(|v| v.get() == "\"input_required\"")
    {
        return None;
    }
    let mut meta: BTreeMap<String, Box<RawValue>> = map
        .get("_meta")
        .and_then(|m| serde_json::from_str(m.get()).ok())
        .unwrap_or_default();
    meta.insert(
        HIT_MARK.to_owned(),
        serde_json::value::to_raw_value("hit").ok()?,
    );
    map.insert(
        "_meta".to_owned(),
        serde_json::value::to_raw_value(&meta).ok()?,
    );
    serde_json::to_vec(&map).ok().map(Bytes::from)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn hits_are_marked_errors_are_not_stored_and_writes_invalidate() {
        let cache = AnswerCache::new();
        let args = raw(r#"{"b":1,"a":"x"}"#);
        let same_args_reordered = raw(r#"{"a":"x","b":1.0}"#);
        let anon = Principal::anonymous();
        let k1 = AnswerCache::key_for(&anon, false, 0, "read_file", Some(&args)).unwrap();
        let k2 =
            AnswerCache::key_for(&anon, false, 0, "read_file", Some(&same_args_reordered)).unwrap();
        assert!(cache.get(&k1).is_none());
        cache.put(
            &k1,
            &raw(r#"{"content":[{"type":"text","text":"v1"}],"_meta":{"k":1}}"#),
            cache.generation(),
        );
        let hit = cache
            .get(&k2)
            .expect("canonical arguments make the same key");
        let v: serde_json::Value = serde_json::from_str(hit.get()).unwrap();
        assert_eq!(v["_meta"][HIT_MARK], "hit");
        assert_eq!(v["_meta"]["k"], 1);
        assert_eq!(v["content"][0]["text"], "v1");

        let other_pool = AnswerCache::key_for(&anon, false, 1, "read_file", Some(&args)).unwrap();
        assert!(cache.get(&other_pool).is_none());
        let other_principal =
            AnswerCache::key_for(&Principal::named("bob"), false, 0, "read_file", Some(&args))
                .unwrap();
        assert!(
            cache.get(&other_principal).is_none(),
            "never served to another principal"
        );

        assert_eq!(cache.invalidate_pool(0), 1);
        assert!(
            cache.get(&k1).is_none(),
            "stale answer unreachable right after the write"
        );

        cache.put(
            &k1,
            &raw(r#"{"content":[],"isError":true}"#),
            cache.generation(),
        );
        assert!(cache.get(&k1).is_none(), "errors are never cached");
        cache.put(
            &k1,
            &raw(r#"{"resultType":"input_required","inputRequests":{}}"#),
            cache.generation(),
        );
        assert!(
            cache.get(&k1).is_none(),
            "MRTR interim results are never cached"
        );
    }

    #[test]
    fn an_answer_read_before_a_write_is_not_stored_after_it() {
        let cache = AnswerCache::new();
        let anon = Principal::anonymous();
        let k = AnswerCache::key_for(&anon, false, 0, "read_file", None).unwrap();
        // The read misses and is forwarded; a write to the pool invalidates meanwhile.
        let before = cache.generation();
        assert!(cache.get(&k).is_none());
        cache.invalidate_pool(0);
        cache.put(&k, &raw(r#"{"content":[]}"#), before);
        assert!(
            cache.get(&k).is_none(),
            "the pre-write answer must not be served"
        );
        // Another pool's writes do not refuse this pool's stores.
        let after = cache.generation();
        cache.invalidate_pool(1);
        cache.put(&k, &raw(r#"{"content":[]}"#), after);
        assert!(cache.get(&k).is_some());
    }

    #[test]
    fn shared_tools_have_one_entry_for_every_principal() {
        let cache = AnswerCache::new();
        let (alice, bob) = (Principal::named("alice"), Principal::named("bob"));
        let a = AnswerCache::key_for(&alice, true, 0, "weather", None).unwrap();
        let b = AnswerCache::key_for(&bob, true, 0, "weather", None).unwrap();
        cache.put(&a, &raw(r#"{"content":[]}"#), cache.generation());
        assert!(cache.get(&b).is_some());
        let b_private = AnswerCache::key_for(&bob, false, 0, "weather", None).unwrap();
        assert!(cache.get(&b_private).is_none());
    }

    #[test]
    fn only_read_only_closed_world_tools_or_opt_ins_are_cacheable() {
        let mut hints = ToolHints::default();
        assert!(!AnswerCache::tool_is_cacheable(hints, false));
        assert!(AnswerCache::tool_is_cacheable(hints, true));
        hints.read_only = true;
        assert!(
            !AnswerCache::tool_is_cacheable(hints, false),
            "open world by default"
        );
        hints.open_world = false;
        assert!(AnswerCache::tool_is_cacheable(hints, false));
    }
}
