use super::*;
use crate::embed::{Embedder, HashingEmbedder};
use crate::error::SnapshotError;
use crate::store::{Crossover, StoreConfig, TrajectoryOutcome, TrajectoryStore};
use crate::workload::Workload;

fn sample() -> Snapshot {
    let mut s = Snapshot::new();
    s.put(Section {
        name: "a".into(),
        version: 1,
        bytes: vec![1, 2, 3],
    });
    s.put(Section {
        name: "vecgate.learner".into(),
        version: 7,
        bytes: vec![9; 100],
    });
    s
}

#[test]
fn round_trips_and_replaces_sections() {
    let mut s = sample();
    let bytes = s.encode().expect("encode");
    assert_eq!(Snapshot::decode(&bytes, Path::new("x")).expect("decode"), s);
    s.put(Section {
        name: "a".into(),
        version: 2,
        bytes: vec![],
    });
    assert_eq!(s.sections.len(), 2);
    assert_eq!(s.section("a").map(|x| x.version), Some(2));
    assert!(s.section("missing").is_none());
}

#[test]
fn writes_atomically_and_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.snap");
    sample().write(&path).expect("write");
    let mut second = sample();
    second.put(Section {
        name: "b".into(),
        version: 1,
        bytes: vec![5],
    });
    second.write(&path).expect("overwrite");
    assert_eq!(Snapshot::read(&path).expect("read"), second);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temp file left behind");
    assert!(matches!(
        Snapshot::read(&dir.path().join("absent")),
        Err(SnapshotError::Io { .. })
    ));
}

#[test]
fn refuses_foreign_old_and_corrupt_files() {
    let p = Path::new("snap");
    let good = sample().encode().expect("encode");
    assert!(matches!(
        Snapshot::decode(b"{\"json\":true}", p),
        Err(SnapshotError::Foreign { .. })
    ));
    assert!(matches!(
        Snapshot::decode(b"", p),
        Err(SnapshotError::Foreign { .. })
    ));
    let mut old = good.clone();
    old[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        Snapshot::decode(&old, p),
        Err(SnapshotError::Version {
            found: 0,
            supported: FORMAT_VERSION,
            ..
        })
    ));
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    assert!(matches!(
        Snapshot::decode(&flipped, p),
        Err(SnapshotError::Corrupt { .. })
    ));
    assert!(matches!(
        Snapshot::decode(&good[..good.len() - 3], p),
        Err(SnapshotError::Corrupt { .. })
    ));
    assert!(matches!(
        Snapshot::decode(&good[..20], p),
        Err(SnapshotError::Corrupt { .. })
    ));
    // A payload that passes the checksum but is not an archive of sections.
    let junk = vec![0xA5u8; 64];
    let mut forged = good[..HEADER].to_vec();
    forged[16..24].copy_from_slice(&(junk.len() as u64).to_le_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64_with_seed(&junk, CHECKSUM_SEED);
    forged[24..32].copy_from_slice(&sum.to_le_bytes());
    forged.extend_from_slice(&junk);
    assert!(matches!(
        Snapshot::decode(&forged, p),
        Err(SnapshotError::Corrupt { .. })
    ));
}

fn filled_store(dim: usize) -> (TrajectoryStore, HashingEmbedder) {
    let e = HashingEmbedder::new(dim);
    let config = StoreConfig {
        dim,
        crossover: Crossover::FlatOnly,
        ..StoreConfig::default()
    };
    let store = TrajectoryStore::new(config).expect("store");
    let mut w = Workload::new(4);
    let mut v = vec![0.0; dim];
    for i in 0..300u64 {
        let r = w.next_request();
        e.embed(&r.view(), &mut v).expect("embed");
        let o = TrajectoryOutcome {
            pool: (i % 2) as u32,
            replica: (i % 3) as u32,
            latency_ms: i as f32,
            success: i % 7 != 0,
            result_bytes: 10 * i as u32,
            at_ms: i,
        };
        store.record(&v, &o).expect("record");
    }
    store.forget(3);
    (store, e)
}

#[test]
fn store_section_round_trips_entries_stats_and_tombstones() {
    let (store, e) = filled_store(32);
    let mut snap = Snapshot::new();
    snap.put(store_section(&store, e.id()).expect("section"));
    let bytes = snap.encode().expect("encode");
    let back = Snapshot::decode(&bytes, Path::new("s")).expect("decode");
    let config = store.config().clone();
    let restored = restore_store(
        back.section(STORE_SECTION).expect("section"),
        config,
        e.id(),
    )
    .expect("restore");
    assert_eq!(restored.len(), store.len());
    assert_eq!(restored.stats().dead, 1);
    let (a, b) = (store.view(), restored.view());
    for entry in 0..store.len() as u32 {
        assert_eq!(a.row(entry), b.row(entry));
        assert_eq!(a.export_stats(entry), b.export_stats(entry));
        assert_eq!(a.is_dead(entry), b.is_dead(entry));
    }
    let mut out_a = vec![];
    let mut out_b = vec![];
    store.search(a.row(10), 5, &mut out_a);
    restored.search(a.row(10), 5, &mut out_b);
    assert_eq!(out_a, out_b);
}

#[test]
fn store_section_refuses_other_embedders_dims_and_versions() {
    let (store, e) = filled_store(16);
    let section = store_section(&store, e.id()).expect("section");
    let config = store.config().clone();
    let other = HashingEmbedder::with_seed(16, 1);
    assert!(matches!(
        restore_store(&section, config.clone(), other.id()),
        Err(SnapshotError::Section { .. })
    ));
    let wider = StoreConfig {
        dim: 32,
        ..config.clone()
    };
    assert!(restore_store(&section, wider, e.id()).is_err());
    let newer = Section {
        version: STORE_SECTION_VERSION + 1,
        ..section.clone()
    };
    assert!(restore_store(&newer, config.clone(), e.id()).is_err());
    let mut damaged = section.clone();
    damaged.bytes.truncate(damaged.bytes.len() / 2);
    assert!(restore_store(&damaged, config, e.id()).is_err());
}

/// A store whose graph covers its entries from the start, built on the recording thread.
fn graphed_store(dim: usize, n: u64) -> (TrajectoryStore, HashingEmbedder) {
    let e = HashingEmbedder::new(dim);
    let config = StoreConfig {
        dim,
        merge_similarity: 1.0,
        crossover: Crossover::Fixed(1),
        indexing: crate::store::Indexing::Inline,
        ..StoreConfig::default()
    };
    let store = TrajectoryStore::new(config).expect("store");
    let mut w = Workload::new(9);
    let mut v = vec![0.0; dim];
    for i in 0..n {
        e.embed(&w.next_request().view(), &mut v).expect("embed");
        let o = TrajectoryOutcome {
            pool: 0,
            replica: (i % 3) as u32,
            latency_ms: i as f32,
            success: true,
            result_bytes: 1,
            at_ms: i,
        };
        store.record(&v, &o).expect("record");
    }
    store.flush();
    (store, e)
}

#[test]
fn a_saved_graph_is_searched_at_once_after_a_restore() {
    let (store, e) = graphed_store(32, 3_000);
    let graph = graph_section(&store)
        .expect("encode")
        .expect("a native graph");
    let section = store_section(&store, e.id()).expect("section");
    let mut snap = Snapshot::new();
    snap.put(section);
    snap.put(graph);
    let back = Snapshot::decode(&snap.encode().expect("encode"), Path::new("s")).expect("decode");
    let (store_s, graph_s) = (
        back.section(STORE_SECTION).expect("store"),
        back.section(GRAPH_SECTION),
    );
    let config = store.config().clone();
    let restored =
        restore_store_with_graph(store_s, graph_s, config.clone(), e.id()).expect("restore");
    let (a, b) = (store.view(), restored.view());
    assert!(a.graph_len > 0);
    assert_eq!(b.graph_len, a.graph_len, "the graph covers what it covered");
    assert!(b.graph.is_some());
    let len = store.len() as u32;
    assert!(len > 1_000, "{len} entries");
    for q in [0, 17, len / 2, len - 1] {
        let (mut out_a, mut out_b) = (vec![], vec![]);
        store.search(a.row(q), 10, &mut out_a);
        restored.search(a.row(q), 10, &mut out_b);
        assert_eq!(out_a, out_b, "the same graph gives the same neighbours");
    }
    // Without the section, or with other HNSW parameters, the graph is rebuilt instead.
    let plain = restore_store(store_s, config.clone(), e.id()).expect("restore");
    assert!(plain.view().graph.is_none());
    let mut other = config.clone();
    other.hnsw.max_connections += 4;
    let refitted = restore_store_with_graph(store_s, graph_s, other, e.id()).expect("restore");
    assert!(refitted.view().graph.is_none());
    // A damaged or newer graph section is refused, not misread.
    let mut damaged = graph_s.expect("graph").clone();
    damaged.bytes.truncate(damaged.bytes.len() / 2);
    assert!(matches!(
        restore_store_with_graph(store_s, Some(&damaged), config.clone(), e.id()),
        Err(SnapshotError::Section { .. })
    ));
    let newer = Section {
        version: GRAPH_SECTION_VERSION + 1,
        ..graph_s.expect("graph").clone()
    };
    assert!(restore_store_with_graph(store_s, Some(&newer), config, e.id()).is_err());
}

#[test]
fn a_store_without_a_native_graph_writes_no_graph_section() {
    let (store, _) = filled_store(16);
    assert!(graph_section(&store).expect("encode").is_none());
}
