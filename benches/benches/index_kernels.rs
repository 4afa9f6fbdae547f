//! The vector kernels behind the flat scan, on cache-resident data: f32 dot, int8 dot, and
//! anndists' runtime-dispatched (AVX2) L2 kernel as the baseline.
//!
//! Prints ns per 128-d row for each, and the ratio to the baseline, then criterion timings.

use anndists::dist::{DistL2, Distance};
use criterion::{BenchmarkId, Criterion, criterion_group};
use std::hint::black_box;
use std::time::Instant;
use vecgate_index::embed::{DEFAULT_DIM, HashingEmbedder};
use vecgate_index::store::{dot, dot_i8, quantize};
use vecgate_index::workload::distinct_embeddings;

const ROWS: usize = 256; // 128 KB of f32 at 128-d: stays in L2.

fn data() -> (Vec<f32>, Vec<i8>, Vec<f32>) {
    let e = HashingEmbedder::new(DEFAULT_DIM);
    let rows = distinct_embeddings(&e, ROWS + 1, 4);
    let mut codes = vec![0i8; rows.len()];
    let scales = rows
        .chunks_exact(DEFAULT_DIM)
        .zip(codes.chunks_exact_mut(DEFAULT_DIM))
        .map(|(r, c)| quantize(r, c))
        .collect();
    (rows, codes, scales)
}

/// ns per row of one pass over `ROWS` rows, best of 4,000 passes: each pass takes a few
/// microseconds, so the best one ran without preemption on this shared machine.
fn per_row(mut f: impl FnMut() -> f32) -> f64 {
    let mut sink = 0.0;
    let mut best = u128::MAX;
    for _ in 0..4_000 {
        let t = Instant::now();
        sink += f();
        best = best.min(t.elapsed().as_nanos());
    }
    black_box(sink);
    best as f64 / ROWS as f64
}

fn report() {
    let (rows, codes, scales) = data();
    let d = DEFAULT_DIM;
    let (q, qc) = (&rows[ROWS * d..], &codes[ROWS * d..]);
    let f32_ns = per_row(|| rows[..ROWS * d].chunks_exact(d).map(|r| dot(q, r)).sum());
    let i8_ns = per_row(|| {
        codes[..ROWS * d]
            .chunks_exact(d)
            .zip(&scales)
            .map(|(c, s)| dot_i8(qc, c) as f32 * s)
            .sum()
    });
    let l2_ns = per_row(|| {
        rows[..ROWS * d]
            .chunks_exact(d)
            .map(|r| DistL2.eval(q, r))
            .sum()
    });
    println!(
        "index_kernels dim {d}: f32 dot {f32_ns:.2} ns/row, int8 dot {i8_ns:.2} ns/row, anndists DistL2 (AVX2 dispatch) {l2_ns:.2} ns/row; f32/baseline {:.2}, int8/baseline {:.2}",
        f32_ns / l2_ns,
        i8_ns / l2_ns
    );
}

fn criterion_benches(c: &mut Criterion) {
    let (rows, codes, _) = data();
    let d = DEFAULT_DIM;
    let mut g = c.benchmark_group("index_kernels");
    g.bench_function(BenchmarkId::new("dot_f32", d), |b| {
        b.iter(|| dot(black_box(&rows[..d]), black_box(&rows[d..2 * d])))
    });
    g.bench_function(BenchmarkId::new("dot_i8", d), |b| {
        b.iter(|| dot_i8(black_box(&codes[..d]), black_box(&codes[d..2 * d])))
    });
    g.bench_function(BenchmarkId::new("anndists_l2", d), |b| {
        b.iter(|| DistL2.eval(black_box(&rows[..d]), black_box(&rows[d..2 * d])))
    });
    g.finish();
}

criterion_group!(benches, criterion_benches);

fn main() {
    report();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
