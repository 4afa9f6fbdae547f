//! Building policies by name from one serde config (the gateway's TOML `[routing]` table and
//! the replay CLI both deserialize a [`PolicyConfig`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::RoutingPolicy;
use super::c3::{C3, C3Config};
use super::knn::{Knn, KnnConfig};
use super::least_inflight::LeastInflight;
use super::oracle::Oracle;
use super::p2c_inflight::P2cInflight;
use super::peak_ewma::{P2cPeakEwma, PeakEwmaConfig};
use super::random::Random;
use super::round_robin::RoundRobin;
use super::vector::VectorPolicy;
use crate::error::LearnerError;
use crate::learn::VectorConfig;

/// Every policy [`build`] knows, in the order reports list them (baselines first).
pub const POLICY_NAMES: &[&str] = &[
    "round-robin",
    "random",
    "least-inflight",
    "p2c-inflight",
    "p2c-peak-ewma",
    "c3",
    "knn",
    "vector",
    "oracle",
];

/// The default policy.
pub const DEFAULT_POLICY: &str = "vector";

/// Settings of every policy; each policy reads its own section. All sections have defaults.
///
/// ```toml
/// policy = "vector"
/// [vector]
/// explore_rate = 0.01
/// [peak_ewma]
/// default_rtt_ms = 30.0
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy to run (one of [`POLICY_NAMES`]).
    pub policy: String,
    /// `p2c-peak-ewma`, and the safety net of `knn` and `vector`.
    pub peak_ewma: PeakEwmaConfig,
    /// `c3`.
    pub c3: C3Config,
    /// `knn`.
    pub knn: KnnConfig,
    /// `vector` and its learner.
    pub vector: VectorConfig,
}

impl Default for PolicyConfig {
    fn default() -> PolicyConfig {
        PolicyConfig {
            policy: DEFAULT_POLICY.to_owned(),
            peak_ewma: PeakEwmaConfig::default(),
            c3: C3Config::default(),
            knn: KnnConfig::default(),
            vector: VectorConfig::default(),
        }
    }
}

impl PolicyConfig {
    /// Checks the policy name and every section.
    pub fn validate(&self) -> Result<(), LearnerError> {
        check_name(&self.policy)?;
        self.peak_ewma.validate()?;
        self.c3.validate()?;
        self.knn.validate()?;
        self.vector.validate()
    }

    /// Builds the configured policy.
    pub fn build(&self) -> Result<Arc<dyn RoutingPolicy>, LearnerError> {
        build(&self.policy, self)
    }
}

fn check_name(name: &str) -> Result<(), LearnerError> {
    if POLICY_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(LearnerError::UnknownPolicy {
            name: name.to_owned(),
            known: POLICY_NAMES.join(", "),
        })
    }
}

/// Builds the policy called `name` with `cfg`'s settings (`cfg.policy` is ignored). Validates
/// the config first.
pub fn build(name: &str, cfg: &PolicyConfig) -> Result<Arc<dyn RoutingPolicy>, LearnerError> {
    check_name(name)?;
    cfg.peak_ewma.validate()?;
    cfg.c3.validate()?;
    cfg.knn.validate()?;
    cfg.vector.validate()?;
    Ok(match name {
        "round-robin" => Arc::new(RoundRobin::new()),
        "random" => Arc::new(Random),
        "least-inflight" => Arc::new(LeastInflight),
        "p2c-inflight" => Arc::new(P2cInflight),
        "p2c-peak-ewma" => Arc::new(P2cPeakEwma::new(&cfg.peak_ewma)),
        "c3" => Arc::new(C3::new(&cfg.c3)),
        "knn" => Arc::new(Knn::new(&cfg.knn, &cfg.peak_ewma)),
        "vector" => Arc::new(VectorPolicy::new(&cfg.vector, &cfg.peak_ewma)),
        "oracle" => Arc::new(Oracle),
        other => {
            return Err(LearnerError::UnknownPolicy {
                name: other.to_owned(),
                known: POLICY_NAMES.join(", "),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_reports_its_name() {
        let cfg = PolicyConfig::default();
        for name in POLICY_NAMES {
            assert_eq!(build(name, &cfg).unwrap().name(), *name);
        }
        assert_eq!(cfg.build().unwrap().name(), DEFAULT_POLICY);
    }

    #[test]
    fn unknown_names_and_bad_values_are_errors_naming_the_key() {
        let Err(err) = build("fastest", &PolicyConfig::default()) else {
            panic!("an unknown name must not build");
        };
        assert!(err.to_string().contains("fastest") && err.to_string().contains("vector"));
        let mut cfg = PolicyConfig::default();
        cfg.vector.explore_rate = 0.2;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("vector.explore_rate"), "{err}");
    }

    #[test]
    fn deserializes_partial_toml_like_json() {
        let cfg: PolicyConfig = serde_json::from_str(
            r#"{"policy":"c3","c3":{"alpha":0.5},"vector":{"adapter_rank":2}}"#,
        )
        .unwrap();
        assert_eq!(cfg.policy, "c3");
        assert_eq!(cfg.c3.alpha, 0.5);
        assert_eq!(cfg.c3.clients, 1);
        assert_eq!(cfg.vector.adapter_rank, 2);
        assert!(serde_json::from_str::<PolicyConfig>(r#"{"vektor":{}}"#).is_err());
    }
}
