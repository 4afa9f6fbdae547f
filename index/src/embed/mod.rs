//! Request embeddings: an MCP request becomes a fixed-size, L2-normalised `f32` vector.
//!
//! The [`Embedder`] trait is the seam: the gateway, the learner and the replay simulator only
//! see it, so a model-based embedder can replace [`HashingEmbedder`] later. Whatever the
//! implementation, an embedding is
//! - deterministic (same request, same vector, on every run and machine: snapshots and datasets
//!   stay valid);
//! - L2-normalised, finite and non-zero (the store and hnsw_rs rely on it: a NaN distance panics
//!   inside hnsw_rs, a zero vector has no direction);
//! - written into a caller-owned buffer, so the hot path does not allocate.

mod hashing;
mod scan;

pub use hashing::{DEFAULT_DIM, HashingEmbedder, MAX_TEXT_FEATURES, TEXT_WINDOW};

use crate::error::EmbedError;

/// The parts of an MCP request the embedder reads, borrowed from the gateway's envelope.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// JSON-RPC method (`tools/call`, `resources/read`, …).
    pub method: &'a str,
    /// Tool, prompt or resource name/URI, when the method has one.
    pub name: Option<&'a str>,
    /// Raw JSON text of `params.arguments` (tools, prompts) or of the whole `params`.
    /// Malformed JSON is embedded as far as it parses; it never fails the embedding.
    pub arguments: Option<&'a str>,
}

/// Turns requests into vectors. See the module docs for the guarantees every implementation
/// gives.
pub trait Embedder: Send + Sync {
    /// Length of the vectors this embedder writes.
    fn dim(&self) -> usize;

    /// Writes the embedding of `req` into `out` (`out.len()` must equal [`Embedder::dim`]).
    ///
    /// On error `out` holds garbage and must not be used.
    fn embed(&self, req: &RequestView<'_>, out: &mut [f32]) -> Result<(), EmbedError>;

    /// Identifies the embedding function (name, version, dimension, seed). Stored in snapshots
    /// so vectors from another embedder are refused instead of compared.
    fn id(&self) -> &str;
}

/// Normalises `v` in place to unit L2 norm; refuses zero and non-finite vectors.
pub fn normalize(v: &mut [f32]) -> Result<(), EmbedError> {
    let norm_sq: f32 = v.iter().map(|x| x * x).sum();
    if !norm_sq.is_finite() || norm_sq <= f32::MIN_POSITIVE {
        return Err(EmbedError::Degenerate);
    }
    let inv = 1.0 / norm_sq.sqrt();
    for x in v.iter_mut() {
        *x *= inv;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
