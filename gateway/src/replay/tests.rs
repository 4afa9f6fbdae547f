//! End-to-end: generate a dataset, validate it, replay it, read the outputs back.

use super::*;

#[test]
fn gen_validate_and_replay_write_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hotspot.jsonl.zst");
    dataset::main(DatasetCommand::Gen(GenArgs {
        scenario: String::from("hotspot"),
        requests: 3_000,
        seed: 4,
        out: data.clone(),
        rr_load: None,
    }))
    .unwrap();
    dataset::main(DatasetCommand::Validate(ValidateArgs {
        file: data.clone(),
    }))
    .unwrap();
    let out = dir.path().join("out");
    let args = |out: &std::path::Path| ReplayArgs {
        dataset: data.clone(),
        policies: vec![String::from("p2c-peak-ewma"), String::from("vector")],
        seed: 9,
        out: out.to_owned(),
        load: None,
        agents: None,
        think_ms: 10.0,
        no_cache: false,
        cache_ttl_s: 30.0,
        sweep: true,
        sweep_loads: vec![0.4, 0.8],
        no_plots: false,
        threads: 2,
        bare: false,
        drift_at_s: None,
        live: None,
        speed: 1.0,
        rate: None,
        max_requests: 10_000,
        max_seconds: 60.0,
        timeout_ms: 10_000,
    };
    run::main(args(&out)).unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for policy in ["p2c-peak-ewma", "vector", "round-robin", "oracle"] {
        assert!(results[policy]["p95"].as_f64().unwrap() > 0.0, "{policy}");
        assert!(
            results[policy]["cache_hit_rate"].as_f64().unwrap() > 0.02,
            "{policy}"
        );
    }
    for file in [
        "results.csv",
        "timeseries.csv",
        "sweep.csv",
        "cdf.svg",
        "sweep.svg",
    ] {
        let len = std::fs::metadata(out.join(file)).unwrap().len();
        assert!(len > 100, "{file} is {len} bytes");
    }
    // Same inputs, byte-identical results.
    let again = dir.path().join("again");
    run::main(args(&again)).unwrap();
    assert_eq!(
        std::fs::read(out.join("results.json")).unwrap(),
        std::fs::read(again.join("results.json")).unwrap()
    );
}

#[test]
fn validate_fails_on_a_broken_file_and_replay_rejects_unknown_policies() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"vecgate_dataset\":1,\"pools\":[]}\n").unwrap();
    let err = dataset::main(DatasetCommand::Validate(ValidateArgs { file: bad })).unwrap_err();
    assert!(err.to_string().contains("not a valid dataset"), "{err}");
    assert!(run::policy_list(&[String::from("fastest")]).is_err());
    let list = run::policy_list(&[String::from("vector")]).unwrap();
    assert_eq!(list, ["vector", "round-robin", "oracle"]);
}
