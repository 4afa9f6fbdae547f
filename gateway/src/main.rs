//! The `vecgate` binary: parse the command line and run it.

use clap::Parser;

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
