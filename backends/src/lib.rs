//! Upstream MCP connections, supervision, and the bundled demo MCP server.
//!
//! # Layout
//! - [`jsonrpc`]: the lossless JSON-RPC envelope every part of vecgate passes messages in.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod jsonrpc;
