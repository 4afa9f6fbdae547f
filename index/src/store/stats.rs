//! Per-entry statistics: how requests like this one fared on each (pool, replica).
//!
//! Statistics change on every merge while readers look at them, so each entry's rows sit behind
//! their own tiny mutex: a reader waits at most for one row update (tens of nanoseconds), and
//! only when the writer is touching that very entry. Rows are allocated once per (pool,
//! replica) seen, not per observation.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One routed request's result, as the learner reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrajectoryOutcome {
    /// The pool the request went to.
    pub pool: u32,
    /// The replica that served it.
    pub replica: u32,
    /// Response time seen by the gateway, in ms (failures included: a timeout is informative).
    pub latency_ms: f32,
    /// False for transport errors, timeouts and JSON-RPC error answers.
    pub success: bool,
    /// Size of the result in bytes.
    pub result_bytes: u32,
    /// When the result arrived, in ms on the caller's clock.
    pub at_ms: u64,
}

/// What the store knows about one (entry, pool, replica).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaStat {
    /// The replica.
    pub replica: u32,
    /// EWMA of latency in ms (see [`crate::store::StoreConfig::ewma_alpha`]).
    pub mean_ms: f32,
    /// Outcomes summarised (saturating).
    pub count: u32,
    /// Failed outcomes among them (saturating).
    pub failures: u32,
    /// When the last outcome arrived (caller's clock, ms).
    pub last_seen_ms: u64,
    /// EWMA of the result size in bytes.
    pub mean_result_bytes: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StatRow {
    pub(crate) pool: u32,
    pub(crate) stat: ReplicaStat,
}

/// One entry's mutable state.
#[derive(Debug, Default)]
pub(crate) struct EntryMeta {
    pub(crate) dead: AtomicBool,
    pub(crate) rows: Mutex<Vec<StatRow>>,
}

impl EntryMeta {
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Folds one outcome into the (pool, replica) row, creating it on first sight.
    pub(crate) fn observe(&self, o: &TrajectoryOutcome, alpha: f32) {
        let mut rows = self.rows.lock();
        let failed = u32::from(!o.success);
        match rows
            .iter_mut()
            .find(|r| r.pool == o.pool && r.stat.replica == o.replica)
        {
            Some(row) => {
                let s = &mut row.stat;
                s.mean_ms += alpha * (o.latency_ms - s.mean_ms);
                s.mean_result_bytes += alpha * (o.result_bytes as f32 - s.mean_result_bytes);
                s.count = s.count.saturating_add(1);
                s.failures = s.failures.saturating_add(failed);
                s.last_seen_ms = s.last_seen_ms.max(o.at_ms);
            }
            None => rows.push(StatRow {
                pool: o.pool,
                stat: ReplicaStat {
                    replica: o.replica,
                    mean_ms: o.latency_ms,
                    count: 1,
                    failures: failed,
                    last_seen_ms: o.at_ms,
                    mean_result_bytes: o.result_bytes as f32,
                },
            }),
        }
    }

    /// The latest `last_seen_ms` over all rows (0 when none).
    pub(crate) fn last_seen_ms(&self) -> u64 {
        self.rows
            .lock()
            .iter()
            .map(|r| r.stat.last_seen_ms)
            .max()
            .unwrap_or(0)
    }
}
