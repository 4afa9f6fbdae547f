//! Replaying a set of policies over one workload, and load sweeps.
//!
//! Policies run independently (each its own router, RNG and cache) on up to `threads` OS
//! threads; results are kept in the order the policies were named, so the output does not
//! depend on scheduling. Each policy's RNG is seeded from the replay seed and its name, so a
//! policy's figures do not depend on which other policies ran.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde::ser::SerializeMap;

use super::des::{RunConfig, run};
use super::error::SimError;
use super::router::{EngineRouter, PolicyRouter, SimRouter};
use super::stats::{PolicySummary, Window, round};
use super::workload::Workload;
use crate::engine::{Engine, EngineConfig, routing_store_config};
use crate::policy::{PolicyConfig, build};
use vecgate_index::store::{Crossover, Indexing, StoreConfig, StoreStats};

/// Builds the router a policy runs in (a bare policy, or the engine around it).
pub type RouterFactory<'a> =
    dyn Fn(&str, &PolicyConfig) -> Result<Box<dyn SimRouter + Send>, SimError> + Sync + 'a;

/// The default [`RouterFactory`]: the policy alone, fed precomputed features.
pub fn policy_router(
    name: &str,
    cfg: &PolicyConfig,
) -> Result<Box<dyn SimRouter + Send>, SimError> {
    Ok(Box::new(PolicyRouter::new(build(name, cfg)?)))
}

/// The [`RouterFactory`] replay uses by default: the learner's engine (hashing embedder, a
/// fresh trajectory store, the policy) as the gateway assembles it. Needs a workload compiled
/// with its request text for embeddings.
pub fn engine_router(
    name: &str,
    cfg: &PolicyConfig,
) -> Result<Box<dyn SimRouter + Send>, SimError> {
    let policy = PolicyConfig {
        policy: name.to_owned(),
        ..cfg.clone()
    };
    let engine = Engine::from_config(&policy, replay_store_config(), EngineConfig::default())?;
    Ok(Box::new(EngineRouter::new(engine)))
}

/// Entries from which a replay's trajectory store searches its graph instead of the flat scan.
pub const REPLAY_GRAPH_FROM: u32 = 2048;

/// The trajectory store a replay's engine uses: the gateway's ([`routing_store_config`]), except that the graph
/// is used from [`REPLAY_GRAPH_FROM`] entries on (a fixed crossover instead of timing this
/// machine) and maintained on the recording thread ([`Indexing::Inline`]), so that a replay
/// is a pure function of its inputs (a background indexer would make results depend on thread
/// scheduling).
pub fn replay_store_config() -> StoreConfig {
    StoreConfig {
        crossover: Crossover::Fixed(REPLAY_GRAPH_FROM),
        indexing: Indexing::Inline,
        ..routing_store_config()
    }
}

/// Settings of a replay.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// Seeds every policy's RNG (mixed with its name) and closed-loop think times.
    pub seed: u64,
    /// Policy settings.
    pub policy: PolicyConfig,
    /// Arrivals and cache (its `seed` is replaced per policy).
    pub run: RunConfig,
    /// Windows in each run's timeline.
    pub windows: usize,
    /// OS threads to run policies on.
    pub threads: usize,
}

/// One policy's replay.
#[derive(Clone, Debug)]
pub struct PolicyRun {
    /// The policy's name.
    pub policy: String,
    /// Its figures.
    pub summary: PolicySummary,
    /// Its p95 and replica shares over time.
    pub timeline: Vec<Window>,
    /// Every request's latency in arrival order, ms.
    pub latency_ms: Vec<f32>,
    /// Wall-clock time the run took (not part of any deterministic output).
    pub wall: Duration,
    /// The trajectory store at the end of the run, for policies routing on one.
    pub store: Option<StoreStats>,
}

impl PolicyRun {
    /// Every latency, sorted ascending (for CDFs), ms.
    pub fn sorted_latency_ms(&self) -> Vec<f32> {
        let mut sorted = self.latency_ms.clone();
        sorted.sort_by(f32::total_cmp);
        sorted
    }

    /// Mean latency of the requests after the first `fraction` of the run (warm-up dropped).
    pub fn steady_mean_ms(&self, fraction: f64) -> f64 {
        let skip = (self.latency_ms.len() as f64 * fraction.clamp(0.0, 1.0)) as usize;
        let tail = &self.latency_ms[skip.min(self.latency_ms.len())..];
        tail.iter().map(|&x| f64::from(x)).sum::<f64>() / tail.len().max(1) as f64
    }
}

/// A replay of several policies over one workload.
#[derive(Clone, Debug)]
pub struct Replay {
    /// One run per policy, in the order requested.
    pub runs: Vec<PolicyRun>,
    /// Replica names in flat order (`pool/replica`), matching [`Window::share`].
    pub replicas: Vec<String>,
}

/// A stable per-policy seed: the replay seed mixed with an FNV-1a hash of the name.
fn policy_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ h
}

/// Replays `policies` over `workload`. `progress(policy_index, completed)` is called from the
/// worker threads as runs advance.
pub fn replay(
    workload: &Workload,
    policies: &[String],
    cfg: &ReplayConfig,
    factory: &RouterFactory<'_>,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> Result<Replay, SimError> {
    let replicas: Vec<String> = workload
        .pools
        .iter()
        .flat_map(|p| {
            p.replicas
                .iter()
                .map(move |r| format!("{}/{}", p.name, r.name))
        })
        .collect();
    // Build every router up front so a bad name fails before any work.
    let routers: Vec<Mutex<Option<Box<dyn SimRouter + Send>>>> = policies
        .iter()
        .map(|name| factory(name, &cfg.policy).map(|r| Mutex::new(Some(r))))
        .collect::<Result<_, _>>()?;
    let results: Vec<Mutex<Option<PolicyRun>>> =
        policies.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= policies.len() {
                break;
            }
            let Some(mut router) = routers[index].lock().take() else {
                continue;
            };
            let run_cfg = RunConfig {
                seed: policy_seed(cfg.seed, &policies[index]),
                ..cfg.run
            };
            let started = Instant::now();
            let recorder = run(workload, router.as_mut(), &run_cfg, &mut |done| {
                progress(index, done)
            });
            let wall = started.elapsed();
            let store = router.store_stats();
            let (summary, timeline, latency_ms) = recorder.finish(&replicas, cfg.windows);
            *results[index].lock() = Some(PolicyRun {
                policy: policies[index].clone(),
                summary,
                timeline,
                latency_ms,
                wall,
                store,
            });
        }
    };
    let threads = cfg.threads.clamp(1, policies.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let mut runs: Vec<PolicyRun> = results
        .into_iter()
        .filter_map(|slot| slot.into_inner())
        .collect();
    compare_with_references(&mut runs);
    Ok(Replay { runs, replicas })
}

/// Fills `gap_recovered` and `mean_vs_oracle_ms` from the round-robin and oracle runs.
fn compare_with_references(runs: &mut [PolicyRun]) {
    let find = |name: &str| {
        runs.iter()
            .find(|r| r.policy == name)
            .map(|r| r.summary.clone())
    };
    let rr = find("round-robin");
    let oracle = find("oracle");
    for run in runs.iter_mut() {
        let s = &mut run.summary;
        if let Some(o) = &oracle {
            s.mean_vs_oracle_ms = Some(round(s.mean - o.mean));
        }
        if let (Some(rr), Some(o)) = (&rr, &oracle)
            && rr.p95 > o.p95
        {
            s.gap_recovered = Some((((rr.p95 - s.p95) / (rr.p95 - o.p95)) * 1e4).round() / 1e4);
        }
    }
}

impl Replay {
    /// `results.json`: one entry per policy, named by the policy, in the order run. Contains
    /// only deterministic figures (no wall-clock time).
    pub fn results_json(&self) -> String {
        struct ByPolicy<'a>(&'a [PolicyRun]);
        impl Serialize for ByPolicy<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for run in self.0 {
                    map.serialize_entry(&run.policy, &run.summary)?;
                }
                map.end()
            }
        }
        let mut text = serde_json::to_string_pretty(&ByPolicy(&self.runs))
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    }

    /// The run of `policy`.
    pub fn run(&self, policy: &str) -> Option<&PolicyRun> {
        self.runs.iter().find(|r| r.policy == policy)
    }
}

/// One point of a load sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepPoint {
    /// Offered load (see [`Workload::offered_load`]).
    pub load: f64,
    /// The policy.
    pub policy: String,
    /// Mean latency, ms.
    pub mean: f64,
    /// p50, ms.
    pub p50: f64,
    /// p95, ms.
    pub p95: f64,
    /// p99, ms.
    pub p99: f64,
    /// Gap recovered at this load, if the references ran.
    pub gap_recovered: Option<f64>,
}

/// Replays `policies` at each offered load in `loads` (the trace's arrivals rescaled).
pub fn sweep(
    workload: &Workload,
    policies: &[String],
    loads: &[f64],
    cfg: &ReplayConfig,
    factory: &RouterFactory<'_>,
    progress: &(dyn Fn(usize, usize, u64) + Sync),
) -> Result<Vec<SweepPoint>, SimError> {
    let mut points = Vec::new();
    for (li, &load) in loads.iter().enumerate() {
        let mut scaled = workload.clone();
        scaled.set_offered_load(load)?;
        let result = replay(&scaled, policies, cfg, factory, &|p, done| {
            progress(li, p, done)
        })?;
        points.extend(result.runs.into_iter().map(|r| SweepPoint {
            load,
            policy: r.policy,
            mean: r.summary.mean,
            p50: r.summary.p50,
            p95: r.summary.p95,
            p99: r.summary.p99,
            gap_recovered: r.summary.gap_recovered,
        }));
    }
    Ok(points)
}
