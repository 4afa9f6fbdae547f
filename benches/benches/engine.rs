//! The learning path end to end: the `Engine`'s instant loop (policy observe + trajectory-store
//! record) as the gateway's learner thread runs it, and replay speed through the `Engine`.
//!
//! Prints, before criterion's own timings:
//! - **learn throughput**: outcomes/s of `Engine::learn` alone (the learner thread's work per
//!   outcome) and of route + learn (the whole per-request learning path on one core), for
//!   `vector` over a store seeded with N distinct requests (N = 10K and 100K, overridable with
//!   `VECGATE_BENCH_N`), with a stream of generated requests (Zipf repeats and novel ones, as
//!   `index_decision`'s realistic stream). Target 50K outcomes/s;
//! - **replay speed**: simulated requests/s of `p2c-peak-ewma`, `knn` and `vector` through the
//!   engine on the committed datasets (one thread, as `vecgate replay --threads 1`), with each
//!   run's p95 so a speed-up that changed routing shows. Target 50K/s for `vector`.
//!   `VECGATE_BENCH_DATASETS` picks the datasets (comma-separated; empty skips the replays).
//!
//! Wall-clock figures: on a shared machine, compare ratios measured in the same run.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use vecgate_index::embed::HashingEmbedder;
use vecgate_index::store::{StoreConfig, TrajectoryStore};
use vecgate_index::workload::{GeneratedRequest, Workload, distinct_embeddings};
use vecgate_learner::engine::{Engine, EngineConfig, FeatureScratch, RouteScratch};
use vecgate_learner::policy::PolicyConfig;
use vecgate_learner::sim::{
    Arrivals, CacheConfig, ReplayConfig, RunConfig, Workload as SimWorkload, engine_router, replay,
};
use vecgate_learner::{Candidate, Nanos, Outcome, Rng};

const REPLICAS: u32 = 5;

fn candidates(i: u64) -> Vec<Candidate> {
    (0..REPLICAS)
        .map(|replica| Candidate {
            replica,
            inflight: ((i + u64::from(replica)) % 4) as u32,
            slots: 4,
            healthy: true,
        })
        .collect()
}

fn service_ms(r: &GeneratedRequest, replica: u32) -> f64 {
    let tool = r.name.as_deref().map_or(0, str::len) as u32;
    5.0 + f64::from((tool + replica) % 4) * 4.0
}

/// An engine running `vector` over a store seeded with `n` distinct request embeddings.
fn engine(n: usize) -> Engine {
    let embedder = HashingEmbedder::default();
    let rows = distinct_embeddings(&embedder, n, 1);
    let config = StoreConfig {
        max_entries: 2_000_000,
        ..StoreConfig::default()
    };
    let store = TrajectoryStore::from_vectors(config, &rows).expect("store");
    store.flush();
    Engine::new(
        std::sync::Arc::new(embedder),
        std::sync::Arc::new(store),
        PolicyConfig::default().build().expect("vector"),
        EngineConfig::default(),
    )
    .expect("engine")
}

/// One request through features, route and learn; returns the time spent in learn.
fn one(
    engine: &Engine,
    r: &GeneratedRequest,
    i: u64,
    rng: &mut Rng,
    scratch: (&mut FeatureScratch, &mut RouteScratch),
) -> Duration {
    let (fs, rs) = scratch;
    let f = engine.features(r.method, r.name.as_deref(), r.arguments.as_deref(), fs);
    let now = Nanos::from_ms(i as f64);
    let c = candidates(i);
    let d = engine.route(0, &f, &c, now, rng, None, rs);
    let replica = c[d.index].replica;
    let latency = service_ms(r, replica);
    let t = Instant::now();
    engine.learn(&Outcome {
        pool: 0,
        replica,
        features: &f,
        sent: now,
        now: Nanos::from_ms(i as f64 + latency),
        latency_ms: latency,
        service_ms: None,
        success: true,
    });
    t.elapsed()
}

fn learn_throughput(n: usize) {
    let t = Instant::now();
    let engine = engine(n);
    let setup = t.elapsed();
    let mut w = Workload::new(9);
    let requests: Vec<GeneratedRequest> = (0..60_000).map(|_| w.next_request()).collect();
    let (mut fs, mut rs, mut rng) = (
        FeatureScratch::default(),
        RouteScratch::default(),
        Rng::seed(3),
    );
    // Warm-up: the policy leaves its cold-start fallback, the memo fills.
    for (i, r) in requests[..10_000].iter().enumerate() {
        one(&engine, r, i as u64, &mut rng, (&mut fs, &mut rs));
    }
    let before = engine.store().stats();
    let timed = &requests[10_000..];
    let mut learning = Duration::ZERO;
    // The rows outside the graph are flat-scanned by every search: sample how far the graph
    // lags behind the store.
    let mut max_lag = 0u32;
    let t = Instant::now();
    for (i, r) in timed.iter().enumerate() {
        learning += one(&engine, r, 10_000 + i as u64, &mut rng, (&mut fs, &mut rs));
        if i % 256 == 0 {
            let s = engine.store().stats();
            max_lag = max_lag.max(s.entries - s.graph_len);
        }
    }
    let total = t.elapsed();
    let after = engine.store().stats();
    let per_s = |d: Duration| timed.len() as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "engine learn N={n} (store ready in {:.1}s): learn alone {:>9.0} outcomes/s, \
         route+learn {:>9.0} requests/s{}; {} inserts, {} merges, memo hits {} of {}; \
         rows outside the graph: max {} sampled, {} at the end (graph in use: {}); {} deferred",
        setup.as_secs_f64(),
        per_s(learning),
        per_s(total),
        if per_s(learning) >= 50_000.0 {
            ""
        } else {
            "  (learn BELOW the 50K/s target)"
        },
        after.inserts - before.inserts,
        after.merges - before.merges,
        after.memo_hits - before.memo_hits,
        (after.memo_hits + after.memo_misses) - (before.memo_hits + before.memo_misses),
        max_lag,
        after.entries - after.graph_len,
        after.graph_in_use,
        after.deferred - before.deferred,
    );
}

fn replay_speed(dataset: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/data")
        .join(dataset);
    let data = vecgate_datasets::read_dataset(&path).expect("committed dataset");
    let workload = SimWorkload::from_dataset(&data, true).expect("workload");
    let policies: Vec<String> = ["p2c-peak-ewma", "knn", "vector"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = ReplayConfig {
        seed: 1,
        policy: PolicyConfig::default(),
        run: RunConfig {
            seed: 1,
            arrivals: Arrivals::Trace,
            cache: CacheConfig::default(),
        },
        windows: 60,
        threads: 1,
    };
    let result = replay(&workload, &policies, &cfg, &engine_router, &|_, _| {}).expect("replay");
    let n = workload.requests.len() as f64;
    let line: Vec<String> = result
        .runs
        .iter()
        .map(|r| {
            format!(
                "{} {:.0} req/s (p95 {:.2} ms)",
                r.policy,
                n / r.wall.as_secs_f64().max(1e-9),
                r.summary.p95
            )
        })
        .collect();
    println!("replay {dataset}: {}", line.join(", "));
}

fn criterion_benches(c: &mut Criterion) {
    let engine = engine(10_000);
    let mut w = Workload::new(11);
    let requests: Vec<GeneratedRequest> = (0..4096).map(|_| w.next_request()).collect();
    let (mut fs, mut rs, mut rng) = (
        FeatureScratch::default(),
        RouteScratch::default(),
        Rng::seed(3),
    );
    let mut i = 0u64;
    c.bench_function("engine/route_and_learn_vector_10000", |b| {
        b.iter(|| {
            i += 1;
            let r = &requests[(i % requests.len() as u64) as usize];
            black_box(one(&engine, r, i, &mut rng, (&mut fs, &mut rs)))
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
        learn_throughput(n);
    }
    for dataset in std::env::var("VECGATE_BENCH_DATASETS")
        .unwrap_or_else(|_| "affinity.jsonl.zst,hotspot.jsonl.zst,uniform.jsonl.zst".into())
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        replay_speed(dataset);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
