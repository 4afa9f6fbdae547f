//! `vecgate replay`: the flow from a dataset file to the table, results and plots.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vecgate_datasets::read_dataset;
use vecgate_learner::policy::{POLICY_NAMES, PolicyConfig};
use vecgate_learner::sim::{
    Arrivals, CacheConfig, ReplayConfig, RouterFactory, RunConfig, Workload, engine_router,
    policy_router, replay, sweep,
};
use vecgate_learner::time::Nanos;

use super::ReplayArgs;
use super::{plots, recovery, table};

/// The policies every replay runs, for "gap recovered".
const REFERENCES: [&str; 2] = ["round-robin", "oracle"];
/// Progress bars are drawn only for runs at least this long (requests × policies).
const PROGRESS_MIN_WORK: u64 = 200_000;

pub(super) fn main(args: ReplayArgs) -> anyhow::Result<()> {
    let dataset = read_dataset(&args.dataset)?;
    let mut workload = Workload::from_dataset(&dataset, !args.bare)?;
    let name = args.dataset.file_name().map_or_else(
        || String::from("dataset"),
        |n| n.to_string_lossy().into_owned(),
    );
    println!(
        "{name}: {} requests, {} pool(s), {} replicas, trace offered load {:.3}",
        workload.requests.len(),
        workload.pools.len(),
        workload
            .pools
            .iter()
            .map(|p| p.replicas.len())
            .sum::<usize>(),
        workload.offered_load()
    );
    if let Some(imputation) = &workload.imputation {
        println!(
            "NOTE: {} of {} records carry partial information (only the serving replica's \
             latency); their counterfactual latencies are IMPUTED, not measured: {}. \
             Fallbacks: {} to per-replica means, {} to the observed latency.",
            imputation.records,
            workload.requests.len(),
            imputation.method,
            imputation.replica_fallbacks,
            imputation.observed_fallbacks
        );
    }
    if let Some(load) = args.load {
        workload.set_offered_load(load)?;
        println!("arrivals rescaled to offered load {load}");
    }
    let drift_s = drift_point(&args, &dataset.header, &workload)?;
    let policies = policy_list(&args.policies)?;
    let arrivals = match args.agents {
        Some(0) => bail!("--agents must be at least 1"),
        Some(agents) => {
            if !(args.think_ms >= 0.0 && args.think_ms.is_finite()) {
                bail!("--think-ms must be a finite number >= 0");
            }
            Arrivals::Closed {
                agents,
                think_ms: args.think_ms,
            }
        }
        None => Arrivals::Trace,
    };
    if !(args.cache_ttl_s > 0.0 && args.cache_ttl_s.is_finite()) {
        bail!("--cache-ttl-s must be > 0");
    }
    let cfg = ReplayConfig {
        seed: args.seed,
        policy: PolicyConfig::default(),
        run: RunConfig {
            seed: args.seed,
            arrivals,
            cache: CacheConfig {
                enabled: !args.no_cache,
                ttl: Nanos::from_ms(args.cache_ttl_s * 1000.0),
                ..CacheConfig::default()
            },
        },
        windows: 60,
        threads: args.threads.max(1),
    };
    let factory: &RouterFactory<'_> = if args.bare {
        &policy_router
    } else {
        &engine_router
    };

    let requests = workload.requests.len() as u64;
    let bar = progress_bar(requests * policies.len() as u64, "replay");
    let seen: Vec<AtomicU64> = policies.iter().map(|_| AtomicU64::new(0)).collect();
    let started = Instant::now();
    let result = replay(&workload, &policies, &cfg, factory, &|p, done| {
        let before = seen[p].swap(done, Ordering::Relaxed);
        bar.inc(done.saturating_sub(before));
    })?;
    bar.finish_and_clear();
    println!(
        "simulated {} policies × {requests} requests in {:.2} s on {} thread(s)",
        policies.len(),
        started.elapsed().as_secs_f64(),
        cfg.threads
    );
    for run in &result.runs {
        let secs = run.wall.as_secs_f64().max(1e-9);
        let store = run.store.map_or(String::new(), |s| {
            format!(
                "   store: {} entries, {} outcomes merged, {} memo hits of {} searches",
                s.entries,
                s.merges,
                s.memo_hits,
                s.memo_hits + s.memo_misses
            )
        });
        println!(
            "  {:<16} {:>10.0} simulated req/s{store}",
            run.policy,
            requests as f64 / secs
        );
    }
    println!();
    print!("{}", table::render(&result));

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write(&args.out.join("results.json"), &result.results_json())?;
    write(&args.out.join("results.csv"), &table::results_csv(&result))?;
    write(
        &args.out.join("timeseries.csv"),
        &table::timeseries_csv(&result),
    )?;
    let mut written = vec!["results.json", "results.csv", "timeseries.csv"];
    if let Some(drift_s) = drift_s {
        let recoveries = recovery::recoveries(&result.runs, drift_s);
        let window_s = result
            .runs
            .first()
            .and_then(|r| Some(r.timeline.get(1)?.start_s - r.timeline.first()?.start_s))
            .unwrap_or(0.0);
        print!("{}", recovery::render(&recoveries, drift_s, window_s));
        let mut json = serde_json::to_string_pretty(&recoveries)?;
        json.push('\n');
        write(&args.out.join("recovery.json"), &json)?;
        written.push("recovery.json");
    }

    let mut sweep_points = Vec::new();
    if args.sweep {
        let bar = progress_bar(
            requests * policies.len() as u64 * args.sweep_loads.len() as u64,
            "sweep",
        );
        let seen: Vec<AtomicU64> = (0..policies.len() * args.sweep_loads.len())
            .map(|_| AtomicU64::new(0))
            .collect();
        sweep_points = sweep(
            &workload,
            &policies,
            &args.sweep_loads,
            &cfg,
            factory,
            &|l, p, done| {
                let before = seen[l * policies.len() + p].swap(done, Ordering::Relaxed);
                bar.inc(done.saturating_sub(before));
            },
        )?;
        bar.finish_and_clear();
        print!("{}", table::render_sweep(&sweep_points));
        write(
            &args.out.join("sweep.csv"),
            &table::sweep_csv(&sweep_points),
        )?;
        written.push("sweep.csv");
    }
    if !args.no_plots {
        let drawn = plots::draw_all(&args.out, &result, &sweep_points)?;
        written.extend(drawn);
    }
    println!("wrote {} in {}", written.join(", "), args.out.display());
    Ok(())
}

/// Where a drift starts, in seconds from the first arrival: `--drift-at-s`, or for a `drift`
/// scenario dataset the arrival of its first degraded record.
fn drift_point(
    args: &ReplayArgs,
    header: &vecgate_datasets::Header,
    workload: &Workload,
) -> anyhow::Result<Option<f64>> {
    if let Some(s) = args.drift_at_s {
        if !(s >= 0.0 && s.is_finite()) {
            bail!("--drift-at-s must be a finite number of seconds >= 0");
        }
        return Ok(Some(s));
    }
    if header.scenario.as_deref() != Some("drift") || args.agents.is_some() {
        return Ok(None);
    }
    let n = workload.requests.len();
    let first = (vecgate_datasets::scenario::DRIFT_SPAN.0 * n as f64).ceil() as usize;
    let (Some(t0), Some(at)) = (workload.requests.first(), workload.requests.get(first)) else {
        return Ok(None);
    };
    Ok(Some(at.arrival.ms_since(t0.arrival) / 1000.0))
}

/// The requested policies (all by default) plus the references, without duplicates.
pub(super) fn policy_list(requested: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = if requested.is_empty() {
        POLICY_NAMES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        requested
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for name in &out {
        if !POLICY_NAMES.contains(&name.as_str()) {
            bail!(
                "unknown policy {name:?} (known: {})",
                POLICY_NAMES.join(", ")
            );
        }
    }
    for reference in REFERENCES {
        if !out.iter().any(|p| p == reference) {
            out.push(reference.to_owned());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

fn progress_bar(total: u64, label: &'static str) -> ProgressBar {
    if total < PROGRESS_MIN_WORK {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(label);
    bar
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
