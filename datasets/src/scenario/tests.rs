use super::*;
use crate::io::{read_dataset, write_dataset};
use crate::validate::validate_file;

#[test]
fn every_scenario_is_deterministic_valid_and_calibrated() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in Scenario::ALL {
        let config = GenConfig::new(3_000, 42);
        let a = generate(scenario, &config).unwrap();
        let b = generate(scenario, &config).unwrap();
        assert_eq!(a, b, "{scenario}: same seed must give the same dataset");
        let other = generate(scenario, &GenConfig::new(3_000, 43)).unwrap();
        assert_ne!(a.records, other.records, "{scenario}: the seed must matter");
        assert_eq!(a.records.len(), 3_000);

        let path = dir.path().join(format!("{scenario}.jsonl.zst"));
        write_dataset(&path, &a).unwrap();
        let report = validate_file(&path).unwrap();
        assert!(report.is_valid(), "{scenario}: {:?}", report.problems);
        assert_eq!(report.full, 3_000);
        assert_eq!(
            read_dataset(&path).unwrap(),
            a,
            "{scenario}: file round trip"
        );

        let (load, window) = scenario.default_calibration(3_000);
        let peak = round_robin_peak_utilisation(&a, window);
        // Rounding arrival times to microseconds moves the peak only slightly.
        assert!(
            (peak - load).abs() < 0.01,
            "{scenario}: peak {peak} vs {load}"
        );
    }
}

#[test]
fn scenario_names_parse_and_unknown_names_are_errors() {
    for scenario in Scenario::ALL {
        assert_eq!(scenario.name().parse::<Scenario>().unwrap(), scenario);
    }
    let err = "zipfian".parse::<Scenario>().unwrap_err().to_string();
    assert!(
        err.contains("unknown scenario") && err.contains("hotspot"),
        "{err}"
    );
    assert!(generate(Scenario::Uniform, &GenConfig::new(0, 1)).is_err());
}

#[test]
fn hotspot_writes_change_answers_and_announce_only_their_uri() {
    let data = generate(Scenario::Hotspot, &GenConfig::new(5_000, 7)).unwrap();
    let writes: Vec<_> = data
        .records
        .iter()
        .filter(|r| r.target == "write_file")
        .collect();
    assert!(writes.len() > 500, "about 15% writes");
    assert!(writes.iter().all(|w| w.invalidates.len() == 1));
    // Some file is read before and after a write with different answers.
    let uri = &writes[0].invalidates[0];
    let answers: std::collections::BTreeSet<_> = data
        .records
        .iter()
        .filter(|r| &r.target == uri)
        .filter_map(|r| r.answer.clone())
        .collect();
    assert!(!answers.is_empty());
    // Equal requests are the same query: a search's answer identity (`q<query>v<version>`)
    // must follow from its arguments, or no cache could be right.
    let mut query_of_args = std::collections::BTreeMap::new();
    for r in data.records.iter().filter(|r| r.target == "search_code") {
        let answer = r.answer.as_deref().unwrap();
        let query = answer.split('v').next().unwrap().to_owned();
        let args = r.args.to_string();
        let seen = query_of_args
            .entry(args.clone())
            .or_insert_with(|| query.clone());
        assert_eq!(*seen, query, "two queries send {args}");
    }
    // A search's answer changes exactly when a file it links is written, so a cache that
    // drops what links an announced URI is never stale and never drops more than it must.
    let mut writes_of = std::collections::BTreeMap::<&str, u32>::new();
    let mut last = std::collections::BTreeMap::new();
    let mut changes = 0;
    for r in &data.records {
        if r.target == "write_file" {
            *writes_of.entry(&r.invalidates[0]).or_default() += 1;
            continue;
        }
        if r.target != "search_code" {
            continue;
        }
        assert_eq!(r.links.len(), 3, "a search links its files");
        let stamp: Vec<u32> = r
            .links
            .iter()
            .map(|l| writes_of.get(l.as_str()).copied().unwrap_or(0))
            .collect();
        let key = r.args.to_string();
        if let Some((answer, before)) = last.get(&key) {
            let written = *before != stamp;
            assert_eq!(*answer != r.answer, written, "{key}");
            changes += usize::from(written);
        }
        last.insert(key, (r.answer.clone(), stamp));
    }
    assert!(changes > 0, "some search sees a linked file change");
}

#[test]
fn swarm_sessions_start_with_swarm_init_and_use_the_catalog() {
    let data = generate(Scenario::Swarm, &GenConfig::new(4_000, 3)).unwrap();
    let first = &data.records[0];
    assert_eq!(first.target, "swarm_init");
    let catalog_calls = data.records.iter().filter(|r| r.pool == "catalog").count();
    assert!(catalog_calls > 500, "{catalog_calls}");
    assert!(data.header.tools.len() >= 300);
    for tool in [
        "agent_spawn",
        "task_orchestrate",
        "memory_store",
        "memory_search",
        "hooks_route",
    ] {
        assert!(
            data.records.iter().any(|r| r.target == tool),
            "{tool} missing"
        );
    }
}
