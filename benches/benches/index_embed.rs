//! Embedding and canonicalisation cost per request, and the dimension choice.
//!
//! Prints, before criterion's own timings:
//! - ns/request (mean, p50, p99) for small (typical tool calls) and large argument trees, with
//!   the ratio to `serde_json::from_str::<Value>` of the same arguments (what a gateway that
//!   decodes arguments pays anyway);
//! - hashing distortion per dimension: mean |cos_d − cos_4096| over request pairs, and top-10
//!   neighbour overlap with the 4096-d reference, which is what picks the default dimension.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use hdrhistogram::Histogram;
use std::hint::black_box;
use std::time::Instant;
use vecgate_index::canonical::Canonicalizer;
use vecgate_index::embed::{Embedder, HashingEmbedder};
use vecgate_index::store::dot;
use vecgate_index::workload::{GeneratedRequest, Workload, distinct_embeddings};

fn requests(small: bool) -> Vec<GeneratedRequest> {
    let mut w = Workload::new(7);
    (0..1024)
        .map(|_| {
            if small {
                w.next_request()
            } else {
                w.large_request(50)
            }
        })
        .collect()
}

/// (mean ns, p50 ns, p99 ns) of `f` over `reqs`, cycling.
fn time_each(
    reqs: &[GeneratedRequest],
    rounds: usize,
    mut f: impl FnMut(&GeneratedRequest),
) -> (f64, u64, u64) {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let start = Instant::now();
    for i in 0..rounds {
        let t = Instant::now();
        f(&reqs[i % reqs.len()]);
        h.record(t.elapsed().as_nanos() as u64).expect("record");
    }
    let mean = start.elapsed().as_nanos() as f64 / rounds as f64;
    (mean, h.value_at_quantile(0.5), h.value_at_quantile(0.99))
}

fn report_cost() {
    let e = HashingEmbedder::default();
    let mut v = vec![0.0f32; e.dim()];
    let mut canon = Canonicalizer::default();
    let mut out = String::new();
    for (label, small, rounds) in [("small", true, 200_000), ("large (50 items)", false, 5_000)] {
        let reqs = requests(small);
        let bytes: usize = reqs
            .iter()
            .map(|r| r.arguments.as_ref().map_or(0, |a| a.len()))
            .sum::<usize>()
            / reqs.len();
        let (em, e50, e99) = time_each(&reqs, rounds, |r| {
            e.embed(&r.view(), &mut v).expect("embed");
            black_box(&v);
        });
        let (cm, c50, c99) = time_each(&reqs, rounds, |r| {
            if let Some(a) = &r.arguments {
                canon.canonicalize(a, &mut out).expect("canonical");
            }
            black_box(&out);
        });
        let (sm, _, _) = time_each(&reqs, rounds, |r| {
            if let Some(a) = &r.arguments {
                black_box(serde_json::from_str::<serde_json::Value>(a).expect("json"));
            }
        });
        println!(
            "index_embed {label}: args {bytes} B | embed mean {em:.0} ns p50 {e50} p99 {e99} | canonical mean {cm:.0} ns p50 {c50} p99 {c99} | serde_json Value parse {sm:.0} ns (embed/serde = {:.2}, canonical/serde = {:.2})",
            em / sm,
            cm / sm
        );
    }
}

fn report_dimensions() {
    let n = 2000;
    let reference = HashingEmbedder::new(4096);
    let ref_rows = distinct_embeddings(&reference, n, 3);
    let top10 = |rows: &[f32], dim: usize, q: usize| -> Vec<usize> {
        let query = &rows[q * dim..(q + 1) * dim];
        let mut sims: Vec<(f32, usize)> = rows
            .chunks_exact(dim)
            .enumerate()
            .filter(|&(i, _)| i != q)
            .map(|(i, r)| (dot(query, r), i))
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        sims.into_iter().take(10).map(|(_, i)| i).collect()
    };
    for dim in [32, 64, 128, 256] {
        let e = HashingEmbedder::new(dim);
        let rows = distinct_embeddings(&e, n, 3);
        let mut err = 0.0f64;
        let pairs = 5000;
        for p in 0..pairs {
            let (a, b) = ((p * 7919) % n, (p * 104_729 + 1) % n);
            let c = dot(&rows[a * dim..(a + 1) * dim], &rows[b * dim..(b + 1) * dim]);
            let r = dot(
                &ref_rows[a * 4096..(a + 1) * 4096],
                &ref_rows[b * 4096..(b + 1) * 4096],
            );
            err += f64::from((c - r).abs());
        }
        let mut overlap = 0;
        for q in (0..n).step_by(20) {
            let got = top10(&rows, dim, q);
            let want = top10(&ref_rows, 4096, q);
            overlap += got.iter().filter(|i| want.contains(i)).count();
        }
        println!(
            "index_embed dim {dim}: mean |cos - cos_4096| {:.4}, top-10 overlap with 4096-d {:.3}",
            err / pairs as f64,
            overlap as f64 / (10 * n.div_ceil(20)) as f64
        );
    }
}

fn criterion_benches(c: &mut Criterion) {
    let e = HashingEmbedder::default();
    let mut group = c.benchmark_group("index_embed");
    for (label, reqs) in [
        ("small", requests(true)),
        ("large_50_items", requests(false)),
    ] {
        let bytes: usize = reqs
            .iter()
            .map(|r| r.arguments.as_ref().map_or(0, |a| a.len()))
            .sum();
        group.throughput(Throughput::Bytes((bytes / reqs.len()) as u64));
        let mut v = vec![0.0f32; e.dim()];
        let mut i = 0;
        group.bench_function(BenchmarkId::new("embed", label), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                e.embed(&reqs[i].view(), &mut v).expect("embed");
                black_box(&v);
            })
        });
        let mut canon = Canonicalizer::default();
        let mut out = String::new();
        group.bench_function(BenchmarkId::new("canonical_json", label), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                if let Some(a) = &reqs[i].arguments {
                    canon.canonicalize(a, &mut out).expect("canonical");
                }
                black_box(&out);
            })
        });
        group.bench_function(BenchmarkId::new("baseline_serde_value", label), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                if let Some(a) = &reqs[i].arguments {
                    black_box(serde_json::from_str::<serde_json::Value>(a).expect("json"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, criterion_benches);

fn main() {
    report_cost();
    if std::env::var_os("VECGATE_BENCH_SKIP_DIMS").is_none() {
        report_dimensions();
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
