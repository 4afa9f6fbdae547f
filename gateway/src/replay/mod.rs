//! `vecgate dataset …` and `vecgate replay …`: trace datasets and the offline replay of every
//! routing policy over them.
//!
//! - [`dataset`]: `gen` (scenario generators) and `validate` (problems with line and field).
//! - [`run`]: `replay`: compiles a dataset, runs the policies through the learner's simulator
//!   (the same engine and policy code the gateway runs), prints the table and writes
//!   `results.json`, CSV files and plots.
//! - [`table`]: the terminal table and the CSV files.
//! - [`plots`]: PNG and SVG charts (latency CDF, p95 over time, replica shares, load sweep).

mod dataset;
mod plots;
mod run;
mod table;

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `vecgate dataset`: generate or check trace datasets.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DatasetCommand,
}

/// The `dataset` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Generate a synthetic dataset.
    Gen(GenArgs),
    /// Check a dataset and report each problem with its line and field.
    Validate(ValidateArgs),
}

/// `vecgate dataset gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// uniform, affinity, drift, hotspot, bursty or swarm.
    #[arg(long)]
    pub scenario: String,
    /// Number of request records.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file; zstd-compressed when it ends in `.zst`.
    #[arg(long)]
    pub out: PathBuf,
    /// Round-robin utilisation of the busiest replica to calibrate arrivals to (0..1).
    #[arg(long)]
    pub rr_load: Option<f64>,
}

/// `vecgate dataset validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The dataset (plain or zstd JSON Lines).
    pub file: PathBuf,
}

/// `vecgate replay`: replay a dataset through routing policies in virtual time.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The dataset (plain or zstd JSON Lines).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Policies to run, comma-separated (default: every policy). round-robin and oracle are
    /// always added as references for "gap recovered".
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Seed of the policies' randomness (same dataset, policies and seed: identical results).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory for results.json, CSV files and plots.
    #[arg(long, default_value = "replay-out")]
    pub out: PathBuf,
    /// Rescale arrivals to this offered load (work / (duration × all slots)).
    #[arg(long)]
    pub load: Option<f64>,
    /// Closed loop instead of the trace's timestamps: this many agents.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Closed loop: mean think time between an agent's requests, ms.
    #[arg(long, default_value_t = 10.0)]
    pub think_ms: f64,
    /// Do not simulate the response cache for read-only requests.
    #[arg(long)]
    pub no_cache: bool,
    /// Cache entry lifetime, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub cache_ttl_s: f64,
    /// Also run a load sweep (p95 vs offered load per policy).
    #[arg(long)]
    pub sweep: bool,
    /// Offered loads of the sweep.
    #[arg(long, value_delimiter = ',', default_value = "0.3,0.5,0.6,0.7,0.8,0.9")]
    pub sweep_loads: Vec<f64>,
    /// Do not draw plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Worker threads (policies run in parallel).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Drive bare policies with precomputed features instead of the engine (no embedding, no
    /// neighbour index): faster, for content-blind comparisons.
    #[arg(long)]
    pub bare: bool,
}

/// Runs a `vecgate dataset` command.
pub async fn dataset_main(args: DatasetArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || dataset::main(args)).await?
}

/// Runs `vecgate replay`.
pub async fn replay_main(args: ReplayArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run::main(args)).await?
}

#[cfg(test)]
mod tests;
