//! Deterministic tests of every policy (seeded [`Rng`], time as an argument), plus a property
//! test that every policy always returns a valid, healthy index.

use proptest::prelude::*;

use super::*;
use crate::policy::config::{POLICY_NAMES, PolicyConfig, build};
use crate::rng::Rng;

pub(crate) fn features() -> RequestFeatures<'static> {
    RequestFeatures {
        embedding: &[],
        key: 1,
        tool: 2,
        size: 10,
    }
}

pub(crate) fn healthy(n: u32) -> Vec<Candidate> {
    (0..n)
        .map(|replica| Candidate {
            replica,
            inflight: 0,
            slots: 4,
            healthy: true,
        })
        .collect()
}

pub(crate) fn query<'a>(
    f: &'a RequestFeatures<'a>,
    candidates: &'a [Candidate],
    now: Nanos,
) -> RouteQuery<'a> {
    RouteQuery {
        pool: 0,
        now,
        features: f,
        candidates,
        evidence: &[],
        hindsight_ms: None,
    }
}

pub(crate) fn observe(
    p: &dyn RoutingPolicy,
    f: &RequestFeatures<'_>,
    replica: u32,
    ms: f64,
    now: Nanos,
) {
    p.observe(&Outcome {
        pool: 0,
        replica,
        features: f,
        sent: now,
        now,
        latency_ms: ms,
        service_ms: Some(ms),
        success: true,
    });
}

fn policy(name: &str) -> std::sync::Arc<dyn RoutingPolicy> {
    build(name, &PolicyConfig::default()).unwrap()
}

fn counts(p: &dyn RoutingPolicy, q: &RouteQuery<'_>, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::seed(seed);
    let mut c = vec![0; q.candidates.len()];
    for _ in 0..n {
        c[p.choose(q, &mut rng).index] += 1;
    }
    c
}

#[test]
fn round_robin_cycles_over_healthy_candidates() {
    let p = policy("round-robin");
    let f = features();
    let mut c = healthy(4);
    c[1].healthy = false;
    let mut rng = Rng::seed(1);
    let picks: Vec<usize> = (0..6)
        .map(|_| p.choose(&query(&f, &c, Nanos::ZERO), &mut rng).index)
        .collect();
    assert_eq!(picks, vec![0, 2, 3, 0, 2, 3]);
}

#[test]
fn random_spreads_evenly() {
    let f = features();
    let c = healthy(4);
    let n = counts(&*policy("random"), &query(&f, &c, Nanos::ZERO), 40_000, 2);
    assert!(n.iter().all(|&k| (9_000..11_000).contains(&k)), "{n:?}");
}

#[test]
fn least_inflight_picks_the_minimum_and_breaks_ties_randomly() {
    let f = features();
    let mut c = healthy(4);
    for (i, load) in [3, 1, 5, 1].into_iter().enumerate() {
        c[i].inflight = load;
    }
    let n = counts(
        &*policy("least-inflight"),
        &query(&f, &c, Nanos::ZERO),
        2_000,
        3,
    );
    assert_eq!(n[0] + n[2], 0);
    assert!(n[1] > 800 && n[3] > 800, "{n:?}");
}

#[test]
fn p2c_inflight_never_picks_the_most_loaded() {
    let f = features();
    let mut c = healthy(3);
    c[1].inflight = 9;
    let n = counts(
        &*policy("p2c-inflight"),
        &query(&f, &c, Nanos::ZERO),
        3_000,
        4,
    );
    assert_eq!(n[1], 0, "{n:?}");
}

#[test]
fn p2c_peak_ewma_avoids_a_slow_replica_then_retries_it_after_decay() {
    let p = policy("p2c-peak-ewma");
    let f = features();
    let c = healthy(5);
    let t0 = Nanos::from_ms(1_000.0);
    for r in 0..5 {
        observe(&*p, &f, r, if r == 2 { 200.0 } else { 10.0 }, t0);
    }
    let n = counts(&*p, &query(&f, &c, t0), 2_000, 5);
    assert_eq!(n[2], 0, "{n:?}");
    // The others keep getting fresh 10 ms samples; replica 2's 200 ms decays towards 0.
    let later = Nanos::from_ms(61_000.0);
    for r in [0, 1, 3, 4] {
        observe(&*p, &f, r, 10.0, later);
    }
    let n = counts(&*p, &query(&f, &c, later), 2_000, 6);
    assert!(n[2] > 0, "a penalised replica is eventually retried: {n:?}");
}

#[test]
fn c3_avoids_slow_replicas_and_long_queues() {
    let p = policy("c3");
    let f = features();
    let mut c = healthy(3);
    let t = Nanos::ZERO;
    for _ in 0..10 {
        observe(&*p, &f, 0, 10.0, t);
        observe(&*p, &f, 1, 10.0, t);
        observe(&*p, &f, 2, 80.0, t);
    }
    let n = counts(&*p, &query(&f, &c, t), 1_000, 7);
    assert_eq!(n[2], 0, "{n:?}");
    c[0].inflight = 2; // q̂³ = 27: 270 ms-equivalent, worse than the slow replica's 80.
    let n = counts(&*p, &query(&f, &c, t), 1_000, 8);
    assert_eq!(n, vec![0, 1_000, 0]);
    let e = p.explain(&query(&f, &c, t));
    assert_eq!(e.candidates.len(), 3);
    assert!(e.candidates[0].score.unwrap() > e.candidates[2].score.unwrap());
}

#[test]
fn oracle_picks_the_hindsight_best_and_falls_back_to_least_inflight() {
    let p = policy("oracle");
    let f = features();
    let mut c = healthy(3);
    let truth = [30.0, 5.0, 20.0];
    let mut q = query(&f, &c, Nanos::ZERO);
    q.hindsight_ms = Some(&truth);
    let mut rng = Rng::seed(9);
    let d = p.choose(&q, &mut rng);
    assert_eq!((d.index, d.predicted_ms), (1, Some(5.0)));
    c[0].inflight = 0;
    c[1].inflight = 2;
    c[2].inflight = 1;
    let d = p.choose(&query(&f, &c, Nanos::ZERO), &mut rng);
    assert_eq!(d.index, 0);
}

#[test]
fn knn_follows_neighbour_evidence_and_falls_back_without_it() {
    let p = policy("knn");
    assert!(p.uses_evidence());
    let f = features();
    let c = healthy(3);
    let evidence = [
        Evidence {
            similarity: 0.95,
            replica: 0,
            mean_ms: 40.0,
            count: 20,
        },
        Evidence {
            similarity: 0.9,
            replica: 1,
            mean_ms: 4.0,
            count: 20,
        },
        Evidence {
            similarity: 0.2, // too dissimilar: ignored
            replica: 2,
            mean_ms: 1.0,
            count: 20,
        },
    ];
    let mut q = query(&f, &c, Nanos::ZERO);
    q.evidence = &evidence;
    let n = counts(&*p, &q, 500, 10);
    assert_eq!(n[1], 500, "{n:?}");
    let e = p.explain(&q);
    assert!((e.candidates[1].predicted_ms.unwrap() - 4.0).abs() < 1e-3);
    // No evidence: p2c-peak-ewma's default prediction.
    let d = p.choose(&query(&f, &c, Nanos::ZERO), &mut Rng::seed(1));
    assert_eq!(d.predicted_ms, Some(DEFAULT_RTT_MS));
}

#[test]
fn every_policy_avoids_unhealthy_candidates_and_copes_when_none_is_healthy() {
    let f = features();
    for name in POLICY_NAMES {
        let p = policy(name);
        let mut c = healthy(6);
        for (i, cand) in c.iter_mut().enumerate() {
            cand.healthy = i == 4;
        }
        let truth = [1.0, 1.0, 1.0, 1.0, 9.0, 1.0];
        let mut q = query(&f, &c, Nanos::ZERO);
        q.hindsight_ms = Some(&truth);
        let n = counts(&*p, &q, 200, 11);
        assert_eq!(n[4], 200, "{name}: {n:?}");
        for cand in c.iter_mut() {
            cand.healthy = false;
        }
        let n = counts(&*p, &query(&f, &c, Nanos::ZERO), 200, 12);
        assert_eq!(n.iter().sum::<usize>(), 200, "{name}");
    }
}

#[test]
fn stateless_policies_refuse_foreign_snapshots() {
    let p = policy("round-robin");
    assert!(p.snapshot().is_empty());
    assert!(p.restore(&[]).is_ok());
    assert!(p.restore(&[1, 2, 3]).is_err());
}

fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec(
        (0u32..64, 0u32..20, 0u32..8, any::<bool>()).prop_map(|(replica, inflight, slots, h)| {
            Candidate {
                replica,
                inflight,
                slots,
                healthy: h,
            }
        }),
        1..12,
    )
}

fn arb_evidence() -> impl Strategy<Value = Vec<Evidence>> {
    prop::collection::vec(
        (
            -1.0f32..1.0,
            0u32..64,
            prop_oneof![Just(f32::NAN), 0.0f32..500.0],
            0u32..50,
        )
            .prop_map(|(similarity, replica, mean_ms, count)| Evidence {
                similarity,
                replica,
                mean_ms,
                count,
            }),
        0..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_policy_returns_a_valid_healthy_index(
        candidates in arb_candidates(),
        evidence in arb_evidence(),
        history in prop::collection::vec((0u32..64, 0.0f64..1_000.0, any::<bool>()), 0..200),
        with_truth in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let f = features();
        let truth: Vec<f64> = candidates.iter().map(|c| f64::from(c.replica) + 1.0).collect();
        let any_healthy = candidates.iter().any(|c| c.healthy);
        for name in POLICY_NAMES {
            let p = policy(name);
            for (i, &(replica, ms, ok)) in history.iter().enumerate() {
                p.observe(&Outcome {
                    pool: 0,
                    replica,
                    features: &f,
                    sent: Nanos(i as u64),
                    now: Nanos(i as u64 * 1_000_000),
                    latency_ms: ms,
                    service_ms: None,
                    success: ok,
                });
            }
            p.background_tick(Nanos(1));
            let q = RouteQuery {
                pool: 0,
                now: Nanos(500_000_000),
                features: &f,
                candidates: &candidates,
                evidence: &evidence,
                hindsight_ms: with_truth.then_some(&truth[..]),
            };
            let mut rng = Rng::seed(seed);
            for _ in 0..8 {
                let d = p.choose(&q, &mut rng);
                prop_assert!(d.index < candidates.len(), "{}: {}", name, d.index);
                prop_assert!(!any_healthy || candidates[d.index].healthy, "{} chose unhealthy", name);
            }
            prop_assert_eq!(p.explain(&q).candidates.len(), candidates.len());
        }
    }
}
