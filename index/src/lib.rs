//! vecgate's memory of past requests.
//!
//! # Layout
//! - [`embed`]: turns an MCP request into a fixed-size, L2-normalised vector.
//! - [`store`]: the trajectory store (HNSW on `hnsw_rs` plus a flat fresh buffer).
//! - [`cache`]: the pattern cache that answers provably safe repeats.
//! - [`snapshot`]: versioned, checksummed `rkyv` snapshots.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
