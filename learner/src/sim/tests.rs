//! End-to-end checks of the simulator against queueing theory and itself.

use super::*;
use crate::policy::PolicyConfig;

fn cfg(seed: u64) -> ReplayConfig {
    ReplayConfig {
        seed,
        policy: PolicyConfig::default(),
        run: RunConfig {
            seed,
            arrivals: Arrivals::Trace,
            cache: CacheConfig::default(),
        },
        windows: 20,
        threads: 2,
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The supermarket model at λ = 0.9: `random` must give E[T] ≈ 10 and `p2c-inflight` ≈ 2.61
/// mean service times, within 5 %.
///
/// n = 200 replicas: with random choice every replica is an independent M/M/1 queue, so any n
/// matches 10.0; with two choices the finite-n mean sits above the n → ∞ fixed point by
/// O(1/n), well inside the 5 % tolerance at n = 200. 400K requests (2,000 per replica) with
/// the first 10 % dropped as warm-up keep the random-choice estimate, whose per-queue
/// relaxation time at ρ = 0.9 is ~400 service times, within about 2 %.
#[test]
fn supermarket_model_mean_time_in_system_matches_theory() {
    let replicas = 200;
    let lambda = 0.9;
    let requests = 400_000;
    let workload = synthetic::supermarket(replicas, lambda, requests, 11);
    let mut config = cfg(5);
    config.windows = 1;
    let out = replay(
        &workload,
        &names(&["random", "p2c-inflight"]),
        &config,
        &policy_router,
        &|_, _| {},
    )
    .unwrap();
    for (policy, d) in [("random", 1), ("p2c-inflight", 2)] {
        let run = out.run(policy).unwrap();
        let limit = synthetic::supermarket_limit(lambda, d);
        // The system starts empty, which biases early latencies down: drop the first 10 %.
        let mean = run.steady_mean_ms(0.1);
        let error = (mean - limit).abs() / limit;
        assert!(
            error < 0.05,
            "{policy}: E[T] {mean:.3} vs theory {limit:.3} ({:.1} % off)",
            error * 100.0
        );
    }
    assert!((synthetic::supermarket_limit(0.9, 2) - 2.61).abs() < 0.01);
    assert!((synthetic::supermarket_limit(0.99, 3) - 3.86).abs() < 0.01);
}

fn scenario_workload(scenario: vecgate_datasets::Scenario, requests: usize) -> Workload {
    let dataset =
        vecgate_datasets::generate(scenario, &vecgate_datasets::GenConfig::new(requests, 3))
            .unwrap();
    Workload::from_dataset(&dataset, true).unwrap()
}

#[test]
fn same_seed_gives_byte_identical_results_and_the_seed_matters() {
    let workload = scenario_workload(vecgate_datasets::Scenario::Affinity, 3_000);
    let policies = names(&["round-robin", "random", "p2c-peak-ewma", "vector", "oracle"]);
    let once = |seed| {
        replay(&workload, &policies, &cfg(seed), &engine_router, &|_, _| {})
            .unwrap()
            .results_json()
    };
    let a = once(1);
    assert_eq!(a, once(1), "same seed, same bytes");
    assert_ne!(a, once(2), "random choices depend on the seed");
    let parsed: serde_json::Value = serde_json::from_str(&a).unwrap();
    for p in &policies {
        assert!(
            parsed[p]["p95"].as_f64().unwrap() > 0.0,
            "{p} missing from {a}"
        );
    }
}

#[test]
fn every_scenario_replays_end_to_end_with_every_policy() {
    let policies: Vec<String> = crate::policy::POLICY_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for scenario in vecgate_datasets::Scenario::ALL {
        let workload = scenario_workload(scenario, 2_000);
        let out = replay(&workload, &policies, &cfg(7), &engine_router, &|_, _| {}).unwrap();
        assert_eq!(out.runs.len(), policies.len());
        for run in &out.runs {
            let s = &run.summary;
            assert_eq!(s.requests, 2_000, "{scenario}/{}", run.policy);
            assert!(
                s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max,
                "{scenario}: {s:?}"
            );
            let share: f64 = s.share.values().sum();
            assert!(
                s.cache_hits == s.requests || (share - 1.0).abs() < 1e-3,
                "{scenario}: {share}"
            );
        }
        let rr = out.run("round-robin").unwrap().summary.p95;
        let oracle = &out.run("oracle").unwrap().summary;
        assert!(
            oracle.p95 < rr,
            "{scenario}: oracle {} vs rr {rr}",
            oracle.p95
        );
        assert_eq!(oracle.gap_recovered, Some(1.0));
        if scenario == vecgate_datasets::Scenario::Hotspot {
            assert!(
                oracle.cache_hit_rate > 0.02,
                "hotspot hit rate {}",
                oracle.cache_hit_rate
            );
        }
    }
}

#[test]
fn closed_loop_and_outages_are_honoured() {
    let mut dataset = vecgate_datasets::generate(
        vecgate_datasets::Scenario::Uniform,
        &vecgate_datasets::GenConfig::new(2_000, 5),
    )
    .unwrap();
    let end = dataset.records.last().unwrap().t_ms;
    dataset.header.events.push(vecgate_datasets::ReplicaEvent {
        pool: String::from("api"),
        replica: String::from("u0"),
        from_ms: 0.0,
        to_ms: end + 1.0,
        kind: vecgate_datasets::EventKind::Down,
        factor: 1.0,
    });
    let workload = Workload::from_dataset(&dataset, false).unwrap();
    let out = replay(
        &workload,
        &names(&["round-robin", "p2c-inflight"]),
        &cfg(1),
        &policy_router,
        &|_, _| {},
    )
    .unwrap();
    for run in &out.runs {
        assert_eq!(
            run.summary.share["api/u0"], 0.0,
            "{}: a down replica gets nothing",
            run.policy
        );
        assert_eq!(run.summary.errors, 0);
    }
    let mut closed = cfg(1);
    closed.run.arrivals = Arrivals::Closed {
        agents: 4,
        think_ms: 5.0,
    };
    let out = replay(
        &workload,
        &names(&["p2c-inflight"]),
        &closed,
        &policy_router,
        &|_, _| {},
    )
    .unwrap();
    let s = &out.runs[0].summary;
    assert_eq!(s.requests, 2_000);
    // Four agents never queue on twelve healthy slots: latency is pure service time.
    assert!(s.mean < 60.0, "{s:?}");
}

/// `hotspot` under each invalidation rule, and with its links stripped: announced updates and
/// links keep most answers cached and none wrong; the any-write rule is right but keeps few;
/// a cache that trusted announcements without links would serve stale searches, and the
/// wrong-hit count sees it.
#[test]
fn announced_invalidation_keeps_what_writes_do_not_touch_and_never_serves_stale() {
    use vecgate_datasets::CacheInvalidation;
    let dataset = vecgate_datasets::generate(
        vecgate_datasets::Scenario::Hotspot,
        &vecgate_datasets::GenConfig::new(8_000, 4),
    )
    .unwrap();
    assert_eq!(
        dataset.header.pools[0].cache_invalidation,
        CacheInvalidation::Announced
    );
    let run = |dataset: &vecgate_datasets::Dataset| {
        let workload = Workload::from_dataset(dataset, false).unwrap();
        let out = replay(
            &workload,
            &names(&["round-robin", "p2c-peak-ewma"]),
            &cfg(1),
            &policy_router,
            &|_, _| {},
        )
        .unwrap();
        out.runs
            .iter()
            .map(|r| (r.summary.cache_hit_rate, r.summary.cache_wrong_hits))
            .collect::<Vec<_>>()
    };
    for (hit_rate, wrong) in run(&dataset) {
        assert!(hit_rate > 0.6, "announced: hit rate {hit_rate}");
        assert_eq!(wrong, 0, "announced: wrong hits");
    }
    let mut any_write = dataset.clone();
    any_write.header.pools[0].cache_invalidation = CacheInvalidation::AnyWrite;
    for (hit_rate, wrong) in run(&any_write) {
        assert!(hit_rate < 0.1, "any-write: hit rate {hit_rate}");
        assert_eq!(wrong, 0, "any-write: wrong hits");
    }
    let mut unlinked = dataset.clone();
    for record in &mut unlinked.records {
        record.links.clear();
    }
    for (_, wrong) in run(&unlinked) {
        assert!(wrong > 0, "without links, stale searches must be detected");
    }
}
