//! vecgate's memory of past requests.
//!
//! # Layout
//! - [`embed`]: turns an MCP request into a fixed-size, L2-normalised vector.
//! - [`canonical`]: canonical JSON and stable request keys.
//! - [`store`]: the trajectory store (HNSW on `hnsw_rs` plus a flat fresh buffer).
//! - [`cache`]: the pattern cache that answers provably safe repeats.
//! - [`snapshot`]: versioned, checksummed `rkyv` snapshots.
//! - [`workload`]: a seeded generator of MCP-like requests for tests and benches.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod cache;
pub mod canonical;
pub mod embed;
pub mod error;
pub mod snapshot;
pub mod store;
pub mod workload;

pub use error::{CanonicalError, EmbedError, IndexError, SnapshotError, StoreError};
