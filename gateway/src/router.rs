//! Replica selection: session affinity where a pool asks for it, otherwise the configured
//! [`RoutingPolicy`] (the same trait and code the replay simulator runs).

use parking_lot::Mutex;
use std::sync::Arc;
use tokio::time::Instant;
use vecgate_backends::pool::Pool;
use vecgate_backends::replica::Replica;
use vecgate_learner::policy::{self, PolicyConfig};
use vecgate_learner::{
    Candidate, Decision, Nanos, Outcome, RequestFeatures, Rng, RouteQuery, RoutingPolicy,
};

use crate::config::Config;

/// Chooses replicas and feeds outcomes back to the policy.
pub struct Router {
    policy: Arc<dyn RoutingPolicy>,
    /// Policies take randomness as input; the gateway's is seeded from the OS once.
    rng: Mutex<Rng>,
    origin: Instant,
}

/// A routing decision with what is needed to report its outcome.
pub struct Routed {
    /// The chosen replica.
    pub replica: Arc<Replica>,
    /// The policy's decision (none under affinity).
    pub decision: Option<Decision>,
    /// When the request was sent.
    pub sent: Nanos,
}

impl Router {
    /// A router running the policy named in `config`.
    pub fn new(config: &Config) -> Result<Router, String> {
        let policy =
            policy::build(&config.policy, &PolicyConfig::default()).map_err(|e| e.to_string())?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        Ok(Router {
            policy,
            rng: Mutex::new(Rng::seed(u64::from_le_bytes(seed))),
            origin: Instant::now(),
        })
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Now, on the clock policies see.
    pub fn now(&self) -> Nanos {
        Nanos(self.origin.elapsed().as_nanos() as u64)
    }

    /// Pick a replica of `pool` for a request. `affinity_seed` pins the session's requests to
    /// one replica when the pool asks for affinity (rendezvous hashing over ready replicas, so
    /// every instance agrees and a replica that goes down moves only its own sessions).
    pub fn pick(
        &self,
        pool: &Pool,
        affinity_seed: u64,
        features: &RequestFeatures<'_>,
    ) -> Option<Routed> {
        let replicas = pool.replicas();
        if replicas.is_empty() {
            return None;
        }
        let now = self.now();
        if pool.spec().affinity {
            let chosen = replicas
                .iter()
                .filter(|r| r.is_ready())
                .max_by_key(|r| {
                    let mut key = [0u8; 12];
                    key[..8].copy_from_slice(&affinity_seed.to_le_bytes());
                    key[8..].copy_from_slice(&r.index().to_le_bytes());
                    xxhash_rust::xxh3::xxh3_64(&key)
                })
                .or_else(|| replicas.first())?;
            return Some(Routed {
                replica: Arc::clone(chosen),
                decision: None,
                sent: now,
            });
        }
        if replicas.len() == 1 {
            return Some(Routed {
                replica: Arc::clone(&replicas[0]),
                decision: None,
                sent: now,
            });
        }
        let slots = pool.spec().slots_per_replica;
        let candidates: Vec<Candidate> = replicas
            .iter()
            .map(|r| Candidate {
                replica: r.index(),
                inflight: r.inflight(),
                slots,
                healthy: r.is_ready(),
            })
            .collect();
        let query = RouteQuery {
            pool: pool.index(),
            now,
            features,
            candidates: &candidates,
            evidence: &[],
            hindsight_ms: None,
        };
        let decision = self.policy.choose(&query, &mut self.rng.lock());
        let replica = replicas.get(decision.index).unwrap_or(&replicas[0]);
        Some(Routed {
            replica: Arc::clone(replica),
            decision: Some(decision),
            sent: now,
        })
    }

    /// Report how a routed request went.
    pub fn observe(
        &self,
        pool: u32,
        routed: &Routed,
        features: &RequestFeatures<'_>,
        success: bool,
    ) {
        let now = self.now();
        self.policy.observe(&Outcome {
            pool,
            replica: routed.replica.index(),
            features,
            sent: routed.sent,
            now,
            latency_ms: now.ms_since(routed.sent),
            service_ms: None,
            success,
        });
    }
}
