//! Engine tests against the real index (hashing embedder, flat-only trajectory store).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vecgate_index::store::{Crossover, StoreConfig};

use super::*;
use crate::policy::tests::healthy;

fn engine(policy: &str) -> Engine {
    let cfg = PolicyConfig {
        policy: policy.to_owned(),
        ..PolicyConfig::default()
    };
    let store = StoreConfig {
        dim: 64,
        crossover: Crossover::FlatOnly,
        ..StoreConfig::default()
    };
    Engine::from_config(&cfg, store, EngineConfig::default()).unwrap()
}

fn args(i: u64) -> String {
    format!(r#"{{"city":"c{}","days":{}}}"#, i % 20, i % 3)
}

#[test]
fn features_key_canonically_and_embed_only_for_content_aware_policies() {
    let e = engine("vector");
    let mut s = FeatureScratch::default();
    let a = e.features(
        "tools/call",
        Some("weather"),
        Some(r#"{"b":1,"a":2}"#),
        &mut s,
    );
    let (ka, ta, dim) = (a.key, a.tool, a.embedding.len());
    assert_eq!(dim, 64);
    let b = e.features(
        "tools/call",
        Some("weather"),
        Some(r#"{ "a":2, "b":1 }"#),
        &mut s,
    );
    assert_eq!(
        (b.key, b.tool),
        (ka, ta),
        "same request after canonicalisation"
    );
    let c = e.features("tools/call", Some("weather"), Some(r#"{"a":3}"#), &mut s);
    assert_ne!(c.key, ka);
    assert_eq!(c.tool, ta);
    let broken = e.features("tools/call", Some("weather"), Some("{not json"), &mut s);
    assert_eq!(broken.size, 9);
    let blind = engine("p2c-peak-ewma");
    let f = blind.features("tools/call", Some("weather"), Some("{}"), &mut s);
    assert!(f.embedding.is_empty());
    assert_eq!(
        f.key,
        blind
            .features("tools/call", Some("weather"), Some("{}"), &mut s)
            .key
    );
}

#[test]
fn features_of_canonical_arguments_equal_the_features_of_the_raw_ones() {
    let e = engine("vector");
    let (mut s, mut t) = (FeatureScratch::default(), FeatureScratch::default());
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        (
            "tools/call",
            Some("weather"),
            Some(r#"{ "days": 3, "city": "Oslo" }"#),
        ),
        (
            "tools/call",
            Some("weather"),
            Some(r#"{"q":"\u00e9t\u00e9","n":1.50}"#),
        ),
        ("resources/read", Some("file:///a.txt"), None),
        ("ping", None, None),
    ];
    for (method, name, raw) in cases {
        let canonical = raw.map(|r| {
            let mut out = String::new();
            vecgate_index::canonical::Canonicalizer::default()
                .canonicalize(r, &mut out)
                .unwrap();
            out
        });
        let a = e.features(method, name, canonical.as_deref(), &mut s);
        let b = e.features_canonical(method, name, canonical.as_deref(), &mut t);
        assert_eq!(
            (a.key, a.tool, a.size),
            (b.key, b.tool, b.size),
            "{method} {raw:?}"
        );
        assert_eq!(a.embedding, b.embedding, "{method} {raw:?}");
        if let Some(raw) = raw {
            let from_raw = e.features(method, name, Some(raw), &mut s).key;
            assert_eq!(
                from_raw, b.key,
                "the key of the raw text is the canonical one's"
            );
        }
    }
}

#[test]
fn route_and_learn_fill_the_store_and_the_policy_uses_its_evidence() {
    let e = engine("knn");
    let candidates = healthy(3);
    let (mut fs, mut rs) = (FeatureScratch::default(), RouteScratch::default());
    let mut rng = Rng::seed(1);
    for i in 0..300u64 {
        let raw = args(i);
        let f = e.features("tools/call", Some("forecast"), Some(&raw), &mut fs);
        let now = Nanos::from_ms(i as f64);
        let d = e.route(0, &f, &candidates, now, &mut rng, None, &mut rs);
        let replica = candidates[d.index].replica;
        let ms = if replica == 1 { 3.0 } else { 30.0 };
        e.learn(&Outcome {
            pool: 0,
            replica,
            features: &f,
            sent: now,
            now,
            latency_ms: ms,
            service_ms: None,
            success: true,
        });
    }
    assert!(!e.store().is_empty());
    let raw = args(7);
    let f = e.features("tools/call", Some("forecast"), Some(&raw), &mut fs);
    let x = e.explain(0, &f, &candidates, Nanos::ZERO, &mut rs);
    assert_eq!(x.policy, "knn");
    let best = x
        .candidates
        .iter()
        .min_by(|a, b| a.score.partial_cmp(&b.score).unwrap())
        .unwrap();
    assert_eq!(best.replica, 1, "{x:?}");
    assert!(best.evidence > 0);
    assert_eq!(e.stats().record_errors, 0);
}

#[test]
fn the_learner_thread_learns_and_ticks_and_never_blocks_senders() {
    let e = Arc::new(engine("vector"));
    let start = Instant::now();
    let clock: Arc<dyn Fn() -> Nanos + Send + Sync> =
        Arc::new(move || Nanos(start.elapsed().as_nanos() as u64));
    let cell = Arc::new(arc_swap::ArcSwap::new(Arc::clone(&e)));
    let (sink, thread) =
        LearnerThread::spawn(Arc::clone(&cell), 64, Duration::from_millis(5), clock).unwrap();
    let mut fs = FeatureScratch::default();
    let offered = 500u64;
    let mut accepted = 0;
    for i in 0..offered {
        let raw = args(i);
        let f = e.features("tools/call", Some("forecast"), Some(&raw), &mut fs);
        let o = Outcome {
            pool: 0,
            replica: (i % 3) as u32,
            features: &f,
            sent: Nanos(i),
            now: Nanos(i),
            latency_ms: 10.0,
            service_ms: None,
            success: true,
        };
        accepted += u64::from(sink.offer(&o, 100));
    }
    assert_eq!(accepted + sink.dropped(), offered);
    let deadline = Instant::now() + Duration::from_secs(20);
    while thread.learned() < accepted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread.learned(), accepted);
    std::thread::sleep(Duration::from_millis(20));
    thread.shutdown();
    assert!(!e.store().is_empty());
    assert!(LearnerThread::spawn(cell, 0, Duration::from_secs(1), Arc::new(|| Nanos(0))).is_err());
}

#[test]
fn dimension_mismatch_and_bad_neighbour_counts_are_config_errors() {
    let store = Arc::new(
        vecgate_index::store::TrajectoryStore::new(StoreConfig {
            dim: 32,
            crossover: Crossover::FlatOnly,
            ..StoreConfig::default()
        })
        .unwrap(),
    );
    let policy = PolicyConfig::default().build().unwrap();
    let embedder = Arc::new(HashingEmbedder::new(64));
    let err = Engine::new(
        embedder.clone(),
        Arc::clone(&store),
        Arc::clone(&policy),
        EngineConfig::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("store.dim"), "{err}");
    for (cfg, key) in [
        (
            EngineConfig {
                neighbours: 0,
                ..EngineConfig::default()
            },
            "engine.neighbours",
        ),
        (
            EngineConfig {
                search_ef: 0,
                ..EngineConfig::default()
            },
            "engine.search_ef",
        ),
    ] {
        let err = Engine::new(
            embedder.clone(),
            Arc::clone(&store),
            Arc::clone(&policy),
            cfg,
        )
        .unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn a_snapshot_warm_starts_store_and_learner() {
    let e = engine("vector");
    let candidates = healthy(3);
    let (mut fs, mut rs) = (FeatureScratch::default(), RouteScratch::default());
    let mut rng = Rng::seed(2);
    for i in 0..400u64 {
        let raw = args(i);
        let f = e.features("tools/call", Some("forecast"), Some(&raw), &mut fs);
        let d = e.route(0, &f, &candidates, Nanos::ZERO, &mut rng, None, &mut rs);
        let replica = candidates[d.index].replica;
        e.learn(&Outcome {
            pool: 0,
            replica,
            features: &f,
            sent: Nanos::ZERO,
            now: Nanos::ZERO,
            latency_ms: 5.0 + 10.0 * f64::from(replica),
            service_ms: None,
            success: true,
        });
    }
    let snap = e.snapshot().unwrap();
    let store_cfg = e.store().config().clone();
    let cfg = PolicyConfig::default();
    let warm =
        Engine::from_snapshot(&cfg, store_cfg.clone(), EngineConfig::default(), &snap).unwrap();
    assert_eq!(warm.store().len(), e.store().len());
    assert_eq!(warm.snapshot_policy(), e.snapshot_policy());
    // Another policy finds no section of its own and starts cold, without error.
    let knn = PolicyConfig {
        policy: "knn".into(),
        ..PolicyConfig::default()
    };
    let cold = Engine::from_snapshot(&knn, store_cfg, EngineConfig::default(), &snap).unwrap();
    assert!(!cold.restore_learner(&snap).unwrap());
}
