//! Front transports: how clients reach the gateway. Each front turns its wire format into
//! [`crate::dispatch::handle`] calls on a session and writes the answers back.
//!
//! - [`http`]: the HTTP server (hyper 1 + tower): routes, origin checks, health, metrics.
//! - [`gate`]: authentication and rate limiting of HTTP requests (401/429, RFC 9728 metadata).
//! - [`streamable`]: Streamable HTTP on `/mcp` (POST, GET, DELETE).
//! - [`stateless`]: the session-less 2026-07-28 revision on `/mcp`.
//! - [`param_headers`]: its `Mcp-Param-*` header checks.
//! - [`listen`]: its `subscriptions/listen` notification streams.
//! - [`mrtr`]: bridging server-to-client requests of old upstreams into its `input_required`
//!   results; [`mrtr_state`]: its sealed `requestState`, portable between instances.
//! - [`replay`]: SSE event ids and `Last-Event-ID` replay on the session-based streams.
//! - [`legacy`]: the 2024-11-05 HTTP+SSE transport on `/sse` + `/messages`.
//! - [`stdio`]: MCP over the gateway's own stdin/stdout.
//! - [`body`]: response bodies and SSE framing shared by the HTTP fronts.

// Handlers return early with a ready `Response` as their error value; boxing it would only move
// the allocation, not remove it.
#![allow(clippy::result_large_err)]

pub mod body;
pub mod gate;
pub mod http;
pub mod legacy;
pub mod listen;
pub mod mrtr;
pub mod mrtr_state;
pub mod param_headers;
pub mod replay;
pub mod shed;
pub mod stateless;
pub mod stdio;
pub mod streamable;
