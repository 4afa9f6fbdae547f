//! `vecgate dataset …` and `vecgate replay …`: trace datasets and the offline replay of every
//! routing policy over them.
//!
//! - `dataset`: `gen` (scenario generators) and `validate` (problems with line and field).
//! - `live`: `replay --live URL`: the dataset's requests sent to a running gateway, open
//!   loop, with client-side latencies.
//! - `record`: `dataset record`: real latencies measured on every replica of real servers.
//! - `run`: `replay`: compiles a dataset, runs the policies through the learner's simulator
//!   (the same engine and policy code the gateway runs), prints the table and writes
//!   `results.json`, CSV files and plots.
//! - `recovery`: drift recovery time per policy, from the p95 timeline.
//! - `table`: the terminal table and the CSV files.
//! - `plots`: PNG and SVG charts (latency CDF, p95 over time, replica shares, load sweep).

mod dataset;
mod live;
mod plots;
mod record;
mod recovery;
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
    /// Measure a request mix on every replica of real MCP servers (the bundled demo server by
    /// default, or the pools of a vecgate config) and write a full-information dataset.
    Record(RecordArgs),
}

/// `vecgate dataset record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// vecgate TOML config whose pools are recorded (default: the bundled demo server).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Record only these pools of the config (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub pools: Vec<String>,
    /// Demo server only: how many replicas (each gets its index in $VECGATE_REPLICA).
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// Demo server only: latency profile (instant, fast or realistic).
    #[arg(long, default_value = "fast")]
    pub profile: String,
    /// Call only these tools (comma-separated; default: the demo's latency-modelled tools, or
    /// with --config every listed tool except those that wait on the client or sleep).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Requests to measure (each is sent to every replica of its pool).
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Seed of the request mix and the arrival times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests sent to every replica before measuring (not recorded).
    #[arg(long, default_value_t = 30)]
    pub warmup: usize,
    /// Share of `resources/read` in pools that list resources.
    #[arg(long, default_value_t = 0.2)]
    pub resource_share: f64,
    /// Round-robin utilisation of the busiest replica the arrival times are scaled to (0..1).
    #[arg(long, default_value_t = 0.7)]
    pub rr_load: f64,
    /// Concurrency written for every replica in the header (`slots`).
    #[arg(long, default_value_t = 4)]
    pub slots: u32,
    /// Deadline of one call, ms.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// How long to wait for every replica to be ready, seconds.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout_s: u64,
    /// Output file; zstd-compressed when it ends in `.zst`.
    #[arg(long)]
    pub out: PathBuf,
}

impl RecordArgs {
    /// The arguments after `record` on this process's command line (for the header).
    fn command_line(&self) -> String {
        let args: Vec<String> = std::env::args().collect();
        let start = args.iter().position(|a| a == "record").map_or(0, |i| i + 1);
        args[start..].join(" ")
    }
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
    /// Report drift recovery from this point, seconds from the first arrival on the replayed
    /// clock (default: the drift point of a `drift` scenario dataset).
    #[arg(long)]
    pub drift_at_s: Option<f64>,
    /// Send the requests to a running gateway (or a backend) at this Streamable HTTP URL
    /// instead of simulating (loopback only), and report client-side latencies.
    #[arg(long, value_name = "URL")]
    pub live: Option<String>,
    /// Live: play the dataset's arrival times this many times faster.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Live: send at this fixed rate (requests per second) instead of the dataset's pace.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Live: send at most this many requests.
    #[arg(long, default_value_t = 10_000)]
    pub max_requests: usize,
    /// Live: send nothing due later than this, seconds after the start.
    #[arg(long, default_value_t = 60.0)]
    pub max_seconds: f64,
    /// Live: deadline of one request, ms.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// Runs a `vecgate dataset` command.
pub async fn dataset_main(args: DatasetArgs) -> anyhow::Result<()> {
    match args.command {
        DatasetCommand::Record(args) => record::main(args).await,
        command => tokio::task::spawn_blocking(move || dataset::main(command)).await?,
    }
}

/// Runs `vecgate replay`.
pub async fn replay_main(args: ReplayArgs) -> anyhow::Result<()> {
    if let Some(url) = args.live.clone() {
        return live::main(args, url).await;
    }
    tokio::task::spawn_blocking(move || run::main(args)).await?
}

#[cfg(test)]
mod tests;
