//! Synthetic workloads with known answers, for the simulator's own sanity checks and benches.

use super::workload::{SimPool, SimReplica, Workload};
use crate::rng::Rng;
use crate::time::Nanos;

/// The supermarket model (Mitzenmacher 2001): Poisson arrivals at rate `lambda × replicas`,
/// service exponential with mean 1 ms, independent per (request, replica), `replicas`
/// single-slot FIFO replicas in one pool. In the n → ∞ limit the mean time in system is
/// `1/(1−λ)` with random choice and `(1/λ)·Σ_i λ^(2^i − 1)` with two choices (≈ 2.61 at λ = 0.9).
pub fn supermarket(replicas: usize, lambda: f64, requests: usize, seed: u64) -> Workload {
    let mut rng = Rng::seed(seed);
    let mut exp = move |mean: f64| -mean * (1.0 - rng.unit()).ln();
    let pools = vec![SimPool {
        name: String::from("pool"),
        replicas: (0..replicas)
            .map(|i| SimReplica {
                name: format!("r{i}"),
                slots: 1,
            })
            .collect(),
        announced: false,
    }];
    let mut t_ms = 0.0;
    let mut arrivals = Vec::with_capacity(requests);
    let mut service = Vec::with_capacity(requests);
    for _ in 0..requests {
        t_ms += exp(1.0 / (lambda * replicas as f64));
        arrivals.push((Nanos::from_ms(t_ms), 0));
        service.push((0..replicas).map(|_| exp(1.0)).collect());
    }
    Workload::from_parts(pools, arrivals, service)
}

/// The n → ∞ supermarket-model mean time in system for `d` choices at load `lambda`, in mean
/// service times (the fixed point `s_i = λ^((d^i − 1)/(d − 1))`; `d = 1` is `1/(1−λ)`).
pub fn supermarket_limit(lambda: f64, d: u32) -> f64 {
    if d == 1 {
        return 1.0 / (1.0 - lambda);
    }
    let d = f64::from(d);
    let mut sum = 0.0;
    for i in 1..200 {
        let exponent = (d.powi(i) - 1.0) / (d - 1.0);
        let s = lambda.powf(exponent);
        sum += s;
        if s < 1e-15 {
            break;
        }
    }
    sum / lambda
}
