//! The `vecgate` command line.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vecgate_backends::demo::{DemoOptions, DemoProfile, DemoTransport, SlowRule};

use crate::config::Config;
use crate::front::http::HttpFront;
use crate::gateway::{Gateway, ReloadSource};

/// vecgate: one MCP endpoint in front of pools of MCP servers, routing every request to the
/// replica it predicts will answer fastest, and learning from every answer.
///
/// Start here: `vecgate serve` runs the gateway on http://127.0.0.1:8383/mcp in front of the
/// bundled demo MCP server (3 stdio replicas); no config needed. Connect Claude Code with
/// `claude mcp add --transport http vecgate http://127.0.0.1:8383/mcp`.
#[derive(Debug, Parser)]
#[command(name = "vecgate", version, about, long_about)]
pub struct Cli {
    /// Log filter (tracing env-filter syntax, e.g. `info` or `vecgate=debug`). Logs go to stderr.
    #[arg(
        long,
        global = true,
        env = "VECGATE_LOG",
        default_value = "info,rmcp=warn"
    )]
    pub log: String,
    /// Runtime worker threads (default: one per CPU core). Where the gateway shares its cores
    /// with its backends or a load generator, fewer workers than cores can serve more: threads
    /// that steal work from each other across oversubscribed cores pay for cross-thread
    /// wake-ups (benches/load/run.sh measures both).
    #[arg(long, global = true, env = "VECGATE_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway over HTTP: Streamable HTTP on /mcp, legacy SSE on /sse, /healthz, /metrics.
    Serve(ServeArgs),
    /// Run the gateway over stdin/stdout (for clients that launch MCP servers as commands).
    Stdio(StdioArgs),
    /// Run the bundled demo MCP server (what `vecgate serve` fronts by default).
    DemoServer(DemoServerArgs),
    /// Generate, validate or record trajectory datasets.
    Dataset(crate::replay::DatasetArgs),
    /// Replay a dataset through every routing policy in a deterministic simulation (or against
    /// a live gateway) and report tables, results.json and plots.
    Replay(crate::replay::ReplayArgs),
    /// Check a configuration file and exit (0 when valid).
    CheckConfig {
        /// The TOML file.
        file: PathBuf,
    },
}

/// Options of `vecgate serve`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration (default: the embedded demo configuration). Re-read on SIGHUP and
    /// on `POST /admin/reload`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Listen address, overriding the config (default 127.0.0.1:8383; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
}

/// Options of `vecgate stdio`.
#[derive(Debug, Args)]
pub struct StdioArgs {
    /// TOML configuration (default: the embedded demo configuration).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Options of `vecgate demo-server`.
#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// Which replica this is (replicas differ in speed per tool). Default: $VECGATE_REPLICA or 0.
    #[arg(long)]
    pub replica: Option<u32>,
    /// Serve Streamable HTTP on this address instead of stdio.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// Latency profile: instant, fast or realistic.
    #[arg(long, default_value = "fast")]
    pub profile: DemoProfile,
    /// Make a tool slower: TOOL=FACTOR, or REPLICA:TOOL=FACTOR for one replica only
    /// (repeatable; more rules come from $VECGATE_DEMO_SLOW).
    #[arg(long = "slow", value_name = "TOOL=FACTOR")]
    pub slow: Vec<SlowRule>,
}

/// Run the command line. Returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).context("--log")?)
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = cli.workers {
        runtime.worker_threads(usize::from(workers));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Stdio(args) => runtime.block_on(stdio(args)),
        Command::DemoServer(args) => runtime.block_on(demo_server(args)),
        Command::Dataset(args) => runtime.block_on(crate::replay::dataset_main(args)),
        Command::Replay(args) => runtime.block_on(crate::replay::replay_main(args)),
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            // Reads the JWT key files, so a missing or malformed key is caught here too.
            crate::auth::Authenticator::from_config(&config)?;
            println!("{}: valid ({} pools)", file.display(), config.pools.len());
            Ok(())
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => {
            let exe = std::env::current_exe().context("cannot locate the vecgate executable")?;
            Ok(Config::embedded_default(&exe))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(args.config.as_ref())?;
    if let Some(listen) = &args.listen {
        config.listen.clone_from(listen);
    }
    config.validate()?;
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok();
    let reload_source = args.config.clone().map(|path| ReloadSource {
        path,
        listen_override: args.listen.clone(),
    });
    let gateway = Gateway::start_reloadable(config, reload_source)?;
    crate::reload::on_sighup(&gateway);
    let not_ready = gateway.wait_ready(Duration::from_secs(20)).await;
    for pool in &not_ready {
        tracing::warn!(
            pool,
            "pool has no ready replica yet; its tools appear when it recovers"
        );
    }
    let front = Arc::new(HttpFront {
        gw: Arc::clone(&gateway),
        legacy: Default::default(),
        metrics,
        loopback: local.ip().is_loopback(),
    });
    tracing::info!(%local, policy = gateway.router.policy_name(), "vecgate ready");
    println!("vecgate listening on http://{local}/mcp");
    crate::front::http::serve(front, listener, shutdown_signal()).await;
    gateway.shutdown().await;
    Ok(())
}

async fn stdio(args: StdioArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.as_ref())?;
    let gateway = Gateway::start(config)?;
    let not_ready = gateway.wait_ready(Duration::from_secs(20)).await;
    for pool in &not_ready {
        tracing::warn!(pool, "pool has no ready replica yet");
    }
    let result = crate::front::stdio::serve(Arc::clone(&gateway)).await;
    gateway.shutdown().await;
    result.context("stdio transport")
}

async fn demo_server(args: DemoServerArgs) -> anyhow::Result<()> {
    let replica = args
        .replica
        .or_else(|| std::env::var("VECGATE_REPLICA").ok()?.parse().ok())
        .unwrap_or(0);
    let options = DemoOptions {
        replica,
        transport: args.http.map_or(DemoTransport::Stdio, DemoTransport::Http),
        profile: args.profile,
        slow: args.slow,
    };
    vecgate_backends::demo::run(options).await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_is_a_positive_count_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from(["vecgate", "--workers", "1", "serve"]).unwrap();
        assert_eq!(cli.workers, Some(1));
        let cli = Cli::try_parse_from(["vecgate", "serve", "--workers", "3"]).unwrap();
        assert_eq!(cli.workers, Some(3));
        let refused = Cli::try_parse_from(["vecgate", "serve", "--workers", "0"]).unwrap_err();
        assert!(refused.to_string().contains("--workers"), "{refused}");
        assert!(Cli::try_parse_from(["vecgate", "serve", "--workers", "many"]).is_err());
    }
}
