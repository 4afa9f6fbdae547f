//! What one policy run measured: per-request records during the run, figures afterwards.

use std::collections::BTreeMap;

use serde::Serialize;

/// `chosen` value of a request answered from the cache.
pub(crate) const CACHE_HIT: u16 = u16::MAX;

/// Figures of one policy on one workload (the entries of `results.json`). Latencies in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PolicySummary {
    /// Requests simulated.
    pub requests: u64,
    /// Mean latency (queueing + service, or the cache hit time).
    pub mean: f64,
    /// Median latency.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest latency.
    pub max: f64,
    /// Requests that failed (replica error or outage).
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Read-only requests looked up in the cache.
    pub cache_lookups: u64,
    /// Of those, answered from the cache.
    pub cache_hits: u64,
    /// `cache_hits / cache_lookups` (0 without lookups).
    pub cache_hit_rate: f64,
    /// Hits whose cached answer differed from the true answer at that moment.
    pub cache_wrong_hits: u64,
    /// `cache_wrong_hits / cache_hits` (0 without hits).
    pub cache_wrong_hit_rate: f64,
    /// Share of routed requests per replica (`pool/replica`).
    pub share: BTreeMap<String, f64>,
    /// Mean choice regret: service time on the chosen replica minus the best healthy replica's
    /// service time for that request (hindsight, queueing excluded), ms.
    pub regret_ms: f64,
    /// Mean latency minus the oracle's mean latency (when the oracle ran), ms.
    pub mean_vs_oracle_ms: Option<f64>,
    /// Latency gap recovered at p95: `(p95_rr − p95) / (p95_rr − p95_oracle)` (when both
    /// round-robin and the oracle ran and round-robin is slower than the oracle).
    pub gap_recovered: Option<f64>,
    /// Fraction of routed requests the policy marked as exploration.
    pub explored_rate: f64,
    /// Mean absolute error of the policy's predicted service time, when it predicts, ms.
    pub prediction_mae_ms: Option<f64>,
}

/// One window of the run (consecutive requests in arrival order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    /// Arrival time of the window's first request, seconds since the run's first arrival.
    pub start_s: f64,
    /// p95 latency of the window's requests, ms.
    pub p95: f64,
    /// Share of the window's routed requests per replica (flat replica order).
    pub share: Vec<f64>,
}

/// Per-request measurements taken during a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) latency_ms: Vec<f32>,
    pub(crate) arrival_s: Vec<f64>,
    /// Flat replica index, or [`CACHE_HIT`].
    pub(crate) chosen: Vec<u16>,
    pub(crate) errors: u64,
    pub(crate) cache_lookups: u64,
    pub(crate) cache_hits: u64,
    pub(crate) cache_wrong_hits: u64,
    pub(crate) regret_sum: f64,
    pub(crate) routed: u64,
    pub(crate) explored: u64,
    pub(crate) prediction_abs_error: f64,
    pub(crate) predictions: u64,
}

impl Recorder {
    pub(crate) fn new(requests: usize) -> Recorder {
        Recorder {
            latency_ms: vec![0.0; requests],
            arrival_s: vec![0.0; requests],
            chosen: vec![CACHE_HIT; requests],
            errors: 0,
            cache_lookups: 0,
            cache_hits: 0,
            cache_wrong_hits: 0,
            regret_sum: 0.0,
            routed: 0,
            explored: 0,
            prediction_abs_error: 0.0,
            predictions: 0,
        }
    }

    /// The run's figures, timeline and latencies in arrival order. `replica_names` is in flat
    /// order.
    pub(crate) fn finish(
        self,
        replica_names: &[String],
        windows: usize,
    ) -> (PolicySummary, Vec<Window>, Vec<f32>) {
        let n = self.latency_ms.len();
        let mut sorted = self.latency_ms.clone();
        sorted.sort_by(f32::total_cmp);
        let mut counts = vec![0u64; replica_names.len()];
        for &c in &self.chosen {
            if let Some(x) = counts.get_mut(c as usize) {
                *x += 1;
            }
        }
        let routed: u64 = counts.iter().sum();
        let share = replica_names
            .iter()
            .zip(&counts)
            .map(|(name, &c)| (name.clone(), ratio(c, routed)))
            .collect();
        let mean = self.latency_ms.iter().map(|&x| f64::from(x)).sum::<f64>() / n.max(1) as f64;
        let summary = PolicySummary {
            requests: n as u64,
            mean: round(mean),
            p50: percentile(&sorted, 0.50),
            p95: percentile(&sorted, 0.95),
            p99: percentile(&sorted, 0.99),
            p999: percentile(&sorted, 0.999),
            max: sorted.last().map_or(0.0, |&x| round(f64::from(x))),
            errors: self.errors,
            error_rate: ratio(self.errors, n as u64),
            cache_lookups: self.cache_lookups,
            cache_hits: self.cache_hits,
            cache_hit_rate: ratio(self.cache_hits, self.cache_lookups),
            cache_wrong_hits: self.cache_wrong_hits,
            cache_wrong_hit_rate: ratio(self.cache_wrong_hits, self.cache_hits),
            share,
            regret_ms: round(self.regret_sum / self.routed.max(1) as f64),
            mean_vs_oracle_ms: None,
            gap_recovered: None,
            explored_rate: ratio(self.explored, self.routed),
            prediction_mae_ms: (self.predictions > 0)
                .then(|| round(self.prediction_abs_error / self.predictions as f64)),
        };
        let timeline = self.timeline(replica_names.len(), windows);
        (summary, timeline, self.latency_ms)
    }

    fn timeline(&self, replicas: usize, windows: usize) -> Vec<Window> {
        let n = self.latency_ms.len();
        if n == 0 {
            return Vec::new();
        }
        let size = n.div_ceil(windows.max(1)).max(1);
        let t0 = self.arrival_s[0];
        let mut out = Vec::with_capacity(windows);
        let mut scratch = Vec::with_capacity(size);
        for start in (0..n).step_by(size) {
            let end = (start + size).min(n);
            scratch.clear();
            scratch.extend_from_slice(&self.latency_ms[start..end]);
            scratch.sort_by(f32::total_cmp);
            let mut counts = vec![0u64; replicas];
            for &c in &self.chosen[start..end] {
                if let Some(x) = counts.get_mut(c as usize) {
                    *x += 1;
                }
            }
            let routed: u64 = counts.iter().sum();
            out.push(Window {
                start_s: round(self.arrival_s[start] - t0),
                p95: percentile(&scratch, 0.95),
                share: counts.iter().map(|&c| ratio(c, routed)).collect(),
            });
        }
        out
    }
}

/// Nearest-rank percentile of sorted values, rounded to the microsecond.
pub(crate) fn percentile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    round(f64::from(sorted[rank - 1]))
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        round6(a as f64 / b as f64)
    }
}

/// Milliseconds rounded to the microsecond: enough precision, stable text in results.json.
pub(crate) fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
