//! Metric handles of one replica, registered once so the request path only bumps atomics.
//!
//! Names (all labelled with `pool`):
//! - `vecgate_upstream_calls_total`: requests sent upstream.
//! - `vecgate_upstream_call_seconds`: latency of requests that got an answer.
//! - `vecgate_upstream_errors_total{kind}`: failed requests by [`crate::CallError::kind`].
//! - `vecgate_upstream_events_dropped_total`: progress/log/server requests dropped because the
//!   receiver was full or gone.
//! - `vecgate_upstream_bad_messages_total`: upstream output that was not valid JSON-RPC.
//! - `vecgate_upstream_restarts_total`: replica (re)starts after a failure or idle stop.

use metrics::{Counter, Histogram};

/// The meters of one replica.
#[derive(Clone)]
pub(crate) struct Meters {
    pub(crate) calls: Counter,
    pub(crate) call_seconds: Histogram,
    errors_rpc: Counter,
    errors_timeout: Counter,
    errors_unavailable: Counter,
    errors_protocol: Counter,
    pub(crate) events_dropped: Counter,
    pub(crate) bad_messages: Counter,
    pub(crate) restarts: Counter,
}

impl Meters {
    pub(crate) fn new(pool: &str) -> Meters {
        let pool = pool.to_owned();
        let error = |kind: &'static str| metrics::counter!("vecgate_upstream_errors_total", "pool" => pool.clone(), "kind" => kind);
        Meters {
            calls: metrics::counter!("vecgate_upstream_calls_total", "pool" => pool.clone()),
            call_seconds: metrics::histogram!("vecgate_upstream_call_seconds", "pool" => pool.clone()),
            errors_rpc: error("rpc"),
            errors_timeout: error("timeout"),
            errors_unavailable: error("unavailable"),
            errors_protocol: error("protocol"),
            events_dropped: metrics::counter!("vecgate_upstream_events_dropped_total", "pool" => pool.clone()),
            bad_messages: metrics::counter!("vecgate_upstream_bad_messages_total", "pool" => pool.clone()),
            restarts: metrics::counter!("vecgate_upstream_restarts_total", "pool" => pool),
        }
    }

    pub(crate) fn error(&self, error: &crate::CallError) {
        match error {
            crate::CallError::Rpc(_) => &self.errors_rpc,
            crate::CallError::Timeout { .. } => &self.errors_timeout,
            crate::CallError::Unavailable { .. } => &self.errors_unavailable,
            crate::CallError::Protocol { .. } => &self.errors_protocol,
        }
        .increment(1);
    }
}
