//! [`SimError`]: why a replay cannot run. Simulation itself never fails once it has started.

use crate::error::LearnerError;

/// Errors compiling a dataset or configuring a replay.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A record the simulator cannot use (the validator accepts only usable records, so this
    /// means the dataset was built in memory without validation).
    #[error("record on line {line}: {message}")]
    Record {
        /// 1-based line of the record in its file (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A pool with more replicas than replay supports.
    #[error("pool {pool:?} has {replicas} replicas; replay supports at most {max}")]
    TooManyReplicas {
        /// The pool.
        pool: String,
        /// Its replica count.
        replicas: usize,
        /// The limit.
        max: usize,
    },
    /// A header event naming an unknown pool or replica.
    #[error("header event names unknown {what} {name:?}")]
    Event {
        /// `pool` or `replica`.
        what: &'static str,
        /// The unknown name.
        name: String,
    },
    /// A replay setting outside its valid range.
    #[error("{key}: {reason}")]
    Config {
        /// The setting (`load`, `agents`, …).
        key: &'static str,
        /// What it must satisfy.
        reason: String,
    },
    /// A policy that cannot be built.
    #[error(transparent)]
    Policy(#[from] LearnerError),
}
