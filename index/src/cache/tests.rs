use super::*;
use bytes::Bytes;
use proptest::prelude::*;

fn key<'a>(principal: &'a str, pool: u32, target: Target<'a>, args: &'a str) -> CacheKey<'a> {
    CacheKey {
        principal,
        shared: false,
        pool,
        method: "tools/call",
        target,
        canonical_args: args,
    }
}

fn cache() -> ExactCache {
    ExactCache::new(ExactCacheConfig::default())
}

#[test]
fn private_answers_never_cross_principals() {
    let c = cache();
    let alice = key("alice", 0, Target::Tool("read"), "{}");
    let bob = key("bob", 0, Target::Tool("read"), "{}");
    assert!(c.insert(&alice, Bytes::from_static(b"A"), 1000, 0));
    assert_eq!(c.get(&alice, 1), Some(Bytes::from_static(b"A")));
    assert_eq!(c.get(&bob, 1), None);
    // A shared lookup never sees a private entry either.
    let shared = CacheKey {
        shared: true,
        ..alice
    };
    assert_eq!(c.get(&shared, 1), None);
}

#[test]
fn shared_answers_serve_every_principal() {
    let c = cache();
    let alice = CacheKey {
        shared: true,
        ..key("alice", 0, Target::Tool("weather"), "{}")
    };
    let bob = CacheKey {
        shared: true,
        ..key("bob", 0, Target::Tool("weather"), "{}")
    };
    assert!(c.insert(&alice, Bytes::from_static(b"sunny"), 1000, 0));
    assert_eq!(c.get(&bob, 1), Some(Bytes::from_static(b"sunny")));
    let private_bob = key("bob", 0, Target::Tool("weather"), "{}");
    assert_eq!(c.get(&private_bob, 1), None);
}

#[test]
fn every_key_field_matters() {
    let c = cache();
    let base = key("p", 1, Target::Tool("t"), r#"{"a":1}"#);
    c.insert(&base, Bytes::from_static(b"x"), 1000, 0);
    let variants = [
        CacheKey { pool: 2, ..base },
        CacheKey {
            method: "prompts/get",
            ..base
        },
        CacheKey {
            target: Target::Tool("u"),
            ..base
        },
        CacheKey {
            target: Target::Resource("t"),
            ..base
        },
        CacheKey {
            canonical_args: r#"{"a":2}"#,
            ..base
        },
    ];
    for v in &variants {
        assert_eq!(c.get(v, 1), None, "{v:?}");
    }
    assert!(c.get(&base, 1).is_some());
}

#[test]
fn hash_collisions_are_misses_not_wrong_answers() {
    let c = ExactCache::with_hasher(ExactCacheConfig::default(), |_| 7);
    let a = key("p", 0, Target::Tool("a"), "{}");
    let b = key("p", 0, Target::Tool("b"), "{}");
    c.insert(&a, Bytes::from_static(b"A"), 1000, 0);
    assert_eq!(c.get(&b, 1), None);
    assert_eq!(c.stats().collisions, 1);
    c.insert(&b, Bytes::from_static(b"B"), 1000, 0);
    assert_eq!(c.get(&a, 1), None);
    assert_eq!(c.get(&b, 1), Some(Bytes::from_static(b"B")));
}

#[test]
fn entries_expire_at_their_ttl() {
    let c = cache();
    let k = key("p", 0, Target::Tool("t"), "{}");
    c.insert(&k, Bytes::from_static(b"v"), 100, 1_000);
    assert!(c.get(&k, 1_099).is_some());
    assert!(c.get(&k, 1_100).is_none());
    let s = c.stats();
    assert_eq!((s.expirations, s.entries, s.bytes), (1, 0, 0));
    assert!(
        !c.insert(&k, Bytes::from_static(b"v"), 0, 0),
        "ttl 0 stores nothing"
    );
}

#[test]
fn an_announced_update_drops_the_reads_and_the_answers_linking_the_resource() {
    let c = cache();
    let read_a = key("p", 0, Target::Resource("file:///a"), "");
    let search = key("p", 0, Target::Tool("search"), r#"{"q":"x"}"#);
    let other = key("p", 0, Target::Tool("search"), r#"{"q":"y"}"#);
    let g = c.generation();
    c.insert_if_unchanged(&read_a, Bytes::from_static(b"a1"), 1000, 0, g);
    assert!(c.insert_linked(
        &search,
        Bytes::from_static(b"s"),
        1000,
        0,
        g,
        &["file:///b", "file:///a", "file:///a"]
    ));
    assert!(c.insert_linked(&other, Bytes::from_static(b"o"), 1000, 0, g, &["file:///c"]));
    assert!(c.tag_counts_are_exact());
    assert_eq!(c.invalidate_target(0, Target::Resource("file:///a")), 2);
    assert!(c.get(&read_a, 1).is_none() && c.get(&search, 1).is_none());
    assert!(
        c.get(&other, 1).is_some(),
        "an unrelated resource's update keeps it"
    );
    assert_eq!(c.invalidate_target(0, Target::Resource("file:///c")), 1);
    assert!(c.tag_counts_are_exact());
    assert_eq!(c.stats().entries, 0);
}

#[test]
fn invalidation_removes_exactly_the_affected_entries() {
    let c = cache();
    let t1 = key("p", 0, Target::Tool("t1"), "{}");
    let t1b = key("q", 0, Target::Tool("t1"), r#"{"x":1}"#);
    let t2 = key("p", 0, Target::Tool("t2"), "{}");
    let uri = key("p", 0, Target::Resource("file:///a"), "");
    let other_pool = key("p", 1, Target::Tool("t1"), "{}");
    for k in [&t1, &t1b, &t2, &uri, &other_pool] {
        c.insert(k, Bytes::from_static(b"v"), 1000, 0);
    }
    assert_eq!(c.invalidate_target(0, Target::Tool("t1")), 2);
    assert!(c.get(&t1, 1).is_none() && c.get(&t1b, 1).is_none());
    assert!(c.get(&t2, 1).is_some() && c.get(&other_pool, 1).is_some());
    assert_eq!(c.invalidate_target(0, Target::Resource("file:///a")), 1);
    assert!(c.get(&uri, 1).is_none());
    assert_eq!(c.invalidate_pool(0), 1);
    assert!(c.get(&t2, 1).is_none() && c.get(&other_pool, 1).is_some());
    assert_eq!(c.clear(), 1);
    assert_eq!(c.stats().entries, 0);
}

#[test]
fn byte_bound_evicts_least_recently_used() {
    // One shard's share is 1/16 of the bound; force one shard with a constant hash.
    let value = Bytes::from(vec![0u8; 1000]);
    let entry_cost = 1000 + ENTRY_OVERHEAD + key("p", 0, Target::Tool("t"), "00").encode().len();
    let config = ExactCacheConfig {
        max_bytes: 16 * (3 * entry_cost),
    };
    let c = ExactCache::with_hasher(config, |k| {
        k.canonical_args.len() as u128 * 16 + u128::from(k.canonical_args.as_bytes()[0]) * 1024
    });
    let keys: Vec<String> = (0..4).map(|i| format!("{i}{i}")).collect();
    let k = |i: usize| key("p", 0, Target::Tool("t"), &keys[i]);
    for i in 0..3 {
        assert!(c.insert(&k(i), value.clone(), 1000, 0));
    }
    assert!(c.get(&k(0), 1).is_some(), "touch 0: now 1 is least recent");
    assert!(c.insert(&k(3), value.clone(), 1000, 0));
    assert!(c.get(&k(1), 1).is_none());
    assert!(c.get(&k(0), 1).is_some() && c.get(&k(2), 1).is_some() && c.get(&k(3), 1).is_some());
    let s = c.stats();
    assert_eq!(s.evictions, 1);
    assert!(s.bytes as usize <= 3 * entry_cost);
    let huge = Bytes::from(vec![0u8; 4 * entry_cost]);
    assert!(!c.insert(&k(0), huge, 1000, 0));
    assert_eq!(c.stats().too_large, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the operations, the cache never exceeds its bound, never answers another
    /// principal's private entry, answers with the last value inserted for a key, and its
    /// per-tag live counts (which let an invalidation skip the shards) stay exact through
    /// updates, evictions, expiries, invalidations, refused stores and clears.
    #[test]
    fn model_check(ops in prop::collection::vec((0u8..7, 0usize..3, 0usize..6, 1usize..3000), 1..200)) {
        let c = ExactCache::new(ExactCacheConfig { max_bytes: 16 * 8000 });
        let principals = ["a", "b", "c"];
        let args: Vec<String> = (0..6).map(|i| format!("{{\"i\":{i}}}")).collect();
        let mut last: std::collections::HashMap<(usize, usize), usize> = Default::default();
        for (op, p, a, size) in ops {
            let k = key(principals[p], 0, Target::Tool("t"), &args[a]);
            match op {
                0 => {
                    let mut v = vec![p as u8; size];
                    v[0] = a as u8;
                    if c.insert(&k, Bytes::from(v), 1000, 0) {
                        last.insert((p, a), size);
                    } else {
                        last.remove(&(p, a));
                    }
                }
                1 => {
                    if let Some(v) = c.get(&k, 1) {
                        prop_assert_eq!(v[0] as usize, a);
                        prop_assert!(v[1..].iter().all(|&b| b as usize == p));
                        prop_assert_eq!(Some(&v.len()), last.get(&(p, a)));
                    }
                }
                2 => { c.invalidate_target(0, Target::Tool("t")); last.clear(); }
                3 => {
                    // A read past the TTL expires the entry.
                    prop_assert_eq!(c.get(&k, 5000), None);
                    last.remove(&(p, a));
                }
                4 => {
                    // A store that raced an invalidation is refused and leaves no count behind.
                    let g = c.generation();
                    c.invalidate_pool(0);
                    prop_assert!(!c.insert_if_unchanged(&k, Bytes::from_static(b"x"), 1000, 0, g));
                    last.clear();
                }
                5 => { c.clear(); last.clear(); }
                _ => {
                    // Other targets and pools are untouched.
                    c.invalidate_target(0, Target::Tool("other"));
                    c.invalidate_pool(1);
                }
            }
            prop_assert!(c.stats().bytes <= 16 * 8000);
            prop_assert!(c.tag_counts_are_exact());
        }
    }
}

#[test]
fn near_layer_is_off_by_default() {
    let n = NearCache::new(NearCacheConfig {
        dim: 2,
        ..NearCacheConfig::default()
    });
    let k = key("p", 0, Target::Tool("geo"), "{}");
    n.insert(&k, &[1.0, 0.0], Bytes::from_static(b"v"), 1000, 0);
    assert!(n.get(&k, &[1.0, 0.0], 1).is_none());
    assert_eq!(n.stats().lookups, 0);
}

#[test]
fn near_layer_answers_above_threshold_within_scope_and_tracks_precision() {
    let config = NearCacheConfig {
        enabled: true,
        dim: 2,
        min_similarity: 0.9,
        ..NearCacheConfig::default()
    };
    let n = NearCache::new(config);
    let k = key("p", 0, Target::Tool("geo"), r#"{"q":"paris"}"#);
    n.insert(&k, &[1.0, 0.0], Bytes::from_static(b"paris"), 1000, 0);
    let similar = key("p", 0, Target::Tool("geo"), r#"{"q":"Paris "}"#);
    let close = [0.95f32, (1.0f32 - 0.95 * 0.95).sqrt()];
    let hit = n.get(&similar, &close, 1).expect("near hit");
    assert_eq!(hit.value, Bytes::from_static(b"paris"));
    assert!((hit.similarity - 0.95).abs() < 1e-5);
    assert!(n.get(&similar, &[0.0, 1.0], 1).is_none(), "below threshold");
    assert!(
        n.get(&key("q", 0, Target::Tool("geo"), "{}"), &[1.0, 0.0], 1)
            .is_none(),
        "other principal"
    );
    assert!(
        n.get(&key("p", 0, Target::Tool("other"), "{}"), &[1.0, 0.0], 1)
            .is_none(),
        "other tool"
    );
    assert!(n.get(&similar, &[1.0, 0.0], 1000).is_none(), "expired");
    n.judge(true);
    n.judge(true);
    n.judge(false);
    let s = n.stats();
    assert_eq!(s.hits, 1);
    assert!((s.precision().expect("judged") - 2.0 / 3.0).abs() < 1e-9);
    n.invalidate_target(0, Target::Tool("geo"));
    assert!(n.get(&similar, &[1.0, 0.0], 1).is_none());
}

#[test]
fn a_store_racing_an_invalidation_is_refused_on_every_invalidation_path() {
    let c = cache();
    let k = key("alice", 3, Target::Tool("read"), "{}");
    let value = || Bytes::from_static(b"old");
    let g = c.generation();
    c.invalidate_pool(3);
    assert!(!c.insert_if_unchanged(&k, value(), 1000, 0, g));
    let g = c.generation();
    c.invalidate_target(3, Target::Tool("read"));
    assert!(!c.insert_if_unchanged(&k, value(), 1000, 0, g));
    let g = c.generation();
    c.invalidate_target(3, Target::Resource("file:///linked"));
    assert!(!c.insert_linked(&k, value(), 1000, 0, g, &["file:///linked"]));
    let g = c.generation();
    c.clear();
    assert!(!c.insert_if_unchanged(&k, value(), 1000, 0, g));
    assert_eq!(c.get(&k, 1), None);
    assert_eq!(c.stats().stale_refused, 4);
    // Invalidations of what the entry does not carry (another tool, another resource, another
    // pool) do not refuse it.
    let g = c.generation();
    c.invalidate_target(3, Target::Tool("write"));
    c.invalidate_target(3, Target::Resource("file:///other"));
    c.invalidate_pool(4);
    assert!(c.insert_linked(&k, value(), 1000, 0, g, &["file:///linked"]));
    c.invalidate_pool(3);
    // No invalidation between lookup and store: stored.
    let g = c.generation();
    assert!(c.insert_if_unchanged(&k, value(), 1000, 0, g));
    assert_eq!(c.get(&k, 1), Some(value()));
}

#[test]
fn invalidating_what_no_entry_carries_removes_nothing_and_keeps_the_rest() {
    let c = cache();
    assert_eq!(c.invalidate_pool(0), 0);
    let k = key("alice", 0, Target::Tool("read"), "{}");
    assert!(c.insert(&k, Bytes::from_static(b"A"), 1000, 0));
    assert_eq!(c.invalidate_pool(1), 0);
    assert_eq!(c.invalidate_target(0, Target::Tool("write")), 0);
    assert_eq!(c.get(&k, 1), Some(Bytes::from_static(b"A")));
    assert_eq!(c.invalidate_pool(0), 1);
    assert_eq!(c.invalidate_pool(0), 0);
    assert!(c.tag_counts_are_exact());
}

/// Stores racing invalidations from other threads: once an invalidation has returned, no
/// store that read the generation before it may be left in the cache (the counts that let
/// invalidation skip the shards must not open that window).
#[test]
fn no_store_that_raced_an_invalidation_survives_it() {
    use std::sync::Arc;
    let c = Arc::new(cache());
    let arguments = |w: usize| format!("{{\"w\":{w}}}");
    // Each writer stores the generation it read as its value.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let c = c.clone();
            std::thread::spawn(move || {
                let args = arguments(w);
                for _ in 0..20_000 {
                    let g = c.generation();
                    let k = key("p", 0, Target::Tool("t"), &args);
                    c.insert_if_unchanged(&k, Bytes::from(g.to_le_bytes().to_vec()), 60_000, 0, g);
                }
            })
        })
        .collect();
    // This thread is the only invalidator, so between its invalidations the generation is
    // fixed, and an entry stored under an older one is a stale answer that survived.
    for _ in 0..5_000 {
        c.invalidate_pool(0);
        let current = c.generation();
        for w in 0..2 {
            if let Some(v) = c.get(&key("p", 0, Target::Tool("t"), &arguments(w)), 1) {
                let stored = u64::from_le_bytes(v[..8].try_into().unwrap());
                assert_eq!(
                    stored, current,
                    "an entry stored under generation {stored} survived the bump to {current}"
                );
            }
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(c.tag_counts_are_exact());
}
