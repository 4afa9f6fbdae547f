//! Helpers shared by vecgate's end-to-end tests.
//!
//! The tests run the real `vecgate` binary (found in the target directory, see [`paths`]) in
//! front of real MCP servers (the bundled demo server, `@modelcontextprotocol/server-everything`,
//! claude-flow), and drive it with real MCP clients: the official TypeScript and Python SDKs,
//! through the scenario drivers in `tests/clients/` ([`driver`]). Protocol details that an SDK
//! would hide are checked with a raw HTTP client ([`http`]).
//!
//! Every process a test starts is owned by a guard that kills it on drop ([`process::Proc`]),
//! every wait has a deadline, and every test uses its own ports and temporary directories, so
//! tests run in parallel and never hang.

#![warn(missing_docs, unreachable_pub)]

pub mod backends;
pub mod driver;
mod error;
pub mod gateway;
pub mod http;
pub mod paths;
pub mod process;
pub mod session;
pub mod sse;

pub use backends::{ClaudeFlow, HttpBackend};
pub use driver::{DriverRun, Report, Sdk, Target};
pub use error::SupportError;
pub use gateway::{ConfigFile, Gateway, GatewayConfig, Pool};
pub use session::McpSession;
