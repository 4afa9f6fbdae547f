//! What the gateway tells the backends crate about each pool: how to reach its replicas, how
//! long to wait for them, and how to restart them.

use std::path::PathBuf;
use std::time::Duration;

/// One pool of interchangeable replicas of one MCP server.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    /// The pool's name, used in logs, metrics and error messages.
    pub name: String,
    /// How to reach the replicas (and how many there are).
    pub transport: TransportSpec,
    /// Default deadline of one upstream request (a [`crate::replica::Call`] may override it).
    pub request_timeout: Duration,
    /// Deadline of the whole handshake: spawn or connect, `initialize`, and the catalog fetch.
    pub init_timeout: Duration,
    /// Whether the gateway pins a client session to one replica (read by the gateway's router).
    pub affinity: bool,
    /// Concurrent requests one replica should carry; `0` means unlimited (read by the router).
    pub slots_per_replica: u32,
    /// Stop a stdio replica idle this long; it is restarted on the next call.
    pub idle_timeout: Option<Duration>,
    /// Restart backoff after a replica dies or fails its handshake.
    pub restart: BackoffSpec,
}

/// How a pool reaches its replicas.
#[derive(Clone, Debug)]
pub enum TransportSpec {
    /// Child processes speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        /// The program to run.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (added to the gateway's own environment).
        env: Vec<(String, String)>,
        /// Working directory; the gateway's own when `None`.
        cwd: Option<PathBuf>,
        /// How many processes to run.
        replicas: u32,
    },
    /// MCP Streamable HTTP (2025-03-26 and later): one URL per replica.
    StreamableHttp {
        /// One endpoint URL per replica (`http://host:port/mcp`).
        urls: Vec<String>,
        /// Extra headers sent on every request (e.g. `Authorization` issued to vecgate).
        headers: Vec<(String, String)>,
    },
    /// The legacy HTTP+SSE transport (2024-11-05): one `/sse` URL per replica.
    Sse {
        /// One SSE URL per replica (`http://host:port/sse`).
        urls: Vec<String>,
        /// Extra headers sent on every request.
        headers: Vec<(String, String)>,
    },
}

impl TransportSpec {
    /// How many replicas this transport describes.
    pub fn replica_count(&self) -> u32 {
        match self {
            TransportSpec::Stdio { replicas, .. } => *replicas,
            TransportSpec::StreamableHttp { urls, .. } | TransportSpec::Sse { urls, .. } => {
                u32::try_from(urls.len()).unwrap_or(u32::MAX)
            }
        }
    }

    /// A short name of the transport kind, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportSpec::Stdio { .. } => "stdio",
            TransportSpec::StreamableHttp { .. } => "http",
            TransportSpec::Sse { .. } => "sse",
        }
    }
}

/// Exponential restart backoff with jitter (see [`crate::backoff::Backoff`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffSpec {
    /// Delay before the first restart.
    pub min: Duration,
    /// The delay never grows beyond this.
    pub max: Duration,
    /// Growth factor per consecutive failure (>= 1).
    pub factor: f64,
    /// Fraction of the delay randomised, in `[0, 1]`: `0.2` means ±20%.
    pub jitter: f64,
    /// A replica that stays up this long resets the backoff to `min`.
    pub reset_after: Duration,
}

impl Default for BackoffSpec {
    /// 100 ms doubling to 30 s, ±20% jitter, reset after 60 s of good health.
    fn default() -> BackoffSpec {
        BackoffSpec {
            min: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.2,
            reset_after: Duration::from_secs(60),
        }
    }
}

/// Who vecgate says it is to upstreams, and what it can do for them.
#[derive(Clone, Debug)]
pub struct UpstreamIdentity {
    /// The `clientInfo` object sent in `initialize` (`{"name":"vecgate","version":…}`).
    pub client_info: serde_json::Value,
    /// The client `capabilities` object sent in `initialize`. Offer only what the gateway can
    /// relay to its own clients (sampling, elicitation, roots).
    pub capabilities: serde_json::Value,
}

impl Default for UpstreamIdentity {
    fn default() -> UpstreamIdentity {
        UpstreamIdentity {
            client_info: serde_json::json!({"name": "vecgate", "version": env!("CARGO_PKG_VERSION")}),
            capabilities: serde_json::json!({}),
        }
    }
}
