//! Neighbour memo: a repeated request skips the search.
//!
//! A direct-mapped table keyed by the request key. A slot remembers the neighbours found at a
//! store epoch; the epoch changes whenever the set of searchable entries changes (insert,
//! forget, restore), so a memoised answer is exactly what a new search on the same view would
//! return. Merges only change statistics, not neighbours, and keep the epoch. Each slot has its
//! own mutex, held for a copy of at most [`MEMO_K`] neighbours; no allocation.

use super::kernel::Neighbour;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest `k` the memo stores; larger searches bypass it.
pub const MEMO_K: usize = 16;

#[derive(Clone, Copy)]
struct Slot {
    key: u64,
    epoch: u64,
    k: u32,
    len: u32,
    items: [Neighbour; MEMO_K],
}

const EMPTY: Slot = Slot {
    key: 0,
    epoch: u64::MAX,
    k: 0,
    len: 0,
    items: [Neighbour {
        entry: 0,
        similarity: 0.0,
    }; MEMO_K],
};

pub(crate) struct Memo {
    slots: Box<[Mutex<Slot>]>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl Memo {
    pub(crate) fn new(slots: usize) -> Memo {
        Memo {
            slots: (0..slots.max(1)).map(|_| Mutex::new(EMPTY)).collect(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn slot(&self, key: u64) -> &Mutex<Slot> {
        &self.slots[(((key >> 32) * self.slots.len() as u64) >> 32) as usize]
    }

    /// Copies the memoised neighbours into `out` when present for this key, epoch and `k`.
    pub(crate) fn get(&self, key: u64, epoch: u64, k: usize, out: &mut Vec<Neighbour>) -> bool {
        let slot = self.slot(key).lock();
        if slot.key == key && slot.epoch == epoch && slot.k as usize == k {
            out.clear();
            out.extend_from_slice(&slot.items[..slot.len as usize]);
            drop(slot);
            self.hits.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        drop(slot);
        self.misses.fetch_add(1, Ordering::Relaxed);
        false
    }

    pub(crate) fn put(&self, key: u64, epoch: u64, k: usize, found: &[Neighbour]) {
        if k > MEMO_K {
            return;
        }
        let mut slot = self.slot(key).lock();
        slot.key = key;
        slot.epoch = epoch;
        slot.k = k as u32;
        slot.len = found.len() as u32;
        slot.items[..found.len()].copy_from_slice(found);
    }
}
