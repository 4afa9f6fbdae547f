//! Scenario generators: synthetic full-information datasets with known structure.
//!
//! Each scenario isolates one thing a router can exploit or must survive:
//!
//! | scenario | what matters |
//! |---|---|
//! | `uniform` | only replica speed and load; content is irrelevant (a learned router must not lose) |
//! | `affinity` | content × replica: tool and argument-cluster speed-ups, warm keys, size-dependent slowness |
//! | `drift` | `affinity`, plus one replica degrading for one pattern mid-run and recovering |
//! | `hotspot` | Zipf-repeated reads mixed with writes that invalidate (cache hit and wrong-hit rates) |
//! | `bursty` | on/off and diurnal arrivals over mildly heterogeneous replicas |
//! | `swarm` | claude-flow-shaped agent sessions over a 300-tool catalog, two pools |
//!
//! Every generator draws request contents and service times first, then [`calibrate_round_robin`]
//! scales the arrival times so that round-robin's busiest replica stays below a target
//! utilisation in every window. Without that, a content-dependent workload can overload the
//! replica that is slow for a common class under round-robin, its tail runs away and every
//! ratio against round-robin becomes meaningless.
//!
//! Generation is deterministic: the same scenario, size and seed give the same file (for the
//! locked `rand` version, whose `StdRng` is seeded from the given seed only).

mod bursty;
pub(crate) mod common;
mod content;
mod drift;
mod hotspot;
mod swarm;
mod uniform;

use std::str::FromStr;

use crate::error::DatasetError;
use crate::format::Dataset;

pub use common::{calibrate_round_robin, round_robin_peak_utilisation};
pub use drift::DRIFT_SPAN;

/// A named synthetic workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// Replicas differ only in speed and load.
    Uniform,
    /// Latency depends on content × replica.
    Affinity,
    /// `Affinity` with a mid-run degradation of one replica for one pattern.
    Drift,
    /// Zipf-repeated read-only calls mixed with invalidating writes.
    Hotspot,
    /// On/off and diurnal arrivals.
    Bursty,
    /// claude-flow-swarm-shaped sessions.
    Swarm,
}

impl Scenario {
    /// Every scenario, in documentation order.
    pub const ALL: [Scenario; 6] = [
        Scenario::Uniform,
        Scenario::Affinity,
        Scenario::Drift,
        Scenario::Hotspot,
        Scenario::Bursty,
        Scenario::Swarm,
    ];

    /// The scenario's name on the command line and in headers.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Uniform => "uniform",
            Scenario::Affinity => "affinity",
            Scenario::Drift => "drift",
            Scenario::Hotspot => "hotspot",
            Scenario::Bursty => "bursty",
            Scenario::Swarm => "swarm",
        }
    }

    /// The round-robin utilisation [`generate`] calibrates to when [`GenConfig::rr_load`] is
    /// unset, and the window (in requests of one pool) it is measured over.
    fn default_calibration(self, requests: usize) -> (f64, usize) {
        let window = (requests / 20).clamp(500, 5_000);
        match self {
            // Short windows: bursts are what this scenario is about, so each burst must be
            // survivable by round-robin on its own.
            Scenario::Bursty => (0.85, 256),
            _ => (0.7, window),
        }
    }
}

impl FromStr for Scenario {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Scenario, DatasetError> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                DatasetError::Generator(format!(
                    "unknown scenario {s:?} (known: {})",
                    names.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenConfig {
    /// Number of request records.
    pub requests: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Round-robin's busiest-replica utilisation to calibrate arrivals to (in `(0, 1)`), or
    /// `None` for the scenario's default (0.7; 0.85 over 256-request windows for `bursty`).
    pub rr_load: Option<f64>,
}

impl GenConfig {
    /// `requests` records from `seed` at the scenario's default load.
    pub fn new(requests: usize, seed: u64) -> GenConfig {
        GenConfig {
            requests,
            seed,
            rr_load: None,
        }
    }
}

/// Generates `config.requests` records of `scenario`.
pub fn generate(scenario: Scenario, config: &GenConfig) -> Result<Dataset, DatasetError> {
    if config.requests == 0 {
        return Err(DatasetError::Generator(String::from(
            "--requests must be at least 1",
        )));
    }
    let (default_load, window) = scenario.default_calibration(config.requests);
    let load = config.rr_load.unwrap_or(default_load);
    if !(load > 0.0 && load < 1.0) {
        return Err(DatasetError::Generator(format!(
            "round-robin load must be in (0, 1), got {load}"
        )));
    }
    let seed = config.seed ^ (scenario as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut dataset = match scenario {
        Scenario::Uniform => uniform::generate(config.requests, seed),
        Scenario::Affinity => content::generate_affinity(config.requests, seed, None),
        Scenario::Drift => drift::generate(config.requests, seed),
        Scenario::Hotspot => hotspot::generate(config.requests, seed),
        Scenario::Bursty => bursty::generate(config.requests, seed),
        Scenario::Swarm => swarm::generate(config.requests, seed),
    };
    calibrate_round_robin(&mut dataset, load, window);
    dataset.header.scenario = Some(scenario.name().to_owned());
    dataset.header.seed = Some(config.seed);
    dataset.header.description = format!(
        "{}; arrivals scaled so round-robin's busiest replica runs at utilisation {load} \
         (max over {window}-request windows)",
        dataset.header.description
    );
    Ok(dataset)
}

#[cfg(test)]
mod tests;
