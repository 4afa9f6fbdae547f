//! The terminal table and the CSV files of a replay.

use std::fmt::Write;

use vecgate_learner::sim::{Replay as Results, SweepPoint};

fn opt(x: Option<f64>, scale: f64, digits: usize) -> String {
    x.map_or_else(
        || String::from("-"),
        |v| format!("{:.*}", digits, v * scale),
    )
}

/// One row per policy: latency figures, errors, cache, regret, gap recovered; then the share
/// of each replica per policy.
pub(super) fn render(result: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>7} {:>9} {:>7}",
        "policy",
        "mean ms",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "errors",
        "hit%",
        "wrong%",
        "regret ms",
        "gap"
    );
    for run in &result.runs {
        let s = &run.summary;
        let _ = writeln!(
            out,
            "{:<16} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>6.1} {:>7.2} {:>9.2} {:>7}",
            run.policy,
            s.mean,
            s.p50,
            s.p95,
            s.p99,
            s.p999,
            s.errors,
            s.cache_hit_rate * 100.0,
            s.cache_wrong_hit_rate * 100.0,
            s.regret_ms,
            opt(s.gap_recovered, 1.0, 3),
        );
    }
    let _ = writeln!(out, "\nshare per replica (% of routed requests)");
    let _ = write!(out, "{:<16}", "policy");
    for name in &result.replicas {
        let _ = write!(out, " {:>12}", shorten(name, 12));
    }
    out.push('\n');
    for run in &result.runs {
        let _ = write!(out, "{:<16}", run.policy);
        for name in &result.replicas {
            let share = run.summary.share.get(name).copied().unwrap_or(0.0);
            let _ = write!(out, " {:>12.1}", share * 100.0);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nregret: mean service time on the chosen replica minus the hindsight-best replica's; \
         gap: (p95_rr - p95) / (p95_rr - p95_oracle)"
    );
    out
}

fn shorten(name: &str, width: usize) -> &str {
    let start = name.len().saturating_sub(width);
    name.get(start..).unwrap_or(name)
}

/// `results.csv`: one row per policy.
pub(super) fn results_csv(result: &Results) -> String {
    let mut out = String::from(
        "policy,requests,mean_ms,p50_ms,p95_ms,p99_ms,p999_ms,max_ms,errors,error_rate,cache_hit_rate,cache_wrong_hit_rate,regret_ms,mean_vs_oracle_ms,gap_recovered,explored_rate,prediction_mae_ms",
    );
    for name in &result.replicas {
        let _ = write!(out, ",share:{name}");
    }
    out.push('\n');
    for run in &result.runs {
        let s = &run.summary;
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            run.policy,
            s.requests,
            s.mean,
            s.p50,
            s.p95,
            s.p99,
            s.p999,
            s.max,
            s.errors,
            s.error_rate,
            s.cache_hit_rate,
            s.cache_wrong_hit_rate,
            s.regret_ms,
            s.mean_vs_oracle_ms.map_or(String::new(), |x| x.to_string()),
            s.gap_recovered.map_or(String::new(), |x| x.to_string()),
            s.explored_rate,
            s.prediction_mae_ms.map_or(String::new(), |x| x.to_string()),
        );
        for name in &result.replicas {
            let _ = write!(out, ",{}", s.share.get(name).copied().unwrap_or(0.0));
        }
        out.push('\n');
    }
    out
}

/// `timeseries.csv`: per policy and window, the p95 and each replica's share.
pub(super) fn timeseries_csv(result: &Results) -> String {
    let mut out = String::from("policy,window_start_s,p95_ms");
    for name in &result.replicas {
        let _ = write!(out, ",share:{name}");
    }
    out.push('\n');
    for run in &result.runs {
        for w in &run.timeline {
            let _ = write!(out, "{},{},{}", run.policy, w.start_s, w.p95);
            for share in &w.share {
                let _ = write!(out, ",{share}");
            }
            out.push('\n');
        }
    }
    out
}

/// The sweep as a table: p95 per policy (rows) and load (columns).
pub(super) fn render_sweep(points: &[SweepPoint]) -> String {
    let mut loads: Vec<f64> = points.iter().map(|p| p.load).collect();
    loads.dedup();
    let mut policies: Vec<&str> = Vec::new();
    for p in points {
        if !policies.contains(&p.policy.as_str()) {
            policies.push(&p.policy);
        }
    }
    let mut out = String::from("\nload sweep: p95 ms by offered load\n");
    let _ = write!(out, "{:<16}", "policy");
    for load in &loads {
        let _ = write!(out, " {:>9}", format!("{load:.2}"));
    }
    out.push('\n');
    for policy in policies {
        let _ = write!(out, "{policy:<16}");
        for load in &loads {
            let p95 = points
                .iter()
                .find(|p| p.policy == policy && p.load == *load)
                .map_or(f64::NAN, |p| p.p95);
            let _ = write!(out, " {p95:>9.2}");
        }
        out.push('\n');
    }
    out
}

/// `sweep.csv`.
pub(super) fn sweep_csv(points: &[SweepPoint]) -> String {
    let mut out = String::from("load,policy,mean_ms,p50_ms,p95_ms,p99_ms,gap_recovered\n");
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            p.load,
            p.policy,
            p.mean,
            p.p50,
            p.p95,
            p.p99,
            p.gap_recovered.map_or(String::new(), |x| x.to_string())
        );
    }
    out
}
