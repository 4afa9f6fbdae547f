//! The `vecgate` binary: parse the command line and run it.

use clap::Parser;

/// mimalloc instead of glibc's malloc: the forward path allocates per call (bodies, raw JSON
/// boxes, futures), and glibc's allocator took 11 % of the gateway's CPU under the load
/// benchmark (perf, `benches/load/run.sh`), mostly in `malloc_consolidate` and chunk unlinking
/// as buffers move between worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = vecgate::cli::Cli::parse();
    match vecgate::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vecgate: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
