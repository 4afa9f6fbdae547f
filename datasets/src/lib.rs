//! The trajectory dataset format, its validator and its scenario generators.
//!
//! A dataset is a JSON Lines file (optionally zstd-compressed): one [`Header`] line describing
//! the pools and their replicas, then one [`Record`] per request. A record carries the request
//! (arrival time, session, pool, method, tool or URI, arguments) and what it cost: either the
//! service time on *every* replica of its pool (full information, so every policy and the oracle
//! can be replayed counterfactually) or only the replica that served it and its latency (partial
//! information, replay imputes the rest). `datasets/README.md` is the format's specification.
//!
//! # Layout
//! - [`format`](mod@format): the header and record types, exactly as they appear on disk.
//! - [`io`]: reading and writing files, with zstd detected by its magic bytes.
//! - [`validate`]: checks a file and reports each problem with its line and field.
//! - [`scenario`]: the scenario generators (`uniform`, `affinity`, `drift`, `hotspot`, `bursty`,
//!   `swarm`), with arrival rates calibrated so round-robin stays stable.
//! - [`synth`]: request mixes drawn from a server's catalog (what `vecgate dataset record`
//!   sends to real servers).
//! - [`error`]: [`DatasetError`], the crate's one error type.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod error;
pub mod format;
pub mod io;
pub mod scenario;
pub mod synth;
pub mod validate;

pub use error::DatasetError;
pub use format::{
    CacheInvalidation, Dataset, EventKind, FORMAT_VERSION, Header, Observation, PoolSpec, Record,
    ReplicaEvent, ReplicaSpec, ToolSpec,
};
pub use io::{read_dataset, write_dataset};
pub use scenario::{GenConfig, Scenario, calibrate_round_robin, generate};
pub use validate::{Problem, ValidationReport, validate_file};
