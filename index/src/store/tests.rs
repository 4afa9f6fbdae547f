use super::*;
use crate::embed::{Embedder, HashingEmbedder};
use crate::workload::{SplitMix64, Workload};
use proptest::prelude::*;

fn outcome(pool: u32, replica: u32, latency_ms: f32, at_ms: u64) -> TrajectoryOutcome {
    TrajectoryOutcome {
        pool,
        replica,
        latency_ms,
        success: true,
        result_bytes: 100,
        at_ms,
    }
}

fn unit(rng: &mut SplitMix64, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.unit() as f32 - 0.5).collect();
    crate::embed::normalize(&mut v).expect("non-zero");
    v
}

fn flat_config(dim: usize) -> StoreConfig {
    StoreConfig {
        dim,
        crossover: Crossover::FlatOnly,
        ..StoreConfig::default()
    }
}

fn brute_force(rows: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u32> {
    let mut all: Vec<(f32, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (dot(q, r), i as u32))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

fn workload_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let e = HashingEmbedder::new(dim);
    let mut w = Workload::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let r = w.next_request();
        if !seen.insert(r.clone()) {
            continue;
        }
        let mut v = vec![0.0; dim];
        e.embed(&r.view(), &mut v).expect("embed");
        out.push(v);
    }
    out
}

/// A store whose readers use the graph from its first entry and that never merges (every
/// distinct row becomes an entry): the shape the graph tests need.
fn graph_from_the_start(dim: usize) -> StoreConfig {
    StoreConfig {
        dim,
        merge_similarity: 1.0,
        crossover: Crossover::Fixed(1),
        ..StoreConfig::default()
    }
}

#[test]
fn refuses_bad_vectors_and_configs() {
    let store = TrajectoryStore::new(flat_config(4)).expect("store");
    let o = outcome(0, 0, 1.0, 0);
    assert!(matches!(
        store.record(&[1.0, 0.0, 0.0], &o),
        Err(StoreError::WrongDimension {
            expected: 4,
            received: 3
        })
    ));
    assert_eq!(store.record(&[0.0; 4], &o), Err(StoreError::InvalidVector));
    assert_eq!(
        store.record(&[f32::NAN, 0.0, 0.0, 1.0], &o),
        Err(StoreError::InvalidVector)
    );
    let mut out = vec![];
    store.search(&[1.0, 0.0], 3, &mut out);
    assert!(out.is_empty());
    let bad = StoreConfig {
        merge_similarity: 1.5,
        ..StoreConfig::default()
    };
    assert!(TrajectoryStore::new(bad).is_err());
    let bad = StoreConfig {
        hnsw: HnswParams {
            max_connections: 300,
            ..HnswParams::default()
        },
        ..StoreConfig::default()
    };
    assert!(TrajectoryStore::new(bad).is_err());
}

#[test]
fn near_identical_outcomes_merge_and_keep_stats() {
    let store = TrajectoryStore::new(flat_config(4)).expect("store");
    let v = [0.5f32, 0.5, 0.5, 0.5];
    assert_eq!(
        store.record(&v, &outcome(1, 2, 10.0, 5)),
        Ok(Recorded::Inserted { entry: 0 })
    );
    assert!(matches!(
        store.record(&v, &outcome(1, 2, 20.0, 9)),
        Ok(Recorded::Merged { entry: 0, .. })
    ));
    store.record(&v, &outcome(1, 3, 7.0, 9)).expect("record");
    store.record(&v, &outcome(2, 2, 99.0, 9)).expect("record");
    let mut failing = outcome(1, 2, 30.0, 11);
    failing.success = false;
    store.record(&v, &failing).expect("record");
    let mut seen = vec![];
    store.for_each_stat(0, 1, |s| seen.push(*s));
    assert_eq!(seen.len(), 2, "pool 2 must not show up in pool 1");
    let r2 = seen.iter().find(|s| s.replica == 2).expect("replica 2");
    // EWMA with α = 0.2: 10 → 12 → 15.6.
    assert!((r2.mean_ms - 15.6).abs() < 1e-4, "{}", r2.mean_ms);
    assert_eq!((r2.count, r2.failures, r2.last_seen_ms), (3, 1, 11));
    assert_eq!(store.len(), 1);
    let other = [0.5f32, -0.5, 0.5, -0.5];
    assert_eq!(
        store.record(&other, &outcome(1, 2, 1.0, 0)),
        Ok(Recorded::Inserted { entry: 1 })
    );
    let s = store.stats();
    assert_eq!((s.inserts, s.merges, s.entries), (2, 4, 2));
}

#[test]
fn for_each_stat_reports_many_replicas() {
    let store = TrajectoryStore::new(flat_config(2)).expect("store");
    for replica in 0..40 {
        store
            .record(&[1.0, 0.0], &outcome(0, replica, replica as f32, 0))
            .expect("record");
    }
    let mut replicas = vec![];
    store.for_each_stat(0, 0, |s| replicas.push(s.replica));
    assert_eq!(replicas, (0..40).collect::<Vec<_>>());
    store.for_each_stat(7, 0, |_| panic!("unknown entry has no stats"));
}

#[test]
fn max_entries_bounds_the_store() {
    let config = StoreConfig {
        max_entries: 10,
        ..flat_config(8)
    };
    let store = TrajectoryStore::new(config).expect("store");
    let mut rng = SplitMix64::new(3);
    for i in 0..100 {
        store
            .record(&unit(&mut rng, 8), &outcome(0, 0, 1.0, i))
            .expect("record");
    }
    assert_eq!(store.len(), 10);
    for entry in 0..10 {
        store.forget(entry);
    }
    assert_eq!(
        store.record(&unit(&mut rng, 8), &outcome(0, 0, 1.0, 0)),
        Err(StoreError::Full { max_entries: 10 })
    );
}

#[test]
fn forgotten_entries_disappear_and_memo_follows_the_epoch() {
    let store = TrajectoryStore::new(flat_config(8)).expect("store");
    let mut rng = SplitMix64::new(9);
    let rows: Vec<Vec<f32>> = (0..50).map(|_| unit(&mut rng, 8)).collect();
    for r in &rows {
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
    }
    let mut out = vec![];
    assert!(!store.search_memo(42, &rows[3], 5, &mut out));
    assert_eq!(out[0].entry, 3);
    let first = out.clone();
    assert!(
        store.search_memo(42, &rows[3], 5, &mut out),
        "second time is memoised"
    );
    assert_eq!(out, first);
    assert!(store.forget(3));
    assert!(!store.forget(3));
    assert!(!store.search_memo(42, &rows[3], 5, &mut out), "epoch moved");
    assert!(out.iter().all(|n| n.entry != 3));
    assert_eq!(store.stats().dead, 1);
}

#[test]
fn forget_older_than_uses_last_seen() {
    let store = TrajectoryStore::new(flat_config(2)).expect("store");
    store
        .record(&[1.0, 0.0], &outcome(0, 0, 1.0, 100))
        .expect("record");
    store
        .record(&[0.0, 1.0], &outcome(0, 0, 1.0, 500))
        .expect("record");
    assert_eq!(store.forget_older_than(200), 1);
    let mut out = vec![];
    store.search(&[1.0, 0.0], 2, &mut out);
    assert_eq!(out.iter().map(|n| n.entry).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn graph_search_agrees_with_brute_force_on_request_embeddings() {
    let dim = 64;
    let rows = workload_vectors(3000, dim, 11);
    let config = graph_from_the_start(dim);
    let store = TrajectoryStore::new(config).expect("store");
    let mut stored = vec![];
    for r in &rows {
        if let Recorded::Inserted { .. } = store.record(r, &outcome(0, 0, 1.0, 0)).expect("record")
        {
            stored.push(r.clone());
        }
    }
    store.flush();
    let stats = store.stats();
    assert!(
        stats.graph_in_use && stats.graph_len as usize == store.len(),
        "{stats:?}"
    );
    let queries = workload_vectors(200, dim, 12);
    let (mut hits, mut total) = (0, 0);
    let mut out = vec![];
    for q in &queries {
        store.search(q, 10, &mut out);
        let truth = brute_force(&stored, q, 10);
        // Score by similarity, not id: equal-similarity duplicates are interchangeable.
        let floor = dot(q, &stored[truth[truth.len() - 1] as usize]) - 1e-6;
        hits += out
            .iter()
            .filter(|n| n.similarity >= floor)
            .count()
            .min(truth.len());
        total += truth.len();
        assert!(out.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    }
    let recall = hits as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn rebuild_drops_tombstones_from_the_graph() {
    let dim = 16;
    let config = StoreConfig {
        graph_batch: 8,
        ..graph_from_the_start(dim)
    };
    let store = TrajectoryStore::new(config).expect("store");
    let mut rng = SplitMix64::new(5);
    let rows: Vec<Vec<f32>> = (0..400).map(|_| unit(&mut rng, dim)).collect();
    for r in &rows {
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
    }
    store.flush();
    for e in 0..200 {
        store.forget(e);
    }
    store.flush();
    let view = store.view();
    assert!(store.stats().rebuilds >= 1, "a rebuild must have run");
    assert!(
        view.dead_in_graph as f32 <= 0.25 * view.graph_len as f32,
        "{}",
        view.dead_in_graph
    );
    let mut out = vec![];
    for (i, r) in rows.iter().enumerate().skip(200).take(20) {
        store.search(r, 3, &mut out);
        assert_eq!(out[0].entry, i as u32);
        assert!(out.iter().all(|n| n.entry >= 200));
    }
}

#[test]
fn readers_search_while_the_writer_records() {
    let dim = 32;
    let rows = workload_vectors(2000, dim, 21);
    let config = StoreConfig {
        dim,
        merge_similarity: 1.0,
        crossover: Crossover::Fixed(256),
        graph_batch: 64,
        ..StoreConfig::default()
    };
    let store = std::sync::Arc::new(TrajectoryStore::new(config).expect("store"));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done, rows) = (store.clone(), done.clone(), rows.clone());
        std::thread::spawn(move || {
            let mut out = vec![];
            let mut searches = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                store.search(&rows[searches % rows.len()], 5, &mut out);
                assert!(out.iter().all(|n| (n.entry as usize) < store.len()));
                searches += 1;
            }
            searches
        })
    };
    for r in &rows {
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.join().expect("reader") > 0);
    store.flush();
    let mut out = vec![];
    store.search(&rows[1234], 1, &mut out);
    assert!(out[0].similarity > 0.999);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn flat_search_is_exact(seed in any::<u64>(), n in 1usize..300, k in 1usize..20) {
        let dim = 12;
        let store = TrajectoryStore::new(StoreConfig { merge_similarity: 1.0, ..flat_config(dim) }).expect("store");
        let mut rng = SplitMix64::new(seed);
        let rows: Vec<Vec<f32>> = (0..n).map(|_| unit(&mut rng, dim)).collect();
        for r in &rows {
            store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
        }
        prop_assume!(store.len() == n);
        let q = unit(&mut rng, dim);
        let mut out = vec![];
        store.search(&q, k, &mut out);
        let got: Vec<u32> = out.iter().map(|n| n.entry).collect();
        prop_assert_eq!(got, brute_force(&rows, &q, k));
    }
}

#[test]
fn auto_crossover_builds_a_graph_and_serves_either_way() {
    let dim = 32;
    let rows = workload_vectors(indexer::AUTO_MIN_GRAPH as usize + 500, dim, 31);
    let config = StoreConfig {
        dim,
        crossover: Crossover::Auto,
        ..StoreConfig::default()
    };
    let flat: Vec<f32> = rows.concat();
    let store = TrajectoryStore::from_vectors(config, &flat).expect("store");
    store.flush();
    let stats = store.stats();
    assert_eq!(stats.graph_len, stats.entries, "{stats:?}");
    assert_eq!(stats.rebuilds, 1);
    let mut out = vec![];
    for (i, r) in rows.iter().enumerate().step_by(97) {
        store.search(r, 1, &mut out);
        assert!(
            out[0].similarity > 0.999,
            "row {i} must find itself (or its duplicate)"
        );
    }
}

#[test]
fn inline_indexing_is_deterministic_and_agrees_with_brute_force() {
    let dim = 64;
    let rows = workload_vectors(2500, dim, 21);
    let config = StoreConfig {
        dim,
        merge_similarity: 1.0,
        crossover: Crossover::Fixed(512),
        indexing: Indexing::Inline,
        graph_batch: 64,
        ..StoreConfig::default()
    };
    let run = || {
        let store = TrajectoryStore::new(config.clone()).expect("store");
        for r in &rows {
            store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
        }
        let queries = workload_vectors(100, dim, 22);
        let mut out = vec![];
        let mut answers = vec![];
        for q in &queries {
            store.search(q, 10, &mut out);
            answers.push(out.clone());
        }
        (store.stats(), answers)
    };
    let (stats, first) = run();
    assert!(stats.graph_in_use && stats.graph_len >= 2400, "{stats:?}");
    let (_, second) = run();
    assert_eq!(first, second, "same records, same answers");
    let queries = workload_vectors(100, dim, 22);
    let (mut hits, mut total) = (0, 0);
    for (q, out) in queries.iter().zip(&first) {
        let truth = brute_force(&rows, q, 10);
        let floor = dot(q, &rows[truth[truth.len() - 1] as usize]) - 1e-6;
        hits += out.iter().filter(|n| n.similarity >= floor).count().min(10);
        total += truth.len();
    }
    let recall = hits as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn memo_catches_up_exactly_and_record_keyed_reuses_it() {
    let store = TrajectoryStore::new(flat_config(16)).expect("store");
    let mut rng = SplitMix64::new(5);
    let rows: Vec<Vec<f32>> = (0..300).map(|_| unit(&mut rng, 16)).collect();
    for r in &rows[..200] {
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
    }
    let q = unit(&mut rng, 16);
    let mut memo = vec![];
    assert!(!store.search_memo(7, &q, 8, &mut memo));
    for r in &rows[200..] {
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
    }
    let mut fresh = vec![];
    store.search(&q, 8, &mut fresh);
    assert!(
        store.search_memo(7, &q, 8, &mut memo),
        "caught up, not stale"
    );
    assert_eq!(memo, fresh, "catch-up equals a fresh search");
    // The routed request's outcome: keyed recording finds the same entry as a searched one.
    let near = &rows[250];
    let mut out = vec![];
    store.search_memo(9, near, 8, &mut out);
    let keyed = store
        .record_keyed(9, near, &outcome(0, 1, 2.0, 1))
        .expect("record");
    assert_eq!(
        keyed,
        Recorded::Merged {
            entry: 250,
            similarity: dot(near, near)
        }
    );
    // A key the memo never saw falls back to a search.
    let cold = store
        .record_keyed(1234, &rows[10], &outcome(0, 1, 2.0, 1))
        .expect("record");
    assert!(
        matches!(cold, Recorded::Merged { entry: 10, .. }),
        "{cold:?}"
    );
}

#[test]
fn an_unrouted_key_is_remembered_by_recording_and_caught_up_exactly() {
    // A pool of one replica is not routed, so only recording ever looks its keys up.
    let store = TrajectoryStore::new(flat_config(16)).expect("store");
    let mut rng = SplitMix64::new(11);
    for _ in 0..50 {
        store
            .record(&unit(&mut rng, 16), &outcome(0, 0, 1.0, 0))
            .expect("record");
    }
    let first = unit(&mut rng, 16);
    let Recorded::Inserted { entry: own } = store
        .record_keyed(77, &first, &outcome(0, 0, 1.0, 1))
        .expect("record")
    else {
        panic!("a novel vector is inserted");
    };
    // The same key again, unchanged: merged into its own entry.
    assert!(matches!(
        store.record_keyed(77, &first, &outcome(0, 0, 1.0, 2)),
        Ok(Recorded::Merged { entry, .. }) if entry == own
    ));
    // Entries added after the remembered search, one of them exactly the key's next vector:
    // the catch-up must see it, or the outcome lands on a stale nearest entry.
    for _ in 0..20 {
        store
            .record(&unit(&mut rng, 16), &outcome(0, 0, 1.0, 3))
            .expect("record");
    }
    let next = unit(&mut rng, 16);
    let Recorded::Inserted { entry: newer } =
        store.record(&next, &outcome(0, 0, 1.0, 4)).expect("record")
    else {
        panic!("a novel vector is inserted");
    };
    assert_eq!(
        store
            .record_keyed(77, &next, &outcome(0, 0, 1.0, 5))
            .expect("record"),
        Recorded::Merged {
            entry: newer,
            similarity: dot(&next, &next)
        }
    );
}

#[test]
fn a_stalled_indexer_bounds_the_flat_tail_and_defers_novel_rows() {
    let dim = 16;
    let config = StoreConfig {
        graph_batch: 8,
        max_unindexed: 32,
        ..graph_from_the_start(dim)
    };
    let store = TrajectoryStore::new(config).expect("store");
    let mut rng = SplitMix64::new(17);
    let rows: Vec<Vec<f32>> = (0..160).map(|_| unit(&mut rng, dim)).collect();
    for r in &rows[..100] {
        // Flushed as it goes, so the bound cannot defer any of these.
        store.record(r, &outcome(0, 0, 1.0, 0)).expect("record");
        store.flush();
    }
    assert_eq!((store.stats().graph_len, store.stats().deferred), (100, 0));
    // Holding the indexer's mutex stalls it exactly as a long step would.
    let stall = store.shared.indexer.lock();
    let mut deferred_into = vec![];
    for r in &rows[100..160] {
        match store.record(r, &outcome(0, 1, 2.0, 1)).expect("record") {
            Recorded::Inserted { .. } => {}
            Recorded::Merged { entry, similarity } => {
                assert!(similarity < 1.0);
                deferred_into.push(entry);
            }
        }
    }
    let stats = store.stats();
    assert_eq!(
        stats.entries - stats.graph_len,
        32,
        "the tail stops at max_unindexed"
    );
    assert_eq!((stats.inserts, stats.deferred, stats.merges), (132, 28, 28));
    // Deferred outcomes landed on their (exact) nearest entry among the 132.
    let mut out = vec![];
    for (r, &entry) in rows[132..].iter().zip(&deferred_into) {
        assert_eq!(brute_force(&rows[..132], r, 1), vec![entry]);
    }
    // The tail is searched exactly while the graph lags.
    for (i, r) in rows.iter().enumerate().take(132).skip(100) {
        store.search(r, 1, &mut out);
        assert_eq!(out[0].entry, i as u32);
    }
    assert!(store.forget(5) && store.forget(100) && store.forget(101));
    drop(stall);
    let start = std::time::Instant::now();
    while store.stats().graph_len < 132 {
        assert!(
            start.elapsed().as_secs() < 30,
            "the indexer did not catch up"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // 100 and 101 died before the indexer reached them: only entry 5 is a tombstone in it.
    assert_eq!(store.view().dead_in_graph, 1);
    let fresh = unit(&mut rng, dim);
    assert!(matches!(
        store
            .record(&fresh, &outcome(0, 0, 1.0, 2))
            .expect("record"),
        Recorded::Inserted { entry: 132 }
    ));
}

/// Recall@10 of `store.search` over `queries` against brute force on `rows`.
fn recall_of(store: &TrajectoryStore, rows: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
    let mut out = vec![];
    let mut found = 0;
    for q in queries {
        let truth = brute_force(rows, q, 10);
        store.search(q, 10, &mut out);
        found += out.iter().filter(|n| truth.contains(&n.entry)).count();
    }
    found as f64 / (10 * queries.len()) as f64
}

#[test]
fn auto_tunes_ef_to_the_target_recall_on_held_out_rows() {
    let dim = 32;
    let rows = workload_vectors(indexer::AUTO_MIN_GRAPH as usize + 500, dim, 41);
    let novel = workload_vectors(200, dim, 42);
    let flat: Vec<f32> = rows.concat();
    let tuned = |target| {
        let store = TrajectoryStore::from_vectors(
            StoreConfig {
                dim,
                crossover: Crossover::Auto,
                target_recall: target,
                ..StoreConfig::default()
            },
            &flat,
        )
        .expect("store");
        store.flush();
        let stats = store.stats();
        (store, stats)
    };
    let configured = HnswParams::default().ef_search;

    let (_, untuned) = tuned(None);
    assert_eq!(
        (untuned.search_ef, untuned.sampled_recall),
        (configured, None)
    );

    // Any graph reaches a recall of 0.5 at the smallest ef tried.
    let (_, lax) = tuned(Some(0.5));
    assert_eq!(lax.search_ef, 10, "{lax:?}");

    let (store, strict) = tuned(Some(0.96));
    let sampled = strict.sampled_recall.expect("a calibration ran");
    assert_eq!(strict.recall_sample, RecallSample::HeldOut);
    assert!(
        strict.search_ef <= StoreConfig::default().max_tuned_ef,
        "{strict:?}"
    );
    // The target, or the graph's plateau below it.
    assert!(sampled >= 0.96 - 0.003, "{strict:?}");
    // The held-out estimate carries over to requests the store has never seen.
    let measured = recall_of(&store, &rows, &novel);
    assert!(
        measured >= 0.93,
        "recall@10 on novel requests {measured:.3} at ef {} (sampled {sampled:.3})",
        strict.search_ef
    );
}

/// `n` requests of `Workload::new(seed)` as traffic (repeats included), one vector each.
fn traffic_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let e = HashingEmbedder::new(dim);
    crate::workload::traffic_embeddings(&e, n, seed)
        .chunks_exact(dim)
        .map(<[f32]>::to_vec)
        .collect()
}

#[test]
fn auto_retunes_ef_on_sampled_searches_once_enough_were_sampled() {
    let dim = 32;
    let rows = workload_vectors(indexer::AUTO_MIN_GRAPH as usize + 500, dim, 41);
    let store = TrajectoryStore::from_vectors(
        StoreConfig {
            dim,
            crossover: Crossover::Auto,
            target_recall: Some(0.96),
            tune_on_traffic: true,
            ..StoreConfig::default()
        },
        &rows.concat(),
    )
    .expect("store");
    store.flush();
    assert_eq!(store.stats().recall_sample, RecallSample::HeldOut);
    assert!(!store.calibrate_on_traffic(), "nothing was sampled yet");

    // One search in SAMPLE_EVERY is sampled (0, 32, …): 127 samples, then one more.
    let searches = (traffic::SAMPLE_EVERY as usize) * (traffic::SAMPLE_QUERIES - 1);
    let mut out = Vec::new();
    for q in traffic_vectors(searches, dim, 43) {
        store.search(&q, 10, &mut out);
    }
    // Searches with an explicit ef keep theirs and are not sampled.
    store.search_ef(&rows[0], 10, 64, &mut out);
    assert!(!store.calibrate_on_traffic(), "one sample short");
    store.search(&rows[0], 10, &mut out);
    assert!(store.calibrate_on_traffic());
    let stats = store.stats();
    assert_eq!(stats.recall_sample, RecallSample::Traffic, "{stats:?}");
    let sampled = stats.sampled_recall.expect("measured");
    assert!(sampled >= 0.96 - 0.003, "{stats:?}");
    // The estimate (per distinct request: a repeat is sampled once) holds for requests it
    // did not sample (same workload, another seed).
    let measured = recall_of(&store, &rows, &workload_vectors(500, dim, 44));
    assert!(
        measured >= sampled as f64 - 0.03,
        "recall@10 {measured:.3} on unsampled traffic at ef {} (sampled {sampled:.3})",
        stats.search_ef
    );
    assert!(
        !store.calibrate_on_traffic(),
        "a sample is used once until refilled"
    );
}
