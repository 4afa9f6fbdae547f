//! `bursty`: on/off and diurnal arrivals over mildly heterogeneous replicas.
//!
//! The arrival rate is `base × (1 + 0.5·sin(2πt/day)) × (on ? 2.5 : 0.25)`, with on and off
//! periods exponentially distributed (means 30 and 60 time units, base rate 10 per unit) and two
//! "days" per run. Calibration then scales time so round-robin survives every 256-request
//! window: tails here come from bursts, not from a replica overloaded for the whole run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::common::{Draft, assemble, exp_gap, log_terms, lognormal, object, phrase, pool};
use crate::format::{Dataset, Header};

const SPEEDS: [f64; 4] = [1.0, 1.0, 1.3, 1.3];
const TOOLS: [(&str, f64); 5] = [
    ("query", 15.0),
    ("render", 40.0),
    ("lookup", 6.0),
    ("classify", 22.0),
    ("store", 10.0),
];
const BASE_RATE: f64 = 10.0;
const ON_MEAN: f64 = 30.0;
const OFF_MEAN: f64 = 60.0;
const NOISE_SIGMA: f64 = 0.35;

/// `n` records with on/off × diurnal arrivals.
pub(crate) fn generate(n: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let tool_term = log_terms(&mut rng, TOOLS.len(), SPEEDS.len(), 0.2);
    // Mean rate is about BASE_RATE × (2.5·30 + 0.25·60)/90 = BASE_RATE; two days per run.
    let day = n as f64 / BASE_RATE / 2.0;
    let header = Header::new(vec![pool("api", "b", &[4; 4])]);
    let mut on = true;
    let mut switch_at = ON_MEAN * exp_gap(&mut rng);
    let mut t = 0.0;
    let mut drafts = Vec::with_capacity(n);
    for _ in 0..n {
        loop {
            let diurnal = 1.0 + 0.5 * (2.0 * std::f64::consts::PI * t / day).sin();
            let rate = BASE_RATE * diurnal * if on { 2.5 } else { 0.25 };
            let next = t + exp_gap(&mut rng) / rate;
            if next < switch_at {
                t = next;
                break;
            }
            // Memoryless: restart the draw from the switch with the new rate.
            t = switch_at;
            on = !on;
            switch_at = t + if on { ON_MEAN } else { OFF_MEAN } * exp_gap(&mut rng);
        }
        let tool = rng.random_range(0..TOOLS.len());
        let (name, base_ms) = TOOLS[tool];
        let service_ms = SPEEDS
            .iter()
            .enumerate()
            .map(|(r, speed)| {
                base_ms * speed * tool_term[tool][r].exp() * lognormal(&mut rng, NOISE_SIGMA)
            })
            .collect();
        let cluster = rng.random_range(0..16);
        drafts.push(Draft {
            t,
            session: format!("user-{}", rng.random_range(0..200)),
            pool: "api",
            method: "tools/call",
            target: name.to_owned(),
            args: object([("input", json!(phrase(&mut rng, cluster, 4)))]),
            service_ms,
            errors: Vec::new(),
            answer: None,
            invalidates: Vec::new(),
            links: Vec::new(),
        });
    }
    assemble(
        header,
        drafts,
        "bursty: on/off (means 30/60) x diurnal (+-50%) arrivals, speeds 1, 1, 1.3, 1.3 and mild \
         tool x replica terms",
    )
}
