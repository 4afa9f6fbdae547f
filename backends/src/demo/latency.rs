//! The latency model: how long each demo tool call takes on each replica.
//!
//! Latency is a pure function of (replica, tool, arguments) times a small seeded jitter, so a
//! router can learn it and tests can predict it. Base costs (profile `fast`; `realistic` is ×10,
//! `instant` is ×0):
//!
//! | tool | base cost | replica effects |
//! |---|---|---|
//! | `echo` | 0 | none: the load benchmark's call |
//! | `search_code {repo, query}` | 3 ms + 40 µs per query byte | ×0.25 on the replica with a warm cache for `repo` |
//! | `read_file {repo, path}` | 0.8 ms + 30 µs per KiB of the file (1–64 KiB, from the path) | ×0.25 warm; ×3 on replica 2 for files over 32 KiB |
//! | `summarize {text}` | 1 ms + 2 µs per byte of text | ×4 on replica 1; ×3 on replica 2 for texts over 4 KiB |
//! | `create_ticket {title, body}` | 2.5 ms + 1 µs per byte | none |
//! | `kv_get` / `kv_put` | 0.2 ms / 0.4 ms | none |
//! | `ask_llm`, `confirm`, `list_roots` | 0.3 ms + the client's round trip | none |
//! | `sleep {ms}`, `long_task {steps, step_ms}` | exactly what was asked, never scaled by profile or jitter | none |
//!
//! The warm replica for a repository is `stable_hash(repo) mod 3` (replicas beyond 2 share the
//! pattern modulo 3). On top of that, a `--slow TOOL=FACTOR` rule multiplies the tool's whole
//! latency (explicit durations included) on this replica only, and every modelled latency is
//! multiplied by a jitter factor in `[0.9, 1.1]` drawn from a counter-based RNG seeded with the
//! replica index, so a run's sequence of latencies is reproducible.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use super::{
    fixtures::{file_size_kib, stable_hash},
    options::{DemoProfile, SlowRule},
};

/// Number of distinct replica behaviours: replica `i` behaves like replica `i mod 3`.
pub const REPLICA_CLASSES: u32 = 3;

/// Relative jitter: modelled latencies are multiplied by a factor in `[1 - J, 1 + J]`.
const JITTER: f64 = 0.10;

/// What a call costs, extracted from its arguments before any work is done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToolCost<'a> {
    /// `echo`: free.
    Echo,
    /// `search_code` in `repo` for a query of `query_bytes` bytes.
    SearchCode {
        /// Repository searched.
        repo: &'a str,
        /// Length of the query in bytes.
        query_bytes: usize,
    },
    /// `read_file` of `path` in `repo`.
    ReadFile {
        /// Repository read from.
        repo: &'a str,
        /// Path inside the repository.
        path: &'a str,
    },
    /// `summarize` of a text of `text_bytes` bytes.
    Summarize {
        /// Length of the text in bytes.
        text_bytes: usize,
    },
    /// `create_ticket` with `bytes` of title and body.
    CreateTicket {
        /// Title plus body length in bytes.
        bytes: usize,
    },
    /// `kv_get`.
    KvGet,
    /// `kv_put`.
    KvPut,
    /// A tool whose work is a request to the client (`ask_llm`, `confirm`, `list_roots`).
    ClientRoundTrip,
    /// An explicitly requested duration (`sleep`, one `long_task` step).
    Exact(Duration),
}

/// Computes call latencies for one replica. Cheap to share: `&self` methods only.
#[derive(Debug)]
pub struct LatencyModel {
    replica: u32,
    profile: DemoProfile,
    slow: Vec<SlowRule>,
    /// Counter of the jitter RNG (splitmix64 is counter-based, so an atomic add is a draw).
    jitter_state: AtomicU64,
}

impl LatencyModel {
    /// Model for `replica` under `profile`; rules targeting other replicas are dropped.
    pub fn new(replica: u32, profile: DemoProfile, mut slow: Vec<SlowRule>) -> Self {
        slow.retain(|rule| rule.applies_to(replica));
        Self {
            replica,
            profile,
            slow,
            jitter_state: AtomicU64::new(u64::from(replica).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        }
    }

    /// The replica index this model is for.
    pub fn replica(&self) -> u32 {
        self.replica
    }

    /// Whether this replica has a warm cache for `repo`.
    pub fn is_warm_for(&self, repo: &str) -> bool {
        stable_hash(&[repo]) % u64::from(REPLICA_CLASSES)
            == u64::from(self.replica % REPLICA_CLASSES)
    }

    /// Latency of a call to `tool` costing `cost`, without jitter: deterministic.
    pub fn base_latency(&self, tool: &str, cost: ToolCost<'_>) -> Duration {
        let class = self.replica % REPLICA_CLASSES;
        let micros = match cost {
            ToolCost::Exact(duration) => return duration.mul_f64(self.slow_factor(tool)),
            ToolCost::Echo => 0.0,
            ToolCost::SearchCode { repo, query_bytes } => {
                let cold = 3_000.0 + 40.0 * query_bytes as f64;
                if self.is_warm_for(repo) {
                    cold * 0.25
                } else {
                    cold
                }
            }
            ToolCost::ReadFile { repo, path } => {
                let kib = file_size_kib(repo, path);
                let mut us = 800.0 + 30.0 * f64::from(kib);
                if self.is_warm_for(repo) {
                    us *= 0.25;
                }
                if class == 2 && kib > 32 {
                    us *= 3.0;
                }
                us
            }
            ToolCost::Summarize { text_bytes } => {
                let mut us = 1_000.0 + 2.0 * text_bytes as f64;
                if class == 1 {
                    us *= 4.0;
                }
                if class == 2 && text_bytes > 4096 {
                    us *= 3.0;
                }
                us
            }
            ToolCost::CreateTicket { bytes } => 2_500.0 + bytes as f64,
            ToolCost::KvGet => 200.0,
            ToolCost::KvPut => 400.0,
            ToolCost::ClientRoundTrip => 300.0,
        };
        let scaled = micros * self.profile.scale() * self.slow_factor(tool);
        Duration::from_nanos((scaled * 1_000.0) as u64)
    }

    /// Latency of the next call to `tool`: the base latency times a jitter factor in
    /// `[0.9, 1.1]` (explicitly requested durations are not jittered).
    pub fn sample(&self, tool: &str, cost: ToolCost<'_>) -> Duration {
        let base = self.base_latency(tool, cost);
        if matches!(cost, ToolCost::Exact(_)) || base.is_zero() {
            return base;
        }
        base.mul_f64(self.next_jitter_factor())
    }

    /// Product of the slow rules naming `tool` (1 when there are none).
    fn slow_factor(&self, tool: &str) -> f64 {
        self.slow
            .iter()
            .filter(|rule| rule.tool == tool)
            .map(|rule| rule.factor)
            .product()
    }

    fn next_jitter_factor(&self) -> f64 {
        let counter = self
            .jitter_state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        let unit = (splitmix64(counter) >> 11) as f64 / (1u64 << 53) as f64;
        1.0 - JITTER + 2.0 * JITTER * unit
    }
}

/// splitmix64's output function: a good 64-bit mix of a counter.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::fixtures::{PATHS, REPOS};

    fn model(replica: u32) -> LatencyModel {
        LatencyModel::new(replica, DemoProfile::Fast, Vec::new())
    }

    #[test]
    fn base_latency_is_deterministic_per_replica_and_args() {
        let cost = ToolCost::SearchCode {
            repo: "tokio",
            query_bytes: 12,
        };
        for replica in 0..3 {
            assert_eq!(
                model(replica).base_latency("search_code", cost),
                LatencyModel::new(replica, DemoProfile::Fast, Vec::new())
                    .base_latency("search_code", cost)
            );
        }
        assert_eq!(
            model(0).base_latency("echo", ToolCost::Echo),
            Duration::ZERO
        );
    }

    #[test]
    fn exactly_one_replica_class_is_warm_for_each_repo_and_it_is_faster() {
        for repo in REPOS {
            let warm: Vec<u32> = (0..3).filter(|r| model(*r).is_warm_for(repo)).collect();
            assert_eq!(warm.len(), 1, "{repo}");
            let cost = ToolCost::SearchCode {
                repo,
                query_bytes: 10,
            };
            let warm_latency = model(warm[0]).base_latency("search_code", cost);
            for other in (0..3).filter(|r| *r != warm[0]) {
                assert_eq!(
                    model(other).base_latency("search_code", cost),
                    warm_latency * 4
                );
            }
            // Replica 3 behaves like replica 0.
            assert_eq!(model(3).is_warm_for(repo), model(0).is_warm_for(repo));
        }
        // The hash spreads the demo repositories over all three replicas.
        for replica in 0..3 {
            assert!(
                REPOS.iter().any(|repo| model(replica).is_warm_for(repo)),
                "{replica}"
            );
        }
    }

    #[test]
    fn replica_one_is_slow_at_summarize_and_replica_two_at_large_inputs() {
        let small = ToolCost::Summarize { text_bytes: 1000 };
        let large = ToolCost::Summarize { text_bytes: 10_000 };
        assert_eq!(
            model(1).base_latency("summarize", small),
            model(0).base_latency("summarize", small) * 4
        );
        assert_eq!(
            model(2).base_latency("summarize", small),
            model(0).base_latency("summarize", small)
        );
        assert_eq!(
            model(2).base_latency("summarize", large),
            model(0).base_latency("summarize", large) * 3
        );
        // Latency grows with the size of the text.
        assert!(
            model(0).base_latency("summarize", large) > model(0).base_latency("summarize", small)
        );

        let (big_path, small_path) = {
            let big = PATHS.iter().find(|p| file_size_kib("hyper", p) > 32);
            let small = PATHS.iter().find(|p| file_size_kib("hyper", p) <= 32);
            (big.copied(), small.copied())
        };
        let warm = |r: u32| model(r).is_warm_for("hyper");
        if let Some(path) = big_path {
            let cost = ToolCost::ReadFile {
                repo: "hyper",
                path,
            };
            let two = model(2).base_latency("read_file", cost).as_nanos() as f64;
            let zero = model(0).base_latency("read_file", cost).as_nanos() as f64;
            let expected =
                3.0 * if warm(2) { 0.25 } else { 1.0 } / if warm(0) { 0.25 } else { 1.0 };
            assert!((two / zero - expected).abs() < 1e-6, "{two} / {zero}");
        }
        if let Some(path) = small_path {
            let cost = ToolCost::ReadFile {
                repo: "hyper",
                path,
            };
            if !warm(0) && !warm(2) {
                assert_eq!(
                    model(2).base_latency("read_file", cost),
                    model(0).base_latency("read_file", cost)
                );
            }
        }
    }

    #[test]
    fn slow_rules_multiply_only_their_tool_and_profiles_scale() {
        let slow = LatencyModel::new(
            0,
            DemoProfile::Fast,
            vec![SlowRule {
                replica: None,
                tool: "kv_get".into(),
                factor: 8.0,
            }],
        );
        assert_eq!(
            slow.base_latency("kv_get", ToolCost::KvGet),
            Duration::from_micros(1600)
        );
        assert_eq!(
            slow.base_latency("kv_put", ToolCost::KvPut),
            Duration::from_micros(400)
        );
        let exact = ToolCost::Exact(Duration::from_millis(5));
        let slow_sleep = LatencyModel::new(
            0,
            DemoProfile::Instant,
            vec![SlowRule {
                replica: Some(0),
                tool: "sleep".into(),
                factor: 2.0,
            }],
        );
        assert_eq!(
            slow_sleep.base_latency("sleep", exact),
            Duration::from_millis(10)
        );
        assert_eq!(slow_sleep.sample("sleep", exact), Duration::from_millis(10));
        let other = LatencyModel::new(
            1,
            DemoProfile::Instant,
            vec![SlowRule {
                replica: Some(0),
                tool: "sleep".into(),
                factor: 2.0,
            }],
        );
        assert_eq!(other.base_latency("sleep", exact), Duration::from_millis(5));
        let realistic = LatencyModel::new(0, DemoProfile::Realistic, Vec::new());
        assert_eq!(
            realistic.base_latency("kv_get", ToolCost::KvGet),
            Duration::from_millis(2)
        );
        let instant = LatencyModel::new(0, DemoProfile::Instant, Vec::new());
        assert_eq!(instant.sample("kv_get", ToolCost::KvGet), Duration::ZERO);
    }

    #[test]
    fn jitter_is_bounded_and_reproducible_per_replica() {
        let draw = |replica| {
            let m = model(replica);
            (0..200)
                .map(|_| m.sample("kv_put", ToolCost::KvPut))
                .collect::<Vec<_>>()
        };
        let first = draw(1);
        assert_eq!(first, draw(1), "same replica, same sequence");
        assert_ne!(first, draw(2), "replicas draw different sequences");
        let base = Duration::from_micros(400);
        for latency in &first {
            assert!(
                *latency >= base.mul_f64(0.9) && *latency <= base.mul_f64(1.1),
                "{latency:?}"
            );
        }
        let distinct: std::collections::BTreeSet<_> = first.iter().collect();
        assert!(
            distinct.len() > 150,
            "jitter should vary: {}",
            distinct.len()
        );
    }
}
