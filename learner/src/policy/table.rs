//! Per-(pool, replica) state that many gateway tasks read and one learner writes.
//!
//! A policy is shared by every request task, so its state sits behind a [`parking_lot::RwLock`]
//! that is only taken for writing when a pool or replica is seen for the first time (the one
//! allocation). Steady-state reads and updates go through the cells' own atomics under the read
//! lock, so `choose` never waits on `observe`.

use parking_lot::{RwLock, RwLockUpgradableReadGuard};

/// Pools and replicas beyond these bounds are not tracked (their state reads as the default).
/// They keep a corrupted or hostile index from allocating without bound.
pub(crate) const MAX_POOLS: u32 = 4096;
/// See [`MAX_POOLS`].
pub(crate) const MAX_REPLICAS: u32 = 4096;

/// A grow-only table of `T` per (pool, replica).
#[derive(Debug, Default)]
pub(crate) struct ReplicaTable<T> {
    pools: RwLock<Vec<Vec<T>>>,
}

impl<T: Default> ReplicaTable<T> {
    /// An empty table.
    pub(crate) fn new() -> ReplicaTable<T> {
        ReplicaTable {
            pools: RwLock::new(Vec::new()),
        }
    }

    /// Runs `f` on the pool's replica cells (empty when the pool was never seen). Replicas
    /// beyond the slice's end have default state.
    pub(crate) fn read<R>(&self, pool: u32, f: impl FnOnce(&[T]) -> R) -> R {
        let pools = self.pools.read();
        match pools.get(pool as usize) {
            Some(replicas) => f(replicas),
            None => f(&[]),
        }
    }

    /// Runs `f` on the cell of (`pool`, `replica`), creating it (and its predecessors) first if
    /// needed. Returns `None` for indices beyond [`MAX_POOLS`]/[`MAX_REPLICAS`].
    pub(crate) fn with<R>(&self, pool: u32, replica: u32, f: impl FnOnce(&T) -> R) -> Option<R> {
        if pool >= MAX_POOLS || replica >= MAX_REPLICAS {
            return None;
        }
        let (p, r) = (pool as usize, replica as usize);
        let pools = self.pools.upgradable_read();
        let present = pools.get(p).is_some_and(|reps| reps.len() > r);
        let pools = if present {
            parking_lot::RwLockUpgradableReadGuard::downgrade(pools)
        } else {
            let mut w = RwLockUpgradableReadGuard::upgrade(pools);
            if w.len() <= p {
                w.resize_with(p + 1, Vec::new);
            }
            if w[p].len() <= r {
                w[p].resize_with(r + 1, T::default);
            }
            parking_lot::RwLockWriteGuard::downgrade(w)
        };
        Some(f(&pools[p][r]))
    }

    /// Runs `f` on every (pool, replica, cell) (for snapshots and background work).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, u32, &T)) {
        let pools = self.pools.read();
        for (p, replicas) in pools.iter().enumerate() {
            for (r, cell) in replicas.iter().enumerate() {
                f(p as u32, r as u32, cell);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn grows_on_write_and_reads_default_elsewhere() {
        let t: ReplicaTable<AtomicU32> = ReplicaTable::new();
        assert_eq!(t.read(3, |r| r.len()), 0);
        t.with(3, 2, |c| c.store(7, Ordering::Relaxed)).unwrap();
        assert_eq!(t.read(3, |r| r.len()), 3);
        assert_eq!(t.read(3, |r| r[2].load(Ordering::Relaxed)), 7);
        assert_eq!(t.read(3, |r| r[0].load(Ordering::Relaxed)), 0);
        assert!(t.with(MAX_POOLS, 0, |_| ()).is_none());
        let mut seen = 0;
        t.for_each(|_, _, _| seen += 1);
        assert_eq!(seen, 3);
    }
}
