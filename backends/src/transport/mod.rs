//! The three upstream transports. Each only moves [`Message`]s: it drains the mux's outbound
//! queue to the wire and feeds what it reads to [`Mux::dispatch`]; ids, tokens and routing
//! live in [`crate::mux`].
//!
//! - [`stdio`]: a child process, newline-delimited JSON.
//! - [`http`]: Streamable HTTP (POST + SSE answers, session header, GET stream).
//! - [`sse`]: the legacy HTTP+SSE transport (GET `/sse`, `endpoint` event, POST).

pub(crate) mod client;
pub(crate) mod event_stream;
pub(crate) mod http;
pub(crate) mod sse;
pub(crate) mod stdio;

use crate::config::TransportSpec;
use crate::error::BackendError;
use crate::jsonrpc::Message;
use crate::mux::Mux;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// An open transport.
pub(crate) struct Opened {
    /// Ends when the session does (child reaped, streams closed).
    pub(crate) task: JoinHandle<()>,
    /// The child's process id, for stdio.
    pub(crate) pid: Option<u32>,
}

/// Open the transport of the mux's replica.
pub(crate) async fn connect(
    spec: &TransportSpec,
    client: &http::HttpClient,
    mux: Arc<Mux>,
    outbound: mpsc::Receiver<Message>,
) -> Result<Opened, BackendError> {
    let ident = mux.ident().clone();
    let replica = ident.replica as usize;
    let pool = ident.pool_name.to_string();
    let connect_error = |url: &str, detail: String| BackendError::Connect {
        pool: pool.clone(),
        replica: ident.replica,
        url: url.to_owned(),
        detail,
    };
    match spec {
        TransportSpec::Stdio {
            command,
            args,
            env,
            cwd,
            ..
        } => {
            let cmd = stdio::StdioCommand {
                command,
                args,
                env,
                cwd: cwd.as_ref(),
            };
            let (task, pid) =
                stdio::spawn(cmd, mux, outbound).map_err(|source| BackendError::Spawn {
                    pool: pool.clone(),
                    replica: ident.replica,
                    command: command.clone(),
                    source,
                })?;
            Ok(Opened { task, pid })
        }
        TransportSpec::StreamableHttp { urls, headers } => {
            let url = urls
                .get(replica)
                .ok_or_else(|| invalid(&pool, "no URL for this replica"))?;
            let uri = http::parse_url(url).map_err(|e| invalid(&pool, &e))?;
            let headers = http::parse_headers(headers).map_err(|e| invalid(&pool, &e))?;
            Ok(Opened {
                task: http::start(client.clone(), uri, headers, mux, outbound),
                pid: None,
            })
        }
        TransportSpec::Sse { urls, headers } => {
            let url = urls
                .get(replica)
                .ok_or_else(|| invalid(&pool, "no URL for this replica"))?;
            let uri = http::parse_url(url).map_err(|e| invalid(&pool, &e))?;
            let headers = http::parse_headers(headers).map_err(|e| invalid(&pool, &e))?;
            let task = sse::start(client.clone(), uri, headers, mux, outbound)
                .await
                .map_err(|e| connect_error(url, e))?;
            Ok(Opened { task, pid: None })
        }
    }
}

fn invalid(pool: &str, detail: &str) -> BackendError {
    BackendError::InvalidSpec {
        pool: pool.to_owned(),
        detail: detail.to_owned(),
    }
}
