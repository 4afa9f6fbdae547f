//! Upstream MCP connections, supervision, and the bundled demo MCP server.
//!
//! # Layout
//! - [`jsonrpc`]: the lossless JSON-RPC envelope every part of vecgate passes messages in.
//! - [`config`]: what the gateway says about each pool ([`PoolSpec`], [`TransportSpec`]).
//! - [`pool`]: a pool of interchangeable replicas of one server, and its [`PoolEvent`]s.
//! - [`replica`]: one shared upstream session; [`Replica::call`] is the request path.
//! - [`catalog`]: what a server offers (tools, resources, templates, prompts), kept raw.
//! - [`error`]: [`CallError`] for one request, [`BackendError`] for a replica that cannot start.
//! - `mux` (private): upstream ids, progress tokens, routing of everything read back.
//! - `listen` (private): resource subscriptions on stateless (2026-07-28) upstreams, as one
//!   long-lived upstream `subscriptions/listen` per replica.
//! - `transport` (private): stdio, Streamable HTTP and legacy SSE, one module each.
//! - `supervisor` (private): restarts with [`backoff::Backoff`], health pings, idle reaping.
//! - [`handshake`]: the protocol versions spoken, `initialize`, `server/discover`.
//! - [`demo`]: the bundled demo MCP server (rmcp), also the `vecgate-demo-server` binary.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod backoff;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod error;
pub mod handshake;
pub mod jsonrpc;
mod listen;
mod mux;
pub mod pool;
pub mod replica;
mod supervisor;
mod telemetry;
mod transport;

pub use config::{BackoffSpec, PoolSpec, TransportSpec, UpstreamIdentity};
pub use error::{BackendError, CallError};
pub use pool::{Pool, PoolEvent, PoolObserver};
pub use replica::{
    AfterCall, Call, CallEvent, CallEventSink, CallEvents, Replica, ReplicaState, STRAGGLER_WINDOW,
};
