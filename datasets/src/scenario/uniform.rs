//! `uniform`: replicas differ only in speed and concurrency; what a request asks for does not
//! change its cost. A learned router has nothing to learn here beyond load and must not lose to
//! load-aware baselines.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::common::{Draft, assemble, exp_gap, lognormal, object, phrase, pool};
use crate::format::{Dataset, Header};

/// (slots, speed factor) per replica: two fast, one slower, one slow with half the slots.
const REPLICAS: [(u32, f64); 4] = [(4, 1.0), (4, 1.0), (4, 1.6), (2, 2.5)];
const BASE_MS: f64 = 20.0;
const NOISE_SIGMA: f64 = 0.5;
const TOOLS: [&str; 6] = [
    "lookup",
    "search",
    "summarize",
    "fetch",
    "convert",
    "validate",
];

/// `n` Poisson arrivals with service `BASE_MS × speed(r) × lognormal(0.5)`, independent per
/// replica.
pub(crate) fn generate(n: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let slots: Vec<u32> = REPLICAS.iter().map(|r| r.0).collect();
    let header = Header::new(vec![pool("api", "u", &slots)]);
    let mut t = 0.0;
    let drafts = (0..n)
        .map(|_| {
            t += exp_gap(&mut rng);
            let tool = TOOLS[rng.random_range(0..TOOLS.len())];
            let cluster = rng.random_range(0..32);
            let service_ms = REPLICAS
                .iter()
                .map(|&(_, speed)| BASE_MS * speed * lognormal(&mut rng, NOISE_SIGMA))
                .collect();
            Draft {
                t,
                session: format!("client-{}", rng.random_range(0..32)),
                pool: "api",
                method: "tools/call",
                target: tool.to_owned(),
                args: object([
                    ("q", json!(phrase(&mut rng, cluster, 3))),
                    ("limit", json!(rng.random_range(1..50))),
                ]),
                service_ms,
                errors: Vec::new(),
                answer: None,
                invalidates: Vec::new(),
                links: Vec::new(),
            }
        })
        .collect();
    assemble(
        header,
        drafts,
        "uniform: service time depends only on the replica (speeds 1, 1, 1.6, 2.5; slots 4, 4, 4, 2)",
    )
}
