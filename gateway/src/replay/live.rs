//! `vecgate replay --live URL`: a dataset's requests sent to a running gateway (or straight to
//! a backend) over Streamable HTTP, open loop, measured at the client.
//!
//! The client is vecgate's own upstream client (a `vecgate-backends` pool with the URL as its
//! one replica): it initializes a session, fetches the catalog, then multiplexes every request
//! over that session. Request `i` is due at `t_i = (t_ms_i − t_ms_0) / speed` (the dataset's
//! pace times a factor) or at `i / rate`; it is sent when due whatever is still in flight (open
//! loop), and its latency runs from when it was due, so a client that falls behind shows up as
//! latency instead of silently sending less (no coordinated omission). Runs are bounded by
//! `--max-requests` and `--max-seconds`, and only loopback URLs are accepted: this is a load
//! generator, not a way to send traffic elsewhere.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use vecgate_backends::{
    BackoffSpec, Call, CallError, Pool, PoolSpec, TransportSpec, UpstreamIdentity,
};
use vecgate_datasets::read_dataset;

use super::ReplayArgs;
use super::record::request_params;
use crate::cache::HIT_MARK;

/// What happened to one request, seen from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A result.
    Answered { cache_hit: bool },
    /// A result with `isError: true`.
    ToolError,
    /// A JSON-RPC error.
    RpcError,
    /// No answer within the deadline.
    Timeout,
    /// The connection failed or the answer broke the protocol.
    Transport,
}

/// The figures of a live run (`live.json`). Latencies in ms, measured from when each request
/// was due.
#[derive(Clone, Debug, Default, Serialize)]
struct LiveSummary {
    url: String,
    /// Requests sent.
    sent: u64,
    /// Results (including `isError` results).
    answered: u64,
    /// `isError: true` results.
    tool_errors: u64,
    /// JSON-RPC errors.
    rpc_errors: u64,
    /// Deadlines passed.
    timeouts: u64,
    /// Connection or protocol failures.
    transport_errors: u64,
    /// Read-only requests (by the dataset's header).
    cache_lookups: u64,
    /// Answers marked `_meta["io.vecgate/cache"] = "hit"` by the gateway.
    cache_hits: u64,
    /// Offered rate: requests over the span between the first and last due time, req/s.
    offered_rps: f64,
    /// Achieved rate: requests over the time from the first due time to the last answer, req/s.
    achieved_rps: f64,
    mean: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    p999: f64,
    max: f64,
    /// 99th percentile of how late requests left the client after they were due, ms (tokio's
    /// timer wakes on millisecond ticks, so about half a millisecond on average at any rate).
    send_lag_p99: f64,
    /// Median and 99th percentile of latency from when each request left the client, ms: the
    /// server's and the connection's share, without the client's send lag.
    sent_p50: f64,
    sent_p99: f64,
}

pub(super) async fn main(args: ReplayArgs, url: String) -> anyhow::Result<()> {
    check_loopback(&url)?;
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of requests per second");
    }
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        bail!("--speed must be a positive factor");
    }
    let path = args.dataset.clone();
    let dataset = tokio::task::spawn_blocking(move || read_dataset(&path)).await??;
    let read_only = dataset.header.read_only_tools();
    let limit = Duration::from_secs_f64(args.max_seconds.max(0.0));
    let t0 = dataset.records.first().map_or(0.0, |r| r.t_ms);
    let due_of = |i: usize, t_ms: f64| match args.rate {
        Some(rate) => Duration::from_secs_f64(i as f64 / rate),
        None => Duration::from_secs_f64(((t_ms - t0) / args.speed).max(0.0) / 1000.0),
    };
    let plan: Vec<(Duration, &vecgate_datasets::Record)> = dataset
        .records
        .iter()
        .take(args.max_requests)
        .enumerate()
        .map(|(i, r)| (due_of(i, r.t_ms), r))
        .take_while(|(due, _)| *due <= limit)
        .collect();
    if plan.is_empty() {
        bail!("nothing to send: the dataset is empty or --max-requests/--max-seconds is 0");
    }

    let (events_tx, mut events) = mpsc::channel(256);
    let pool = Pool::start(
        0,
        pool_spec(&url, args.timeout_ms),
        UpstreamIdentity::default(),
        events_tx,
    );
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let result = run(&args, &url, &pool, &plan, &read_only).await;
    pool.shutdown().await;
    drain.abort();
    let (summary, table) = result?;
    print!("{table}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    let out = args.out.join("live.json");
    std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote live.json in {}", args.out.display());
    Ok(())
}

async fn run(
    args: &ReplayArgs,
    url: &str,
    pool: &Pool,
    plan: &[(Duration, &vecgate_datasets::Record)],
    read_only: &std::collections::BTreeMap<&str, bool>,
) -> anyhow::Result<(LiveSummary, String)> {
    if !pool.wait_ready(Duration::from_secs(20)).await {
        let why = pool.replicas()[0]
            .last_error()
            .unwrap_or_else(|| String::from("no answer"));
        bail!("cannot open an MCP session with {url}: {why}");
    }
    let replica = pool.replicas()[0].clone();
    let timeout = Duration::from_millis(args.timeout_ms);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = tokio::task::JoinSet::new();
    for &(due, record) in plan {
        let replica = replica.clone();
        let call = Call {
            method: record.method.clone().into(),
            params: request_params(&record.method, &record.target, &record.args),
            events: None,
            timeout: Some(timeout),
            after: None,
        };
        tokio::time::sleep_until(start + due).await;
        tasks.spawn(async move {
            let due_at = start + due;
            let lag = due_at.elapsed();
            let outcome = classify(replica.call(call).await);
            (due_at.elapsed(), lag, outcome, Instant::now())
        });
    }
    let mut latencies = Vec::with_capacity(plan.len());
    let mut lags = Vec::with_capacity(plan.len());
    let mut from_sent = Vec::with_capacity(plan.len());
    let mut s = LiveSummary {
        url: url.to_owned(),
        sent: plan.len() as u64,
        ..LiveSummary::default()
    };
    let mut last_answer = start;
    while let Some(joined) = tasks.join_next().await {
        let (latency, lag, outcome, done) = joined.context("a request task failed")?;
        latencies.push(latency.as_secs_f64() * 1000.0);
        lags.push(lag.as_secs_f64() * 1000.0);
        from_sent.push(latency.saturating_sub(lag).as_secs_f64() * 1000.0);
        last_answer = last_answer.max(done);
        match outcome {
            Outcome::Answered { cache_hit } => {
                s.answered += 1;
                s.cache_hits += u64::from(cache_hit);
            }
            Outcome::ToolError => {
                s.answered += 1;
                s.tool_errors += 1;
            }
            Outcome::RpcError => s.rpc_errors += 1,
            Outcome::Timeout => s.timeouts += 1,
            Outcome::Transport => s.transport_errors += 1,
        }
    }
    s.cache_lookups = plan
        .iter()
        .filter(|(_, r)| r.is_read_only(read_only))
        .count() as u64;
    let span = plan.last().map_or(0.0, |(d, _)| d.as_secs_f64());
    s.offered_rps = round(if span > 0.0 {
        s.sent as f64 / span
    } else {
        0.0
    });
    s.achieved_rps = round(s.sent as f64 / (last_answer - start).as_secs_f64().max(1e-9));
    latencies.sort_by(f64::total_cmp);
    lags.sort_by(f64::total_cmp);
    s.mean = round(latencies.iter().sum::<f64>() / latencies.len().max(1) as f64);
    s.p50 = percentile(&latencies, 0.50);
    s.p95 = percentile(&latencies, 0.95);
    s.p99 = percentile(&latencies, 0.99);
    s.p999 = percentile(&latencies, 0.999);
    s.max = latencies.last().copied().map_or(0.0, round);
    s.send_lag_p99 = percentile(&lags, 0.99);
    from_sent.sort_by(f64::total_cmp);
    s.sent_p50 = percentile(&from_sent, 0.50);
    s.sent_p99 = percentile(&from_sent, 0.99);
    let table = render(&s);
    Ok((s, table))
}

fn classify(outcome: Result<Box<serde_json::value::RawValue>, CallError>) -> Outcome {
    match outcome {
        Ok(raw) => {
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            if value.get("isError").and_then(Value::as_bool) == Some(true) {
                Outcome::ToolError
            } else {
                Outcome::Answered {
                    cache_hit: value["_meta"][HIT_MARK].as_str() == Some("hit"),
                }
            }
        }
        Err(CallError::Rpc(_)) => Outcome::RpcError,
        Err(CallError::Timeout { .. }) => Outcome::Timeout,
        Err(_) => Outcome::Transport,
    }
}

/// The replay table's columns, from the client's side: routing figures (wrong hits, regret,
/// gap, replica shares) are not observable there and show as `-`.
fn render(s: &LiveSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>7} {:>9} {:>7}",
        "client",
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
    let errors = s.tool_errors + s.rpc_errors + s.timeouts + s.transport_errors;
    let hit = if s.cache_lookups > 0 {
        s.cache_hits as f64 * 100.0 / s.cache_lookups as f64
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "{:<16} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>6.1} {:>7} {:>9} {:>7}",
        "live", s.mean, s.p50, s.p95, s.p99, s.p999, errors, hit, "-", "-", "-"
    );
    let _ = writeln!(
        out,
        "\nsent {} to {}: answered {} ({} isError), {} JSON-RPC errors, {} timeouts, {} transport \
         errors; cache hits {} of {} read-only requests",
        s.sent,
        s.url,
        s.answered,
        s.tool_errors,
        s.rpc_errors,
        s.timeouts,
        s.transport_errors,
        s.cache_hits,
        s.cache_lookups
    );
    let _ = writeln!(
        out,
        "offered {:.1} req/s, achieved {:.1} req/s; send lag p99 {:.2} ms (latency counts from \
         when each request was due); from when sent: p50 {:.2} ms, p99 {:.2} ms",
        s.offered_rps, s.achieved_rps, s.send_lag_p99, s.sent_p50, s.sent_p99
    );
    out
}

fn pool_spec(url: &str, timeout_ms: u64) -> PoolSpec {
    PoolSpec {
        name: String::from("live"),
        transport: TransportSpec::StreamableHttp {
            urls: vec![url.to_owned()],
            headers: Vec::new(),
        },
        request_timeout: Duration::from_millis(timeout_ms),
        init_timeout: Duration::from_secs(20),
        affinity: false,
        slots_per_replica: 0,
        idle_timeout: None,
        restart: BackoffSpec::default(),
    }
}

/// Accepts `http://` URLs on a loopback address (or `localhost`) only.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--live {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--live {url:?}: only http:// URLs are supported (loopback only)");
    }
    let host = uri.host().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--live {url:?}: {host} is not a loopback address; live replay only targets this machine"
        );
    }
    Ok(())
}

/// Nearest-rank percentile of sorted values, rounded to the microsecond (as the simulator's).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    round(sorted[rank - 1])
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_accepted() {
        for ok in [
            "http://127.0.0.1:8383/mcp",
            "http://localhost:1/mcp",
            "http://[::1]:8383/mcp",
            "http://127.9.0.1/mcp",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8383/mcp",
            "http://example.com/mcp",
            "https://127.0.0.1/mcp",
            "not a url",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
