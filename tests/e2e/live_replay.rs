//! `vecgate replay --live` against the real `vecgate serve` on its default demo pool: the
//! committed recorded demo trace is sent open loop over Streamable HTTP, and every request
//! must be accounted for in the report.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vecgate_tests::paths;
use vecgate_tests::process::{Proc, listening_url, run};

const REQUESTS: u64 = 150;

#[test]
fn live_replay_sends_a_recorded_trace_to_the_default_demo_gateway_and_counts_every_request() {
    let vecgate = paths::vecgate().expect("the vecgate binary is built");
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Command::new(&vecgate);
    serve
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path());
    let mut gateway = Proc::spawn("vecgate serve (default demo)", serve).unwrap();
    let url = gateway
        .wait_for_line(Duration::from_secs(60), listening_url)
        .unwrap();

    let dataset = paths::workspace_root().join("datasets/data/recorded-demo.jsonl.zst");
    let out = dir.path().join("live");
    let mut replay = Command::new(&vecgate);
    replay
        .arg("replay")
        .arg("--dataset")
        .arg(&dataset)
        .args(["--live", &url, "--rate", "100"])
        .args([
            "--max-requests",
            &REQUESTS.to_string(),
            "--max-seconds",
            "30",
        ])
        .arg("--out")
        .arg(&out);
    let finished = run("vecgate replay --live", replay, Duration::from_secs(120)).unwrap();
    assert!(
        finished.status.success(),
        "replay --live failed:\n{}\n{}\ngateway:\n{}",
        finished.stdout,
        finished.stderr,
        gateway.output()
    );
    assert!(
        finished
            .stdout
            .contains(&format!("sent {REQUESTS} to {url}")),
        "{}",
        finished.stdout
    );
    let live: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("live.json")).unwrap()).unwrap();
    let count = |k: &str| live[k].as_u64().unwrap_or_else(|| panic!("{k} in {live}"));
    assert_eq!(count("sent"), REQUESTS);
    assert_eq!(
        count("answered") + count("rpc_errors") + count("timeouts") + count("transport_errors"),
        REQUESTS,
        "every request is accounted for once: {live}"
    );
    assert_eq!(count("timeouts"), 0, "{live}");
    assert_eq!(count("transport_errors"), 0, "{live}");
    assert_eq!(
        count("rpc_errors"),
        0,
        "the demo knows every recorded tool: {live}"
    );
    assert!(count("cache_lookups") > 0, "{live}");
    assert!(count("cache_hits") <= count("cache_lookups"), "{live}");
    assert!(live["p50"].as_f64().unwrap() > 0.0, "{live}");
    assert!(
        live["p50"].as_f64().unwrap() <= live["p99"].as_f64().unwrap(),
        "{live}"
    );
    assert!(gateway.is_running(), "the gateway survived the run");
}
