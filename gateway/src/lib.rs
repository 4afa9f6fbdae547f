//! vecgate: an MCP gateway that learns.
//!
//! # Layout
//! - [`config`]: the TOML configuration and the embedded default.
//! - [`auth`]: client authentication (static keys, JWT), principals, rate limits.
//! - [`reload`]: re-reading the configuration on SIGHUP or `POST /admin/reload`.
//! - [`gateway`]: the running gateway (pools, aggregated catalog, sessions, router).
//! - [`dispatch`]: the request pipeline every front feeds.
//! - [`cache`]: which answers the pattern cache may reuse, and their invalidation.
//! - [`catalog`]: aggregation of the pools' tools, resources and prompts; the naming rule.
//! - [`router`]: replica selection through the learner's `RoutingPolicy`.
//! - [`session`], [`seal`]: client sessions and their sealed, portable ids.
//! - [`protocol`]: MCP protocol versions.
//! - [`front`]: Streamable HTTP, legacy HTTP+SSE and stdio transports.
//! - [`cli`]: the `vecgate` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod front;
pub mod gateway;
pub mod meters;
pub mod protocol;
pub mod reload;
pub mod replay;
pub mod router;
pub mod seal;
pub mod session;
