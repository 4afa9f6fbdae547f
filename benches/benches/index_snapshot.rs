//! Snapshot write and restore time for the trajectory store, the graph rebuild that follows a
//! restore without the graph section, and write and restore time with it (the saved graph is
//! searched at once).
//!
//! `VECGATE_BENCH_N` sets the sizes (default `10000,100000`). Each entry carries two replica
//! statistics rows, as a store in service would.

use criterion::{Criterion, criterion_group};
use std::time::Instant;
use vecgate_index::embed::{Embedder, HashingEmbedder};
use vecgate_index::snapshot::{
    GRAPH_SECTION, STORE_SECTION, Snapshot, graph_section, restore_store, restore_store_with_graph,
    store_section,
};
use vecgate_index::store::{Crossover, StoreConfig, TrajectoryOutcome, TrajectoryStore};
use vecgate_index::workload::distinct_embeddings;

fn config(crossover: Crossover) -> StoreConfig {
    StoreConfig {
        crossover,
        max_entries: 2_000_000,
        ..StoreConfig::default()
    }
}

fn filled(n: usize, e: &HashingEmbedder) -> (TrajectoryStore, Vec<f32>) {
    let rows = distinct_embeddings(e, n, 1);
    let store = TrajectoryStore::from_vectors(config(Crossover::FlatOnly), &rows).expect("store");
    // Give entries statistics through the public path: re-recording an entry's own vector
    // merges into it.
    for (i, row) in rows
        .chunks_exact(e.dim())
        .enumerate()
        .step_by(1.max(n / 2_000))
    {
        for replica in 0..2 {
            let o = TrajectoryOutcome {
                pool: 0,
                replica,
                latency_ms: 3.0 + i as f32 % 17.0,
                success: true,
                result_bytes: 1000,
                at_ms: i as u64,
            };
            store.record(row, &o).expect("record");
        }
    }
    (store, rows)
}

fn report(n: usize) {
    let e = HashingEmbedder::default();
    let (store, rows) = filled(n, &e);
    let dir = tempfile_dir();
    let path = dir.join(format!("store-{n}.snap"));
    let (size, write, restore, restored) =
        round_trip(&store, &e, &path, config(Crossover::FlatOnly), false);
    assert_eq!(restored.len(), store.len());
    // The graph a restored store rebuilds: the same rows, built as `flush` builds it. Skipped
    // above `VECGATE_BENCH_REBUILD_MAX` entries (default 20,000): `index_search` reports the
    // build time at every N, and a 100K build takes minutes on 2 cores.
    let rebuild_max = std::env::var("VECGATE_BENCH_REBUILD_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000usize);
    let rebuild = if n <= rebuild_max {
        let rebuilt =
            TrajectoryStore::from_vectors(config(Crossover::Fixed(1)), &rows).expect("store");
        let t = Instant::now();
        rebuilt.flush();
        let secs = t.elapsed().as_secs_f64();
        let saved = with_graph(&rebuilt, &e, &dir, n);
        format!(
            "{secs:.1}s ({:.0} vec/s, 2 threads); {saved}",
            n as f64 / secs
        )
    } else {
        "skipped (see index_search's build time)".to_owned()
    };
    println!(
        "index_snapshot N={n}: {:.1} MB, write {:.3}s, read+restore {:.3}s (searchable, flat), graph rebuild {rebuild}",
        size as f64 / 1e6,
        write,
        restore,
    );
}

/// Writes `store` (with its graph section when `graph`) to `path`, reads it back and restores
/// it under `config`: (file bytes, write seconds, read+restore seconds, the restored store).
fn round_trip(
    store: &TrajectoryStore,
    e: &HashingEmbedder,
    path: &std::path::Path,
    config: StoreConfig,
    graph: bool,
) -> (u64, f64, f64, TrajectoryStore) {
    let t = Instant::now();
    let mut snap = Snapshot::new();
    if graph {
        snap.put(
            graph_section(store)
                .expect("graph")
                .expect("a native graph"),
        );
    }
    snap.put(store_section(store, e.id()).expect("section"));
    snap.write(path).expect("write");
    let write = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(path).expect("metadata").len();
    let t = Instant::now();
    let back = Snapshot::read(path).expect("read");
    let restored = restore_store_with_graph(
        back.section(STORE_SECTION).expect("section"),
        back.section(GRAPH_SECTION),
        config,
        e.id(),
    )
    .expect("restore");
    let restore = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    (size, write, restore, restored)
}

/// Writes `store` with its graph section and restores both; describes sizes and times.
fn with_graph(
    store: &TrajectoryStore,
    e: &HashingEmbedder,
    dir: &std::path::Path,
    n: usize,
) -> String {
    let path = dir.join(format!("graph-{n}.snap"));
    let (size, write, restore, restored) =
        round_trip(store, e, &path, store.config().clone(), true);
    assert_eq!(restored.stats().graph_len, store.stats().graph_len);
    format!(
        "with the graph section: {:.1} MB, write {write:.3}s, read+restore {restore:.3}s (graph searched at once)",
        size as f64 / 1e6
    )
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vecgate-index-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn criterion_benches(c: &mut Criterion) {
    let e = HashingEmbedder::default();
    let (store, _) = filled(10_000, &e);
    let mut snap = Snapshot::new();
    snap.put(store_section(&store, e.id()).expect("section"));
    let bytes = snap.encode().expect("encode");
    c.bench_function("index_snapshot/encode_10000", |b| {
        b.iter(|| {
            let mut s = Snapshot::new();
            s.put(store_section(&store, e.id()).expect("section"));
            s.encode().expect("encode")
        })
    });
    c.bench_function("index_snapshot/decode_restore_10000", |b| {
        b.iter(|| {
            let s = Snapshot::decode(&bytes, std::path::Path::new("bench")).expect("decode");
            restore_store(
                s.section(STORE_SECTION).expect("section"),
                config(Crossover::FlatOnly),
                e.id(),
            )
            .expect("restore")
        })
    });
}

criterion_group!(benches, criterion_benches);

fn main() {
    for n in std::env::var("VECGATE_BENCH_N")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
    {
        report(n);
    }
    let _ = std::fs::remove_dir_all(tempfile_dir());
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
