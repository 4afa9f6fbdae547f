//! `vecgate-demo-server`: the bundled demo MCP server as a standalone binary (the same server as
//! `vecgate demo-server`).

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use vecgate_backends::demo::{self, DemoOptions, DemoProfile, DemoTransport, SlowRule};

/// Synthetic MCP server with per-replica latencies, for demonstrating and testing vecgate.
#[derive(Debug, Parser)]
#[command(name = "vecgate-demo-server", version)]
struct Args {
    /// Replica index: decides which repositories are warm and which tools are slow here.
    /// Default: $VECGATE_REPLICA (set by the gateway for each replica it spawns) or 0.
    #[arg(long)]
    replica: Option<u32>,
    /// Serve Streamable HTTP on this address (`/mcp`) instead of stdio; port 0 picks one and
    /// prints it as `listening on http://ADDR/mcp`.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Latency profile: instant, fast or realistic.
    #[arg(long, default_value = "fast")]
    profile: DemoProfile,
    /// Make a tool slower on this replica: `TOOL=FACTOR` or `REPLICA:TOOL=FACTOR` (repeatable;
    /// more rules come from VECGATE_DEMO_SLOW).
    #[arg(long = "slow", value_name = "TOOL=FACTOR")]
    slow: Vec<SlowRule>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = DemoOptions {
        // Like `vecgate demo-server`: without this every replica a gateway spawned was
        // replica 0, so per-replica slowness rules never applied.
        replica: args
            .replica
            .or_else(|| std::env::var("VECGATE_REPLICA").ok()?.parse().ok())
            .unwrap_or(0),
        transport: args.http.map_or(DemoTransport::Stdio, DemoTransport::Http),
        profile: args.profile,
        slow: args.slow,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vecgate-demo-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vecgate-demo-server: {e}");
            ExitCode::FAILURE
        }
    }
}
