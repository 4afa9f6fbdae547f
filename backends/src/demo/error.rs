//! Errors of the demo server: bad options, and the transport failing under it.

use std::net::SocketAddr;

/// Everything that can stop [`run`](super::run) or reject [`DemoOptions`](super::DemoOptions).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A `--slow TOOL=FACTOR` rule (or an entry of `VECGATE_DEMO_SLOW`) did not parse.
    #[error("invalid slow rule {rule:?}: {reason}")]
    InvalidSlowRule {
        /// The rule as written.
        rule: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A latency profile name other than `instant`, `fast` or `realistic`.
    #[error("unknown latency profile {0:?} (expected instant, fast or realistic)")]
    UnknownProfile(String),
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Accepting a connection or writing the listening banner failed.
    #[error("demo server I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The MCP session over stdio could not start (for example, no `initialize` arrived).
    #[error("MCP session over stdio failed to start: {0}")]
    Initialize(String),
    /// The MCP session task ended abnormally.
    #[error("MCP session task failed: {0}")]
    Session(#[from] tokio::task::JoinError),
}
