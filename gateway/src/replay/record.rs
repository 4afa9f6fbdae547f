//! `vecgate dataset record`: a full-information dataset of real latencies, measured on real
//! MCP server replicas.
//!
//! The replicas are started with the gateway's own upstream client (`vecgate-backends` pools:
//! stdio, Streamable HTTP or legacy SSE, from a vecgate TOML config or the embedded demo
//! configuration). The requests come from the servers' own catalogs
//! ([`vecgate_datasets::synth`]): tools called with arguments filled in from their input
//! schemas, and listed resources read. Every request is sent to **every** replica of its
//! pool, one call at a time (nothing else in flight, so a measurement is a service time with
//! no queue ahead of it), starting with a different replica for each request so that warm-up
//! or ordering effects do not favour one replica. Arrival times are drawn afterwards (Poisson,
//! scaled so round-robin's busiest replica runs at `--rr-load`), as the generators do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use vecgate_backends::{Call, CallError, Pool, PoolEvent, UpstreamIdentity};
use vecgate_datasets::synth::{MixConfig, PoolSurface, ToolShape, draw, poisson_arrivals};
use vecgate_datasets::{
    Dataset, FORMAT_VERSION, Header, PoolSpec, Record, ReplicaSpec, ToolSpec,
    calibrate_round_robin, validate_file, write_dataset,
};

use super::RecordArgs;
use crate::cache::AnswerCache;
use crate::config::Config;

/// Tools skipped unless named in `--tools`: they wait on the client (sampling, elicitation,
/// roots), sleep for as long as asked, or stream for seconds, which measures the request, not
/// the replica.
const SKIPPED_TOOLS: &[&str] = &[
    "sleep",
    "long_task",
    "ask_llm",
    "confirm",
    "list_roots",
    "longRunningOperation",
    "sampleLLM",
    "startElicitation",
    "trigger-long-running-operation",
    "trigger-sampling-request",
    "trigger-elicitation-request",
    "get-roots-list",
    "trigger-sampling-request-async",
    "trigger-elicitation-request-async",
    "trigger-url-elicitation",
    "simulate-research-query",
    // Fetches a URL (by default from the network).
    "gzip-file-as-resource",
    // Change the server's behaviour for later calls rather than answer one.
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
];

/// The demo server's tools recorded by default: its latency-modelled work. The rest are the
/// conformance suite's fixtures (some wait on the client for sampling or elicitation).
const DEMO_TOOLS: &[&str] = &[
    "search_code",
    "read_file",
    "summarize",
    "create_ticket",
    "kv_get",
    "kv_put",
    "echo",
];

/// One started pool and what the recorder may send to it.
struct Target {
    pool: Arc<Pool>,
    surface: PoolSurface,
    cacheable: BTreeMap<String, bool>,
}

pub(super) async fn main(args: RecordArgs) -> anyhow::Result<()> {
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    if !(args.rr_load > 0.0 && args.rr_load < 1.0) {
        bail!("--rr-load must be in (0, 1)");
    }
    let config = load(&args)?;
    let (events_tx, mut events) = mpsc::channel(1024);
    let mut targets = Vec::new();
    for (i, spec) in config.pool_specs().into_iter().enumerate() {
        let pool = Pool::start(
            i as u32,
            spec,
            UpstreamIdentity::default(),
            events_tx.clone(),
        );
        targets.push(pool);
    }
    let result = record(&args, &config, &targets, &mut events).await;
    for pool in &targets {
        pool.shutdown().await;
    }
    result
}

fn load(args: &RecordArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let exe = std::env::current_exe().context("cannot locate the vecgate executable")?;
            let mut config = Config::embedded_default(&exe);
            let demo = &mut config.pools[0];
            demo.replicas = Some(args.replicas);
            demo.args
                .extend(["--profile".to_owned(), args.profile.clone()]);
            config
        }
    };
    if !args.pools.is_empty() {
        config.pools.retain(|p| args.pools.contains(&p.name));
        if config.pools.is_empty() {
            bail!("no pool of the configuration is named in --pools");
        }
    }
    Ok(config)
}

async fn record(
    args: &RecordArgs,
    config: &Config,
    pools: &[Arc<Pool>],
    events: &mut mpsc::Receiver<PoolEvent>,
) -> anyhow::Result<()> {
    let demo_tools: Vec<String> = DEMO_TOOLS.iter().map(|t| (*t).to_owned()).collect();
    let only = if args.tools.is_empty() && args.config.is_none() {
        &demo_tools
    } else {
        &args.tools
    };
    let mut targets = Vec::new();
    for (pool, pool_config) in pools.iter().zip(&config.pools) {
        wait_all_ready(pool, Duration::from_secs(args.ready_timeout_s)).await?;
        targets.push(surface(pool, &pool_config.cacheable_tools, only)?);
    }
    let surfaces: Vec<PoolSurface> = targets.iter().map(|t| t.surface.clone()).collect();
    for t in &targets {
        let s = &t.surface;
        let tools: Vec<&str> = s.tools.iter().map(|t| t.name.as_str()).collect();
        println!(
            "pool {}: {} replicas; tools {}; {} resources",
            s.pool,
            t.pool.replicas().len(),
            tools.join(", "),
            s.resources.len()
        );
    }
    let mix = MixConfig {
        requests: args.requests,
        seed: args.seed,
        resource_share: args.resource_share,
        ..MixConfig::default()
    };
    let warmup = draw(
        &surfaces,
        &MixConfig {
            requests: args.warmup,
            seed: args.seed ^ 0x7761_726d,
            ..mix
        },
    );
    for request in &warmup {
        let target = &targets[request.pool];
        for replica in target.pool.replicas().iter() {
            let _ = replica
                .call(call(request.method, &request.target, &request.args, args))
                .await;
        }
    }
    drain(events);

    let requests = draw(&surfaces, &mix);
    if requests.is_empty() {
        bail!("the pools list no tools or resources to call");
    }
    let bar = indicatif::ProgressBar::new(requests.len() as u64);
    let started = Instant::now();
    let mut records = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let target = &targets[request.pool];
        let replicas = target.pool.replicas();
        let mut service_ms = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut answers: Vec<Option<(String, Vec<String>)>> = vec![None; replicas.len()];
        for k in 0..replicas.len() {
            // Rotate who goes first, so no replica always runs after the others warmed up.
            let r = (i + k) % replicas.len();
            let sent = Instant::now();
            let outcome = replicas[r]
                .call(call(request.method, &request.target, &request.args, args))
                .await;
            let ms = sent.elapsed().as_secs_f64() * 1000.0;
            service_ms.insert(replica_name(r), (ms * 1000.0).round() / 1000.0);
            match outcome_of(outcome) {
                Ok(identity) => answers[r] = Some(identity),
                Err(error) => {
                    errors.insert(replica_name(r), error);
                }
            }
        }
        let invalidates = drain(events);
        // The lowest-numbered replica that answered speaks for the pool: answers may name
        // the replica, so they are compared along one replica's history.
        let (answer, links) = answers
            .into_iter()
            .flatten()
            .next()
            .map_or((None, Vec::new()), |(a, l)| (Some(a), l));
        records.push(Record {
            t_ms: 0.0,
            session: request.session.clone(),
            pool: target.surface.pool.clone(),
            method: request.method.to_owned(),
            target: request.target.clone(),
            args: request.args.clone(),
            service_ms,
            errors,
            served_by: None,
            latency_ms: None,
            answer,
            invalidates,
            links,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let measuring = started.elapsed();

    let mut dataset = Dataset {
        header: header(args, &targets, &records),
        records,
    };
    for (record, t) in dataset
        .records
        .iter_mut()
        .zip(poisson_arrivals(requests.len(), args.seed))
    {
        record.t_ms = t;
    }
    let window = (requests.len() / 20).clamp(100, 5_000);
    calibrate_round_robin(&mut dataset, args.rr_load, window);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_dataset(&args.out, &dataset)?;
    let report = validate_file(&args.out)?;
    if !report.is_valid() {
        bail!(
            "the recorded dataset does not validate ({} problems; first: {:?})",
            report.problem_count,
            report.problems.first()
        );
    }
    println!(
        "{}: {} requests measured on every replica in {:.1} s; {:.1} s of arrivals at \
         round-robin load {}",
        args.out.display(),
        dataset.records.len(),
        measuring.as_secs_f64(),
        dataset.records.last().map_or(0.0, |r| r.t_ms) / 1000.0,
        args.rr_load
    );
    print!("{}", per_tool_table(&dataset));
    Ok(())
}

/// Waits until every replica of `pool` is ready (a dataset needs all of them).
async fn wait_all_ready(pool: &Pool, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let want = pool.replicas().len() as u32;
    while pool.ready_count() < want {
        if Instant::now() >= deadline {
            let why: Vec<String> = pool
                .replicas()
                .iter()
                .filter(|r| !r.is_ready())
                .map(|r| {
                    format!(
                        "replica {}: {}",
                        r.index(),
                        r.last_error()
                            .unwrap_or_else(|| String::from("still starting"))
                    )
                })
                .collect();
            bail!(
                "pool {}: {} of {want} replicas ready after {timeout:?} ({})",
                pool.name(),
                pool.ready_count(),
                why.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// What the recorder may send to `pool`: its listed tools (those in `only` when given, else
/// all but [`SKIPPED_TOOLS`]) and its listed resources.
fn surface(pool: &Arc<Pool>, opt_in: &[String], only: &[String]) -> anyhow::Result<Target> {
    let catalog = pool
        .catalog()
        .with_context(|| format!("pool {}: no catalog", pool.name()))?;
    let mut tools = Vec::new();
    let mut cacheable = BTreeMap::new();
    for item in catalog.list(vecgate_backends::pool::ListKind::Tools) {
        let name = item.key.clone();
        let wanted = if only.is_empty() {
            !SKIPPED_TOOLS.contains(&name.as_str())
        } else {
            only.contains(&name)
        };
        if !wanted {
            continue;
        }
        let raw: Value = serde_json::from_str(item.raw.get()).unwrap_or(Value::Null);
        let input_schema = raw.get("inputSchema").cloned().unwrap_or(Value::Null);
        cacheable.insert(
            name.clone(),
            AnswerCache::tool_is_cacheable(item.annotations, opt_in.contains(&name)),
        );
        tools.push(ToolShape { name, input_schema });
    }
    for name in only {
        if !cacheable.contains_key(name) {
            bail!(
                "pool {}: --tools names {name:?}, which it does not list",
                pool.name()
            );
        }
    }
    let resources = catalog
        .list(vecgate_backends::pool::ListKind::Resources)
        .iter()
        .map(|r| r.key.clone())
        .collect();
    Ok(Target {
        pool: Arc::clone(pool),
        surface: PoolSurface {
            pool: pool.name().to_owned(),
            tools,
            resources,
        },
        cacheable,
    })
}

fn replica_name(r: usize) -> String {
    format!("r{r}")
}

/// The upstream call for one request.
pub(super) fn call(method: &str, target: &str, arguments: &Value, args: &RecordArgs) -> Call {
    Call {
        method: method.to_owned().into(),
        params: request_params(method, target, arguments),
        events: None,
        timeout: Some(Duration::from_millis(args.timeout_ms)),
        after: None,
    }
}

/// `params` of a dataset request: `{name, arguments}` for tools and prompts, `{uri}` for
/// resources, the arguments themselves for anything else.
pub(super) fn request_params(
    method: &str,
    target: &str,
    arguments: &Value,
) -> Option<Box<RawValue>> {
    let value = match method {
        "tools/call" | "prompts/get" => {
            let mut params = serde_json::json!({ "name": target });
            if !arguments.is_null() {
                params["arguments"] = arguments.clone();
            }
            params
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            serde_json::json!({ "uri": target })
        }
        _ if arguments.is_null() => return None,
        _ => arguments.clone(),
    };
    serde_json::value::to_raw_value(&value).ok()
}

/// The answer's identity (a hash of the result, `_meta` left out) or the error.
/// The answer's identity (a hash of the result without `_meta`) and the resources it links.
fn outcome_of(outcome: Result<Box<RawValue>, CallError>) -> Result<(String, Vec<String>), String> {
    let raw = outcome.map_err(|e| e.to_string())?;
    let links = crate::cache::announced::linked_uris(&raw);
    let mut value: Value =
        serde_json::from_str(raw.get()).map_err(|e| format!("unparseable result: {e}"))?;
    if value.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = value["content"][0]["text"].as_str().unwrap_or("");
        return Err(format!(
            "isError: {}",
            text.chars().take(120).collect::<String>()
        ));
    }
    if let Some(map) = value.as_object_mut() {
        map.remove("_meta");
    }
    let hash = xxhash_rust::xxh3::xxh3_64(value.to_string().as_bytes());
    Ok((format!("{hash:016x}"), links))
}

/// URIs announced as updated (`notifications/resources/updated`) since the last drain.
fn drain(events: &mut mpsc::Receiver<PoolEvent>) -> Vec<String> {
    let mut uris = BTreeSet::new();
    while let Ok(event) = events.try_recv() {
        if let PoolEvent::Notification { message, .. } = event
            && message.method.as_deref() == Some("notifications/resources/updated")
            && let Some(uri) = message.peek_params().uri
        {
            uris.insert(uri.into_owned());
        }
    }
    uris.into_iter().collect()
}

fn header(args: &RecordArgs, targets: &[Target], records: &[Record]) -> Header {
    let used: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.method == "tools/call")
        .map(|r| r.target.as_str())
        .collect();
    let tools = targets
        .iter()
        .flat_map(|t| &t.cacheable)
        .filter(|(name, _)| used.contains(name.as_str()))
        .map(|(name, &read_only)| ToolSpec {
            name: name.clone(),
            read_only,
        })
        .collect();
    let servers: Vec<String> = targets
        .iter()
        .map(|t| {
            let info = t.pool.replicas()[0]
                .server()
                .map(|s| s.server_info.get().to_owned())
                .unwrap_or_default();
            format!("{} {info}", t.surface.pool)
        })
        .collect();
    Header {
        vecgate_dataset: FORMAT_VERSION,
        scenario: Some(String::from("recorded")),
        seed: Some(args.seed),
        description: format!(
            "recorded by `vecgate dataset record {}` from real replicas ({}); service times are \
             wall-clock ms of one call with nothing else in flight, through vecgate's upstream \
             client; arrivals are Poisson, scaled to round-robin load {}",
            args.command_line(),
            servers.join("; "),
            args.rr_load
        ),
        pools: targets
            .iter()
            .map(|t| PoolSpec {
                name: t.surface.pool.clone(),
                replicas: (0..t.pool.replicas().len())
                    .map(|r| ReplicaSpec {
                        name: replica_name(r),
                        slots: args.slots,
                    })
                    .collect(),
                cache_invalidation: Default::default(),
            })
            .collect(),
        tools,
        events: Vec::new(),
    }
}

/// Mean service time per (pool, target kind) and replica, and error counts.
fn per_tool_table(dataset: &Dataset) -> String {
    let mut sums: BTreeMap<(String, String), (Vec<f64>, u64, u64)> = BTreeMap::new();
    for r in &dataset.records {
        let what = if r.method == "tools/call" {
            r.target.clone()
        } else {
            r.method.clone()
        };
        let entry = sums
            .entry((r.pool.clone(), what))
            .or_insert_with(|| (vec![0.0; r.service_ms.len()], 0, 0));
        for (slot, ms) in entry.0.iter_mut().zip(r.service_ms.values()) {
            *slot += ms;
        }
        entry.1 += 1;
        entry.2 += r.errors.len() as u64;
    }
    let mut out = String::from("mean service ms per replica (r0, r1, …), requests, errors\n");
    for ((pool, what), (sum, n, errors)) in &sums {
        let means: Vec<String> = sum
            .iter()
            .map(|s| format!("{:.2}", s / *n as f64))
            .collect();
        let _ = writeln!(
            out,
            "  {pool}/{what:<24} {:<30} n={n} errors={errors}",
            means.join(" ")
        );
    }
    out
}
