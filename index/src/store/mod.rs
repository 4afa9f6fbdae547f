//! The trajectory store: past requests as vectors, each with per-(pool, replica) outcome
//! statistics, searchable by similarity while the learner writes.
//!
//! # Shape
//! - **Bounded by novelty, not traffic.** [`TrajectoryStore::record`] first looks for the
//!   nearest entry; at similarity ≥ [`StoreConfig::merge_similarity`] the outcome is folded into
//!   that entry's statistics in O(1) and no node is added. Past
//!   [`StoreConfig::max_entries`] every outcome merges into its nearest entry, so memory has a
//!   hard bound whatever the traffic.
//! - **Readers never wait for the writer.** Searches run on an immutable view loaded from an
//!   `ArcSwap`: an HNSW graph over entries `0..graph_len` plus a flat scan of the few newer
//!   rows. The graph is the store's own flat-array HNSW ([`GraphBackend::Native`], module
//!   `hnsw`; hnsw_rs stays selectable as [`GraphBackend::HnswRs`]). One background indexer
//!   thread moves new rows into the graph in batches and rebuilds it when tombstones pile up
//!   (neither graph deletes); with [`Indexing::Inline`] the recording thread does that work
//!   itself, deterministically (replay).
//!   The flat part is bounded: while it holds [`StoreConfig::max_unindexed`] rows, novel
//!   outcomes merge into their nearest entry (as past `max_entries`) until the indexer catches
//!   up, so novel traffic faster than graph insertion sheds entries instead of slowing every
//!   search (an insert costs several times a routed request's search). The only locks a
//!   reader can meet are an entry's statistics mutex (held for one row update) and a memo
//!   slot's mutex (one copy).
//! - **Flat below the crossover.** Under a few thousand entries a flat scan beats the graph on
//!   this hardware. With [`Crossover::Auto`] the indexer times both on the running machine and
//!   picks.
//! - **`ef` tuned to a recall, not fixed.** With [`Crossover::Auto`] each calibration (the
//!   first build, then each doubling) measures recall@10 against the exact scan at rising
//!   `ef` and searches with the smallest `ef` (up to [`StoreConfig::max_tuned_ef`]) that
//!   reaches [`StoreConfig::target_recall`]: a small graph needs far less `ef` than a large
//!   one for the same recall (16 vs 48 at 10K and 100K generated requests). The queries are
//!   rows spread over the step held out of the graph; with [`StoreConfig::tune_on_traffic`],
//!   once 128 have been sampled, distinct queries of the store's own searches (one search in
//!   32, module `traffic`), and the indexer re-tunes on each refilled sample, paced to ~2 %
//!   of its core.
//! - **Neighbour memo.** [`TrajectoryStore::search_memo`] answers a repeated request key from
//!   its memoised neighbours, brought up to date by an exact scan of the entries added since
//!   (a forget invalidates the memo). [`TrajectoryStore::record_keyed`] reuses the same slot,
//!   so recording the outcome of a routed request does not search again.
//!
//! Entry ids are dense `u32`s, stable for the store's lifetime and across snapshots (tombstoned
//! entries keep their id).

mod config;
mod graph;
mod hnsw;
mod indexer;
mod kernel;
mod memo;
mod stats;
mod traffic;
mod view;

pub use config::{Crossover, Indexing, StoreConfig};
pub(crate) use graph::Graph;
pub use graph::GraphBackend;
pub use hnsw::HnswParams;
pub use kernel::{DotClamp, Neighbour, dot, dot_i8, quantize};
pub use memo::MEMO_K;
pub use stats::{ReplicaStat, TrajectoryOutcome};

use crate::error::StoreError;
use arc_swap::ArcSwap;
pub(crate) use hnsw::{Graph as NativeGraph, GraphParts};
use parking_lot::{Condvar, Mutex};
pub(crate) use stats::StatRow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
pub use view::RecallSample;
pub(crate) use view::{Mode, View};

/// What [`TrajectoryStore::record`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Recorded {
    /// Folded into an existing entry (near-identical, or the store is full).
    Merged {
        /// The entry updated.
        entry: u32,
        /// Its similarity to the recorded embedding.
        similarity: f32,
    },
    /// Added as a new entry.
    Inserted {
        /// The new entry's id.
        entry: u32,
    },
}

/// Counters and shape of the store, for metrics and the admin API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoreStats {
    /// Entries, tombstoned included.
    pub entries: u32,
    /// Tombstoned entries.
    pub dead: u32,
    /// Entries covered by the graph.
    pub graph_len: u32,
    /// Whether readers currently search the graph (else a flat scan).
    pub graph_in_use: bool,
    /// Outcomes merged into existing entries.
    pub merges: u64,
    /// Outcomes that added an entry.
    pub inserts: u64,
    /// Novel outcomes merged into their nearest entry because the graph was
    /// [`StoreConfig::max_unindexed`] rows behind (included in `merges`).
    pub deferred: u64,
    /// Graph (re)builds from scratch (the first build included).
    pub rebuilds: u64,
    /// Memo answers.
    pub memo_hits: u64,
    /// Memo lookups that searched.
    pub memo_misses: u64,
    /// The current epoch.
    pub epoch: u64,
    /// The `ef` searches use when they ask for the store's own (calibrated under
    /// [`StoreConfig::target_recall`], else [`HnswParams::ef_search`]).
    pub search_ef: usize,
    /// Recall@10 the last calibration measured at `search_ef` on its sample (`None` before
    /// one ran, or without a target).
    pub sampled_recall: Option<f32>,
    /// Which queries that sample held.
    pub recall_sample: RecallSample,
}

impl StoreStats {
    /// How searches run, for logs and benches: e.g. `the graph at ef 16 (recall@10 0.964 on
    /// sampled searches)` or `the flat scan`.
    pub fn search_path(&self) -> String {
        if !self.graph_in_use {
            return "the flat scan".to_owned();
        }
        let sample = match self.recall_sample {
            RecallSample::Traffic => "searches",
            _ => "held-out rows",
        };
        match self.sampled_recall {
            Some(r) => format!(
                "the graph at ef {} (recall@10 {r:.3} on sampled {sample})",
                self.search_ef
            ),
            None => format!("the graph at ef {}", self.search_ef),
        }
    }
}

/// State shared by the store handle and its indexer thread.
pub(crate) struct Shared {
    pub(crate) config: StoreConfig,
    pub(crate) view: ArcSwap<View>,
    /// Serialises view updates (writer and indexer publish under it; readers never take it).
    /// Holds the writer's scratch buffer.
    write: Mutex<Vec<Neighbour>>,
    /// One indexing step at a time (background thread or `flush`).
    pub(crate) indexer: Mutex<()>,
    pub(crate) wake: Mutex<bool>,
    pub(crate) wake_cv: Condvar,
    shutdown: AtomicBool,
    pub(crate) calibrated_len: AtomicU32,
    /// Queries of searches that use the tuned `ef`, for calibrating it on traffic.
    pub(crate) traffic: traffic::TrafficSample,
    /// When the indexer last tuned `ef` on traffic, and how long that took (it paces the next).
    pub(crate) traffic_tuned: Mutex<Option<(std::time::Instant, std::time::Duration)>>,
    memo: memo::Memo,
    merges: AtomicU64,
    inserts: AtomicU64,
    deferred: AtomicU64,
    pub(crate) rebuilds: AtomicU64,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Replaces the view with `f(current)` under the writer mutex.
    pub(crate) fn publish(&self, f: impl FnOnce(&View) -> View) {
        let _writer = self.write.lock();
        let current = self.view.load();
        self.view.store(Arc::new(f(&current)));
    }

    fn wake_indexer(&self) {
        *self.wake.lock() = true;
        self.wake_cv.notify_one();
    }
}

/// The trajectory store. See the module docs. `Sync`: share it behind an `Arc`.
pub struct TrajectoryStore {
    shared: Arc<Shared>,
    indexer: Option<JoinHandle<()>>,
}

impl TrajectoryStore {
    /// An empty store. Spawns the indexer thread (`vecgate-indexer`) unless the crossover is
    /// [`Crossover::FlatOnly`] or indexing is [`Indexing::Inline`].
    pub fn new(config: StoreConfig) -> Result<TrajectoryStore, StoreError> {
        let view = View::empty(config.dim);
        Self::from_view(config, view)
    }

    pub(crate) fn from_view(
        config: StoreConfig,
        view: View,
    ) -> Result<TrajectoryStore, StoreError> {
        config.validate()?;
        let spawn =
            config.crossover != Crossover::FlatOnly && config.indexing == Indexing::Background;
        let shared = Arc::new(Shared {
            memo: memo::Memo::new(config.memo_slots),
            traffic: traffic::TrafficSample::new(config.dim),
            config,
            view: ArcSwap::from_pointee(view),
            write: Mutex::new(Vec::with_capacity(1)),
            indexer: Mutex::new(()),
            wake: Mutex::new(true),
            wake_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            calibrated_len: AtomicU32::new(0),
            traffic_tuned: Mutex::new(None),
            merges: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            rebuilds: AtomicU64::new(0),
        });
        let indexer = if spawn {
            let for_thread = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("vecgate-indexer".into())
                    .spawn(move || indexer::run(for_thread))
                    .map_err(|_| StoreError::Config {
                        field: "crossover",
                        reason: "could not spawn the indexer thread",
                    })?,
            )
        } else {
            None
        };
        Ok(TrajectoryStore { shared, indexer })
    }

    /// A store holding `vectors` (row-major, `config.dim` wide, unit length) as entries
    /// `0..n` with no statistics yet: seeding from a dataset, and benches. The graph is built in
    /// the background (or by [`TrajectoryStore::flush`]).
    pub fn from_vectors(
        config: StoreConfig,
        vectors: &[f32],
    ) -> Result<TrajectoryStore, StoreError> {
        config.validate()?;
        if !vectors.len().is_multiple_of(config.dim) {
            return Err(StoreError::WrongDimension {
                expected: config.dim,
                received: vectors.len() % config.dim,
            });
        }
        if vectors.len() / config.dim >= config.max_entries as usize {
            return Err(StoreError::Config {
                field: "max_entries",
                reason: "smaller than the vectors to load",
            });
        }
        for row in vectors.chunks_exact(config.dim) {
            check_vector(row, config.dim)?;
        }
        let view = View::from_rows(config.dim, vectors);
        Self::from_view(config, view)
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Entries, tombstoned included (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.shared.view.load().len as usize
    }

    /// True when the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current epoch: changes whenever entries are added or forgotten.
    pub fn epoch(&self) -> u64 {
        self.shared.view.load().epoch
    }

    /// The `k` nearest live entries to `query` (unit vector of the store's dimension), best
    /// first, into `out` (cleared first). A query of the wrong length finds nothing. Lock-free
    /// against the writer; allocates only inside hnsw_rs when the graph is in use.
    pub fn search(&self, query: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        let view = self.shared.view.load();
        if query.len() != view.dim {
            out.clear();
            return;
        }
        self.offer_to_calibration(query);
        view.search(query, k, view.ef_or(self.shared.config.hnsw.ef_search), out);
    }

    /// Samples a search that uses the store's own `ef` for its calibration (see `traffic`),
    /// whether or not the graph answers it yet: the next calibration may choose the graph.
    #[inline]
    fn offer_to_calibration(&self, query: &[f32]) {
        let config = &self.shared.config;
        if config.tune_on_traffic
            && config.crossover == Crossover::Auto
            && config.target_recall.is_some()
        {
            self.shared.traffic.offer(query);
        }
    }

    /// [`TrajectoryStore::search`] with another HNSW `ef` than the configured one (tuning and
    /// benches; the flat part is exact either way).
    pub fn search_ef(&self, query: &[f32], k: usize, ef: usize, out: &mut Vec<Neighbour>) {
        let view = self.shared.view.load();
        if query.len() != view.dim {
            out.clear();
            return;
        }
        view.search(query, k, ef, out);
    }

    /// Like [`TrajectoryStore::search`], but a request `key` searched before (same `k` ≤
    /// [`MEMO_K`], no entry forgotten since, at most a few hundred entries added since) is
    /// answered from the memo, brought up to date by an exact scan of the entries added since
    /// (see the memo's docs). Returns true on a memo hit.
    pub fn search_memo(&self, key: u64, query: &[f32], k: usize, out: &mut Vec<Neighbour>) -> bool {
        self.search_memo_with(key, query, k, None, out)
    }

    /// [`TrajectoryStore::search_memo`] with another HNSW `ef` than the configured one: the
    /// routing search, whose neighbours weight evidence and need less recall than a lookup.
    pub fn search_memo_ef(
        &self,
        key: u64,
        query: &[f32],
        k: usize,
        ef: usize,
        out: &mut Vec<Neighbour>,
    ) -> bool {
        self.search_memo_with(key, query, k, Some(ef), out)
    }

    /// The memoised search at `ef`, or at the view's own (calibrated or configured) when
    /// `None`: one view load either way.
    fn search_memo_with(
        &self,
        key: u64,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        out: &mut Vec<Neighbour>,
    ) -> bool {
        let view = self.shared.view.load();
        let memo = &self.shared.memo;
        let use_memo = self.shared.config.memo_slots > 0 && k <= MEMO_K;
        if query.len() != view.dim {
            out.clear();
            return false;
        }
        let ef = match ef {
            Some(ef) => ef,
            None => {
                self.offer_to_calibration(query);
                view.ef_or(self.shared.config.hnsw.ef_search)
            }
        };
        if use_memo {
            if let Some(m) = memo.get(key, view.forgets, view.len, Some(k), out) {
                if m.len < view.len {
                    view.scan_from(m.len, query, k, out);
                    memo.put(key, view.forgets, view.len, k, out);
                }
                memo.count(true);
                return true;
            }
            memo.count(false);
        }
        view.search(query, k, ef, out);
        if use_memo {
            memo.put(key, view.forgets, view.len, k, out);
        }
        false
    }

    /// Folds one outcome into the store: merged into the nearest entry when it is near-identical
    /// (or the store is full), else inserted as a new entry.
    pub fn record(
        &self,
        embedding: &[f32],
        outcome: &TrajectoryOutcome,
    ) -> Result<Recorded, StoreError> {
        self.record_inner(None, embedding, outcome)
    }

    /// [`TrajectoryStore::record`] for a request whose neighbours were looked up with
    /// [`TrajectoryStore::search_memo`] under `key` (the routing search): the nearest entry is
    /// taken from that memo slot (its similarity recomputed exactly) and only the entries added
    /// since are scanned, so recording costs O(1) plus that catch-up instead of a search. Falls
    /// back to a search when the slot is gone or stale.
    pub fn record_keyed(
        &self,
        key: u64,
        embedding: &[f32],
        outcome: &TrajectoryOutcome,
    ) -> Result<Recorded, StoreError> {
        self.record_inner(Some(key), embedding, outcome)
    }

    fn record_inner(
        &self,
        key: Option<u64>,
        embedding: &[f32],
        outcome: &TrajectoryOutcome,
    ) -> Result<Recorded, StoreError> {
        check_vector(embedding, self.shared.config.dim)?;
        let config = &self.shared.config;
        let mut nearest = self.shared.write.lock();
        let view = self.shared.view.load_full();
        let memoised = match key {
            Some(key) if config.memo_slots > 0 => self
                .shared
                .memo
                .get(key, view.forgets, view.len, None, &mut nearest)
                .map(|m| (key, m)),
            _ => None,
        };
        match memoised {
            Some((key, m)) => {
                nearest.truncate(1);
                if let Some(best) = nearest.first_mut() {
                    best.similarity = dot(embedding, view.row(best.entry));
                }
                if m.len < view.len {
                    view.scan_from(m.len, embedding, 1, &mut nearest);
                    // A slot only the recorder uses moves forward with it, so the next
                    // outcome does not scan the same entries again; a routing search's slot
                    // (more neighbours) is left for the router to advance.
                    if m.k == 1 {
                        self.shared
                            .memo
                            .put(key, view.forgets, view.len, 1, &nearest);
                    }
                }
            }
            None => {
                view.search(
                    embedding,
                    1,
                    view.ef_or(config.hnsw.ef_search),
                    &mut nearest,
                );
                // No routing search filled the slot (e.g. a pool of one replica is not
                // routed): remember this one, so the key's next outcome merges in O(1) too.
                if let Some(key) = key
                    && config.memo_slots > 0
                {
                    self.shared
                        .memo
                        .put(key, view.forgets, view.len, 1, &nearest);
                }
            }
        }
        // The indexer is `max_unindexed` rows behind the readers' graph: taking this row would
        // lengthen every search's flat scan, so it waits for the graph like a full store does.
        let backlogged = view.mode == view::Mode::Graph
            && view.graph.is_some()
            && (view.len - view.graph_len) as usize >= config.max_unindexed;
        if let Some(&best) = nearest.first()
            && (best.similarity >= config.merge_similarity
                || view.len >= config.max_entries
                || backlogged)
        {
            if let Some(meta) = view.meta(best.entry) {
                meta.observe(outcome, config.ewma_alpha);
            }
            self.shared.merges.fetch_add(1, Ordering::Relaxed);
            if best.similarity < config.merge_similarity && view.len < config.max_entries {
                self.shared.deferred.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Recorded::Merged {
                entry: best.entry,
                similarity: best.similarity,
            });
        }
        if view.len >= config.max_entries {
            return Err(StoreError::Full {
                max_entries: config.max_entries,
            });
        }
        let entry = view.len;
        let next = view.with_row(embedding);
        if let Some(meta) = next.meta(entry) {
            meta.observe(outcome, config.ewma_alpha);
        }
        let pending = (next.len - next.graph_len) as usize;
        self.shared.view.store(Arc::new(next));
        drop(nearest);
        self.shared.inserts.fetch_add(1, Ordering::Relaxed);
        if pending >= config.graph_batch || entry + 1 == indexer::AUTO_MIN_GRAPH {
            match config.indexing {
                Indexing::Background => self.shared.wake_indexer(),
                Indexing::Inline => while indexer::step(&self.shared, false) {},
            }
        }
        Ok(Recorded::Inserted { entry })
    }

    /// Calls `f` with each replica's statistics for `entry` in `pool`. `f` runs after the entry's
    /// lock is released (rows are copied out in small batches), so it may call back into the
    /// store.
    pub fn for_each_stat(&self, entry: u32, pool: u32, mut f: impl FnMut(&ReplicaStat)) {
        const BATCH: usize = 16;
        let view = self.shared.view.load();
        let Some(meta) = view.meta(entry) else {
            return;
        };
        let mut skip = 0;
        loop {
            let mut batch = [None::<ReplicaStat>; BATCH];
            let mut n = 0;
            {
                let rows = meta.rows.lock();
                for row in rows.iter().filter(|r: &&StatRow| r.pool == pool).skip(skip) {
                    if n == BATCH {
                        break;
                    }
                    batch[n] = Some(row.stat);
                    n += 1;
                }
            }
            batch.iter().flatten().for_each(&mut f);
            if n < BATCH {
                return;
            }
            skip += n;
        }
    }

    /// Tombstones `entry`: it is never returned again and is left out of the next graph
    /// rebuild. Returns false if it was unknown or already forgotten.
    pub fn forget(&self, entry: u32) -> bool {
        let mut forgotten = false;
        self.shared.publish(|current| {
            let mut next = current.clone();
            if let Some(meta) = current.meta(entry)
                && !meta.dead.swap(true, Ordering::AcqRel)
            {
                forgotten = true;
                next.dead += 1;
                next.forgets += 1;
                if entry < current.graph_len {
                    next.dead_in_graph += 1;
                }
                next.epoch += 1;
            }
            next
        });
        if forgotten && self.shared.config.indexing == Indexing::Background {
            self.shared.wake_indexer();
        }
        forgotten
    }

    /// Tombstones every live entry whose latest outcome is older than `cutoff_ms` (caller's
    /// clock). Returns how many. O(entries).
    pub fn forget_older_than(&self, cutoff_ms: u64) -> u32 {
        let view = self.shared.view.load_full();
        let mut n = 0;
        for entry in 0..view.len {
            let meta = view.meta(entry).expect("entry < len");
            if !meta.is_dead() && meta.last_seen_ms() < cutoff_ms && self.forget(entry) {
                n += 1;
            }
        }
        n
    }

    /// Runs the indexer's pending work on the calling thread until the graph covers every entry
    /// (or no graph is due). For tests, benches and before a snapshot; never on the hot path.
    ///
    /// Graph insertion here is parallel (hnsw_rs `parallel_insert_slice`, on the global rayon
    /// pool); the background indexer inserts serially so it never takes more than one core from
    /// the request path.
    pub fn flush(&self) {
        while indexer::step(&self.shared, true) {}
    }

    /// Tunes the graph's `ef` on the sampled searches now, if the store tunes it on traffic
    /// ([`Crossover::Auto`], a [`StoreConfig::target_recall`] and
    /// [`StoreConfig::tune_on_traffic`]), it has a graph, and
    /// enough searches were sampled since the last tuning (one in 32 searches through the
    /// store's own `ef`, 128 of them). The indexer thread does the same on its own, paced to
    /// a small share of its core; this is for tests and benches. Returns whether it ran.
    pub fn calibrate_on_traffic(&self) -> bool {
        indexer::tune_on_traffic(&self.shared)
    }

    /// Counters and shape.
    pub fn stats(&self) -> StoreStats {
        let view = self.shared.view.load();
        StoreStats {
            entries: view.len,
            dead: view.dead,
            graph_len: view.graph_len,
            graph_in_use: view.graph.is_some() && view.mode == view::Mode::Graph,
            merges: self.shared.merges.load(Ordering::Relaxed),
            inserts: self.shared.inserts.load(Ordering::Relaxed),
            deferred: self.shared.deferred.load(Ordering::Relaxed),
            rebuilds: self.shared.rebuilds.load(Ordering::Relaxed),
            memo_hits: self.shared.memo.hits.load(Ordering::Relaxed),
            memo_misses: self.shared.memo.misses.load(Ordering::Relaxed),
            epoch: view.epoch,
            search_ef: view.ef_or(self.shared.config.hnsw.ef_search),
            sampled_recall: view.sampled_recall,
            recall_sample: view.recall_sample,
        }
    }

    /// The current view (snapshot export).
    pub(crate) fn view(&self) -> Arc<View> {
        self.shared.view.load_full()
    }

    /// The native graph's arrays and the view they belong to, for a snapshot: `None` without
    /// a native graph, or when the indexer stays busy for `wait` (a copy during an insert
    /// could mix old and new lists; the restore then rebuilds the graph instead).
    pub(crate) fn graph_parts(
        &self,
        wait: std::time::Duration,
    ) -> Option<(Arc<View>, hnsw::GraphParts)> {
        let _idle = self.shared.indexer.try_lock_for(wait)?;
        let view = self.shared.view.load_full();
        let parts = match view.graph.as_deref()? {
            graph::Graph::Native(g) => g.to_parts(),
            graph::Graph::Rs(_) => return None,
        };
        Some((view, parts))
    }
}

impl Drop for TrajectoryStore {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake_indexer();
        if let Some(handle) = self.indexer.take() {
            // A panicked indexer has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

/// Refuses vectors hnsw_rs or the similarity maths cannot take: wrong length, non-finite, or not
/// unit length (within 1e-3).
pub(crate) fn check_vector(v: &[f32], dim: usize) -> Result<(), StoreError> {
    if v.len() != dim {
        return Err(StoreError::WrongDimension {
            expected: dim,
            received: v.len(),
        });
    }
    let norm_sq: f32 = v.iter().map(|x| x * x).sum();
    if !norm_sq.is_finite() || (norm_sq - 1.0).abs() > 2e-3 {
        return Err(StoreError::InvalidVector);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
