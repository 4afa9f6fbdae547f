//! Settings of the `vector` policy's learner, with the reason behind each default.

use serde::{Deserialize, Serialize};

use crate::error::LearnerError;

/// How the learner predicts, explores, clusters and forgets. Every field has a default; the
/// defaults are the settings the calibration in `routing-caching-hnsw.md` §6 found to win.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorConfig {
    /// log2 of the number of hashed weights per pool (8..=22). 2^16 weights = 512 KiB.
    pub table_bits: u8,
    /// Replicas per pool the model tracks (1..=1024); a pool with more falls back to
    /// p2c-peak-ewma.
    pub max_replicas: u32,
    /// Outcomes a pool needs before the model routes; before that, p2c-peak-ewma does.
    pub warmup: u32,
    /// Observations a replica needs before its own prediction is trusted; until then it is
    /// predicted as fast as the best trusted candidate (optimism: a new replica gets tried).
    pub replica_warmup: u32,
    /// Observations a tool needs on a replica before that replica's prediction for it is
    /// trusted; until then it is predicted no slower than the best candidate that knows the
    /// tool (optimism per tool: a replica slow at one tool still gets tried at the others).
    pub tool_warmup: u32,
    /// Scale of the optimistic Thompson sample on each candidate's predicted log service time
    /// (1 = the posterior spread, 0 = off: deterministic argmin, which herds sequential traffic
    /// onto whichever replica's estimate is marginally lower).
    pub thompson_scale: f64,
    /// Probability of a directed exploration step. Calibration: above ~2 % p95 rose 2–5 %.
    pub explore_rate: f64,
    /// Floor of every weight's learning rate: how fast old knowledge is overwritten.
    pub lr_floor: f32,
    /// Largest share of a prediction that neighbour evidence may replace (0 = ignore it).
    pub evidence_weight: f32,
    /// Neighbours less similar than this are ignored.
    pub evidence_min_similarity: f32,
    /// Most patterns per pool in the pattern bank (0 disables patterns).
    pub max_patterns: u16,
    /// Cosine similarity a request needs to belong to a pattern.
    pub pattern_similarity: f32,
    /// Recent embeddings kept per pool for the background clustering.
    pub pattern_window: u32,
    /// CUSUM alarm threshold on standardised residuals (mean shift); the variance test uses
    /// twice this. Higher = fewer false alarms, slower reaction.
    pub change_threshold: f64,
    /// Per-tick multiplier of the quantile sketches' counts (1 = never forget).
    pub sketch_decay: f32,
    /// Rank of the low-rank adapter on the embedding (0 = off, the default: it has not been
    /// shown to help on replay; see the ablation test in `learn::adapter`).
    pub adapter_rank: u8,
    /// Adapter learning rate.
    pub adapter_lr: f32,
    /// Seed of the adapter's initial projection.
    pub seed: u64,
}

impl Default for VectorConfig {
    fn default() -> VectorConfig {
        VectorConfig {
            table_bits: 16,
            max_replicas: 64,
            warmup: 64,
            replica_warmup: 4,
            tool_warmup: 2,
            thompson_scale: 1.0,
            explore_rate: 0.01,
            lr_floor: 0.02,
            evidence_weight: 0.5,
            evidence_min_similarity: 0.5,
            max_patterns: 16,
            pattern_similarity: 0.8,
            pattern_window: 256,
            change_threshold: 16.0,
            sketch_decay: 0.98,
            adapter_rank: 0,
            adapter_lr: 0.05,
            seed: 0x5EC6_A7E0,
        }
    }
}

fn invalid(key: &'static str, value: impl ToString, reason: &'static str) -> LearnerError {
    LearnerError::InvalidConfig {
        key,
        value: value.to_string(),
        reason,
    }
}

impl VectorConfig {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), LearnerError> {
        if !(8..=22).contains(&self.table_bits) {
            return Err(invalid(
                "vector.table_bits",
                self.table_bits,
                "must be in 8..=22",
            ));
        }
        if !(1..=1024).contains(&self.max_replicas) {
            return Err(invalid(
                "vector.max_replicas",
                self.max_replicas,
                "must be in 1..=1024",
            ));
        }
        if self.tool_warmup > 1_000 {
            return Err(invalid(
                "vector.tool_warmup",
                self.tool_warmup,
                "must be <= 1000",
            ));
        }
        if !(0.0..=4.0).contains(&self.thompson_scale) {
            return Err(invalid(
                "vector.thompson_scale",
                self.thompson_scale,
                "must be in [0, 4] (0 = off)",
            ));
        }
        if !(0.0..=0.05).contains(&self.explore_rate) {
            return Err(invalid(
                "vector.explore_rate",
                self.explore_rate,
                "must be in [0, 0.05] (more exploration raised p95 in calibration)",
            ));
        }
        if !(self.lr_floor > 0.0 && self.lr_floor <= 0.5) {
            return Err(invalid(
                "vector.lr_floor",
                self.lr_floor,
                "must be in (0, 0.5]",
            ));
        }
        if !(0.0..=1.0).contains(&self.evidence_weight) {
            return Err(invalid(
                "vector.evidence_weight",
                self.evidence_weight,
                "must be in [0, 1]",
            ));
        }
        if !(-1.0..=1.0).contains(&self.evidence_min_similarity) {
            return Err(invalid(
                "vector.evidence_min_similarity",
                self.evidence_min_similarity,
                "must be in [-1, 1]",
            ));
        }
        if self.max_patterns > 256 {
            return Err(invalid(
                "vector.max_patterns",
                self.max_patterns,
                "must be <= 256",
            ));
        }
        if !(0.0..=1.0).contains(&self.pattern_similarity) {
            return Err(invalid(
                "vector.pattern_similarity",
                self.pattern_similarity,
                "must be in [0, 1]",
            ));
        }
        if !(1..=65_536).contains(&self.pattern_window) {
            return Err(invalid(
                "vector.pattern_window",
                self.pattern_window,
                "must be in 1..=65536",
            ));
        }
        if !(self.change_threshold.is_finite() && self.change_threshold > 0.0) {
            return Err(invalid(
                "vector.change_threshold",
                self.change_threshold,
                "must be a finite number > 0",
            ));
        }
        if !(self.sketch_decay > 0.0 && self.sketch_decay <= 1.0) {
            return Err(invalid(
                "vector.sketch_decay",
                self.sketch_decay,
                "must be in (0, 1]",
            ));
        }
        if self.adapter_rank > 4 {
            return Err(invalid(
                "vector.adapter_rank",
                self.adapter_rank,
                "must be in 0..=4 (0 = off)",
            ));
        }
        if !(self.adapter_lr > 0.0 && self.adapter_lr <= 1.0) {
            return Err(invalid(
                "vector.adapter_lr",
                self.adapter_lr,
                "must be in (0, 1]",
            ));
        }
        Ok(())
    }
}
