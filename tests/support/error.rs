//! The one error type of the test support library.

use std::path::PathBuf;
use std::time::Duration;

/// Why a helper could not do what a test asked.
///
/// `Debug` prints the same text as `Display`, so a test's `.unwrap()` shows the readable
/// message (with the process output it carries) rather than an escaped struct.
#[derive(thiserror::Error)]
pub enum SupportError {
    /// A binary, script or installed package the tests need is not where it should be.
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        /// What was looked for (e.g. "vecgate binary").
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it (e.g. "run scripts/test, which builds and installs everything").
        hint: String,
    },
    /// A child process could not be started.
    #[error("cannot start {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A child process did not get ready (or finish) in time.
    #[error("{what} timed out after {after:?}; its output:\n{output}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long the test waited.
        after: Duration,
        /// What the process printed so far (for diagnosis).
        output: String,
    },
    /// A child process exited before it was ready.
    #[error("{what} exited early ({status}); its output:\n{output}")]
    Exited {
        /// What had been started.
        what: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// A client driver's output was not the JSON report it promises.
    #[error(
        "{driver} printed no JSON report ({problem}); exit {status}; stderr:\n{stderr}\nstdout:\n{stdout}"
    )]
    BadReport {
        /// Which driver.
        driver: String,
        /// What was wrong with the output.
        problem: String,
        /// Its exit status.
        status: String,
        /// Its stdout.
        stdout: String,
        /// Its stderr.
        stderr: String,
    },
    /// A raw HTTP exchange failed below the HTTP level, or the answer was not HTTP/1.1.
    #[error("HTTP {context}: {problem}")]
    Http {
        /// The request (method and path).
        context: String,
        /// What went wrong.
        problem: String,
    },
    /// Any other I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl std::fmt::Debug for SupportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl SupportError {
    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupportError {
        let context = context.into();
        move |source| SupportError::Io { context, source }
    }
}
