//! Running the real-client drivers (`tests/clients/ts/driver.mjs`, `tests/clients/py/driver.py`)
//! and reading their JSON reports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::process::run;
use crate::{SupportError, paths};

/// Which official SDK drives the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// `@modelcontextprotocol/sdk` (Node.js).
    TypeScript,
    /// `mcp` (Python).
    Python,
}

impl Sdk {
    /// Both SDKs, for tests that run each.
    pub const ALL: [Sdk; 2] = [Sdk::TypeScript, Sdk::Python];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Sdk::TypeScript => "typescript",
            Sdk::Python => "python",
        }
    }
}

/// Where the driver connects.
#[derive(Clone, Debug)]
pub enum Target {
    /// Streamable HTTP to this MCP endpoint.
    Url(String),
    /// stdio to this command line, which the driver spawns.
    Stdio(Vec<String>),
}

/// One run of a driver: which SDK, where, which plan and scenarios.
#[derive(Clone, Debug)]
pub struct DriverRun {
    sdk: Sdk,
    target: Target,
    plan: PathBuf,
    scenarios: Option<Vec<String>>,
    timeout: Duration,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl DriverRun {
    /// Run every scenario of `plan` (a name under `tests/clients/plans`).
    pub fn new(sdk: Sdk, target: Target, plan: &str) -> DriverRun {
        DriverRun {
            sdk,
            target,
            plan: paths::plan(plan),
            scenarios: None,
            timeout: Duration::from_secs(120),
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Use a plan file outside `tests/clients/plans`.
    pub fn plan_path(mut self, plan: &Path) -> DriverRun {
        self.plan = plan.to_path_buf();
        self
    }

    /// Run only these scenarios (`initialize` first is implied by the drivers' order).
    pub fn scenarios(mut self, names: &[&str]) -> DriverRun {
        self.scenarios = Some(names.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// Kill the driver after this long (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> DriverRun {
        self.timeout = timeout;
        self
    }

    /// Run the driver (and so a stdio server it spawns) in this directory.
    pub fn cwd(mut self, dir: &Path) -> DriverRun {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Set an environment variable for the driver (and a stdio server it spawns).
    pub fn env(mut self, key: &str, value: &str) -> DriverRun {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Run it and parse its report (a failed scenario is in the report, not an `Err`).
    pub fn run(&self) -> Result<Report, SupportError> {
        let mut command = match self.sdk {
            Sdk::TypeScript => {
                let mut c = Command::new(paths::node());
                c.arg(paths::ts_driver()?);
                c
            }
            Sdk::Python => {
                let mut c = Command::new(paths::python()?);
                c.arg(paths::py_driver()?);
                c
            }
        };
        match &self.target {
            Target::Url(url) => {
                command.args(["--url", url]);
            }
            Target::Stdio(argv) => {
                command.arg("--stdio").args(argv).arg("--");
            }
        }
        command.arg("--plan").arg(&self.plan);
        if let Some(scenarios) = &self.scenarios {
            command.args(["--scenarios", &scenarios.join(",")]);
        }
        // Each request may take at most a quarter of the whole run.
        let per_request_ms = (self.timeout.as_millis() / 4).max(5_000);
        command.args(["--timeout-ms", &per_request_ms.to_string()]);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let what = format!("{} driver against {:?}", self.sdk.name(), self.target);
        let finished = run(&what, command, self.timeout)?;
        let bad = |problem: String| SupportError::BadReport {
            driver: what.clone(),
            problem,
            status: finished.status.to_string(),
            stdout: finished.stdout.clone(),
            stderr: finished.stderr.clone(),
        };
        let json: Value = serde_json::from_str(finished.stdout.trim())
            .map_err(|e| bad(format!("not JSON: {e}")))?;
        let report_ok = json["ok"]
            .as_bool()
            .ok_or_else(|| bad("no `ok` field".to_owned()))?;
        if report_ok != finished.status.success() {
            return Err(bad(format!(
                "report says ok={report_ok} but the exit status disagrees"
            )));
        }
        Ok(Report {
            what,
            json,
            stderr: finished.stderr,
        })
    }
}

/// A driver's JSON report.
#[derive(Clone, Debug)]
pub struct Report {
    what: String,
    /// The whole report as printed.
    pub json: Value,
    /// What the driver (and a stdio server it spawned) printed on stderr.
    pub stderr: String,
}

impl Report {
    /// Whether every scenario passed.
    pub fn ok(&self) -> bool {
        self.json["ok"].as_bool() == Some(true)
    }

    /// The failure messages.
    pub fn failures(&self) -> Vec<String> {
        self.json["failures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f.as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One scenario's section of the report (`Value::Null` when it did not run).
    pub fn scenario(&self, name: &str) -> &Value {
        &self.json["scenarios"][name]
    }

    /// Panic with every failure (and the driver's stderr) unless all scenarios passed.
    pub fn assert_ok(&self) -> &Report {
        assert!(
            self.ok(),
            "{} failed:\n  {}\n---- driver stderr ----\n{}",
            self.what,
            self.failures().join("\n  "),
            tail(&self.stderr, 4000)
        );
        self
    }

    /// A one-line summary for the test log: scenario names with their times.
    pub fn summary(&self) -> String {
        let Some(scenarios) = self.json["scenarios"].as_object() else {
            return format!("{}: no scenarios", self.what);
        };
        let parts: Vec<String> = scenarios
            .iter()
            .map(|(name, s)| {
                let mark = if s["ok"].as_bool() == Some(true) {
                    "ok"
                } else {
                    "FAILED"
                };
                format!("{name} {mark} {}ms", s["ms"])
            })
            .collect();
        format!("{}: {}", self.what, parts.join(", "))
    }
}

/// The last `max` bytes of `text` (on a char boundary).
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
