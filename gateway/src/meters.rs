//! The gateway's per-request counters, registered once.
//!
//! `metrics::counter!` looks its key up in the recorder's registry on every use, and turning
//! the borrowed key into an owned one allocates its labels: measurable on a path that runs once
//! per request. The handles here are looked up when the gateway starts (after the recorder is
//! installed) and incremented with one atomic add.

use metrics::Counter;

/// Methods counted under their own name; every other method is counted as `other`, so the
/// label set stays bounded whatever clients send.
const KNOWN_METHODS: [&str; 14] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
];

/// The static copy of `method` when it is one of the methods vecgate knows.
pub fn known_method(method: &str) -> Option<&'static str> {
    KNOWN_METHODS.into_iter().find(|m| *m == method)
}

/// The bounded label for a client-sent method name.
pub fn method_label(method: &str) -> &'static str {
    known_method(method).unwrap_or("other")
}

/// `vecgate_requests_total{method, outcome}`, one handle per label pair.
pub struct RequestMeters {
    /// `[ok, error]` per entry of [`KNOWN_METHODS`], then `other`.
    by_method: Vec<[Counter; 2]>,
}

impl RequestMeters {
    /// Register every handle with the installed recorder (no-op handles when there is none).
    pub fn new() -> RequestMeters {
        let by_method = KNOWN_METHODS
            .into_iter()
            .chain(std::iter::once("other"))
            .map(|method| {
                [
                    metrics::counter!("vecgate_requests_total", "method" => method, "outcome" => "ok"),
                    metrics::counter!("vecgate_requests_total", "method" => method, "outcome" => "error"),
                ]
            })
            .collect();
        RequestMeters { by_method }
    }

    /// Count one answered request.
    pub fn answered(&self, method: &str, ok: bool) {
        let index = KNOWN_METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(KNOWN_METHODS.len());
        self.by_method[index][usize::from(!ok)].increment(1);
    }
}

impl Default for RequestMeters {
    fn default() -> RequestMeters {
        RequestMeters::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label("tools/call2"), "other");
        assert_eq!(method_label(""), "other");
    }

    #[test]
    fn each_method_and_outcome_has_its_own_counter() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let meters = RequestMeters::new();
            meters.answered("tools/call", true);
            meters.answered("tools/call", true);
            meters.answered("tools/call", false);
            meters.answered("no/such/method", false);
        });
        let counts: std::collections::HashMap<String, u64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let metrics_util::debugging::DebugValue::Counter(n) = value else {
                    return None;
                };
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                Some((labels.join(","), n))
            })
            .collect();
        assert_eq!(counts["method=tools/call,outcome=ok"], 2);
        assert_eq!(counts["method=tools/call,outcome=error"], 1);
        assert_eq!(counts["method=other,outcome=error"], 1);
        assert_eq!(counts["method=ping,outcome=ok"], 0);
    }
}
