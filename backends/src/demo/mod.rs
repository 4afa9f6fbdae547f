//! The bundled demo MCP server: what `vecgate serve` runs behind the gateway when it has no
//! configuration (three stdio replicas), what the load benchmark forwards to, and, with its
//! conformance tools, what the official MCP conformance suite runs against.
//!
//! It is a real MCP server built on rmcp (protocol 2025-06-18 / 2025-11-25 and rmcp's later
//! versions), over stdio or Streamable HTTP, with:
//! - **tools** whose latency depends on the replica and the arguments (see [`latency`] for the
//!   model), annotated so a gateway can tell cacheable (`echo`, `read_file`, `summarize`) from
//!   open-world and destructive ones; `long_task` reports progress and honours cancellation;
//!   `ask_llm`, `confirm` and `list_roots` send `sampling/createMessage`, `elicitation/create`
//!   and `roots/list` to the client;
//! - **per-replica state** (`kv_get`/`kv_put`, tickets), so some pools need session affinity;
//! - **resources** (text and binary, templates, subscriptions with
//!   `notifications/resources/updated`, `list_changed` when a new key appears), **prompts**
//!   (with and without arguments, embedded resource, image), **completions** and **logging**;
//! - the **conformance tool set** (`test_simple_text`, ..., `json_schema_2020_12_tool`, the
//!   `test://` resources and `test_*` prompts) that `@modelcontextprotocol/conformance` 0.1.16
//!   expects, including SEP-1699 stream closing (`test_reconnection`) over HTTP.
//!
//! # Layout
//! - [`options`]: [`DemoOptions`] and parsing of `--slow`/profile text.
//! - [`latency`]: the deterministic per-replica latency model.
//! - `catalog`, `tools`, `conformance`: tool definitions and implementations.
//! - `resources`, `prompts`: resources, templates, prompts, completions.
//! - `state`: replica and session state, subscriptions.
//! - `server`: the rmcp `ServerHandler`.
//! - `http`, `streams`: the Streamable HTTP transport and the stream-closing session manager.

mod catalog;
mod conformance;
mod error;
mod fixtures;
mod http;
pub mod latency;
pub mod options;
mod prompts;
mod resources;
mod server;
mod state;
mod streams;
mod tools;

use std::sync::Arc;

use rmcp::ServiceExt;

pub use error::DemoError;
pub use options::{DemoOptions, DemoProfile, DemoTransport, SLOW_ENV, SlowRule, parse_slow_list};

use latency::LatencyModel;
use server::DemoServer;
use state::Replica;

/// Reads extra slow rules from [`SLOW_ENV`] (empty when it is unset).
pub fn slow_rules_from_env() -> Result<Vec<SlowRule>, DemoError> {
    match std::env::var(SLOW_ENV) {
        Ok(list) => parse_slow_list(&list),
        Err(_) => Ok(Vec::new()),
    }
}

/// Runs the demo server until its transport ends: stdin closes (stdio) or the process is
/// stopped (HTTP). Slow rules from [`SLOW_ENV`] are added to `opts.slow`.
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    let mut slow = opts.slow;
    slow.extend(slow_rules_from_env()?);
    let latency = LatencyModel::new(opts.replica, opts.profile, slow);
    match opts.transport {
        DemoTransport::Http(addr) => http::serve(addr, latency).await,
        DemoTransport::Stdio => {
            let replica = Arc::new(Replica::new(latency, None));
            let service = DemoServer::new_session(&replica)
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| DemoError::Initialize(e.to_string()))?;
            service.waiting().await?;
            Ok(())
        }
    }
}
