//! The content-dependent service model behind `affinity` (and `drift`, which adds a change).
//!
//! Log service time on replica r is additive over request features, the structure the
//! calibration notes found a learned router can exploit:
//! `ln s = ln base(tool) + replica(r) + tool×replica + cluster×replica + warm(key, r)
//!        + slope(r)·log4(size/64) + noise`, noise lognormal σ 0.25.
//! Each argument cluster (the `collection` argument) has one replica that is much faster for
//! it (a shard that holds it locally); a few hot keys are warm in one replica's cache.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{Value, json};

use super::common::{
    Draft, assemble, exp_gap, filler, log_terms, lognormal, mix, object, phrase, pool,
};
use crate::format::{Dataset, Header, ToolSpec};

/// Tools of the `search` pool: (name, median base service ms, read-only).
const TOOLS: &[(&str, f64, bool)] = &[
    ("search_docs", 18.0, true),
    ("search_code", 25.0, true),
    ("get_issue", 8.0, true),
    ("list_issues", 14.0, true),
    ("get_file", 6.0, true),
    ("summarize", 45.0, true),
    ("translate", 30.0, true),
    ("embed_text", 12.0, true),
    ("run_query", 35.0, true),
    ("lint", 20.0, false),
    ("format_code", 10.0, false),
    ("fetch_url", 40.0, true),
];
const REPLICAS: usize = 5;
const SLOTS: u32 = 4;
const CLUSTERS: usize = 24;
const VARIANTS: usize = 200;
const NOISE_SIGMA: f64 = 0.25;
/// Log-speed-up of a cluster's home replica (e^-1.0 ≈ 0.37×).
const HOME_SPEEDUP: f64 = -1.0;
/// Log-speed-up of a warm key on its warm replica (e^-1.2 ≈ 0.30×).
const WARM_SPEEDUP: f64 = -1.2;

/// A mid-run degradation of one replica for one tool, as fractions of the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Drift {
    pub(crate) replica: usize,
    pub(crate) tool: usize,
    pub(crate) from: f64,
    pub(crate) to: f64,
    pub(crate) factor: f64,
}

/// `n` records of the affinity model, optionally with `drift`.
pub(crate) fn generate_affinity(n: usize, seed: u64, drift: Option<Drift>) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let replica_term: Vec<f64> = (0..REPLICAS)
        .map(|_| 0.1 * super::common::normal(&mut rng))
        .collect();
    let mut tool_term = log_terms(&mut rng, TOOLS.len(), REPLICAS, 0.4);
    let cluster_term = log_terms(&mut rng, CLUSTERS, REPLICAS, 0.15);
    let mut slopes = [0.05, 0.12, 0.2, 0.3, 0.4];
    slopes.shuffle(&mut rng);
    if let Some(d) = drift {
        // The degraded replica starts out as the clear favourite for the pattern, so the
        // change hurts whoever learned that.
        tool_term[d.tool][d.replica] = -0.9;
    }
    let tool_pick = Zipf::new(TOOLS.len() as f64, 0.8).expect("valid zipf");
    let cluster_pick = Zipf::new(CLUSTERS as f64, 1.0).expect("valid zipf");
    let variant_pick = Zipf::new(VARIANTS as f64, 1.1).expect("valid zipf");

    let header = Header {
        tools: TOOLS
            .iter()
            .map(|&(name, _, read_only)| ToolSpec {
                name: name.to_owned(),
                read_only,
            })
            .collect(),
        ..Header::new(vec![pool("search", "r", &[SLOTS; REPLICAS])])
    };
    let mut t = 0.0;
    let mut drafts = Vec::with_capacity(n);
    for i in 0..n {
        t += exp_gap(&mut rng);
        let tool = tool_pick.sample(&mut rng) as usize - 1;
        let cluster = cluster_pick.sample(&mut rng) as usize - 1;
        let variant = variant_pick.sample(&mut rng) as usize - 1;
        // Size: 64 B .. 16 KiB, log-uniform in powers of 4.
        let size_exp: f64 = rng.random_range(0.0..4.0);
        let size = (64.0 * 4f64.powf(size_exp)) as usize;
        let home = (mix(seed, cluster as u64) % REPLICAS as u64) as usize;
        let key = mix(mix(tool as u64, cluster as u64), variant as u64);
        let warm = (variant < 2).then(|| (key % REPLICAS as u64) as usize);
        let progress = i as f64 / n as f64;
        let (base_name, base_ms, _) = TOOLS[tool];
        let service_ms = (0..REPLICAS)
            .map(|r| {
                let mut log = base_ms.ln()
                    + replica_term[r]
                    + tool_term[tool][r]
                    + cluster_term[cluster][r]
                    + slopes[r] * size_exp;
                if r == home {
                    log += HOME_SPEEDUP;
                }
                if warm == Some(r) {
                    log += WARM_SPEEDUP;
                }
                let mut ms = log.exp() * lognormal(&mut rng, NOISE_SIGMA);
                if let Some(d) = drift
                    && d.replica == r
                    && d.tool == tool
                    && (d.from..d.to).contains(&progress)
                {
                    ms *= d.factor;
                }
                ms
            })
            .collect();
        // The last replica is flaky: 1 % errors, the others 0.1 %.
        let errors = (0..REPLICAS)
            .filter(|&r| rng.random::<f64>() < if r == REPLICAS - 1 { 0.01 } else { 0.001 })
            .map(|r| (r, "upstream timeout"))
            .collect();
        let collection = format!(
            "acme/{}",
            super::common::WORDS[cluster % super::common::WORDS.len()]
        );
        let query = format!("{} #{variant}", phrase(&mut rng_for(key), cluster, 3));
        let args: Value = object([
            ("collection", json!(collection)),
            ("query", json!(query)),
            ("context", json!(filler(&mut rng_for(key ^ 1), size))),
        ]);
        drafts.push(Draft {
            t,
            session: format!("agent-{}", rng.random_range(0..64)),
            pool: "search",
            method: "tools/call",
            target: base_name.to_owned(),
            args,
            service_ms,
            errors,
            answer: None,
            invalidates: Vec::new(),
            links: Vec::new(),
        });
    }
    let description = match drift {
        None => String::from(
            "affinity: service time depends on tool x replica, collection x replica (one home \
             replica per collection), warm keys and argument size",
        ),
        Some(d) => format!(
            "drift: the affinity model, with replica r{} {}x slower for {} between {:.0}% and \
             {:.0}% of the run",
            d.replica,
            d.factor,
            TOOLS[d.tool].0,
            d.from * 100.0,
            d.to * 100.0
        ),
    };
    assemble(header, drafts, &description)
}

/// A generator for text that must be identical every time the same key appears.
fn rng_for(key: u64) -> StdRng {
    StdRng::seed_from_u64(key)
}
