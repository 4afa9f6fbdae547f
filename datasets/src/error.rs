//! [`DatasetError`]: everything that can go wrong reading, writing or generating a dataset.

use std::path::PathBuf;

/// The crate's error type. Variants carry the file and line they are about.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not what the format requires. `line` counts from 1 (the header is line 1).
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The offending field (dotted path, e.g. `service_ms.r2`), or `-` for the whole line.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file has no header line.
    #[error("{path}: empty file (a dataset starts with a header line)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A generator was asked for something it cannot produce.
    #[error("generator: {0}")]
    Generator(String),
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DatasetError {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }
}
