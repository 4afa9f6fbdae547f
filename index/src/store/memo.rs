//! Neighbour memo: a repeated request skips most of the search.
//!
//! A direct-mapped table keyed by the request key. A slot remembers the `k` best neighbours
//! among entries `0..len` and the store's forget generation at that time. The store only
//! appends entries, and a tombstone bumps the generation, so while the generation holds the
//! memoised list is still the answer over `0..len`, and the answer over the whole store is that
//! list merged with an exact scan of the few entries added since (`len..`), which is what the
//! store does ([`TrajectoryStore::search_memo`](super::TrajectoryStore::search_memo)), then
//! writes the merged list back. With a flat view the result is exactly a fresh search's; with a
//! graph it is the graph's answer at `len` plus the exact newcomers, never worse. Merges only
//! change statistics, not neighbours. The same slot lets
//! [`TrajectoryStore::record_keyed`](super::TrajectoryStore::record_keyed) find the entry to
//! merge into without a search, reusing the search that routed the request.
//!
//! Each slot has its own mutex, held for a copy of at most [`MEMO_K`] neighbours; no
//! allocation.

use super::kernel::Neighbour;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest `k` the memo stores; larger searches bypass it.
pub const MEMO_K: usize = 16;

/// Largest number of entries added since a slot was written that a lookup will scan to bring
/// it up to date; beyond it the slot is treated as stale (a fresh search is cheaper or close).
pub(crate) const MAX_CATCH_UP: u32 = 512;

#[derive(Clone, Copy)]
struct Slot {
    key: u64,
    forgets: u64,
    len: u32,
    k: u32,
    n: u32,
    items: [Neighbour; MEMO_K],
}

const EMPTY: Slot = Slot {
    key: 0,
    forgets: u64::MAX,
    len: 0,
    k: 0,
    n: 0,
    items: [Neighbour {
        entry: 0,
        similarity: 0.0,
    }; MEMO_K],
};

/// A memo entry as a lookup found it.
pub(crate) struct Memoised {
    /// Entries the neighbours were computed over (`0..len`).
    pub(crate) len: u32,
    /// How many neighbours were asked for (1 when the recorder filled the slot).
    pub(crate) k: u32,
}

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

    /// Copies the memoised neighbours of `key` into `out` when the slot holds this key, was
    /// written at forget generation `forgets` over at most `len` entries (no more than
    /// [`MAX_CATCH_UP`] fewer), and with `k` neighbours (`None`: any `k`). Does not count.
    pub(crate) fn get(
        &self,
        key: u64,
        forgets: u64,
        len: u32,
        k: Option<usize>,
        out: &mut Vec<Neighbour>,
    ) -> Option<Memoised> {
        let slot = self.slot(key).lock();
        if slot.key == key
            && slot.forgets == forgets
            && slot.len <= len
            && len - slot.len <= MAX_CATCH_UP
            && k.is_none_or(|k| slot.k as usize == k)
        {
            out.clear();
            out.extend_from_slice(&slot.items[..slot.n as usize]);
            return Some(Memoised {
                len: slot.len,
                k: slot.k,
            });
        }
        None
    }

    /// Remembers `found` as the `k` best of entries `0..len` at generation `forgets`.
    pub(crate) fn put(&self, key: u64, forgets: u64, len: u32, k: usize, found: &[Neighbour]) {
        if k > MEMO_K || found.len() > MEMO_K {
            return;
        }
        let mut slot = self.slot(key).lock();
        slot.key = key;
        slot.forgets = forgets;
        slot.len = len;
        slot.k = k as u32;
        slot.n = found.len() as u32;
        slot.items[..found.len()].copy_from_slice(found);
    }

    pub(crate) fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
