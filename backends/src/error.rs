//! The errors of the backends crate: [`CallError`] for one upstream request, and
//! [`BackendError`] for why a replica could not be started or kept up.

use crate::jsonrpc::{ErrorObject, code};
use serde_json::value::RawValue;
use std::time::Duration;

/// Why an upstream request did not produce a `result`.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The upstream answered with a JSON-RPC error object, passed through unchanged.
    #[error("upstream error: {}", .0.get())]
    Rpc(Box<RawValue>),
    /// No answer within the deadline; `notifications/cancelled` was sent upstream.
    #[error("pool {pool:?} replica {replica}: {method} timed out after {after:?}")]
    Timeout {
        /// The pool's name.
        pool: String,
        /// The replica's index in its pool.
        replica: u32,
        /// The request's method.
        method: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The replica is not ready, or went away while the request was in flight.
    #[error("pool {pool:?} replica {replica} unavailable: {reason}")]
    Unavailable {
        /// The pool's name.
        pool: String,
        /// The replica's index in its pool.
        replica: u32,
        /// What happened (process exited, connection refused, not started yet, …).
        reason: String,
    },
    /// The upstream broke the protocol (unparseable answer, wrong content type, …).
    #[error("pool {pool:?} replica {replica}: protocol error: {detail}")]
    Protocol {
        /// The pool's name.
        pool: String,
        /// The replica's index in its pool.
        replica: u32,
        /// What was wrong.
        detail: String,
    },
}

impl CallError {
    /// The JSON-RPC error object to answer a client with. An upstream error object is parsed
    /// when it has the standard shape; use the [`CallError::Rpc`] payload directly to pass it
    /// through byte for byte.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            CallError::Rpc(raw) => serde_json::from_str(raw.get()).unwrap_or_else(|_| {
                ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!("upstream sent a malformed error object: {}", raw.get()),
                )
            }),
            CallError::Timeout { .. } => ErrorObject::new(code::UPSTREAM_TIMEOUT, self.to_string()),
            CallError::Unavailable { .. } => {
                ErrorObject::new(code::UPSTREAM_UNAVAILABLE, self.to_string())
            }
            CallError::Protocol { .. } => ErrorObject::new(code::INTERNAL_ERROR, self.to_string()),
        }
    }

    /// A short label of the error kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Rpc(_) => "rpc",
            CallError::Timeout { .. } => "timeout",
            CallError::Unavailable { .. } => "unavailable",
            CallError::Protocol { .. } => "protocol",
        }
    }
}

/// Why a replica could not be started or kept up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The pool spec cannot work (no URLs, bad URL, unsupported scheme, …).
    #[error("pool {pool:?}: invalid spec: {detail}")]
    InvalidSpec {
        /// The pool's name.
        pool: String,
        /// What is wrong.
        detail: String,
    },
    /// The child process could not be spawned.
    #[error("pool {pool:?} replica {replica}: cannot spawn {command:?}: {source}")]
    Spawn {
        /// The pool's name.
        pool: String,
        /// The replica's index.
        replica: u32,
        /// The program.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to the upstream failed.
    #[error("pool {pool:?} replica {replica}: cannot connect to {url}: {detail}")]
    Connect {
        /// The pool's name.
        pool: String,
        /// The replica's index.
        replica: u32,
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The MCP handshake failed.
    #[error("pool {pool:?} replica {replica}: handshake failed: {source}")]
    Handshake {
        /// The pool's name.
        pool: String,
        /// The replica's index.
        replica: u32,
        /// The failed request.
        #[source]
        source: CallError,
    },
    /// The upstream chose a protocol version vecgate does not speak.
    #[error("pool {pool:?} replica {replica}: unsupported protocol version {version:?}")]
    UnsupportedVersion {
        /// The pool's name.
        pool: String,
        /// The replica's index.
        replica: u32,
        /// The version the upstream answered.
        version: String,
    },
}
