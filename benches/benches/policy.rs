//! Routing-policy costs: `choose` for every policy with 10 replicas, and the learner's instant
//! loop throughput on one core.
//!
//! Prints, before criterion's own timings:
//! - `choose` p50/p99/mean in ns per policy from a timed loop (per-call `Instant` overhead
//!   included, ~20–40 ns), with the ratio to round-robin measured in the same run; target
//!   ≤ 10 µs p99;
//! - instant-loop outcomes/s for `vector` (policy `observe` alone, with and without an
//!   embedding) and for the whole `Engine::learn` (policy + trajectory-store record), with the
//!   ratio to `p2c-peak-ewma`'s observe; target 50K/s.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use vecgate_index::store::{Crossover, StoreConfig};
use vecgate_learner::engine::{Engine, EngineConfig, FeatureScratch};
use vecgate_learner::policy::{POLICY_NAMES, PolicyConfig, build};
use vecgate_learner::{
    Candidate, Evidence, Nanos, Outcome, RequestFeatures, Rng, RouteQuery, RoutingPolicy,
};

const REPLICAS: u32 = 10;
const DIM: usize = 128;

fn candidates(rng: &mut Rng) -> Vec<Candidate> {
    (0..REPLICAS)
        .map(|replica| Candidate {
            replica,
            inflight: rng.below(6) as u32,
            slots: 4,
            healthy: replica != 7,
        })
        .collect()
}

fn unit_vectors(n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

/// 8 neighbours × 10 replicas of evidence, as the engine gathers for a warm index.
fn evidence(rng: &mut Rng) -> Vec<Evidence> {
    (0..80)
        .map(|i| Evidence {
            similarity: 0.6 + 0.4 * rng.unit() as f32,
            replica: i % REPLICAS,
            mean_ms: 5.0 + 50.0 * rng.unit() as f32,
            count: 1 + rng.below(40) as u32,
        })
        .collect()
}

fn features<'a>(i: u64, embedding: &'a [f32]) -> RequestFeatures<'a> {
    RequestFeatures {
        embedding,
        key: i % 500,
        tool: i % 12,
        size: 64 + (i % 9) as u32 * 100,
    }
}

fn service_ms(i: u64, replica: u32) -> f64 {
    let base = 5.0 + f64::from(replica % 4) * 3.0;
    if (i % 12) == u64::from(replica % 12) {
        base * 6.0
    } else {
        base
    }
}

/// A policy that has seen `n` outcomes (so `vector` routes by its model, not its fallback).
fn warmed(name: &str, embeddings: &[Vec<f32>], n: u64) -> Arc<dyn RoutingPolicy> {
    let p = build(name, &PolicyConfig::default()).expect("policy builds");
    for i in 0..n {
        let emb = &embeddings[(i % embeddings.len() as u64) as usize];
        let f = features(i, emb);
        let replica = (i % u64::from(REPLICAS)) as u32;
        let now = Nanos::from_ms(i as f64);
        p.observe(&Outcome {
            pool: 0,
            replica,
            features: &f,
            sent: now,
            now,
            latency_ms: service_ms(i, replica),
            service_ms: Some(service_ms(i, replica)),
            success: true,
        });
        if i % 1_000 == 0 {
            p.background_tick(now);
        }
    }
    p
}

/// (p50, p99, mean) ns of one `choose`.
fn time_choose(p: &dyn RoutingPolicy, embeddings: &[Vec<f32>], rounds: u64) -> (u64, u64, f64) {
    let mut rng = Rng::seed(3);
    let sets: Vec<Vec<Candidate>> = (0..64).map(|_| candidates(&mut rng)).collect();
    let ev = evidence(&mut rng);
    let truth: Vec<f64> = (0..REPLICAS).map(|r| service_ms(1, r)).collect();
    let mut samples = Vec::with_capacity(rounds as usize);
    for i in 0..rounds {
        let emb = &embeddings[(i % embeddings.len() as u64) as usize];
        let f = features(i, emb);
        let q = RouteQuery {
            pool: 0,
            now: Nanos::from_ms(1e6 + i as f64),
            features: &f,
            candidates: &sets[(i % 64) as usize],
            evidence: if p.uses_evidence() { &ev } else { &[] },
            hindsight_ms: Some(&truth),
        };
        let t = Instant::now();
        black_box(p.choose(black_box(&q), &mut rng));
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let mean = samples.iter().sum::<u64>() as f64 / rounds as f64;
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), mean)
}

/// Outcomes/s of `learn` over `n` outcomes.
fn outcomes_per_sec(n: u64, mut learn: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        learn(i);
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn print_figures(embeddings: &[Vec<f32>]) {
    println!("\n== choose, {REPLICAS} replicas (one healthy-excluded), warm state ==");
    let mut baseline = 0.0;
    for name in POLICY_NAMES {
        let p = warmed(name, embeddings, 20_000);
        let (p50, p99, mean) = time_choose(&*p, embeddings, 200_000);
        if *name == "round-robin" {
            baseline = mean;
        }
        println!(
            "choose {name:<15} p50 {p50:>6} ns  p99 {p99:>6} ns  mean {mean:>8.0} ns  \
             ({:.1}x round-robin){}",
            mean / baseline.max(1.0),
            if p99 <= 10_000 {
                ""
            } else {
                "  ABOVE the 10 µs p99 target"
            }
        );
    }

    println!("\n== instant loop, one core ==");
    let n = 200_000;
    let peak = build("p2c-peak-ewma", &PolicyConfig::default()).expect("builds");
    let vector_blind = build("vector", &PolicyConfig::default()).expect("builds");
    let vector = build("vector", &PolicyConfig::default()).expect("builds");
    let observe = |p: &Arc<dyn RoutingPolicy>, i: u64, emb: &[f32]| {
        let f = features(i, emb);
        let replica = (i % u64::from(REPLICAS)) as u32;
        let now = Nanos::from_ms(i as f64);
        p.observe(&Outcome {
            pool: 0,
            replica,
            features: &f,
            sent: now,
            now,
            latency_ms: service_ms(i, replica),
            service_ms: None,
            success: true,
        });
    };
    let base = outcomes_per_sec(n, |i| observe(&peak, i, &[]));
    let blind = outcomes_per_sec(n, |i| observe(&vector_blind, i, &[]));
    let full = outcomes_per_sec(n, |i| {
        observe(
            &vector,
            i,
            &embeddings[(i % embeddings.len() as u64) as usize],
        );
        if i % 10_000 == 0 {
            vector.background_tick(Nanos::from_ms(i as f64));
        }
    });
    println!("observe p2c-peak-ewma          {base:>12.0} outcomes/s");
    println!(
        "observe vector (no embedding) {blind:>12.0} outcomes/s ({:.2}x peak-ewma)",
        blind / base
    );
    println!(
        "observe vector ({DIM}-d embed)  {full:>12.0} outcomes/s ({:.2}x peak-ewma){}",
        full / base,
        if full >= 50_000.0 {
            ""
        } else {
            "  BELOW the 50K/s target"
        }
    );
    let store = StoreConfig {
        dim: DIM,
        crossover: Crossover::FlatOnly,
        max_entries: 2_000,
        ..StoreConfig::default()
    };
    let engine = Engine::from_config(&PolicyConfig::default(), store, EngineConfig::default())
        .expect("engine");
    let mut scratch = FeatureScratch::default();
    let raws: Vec<String> = (0..2_000)
        .map(|i| format!(r#"{{"query":"q{}","page":{}}}"#, i, i % 5))
        .collect();
    let n_engine = 50_000;
    let features_only = outcomes_per_sec(n_engine, |i| {
        let raw = &raws[(i % raws.len() as u64) as usize];
        black_box(engine.features("tools/call", Some("search"), Some(raw), &mut scratch));
    });
    println!(
        "engine features alone (canonical key + {DIM}-d embed) {features_only:>10.0} requests/s"
    );
    let with_store = outcomes_per_sec(n_engine, |i| {
        let raw = &raws[(i % raws.len() as u64) as usize];
        let f = engine.features("tools/call", Some("search"), Some(raw), &mut scratch);
        let replica = (i % u64::from(REPLICAS)) as u32;
        let now = Nanos::from_ms(i as f64);
        engine.learn(&Outcome {
            pool: 0,
            replica,
            features: &f,
            sent: now,
            now,
            latency_ms: service_ms(i, replica),
            service_ms: None,
            success: true,
        });
    });
    println!(
        "engine features+learn (policy + store.record, ≤2K entries, flat) {with_store:>10.0} \
         outcomes/s ({:.4}x peak-ewma){}\n",
        with_store / base,
        if with_store >= 50_000.0 {
            ""
        } else {
            "  BELOW the 50K/s target"
        }
    );
}

fn bench_policies(c: &mut Criterion) {
    let mut rng = Rng::seed(1);
    let embeddings = unit_vectors(1_000, &mut rng);
    print_figures(&embeddings);

    let mut group = c.benchmark_group("choose_10_replicas");
    group.throughput(Throughput::Elements(1));
    let sets: Vec<Vec<Candidate>> = (0..64).map(|_| candidates(&mut rng)).collect();
    let ev = evidence(&mut rng);
    let truth: Vec<f64> = (0..REPLICAS).map(|r| service_ms(1, r)).collect();
    for name in POLICY_NAMES {
        let p = warmed(name, &embeddings, 20_000);
        let mut i = 0u64;
        let mut rng = Rng::seed(2);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                i += 1;
                let f = features(i, &embeddings[(i % 1_000) as usize]);
                let q = RouteQuery {
                    pool: 0,
                    now: Nanos::from_ms(1e6),
                    features: &f,
                    candidates: &sets[(i % 64) as usize],
                    evidence: if p.uses_evidence() { &ev } else { &[] },
                    hindsight_ms: Some(&truth),
                };
                black_box(p.choose(&q, &mut rng))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("instant_loop");
    group.throughput(Throughput::Elements(1));
    let vector = build("vector", &PolicyConfig::default()).expect("builds");
    let mut i = 0u64;
    group.bench_function("vector_observe_128d", |b| {
        b.iter(|| {
            i += 1;
            let f = features(i, &embeddings[(i % 1_000) as usize]);
            let replica = (i % u64::from(REPLICAS)) as u32;
            vector.observe(&Outcome {
                pool: 0,
                replica,
                features: &f,
                sent: Nanos(i),
                now: Nanos(i),
                latency_ms: service_ms(i, replica),
                service_ms: None,
                success: true,
            });
        })
    });
    group.finish();
}

criterion_group!(benches, bench_policies);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
