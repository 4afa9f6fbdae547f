//! The learner's state as bytes, so a restarted gateway routes well from its first request.
//!
//! Encoded with `rkyv` (validated on read), like the index crate's snapshot sections; the
//! gateway stores these bytes as the learner's section of the index snapshot. A snapshot only
//! restores into a learner with the same table shape (`table_bits`, `max_replicas`,
//! `max_patterns`); a mismatch is an error, never a silent partial restore. Peak-EWMA stamps are
//! on the old process's clock; they are kept as is, so estimates decay as if the restart took
//! no time (they are the safety net and are overwritten by the first outcomes).

use std::sync::atomic::Ordering;

use rkyv::rancor;

use super::Learner;
use super::adapter::Adapter;
use super::patterns::PatternStats;
use super::pool::PoolModel;
use super::sketch::{BINS, LatencySketch};
use crate::error::LearnerError;

/// Format version of `LearnerState`; bump on any layout change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct LearnerState {
    version: u32,
    table_bits: u8,
    max_replicas: u32,
    max_patterns: u16,
    fallback: Vec<PeakRow>,
    pools: Vec<PoolState>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct PeakRow {
    pool: u32,
    replica: u32,
    estimate_ms: f64,
    stamp: u64,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct PoolState {
    pool: u32,
    outcomes: u64,
    weights: Vec<u64>,
    replica_epochs: Vec<u32>,
    replica_variances: Vec<f64>,
    pattern_dim: u32,
    centroids: Vec<f32>,
    active: Vec<bool>,
    cells: Vec<CellState>,
    adapter: Option<AdapterState>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct CellState {
    epoch: u32,
    mean_log: f64,
    count: u64,
    sketch: Vec<f32>,
    variance: f64,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
struct AdapterState {
    rank: u32,
    dim: u32,
    a: Vec<f32>,
    u: Vec<f32>,
}

fn export_pool(pool: u32, m: &PoolModel) -> PoolState {
    let (dim, centroids, active) = m.patterns.export_centroids();
    let cells = m
        .patterns
        .export_cells()
        .into_iter()
        .map(|(epoch, s)| CellState {
            epoch,
            mean_log: s.mean_log,
            count: s.count,
            sketch: s.sketch.counts().to_vec(),
            variance: s.cusum.variance(),
        })
        .collect();
    let adapter = m.adapter.read().as_ref().map(|a| {
        let (rank, dim, a, u) = a.export();
        AdapterState {
            rank: rank as u32,
            dim: dim as u32,
            a,
            u,
        }
    });
    PoolState {
        pool,
        outcomes: m.outcomes.load(Ordering::Relaxed),
        weights: m.table.export(),
        replica_epochs: m
            .replicas
            .iter()
            .map(|r| r.epoch.load(Ordering::Relaxed))
            .collect(),
        replica_variances: m
            .replicas
            .iter()
            .map(|r| r.cusum.lock().variance())
            .collect(),
        pattern_dim: dim as u32,
        centroids,
        active,
        cells,
        adapter,
    }
}

/// Encodes the learner's state.
pub fn encode(learner: &Learner) -> Vec<u8> {
    let pools = learner
        .pools
        .read()
        .iter()
        .enumerate()
        .filter_map(|(p, m)| m.as_deref().map(|m| export_pool(p as u32, m)))
        .collect();
    let state = LearnerState {
        version: FORMAT_VERSION,
        table_bits: learner.cfg.table_bits,
        max_replicas: learner.cfg.max_replicas,
        max_patterns: learner.cfg.max_patterns,
        fallback: learner
            .fallback
            .export()
            .into_iter()
            .map(|(pool, replica, estimate_ms, stamp)| PeakRow {
                pool,
                replica,
                estimate_ms,
                stamp,
            })
            .collect(),
        pools,
    };
    // Serialising plain vectors into memory cannot fail; an empty result would be rejected
    // by `restore` rather than half-applied.
    rkyv::to_bytes::<rancor::Error>(&state)
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

fn invalid(reason: impl Into<String>) -> LearnerError {
    LearnerError::Snapshot {
        policy: "vector",
        reason: reason.into(),
    }
}

fn import_pool(cfg: &super::VectorConfig, s: PoolState) -> Result<PoolModel, LearnerError> {
    let m = PoolModel::new(cfg);
    if !m.table.import(&s.weights) {
        return Err(invalid(format!(
            "pool {}: weight table size differs",
            s.pool
        )));
    }
    if s.replica_epochs.len() != m.replicas.len() || s.replica_variances.len() != m.replicas.len() {
        return Err(invalid(format!("pool {}: replica count differs", s.pool)));
    }
    for ((r, e), v) in m
        .replicas
        .iter()
        .zip(&s.replica_epochs)
        .zip(&s.replica_variances)
    {
        r.epoch.store(*e, Ordering::Relaxed);
        let mut cusum = r.cusum.lock();
        cusum.set_variance(*v);
        r.set_residual_var(cusum.variance());
    }
    let mut cells = Vec::with_capacity(s.cells.len());
    for c in s.cells {
        let sketch: [f32; BINS] = c
            .sketch
            .try_into()
            .map_err(|_| invalid(format!("pool {}: sketch has the wrong size", s.pool)))?;
        let mut stats = PatternStats {
            mean_log: if c.mean_log.is_finite() {
                c.mean_log
            } else {
                0.0
            },
            count: c.count,
            sketch: LatencySketch::from_counts(sketch),
            ..PatternStats::default()
        };
        stats.cusum.set_variance(c.variance);
        cells.push((c.epoch, stats));
    }
    if !m
        .patterns
        .import(s.pattern_dim as usize, s.centroids, s.active, cells)
    {
        return Err(invalid(format!(
            "pool {}: pattern bank shape differs",
            s.pool
        )));
    }
    if let Some(a) = s.adapter {
        let adapter = Adapter::import(
            a.rank as usize,
            a.dim as usize,
            a.a,
            a.u,
            m.replicas.len(),
            cfg.adapter_lr,
        )
        .ok_or_else(|| invalid(format!("pool {}: adapter shape differs", s.pool)))?;
        *m.adapter.write() = Some(adapter);
    }
    m.outcomes.store(s.outcomes, Ordering::Relaxed);
    Ok(m)
}

/// Replaces the learner's state with a snapshot's. On error the learner is unchanged.
pub fn restore(learner: &Learner, bytes: &[u8]) -> Result<(), LearnerError> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    let state = rkyv::from_bytes::<LearnerState, rancor::Error>(&aligned)
        .map_err(|e| invalid(format!("not a learner snapshot: {e}")))?;
    if state.version != FORMAT_VERSION {
        return Err(invalid(format!(
            "format version {} (this build reads {FORMAT_VERSION})",
            state.version
        )));
    }
    let cfg = &learner.cfg;
    if state.table_bits != cfg.table_bits
        || state.max_replicas != cfg.max_replicas
        || state.max_patterns != cfg.max_patterns
    {
        return Err(invalid(format!(
            "shape table_bits={} max_replicas={} max_patterns={} differs from the config's \
             {}/{}/{}",
            state.table_bits,
            state.max_replicas,
            state.max_patterns,
            cfg.table_bits,
            cfg.max_replicas,
            cfg.max_patterns
        )));
    }
    let mut pools: Vec<Option<Box<PoolModel>>> = Vec::new();
    for s in state.pools {
        let p = s.pool as usize;
        if s.pool >= crate::policy::table::MAX_POOLS {
            return Err(invalid(format!("pool index {} out of range", s.pool)));
        }
        if pools.len() <= p {
            pools.resize_with(p + 1, || None);
        }
        pools[p] = Some(Box::new(import_pool(cfg, s)?));
    }
    learner.fallback.import(
        &state
            .fallback
            .iter()
            .map(|r| (r.pool, r.replica, r.estimate_ms, r.stamp))
            .collect::<Vec<_>>(),
    );
    *learner.pools.write() = pools;
    Ok(())
}
