//! Errors of the index crate: one enum per failing operation family, all convertible into
//! [`IndexError`].

use std::path::PathBuf;

/// Why a request could not be embedded. The caller then routes without neighbour evidence.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EmbedError {
    /// The output buffer's length differs from [`crate::embed::Embedder::dim`].
    #[error("embedding buffer has {received} slots, the embedder writes {expected}")]
    WrongDimension {
        /// The embedder's dimension.
        expected: usize,
        /// The buffer's length.
        received: usize,
    },
    /// Every feature cancelled out (or a non-finite value appeared): the vector cannot be
    /// normalised, and a zero or NaN vector must never reach the index.
    #[error("request produced a degenerate (zero or non-finite) embedding")]
    Degenerate,
}

/// Why a JSON text could not be put in canonical form.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// The text is not JSON.
    #[error("invalid JSON at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What was expected or found.
        reason: &'static str,
    },
    /// An object repeats a key (I-JSON, RFC 7493, forbids it; RFC 8785 requires I-JSON).
    #[error("duplicate object key at byte {offset}")]
    DuplicateKey {
        /// Byte offset of the object holding the duplicate.
        offset: usize,
    },
    /// Nesting deeper than the parser's bound.
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep {
        /// The bound.
        limit: usize,
    },
}

/// Why a snapshot could not be written or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("snapshot I/O on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with vecgate's snapshot magic: not a vecgate snapshot.
    #[error("{path} is not a vecgate snapshot (bad magic)")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by another format version; it is refused rather than misread.
    #[error("{path} has snapshot format version {found}, this build reads version {supported}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Length or checksum mismatch: truncated or corrupted file.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// A section's content does not fit the reader (wrong dimension, embedder or layout).
    #[error("snapshot section {section:?} refused: {reason}")]
    Section {
        /// The section name.
        section: String,
        /// Why.
        reason: String,
    },
    /// A section named by the reader is absent.
    #[error("snapshot has no section {section:?}")]
    MissingSection {
        /// The section name.
        section: String,
    },
    /// Encoding a section failed.
    #[error("snapshot encoding failed: {0}")]
    Encode(String),
}

/// Why a store operation was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum StoreError {
    /// The vector's length differs from the store's dimension.
    #[error("vector has {received} dimensions, the store holds {expected}")]
    WrongDimension {
        /// The store's dimension.
        expected: usize,
        /// The vector's length.
        received: usize,
    },
    /// The vector contains NaN/infinity or has (near) zero norm; hnsw_rs would panic on it.
    #[error("vector is not finite or not normalisable")]
    InvalidVector,
    /// The store holds `max_entries` entries and none is live to merge into.
    #[error("store is full ({max_entries} entries) and has no live entry to merge into")]
    Full {
        /// The configured bound.
        max_entries: u32,
    },
    /// A configuration value is out of range.
    #[error("store config {field}: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// Every error the index crate returns.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// See [`EmbedError`].
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// See [`CanonicalError`].
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// See [`SnapshotError`].
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}
