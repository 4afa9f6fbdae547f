//! The learner crate's error type: one enum, every variant with the context needed to act on it.

/// Everything that can go wrong when building policies, restoring learned state or running the
/// engine. Choosing and learning never fail: they are total over their inputs.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    /// A policy name that [`crate::policy::build`] does not know.
    #[error("unknown routing policy {name:?} (known: {known})")]
    UnknownPolicy {
        /// The name that was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A configuration value outside its valid range.
    #[error("{key}: {reason} (got {value})")]
    InvalidConfig {
        /// The config key, dotted (`vector.explore_rate`).
        key: &'static str,
        /// The offending value, rendered.
        value: String,
        /// What the value must satisfy.
        reason: &'static str,
    },
    /// A learned-state snapshot that cannot be restored.
    #[error("learner snapshot for policy {policy:?} is invalid: {reason}")]
    Snapshot {
        /// The policy whose state was being restored.
        policy: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// An error from the trajectory index.
    #[error(transparent)]
    Index(#[from] vecgate_index::error::IndexError),
    /// The learner thread could not be started.
    #[error("cannot start the learner thread: {0}")]
    Thread(#[source] std::io::Error),
}
