//! `vecgate dataset gen` and `vecgate dataset validate`.

use anyhow::{Context, bail};
use vecgate_datasets::{GenConfig, Scenario, generate, validate_file, write_dataset};

use super::{DatasetCommand, GenArgs, ValidateArgs};

pub(super) fn main(command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Gen(args) => generate_file(args),
        DatasetCommand::Validate(args) => validate(args),
        DatasetCommand::Record(_) => bail!("`dataset record` runs on the async runtime"),
    }
}

fn generate_file(args: GenArgs) -> anyhow::Result<()> {
    let scenario: Scenario = args.scenario.parse()?;
    let config = GenConfig {
        requests: args.requests,
        seed: args.seed,
        rr_load: args.rr_load,
    };
    let dataset = generate(scenario, &config)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_dataset(&args.out, &dataset)?;
    let span_s = dataset.records.last().map_or(0.0, |r| r.t_ms) / 1000.0;
    println!(
        "{}: {} requests of scenario {scenario} over {span_s:.1} s (seed {})",
        args.out.display(),
        dataset.records.len(),
        args.seed
    );
    println!("{}", dataset.header.description);
    Ok(())
}

fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    let report = validate_file(&args.file)?;
    for problem in &report.problems {
        println!(
            "{}:{}: {}: {}",
            args.file.display(),
            problem.line,
            problem.field,
            problem.message
        );
    }
    if report.problem_count > report.problems.len() {
        println!(
            "… and {} more",
            report.problem_count - report.problems.len()
        );
    }
    println!(
        "{}: {} records ({} full, {} partial information), {} problem(s)",
        args.file.display(),
        report.records,
        report.full,
        report.partial,
        report.problem_count
    );
    if !report.is_valid() {
        bail!("{} is not a valid dataset", args.file.display());
    }
    Ok(())
}
