//! The deterministic replay simulator: datasets replayed through the same policy code the
//! gateway runs, in virtual time.
//!
//! - [`workload`]: a dataset compiled into flat arrays (features computed once, partial
//!   records completed by [`impute`]).
//! - [`des`]: the discrete-event core. Replicas are multi-server FIFO queues; service times,
//!   errors, outages and slowdowns come from the dataset; arrivals come from its timestamps
//!   (optionally rescaled to a target load) or from a closed loop of agents with think time.
//! - [`router`]: what a run routes with ([`SimRouter`]): a bare policy, or the engine.
//! - [`cache`]: the response cache applied to read-only requests (hit and wrong-hit rates).
//! - [`stats`]: per-run figures ([`PolicySummary`], the entries of `results.json`).
//! - [`runner`]: several policies over one workload, and load sweeps.
//!
//! Determinism: a run is a pure function of (workload, policy, config, seed). Events at equal
//! times run in a fixed order, randomness comes only from seeded [`crate::Rng`]s, and nothing
//! reads a clock, so the same inputs give byte-identical `results.json`.

pub mod cache;
pub mod des;
mod error;
pub mod impute;
pub mod router;
pub mod runner;
pub mod stats;
pub mod synthetic;
pub mod workload;

#[cfg(test)]
mod tests;

pub use cache::CacheConfig;
pub use des::{Arrivals, RunConfig};
pub use error::SimError;
pub use impute::Imputation;
pub use router::{EngineRouter, PolicyRouter, SimRouter};
pub use runner::{
    PolicyRun, Replay, ReplayConfig, RouterFactory, SweepPoint, engine_router, policy_router,
    replay, sweep,
};
pub use stats::{PolicySummary, Window};
pub use workload::{SimPool, SimReplica, Workload};
