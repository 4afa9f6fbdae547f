//! The store's configuration: when the graph is used, where it is maintained, and the bounds.

use super::graph::GraphBackend;
use super::hnsw::HnswParams;
use crate::error::StoreError;

/// When readers use the graph instead of the flat scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossover {
    /// Build the graph from 4,096 entries on and let timing on this machine decide (re-timed
    /// each time the store doubles).
    Auto,
    /// Use the graph from this many entries on.
    Fixed(u32),
    /// Never build a graph (small stores, tests).
    FlatOnly,
}

/// Where the graph is kept up to date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Indexing {
    /// On a background thread (`vecgate-indexer`): recording never waits for graph work, and
    /// readers flat-scan the rows not yet in the graph.
    #[default]
    Background,
    /// On the recording thread, inside
    /// [`TrajectoryStore::record`](super::TrajectoryStore::record), whenever a batch of
    /// [`StoreConfig::graph_batch`] rows is due. With [`Crossover::Fixed`] (or
    /// [`Crossover::FlatOnly`]) searches are then a pure function of the records made, which
    /// the replay simulator needs for byte-identical results; [`Crossover::Auto`] still times the
    /// two paths and so is not deterministic.
    Inline,
}

/// Store configuration. `Default` holds the values chosen by measurement (crate docs).
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Vector dimension (the embedder's).
    pub dim: usize,
    /// Similarity at or above which an outcome merges into its nearest entry.
    pub merge_similarity: f32,
    /// Hard bound on entries; beyond it every outcome merges into its nearest entry.
    pub max_entries: u32,
    /// EWMA weight of a new latency sample (0 < α ≤ 1).
    pub ewma_alpha: f32,
    /// Graph parameters.
    pub hnsw: HnswParams,
    /// Which HNSW implementation builds the graph.
    pub graph: GraphBackend,
    /// Flat scan vs graph.
    pub crossover: Crossover,
    /// With [`Crossover::Auto`], the recall@10 the graph search is tuned to: each calibration
    /// measures it against the exact scan on a sample of queries (stored rows held out of the
    /// graph, or with [`StoreConfig::tune_on_traffic`] the searches' own) and searches from
    /// then on with the smallest `ef` up to [`StoreConfig::max_tuned_ef`] that reaches it.
    /// When none does, the graph has plateaued below the target: the smallest `ef` within
    /// 0.003 of the best recall measured is kept, since more buys latency and no recall.
    /// `None` always uses [`HnswParams::ef_search`]. Searches given an explicit `ef`
    /// (`search_ef`, `search_memo_ef`) keep it.
    pub target_recall: Option<f32>,
    /// The largest `ef` calibration may choose under [`StoreConfig::target_recall`].
    pub max_tuned_ef: usize,
    /// Calibrate on a sample of the store's own searches (module `traffic`) once there is
    /// one, and re-tune on each refilled sample, instead of only on held-out rows at each
    /// doubling. Off by default: on generated requests the searches' head (dense clusters of
    /// near-identical requests) has lower recall@10 than held-out rows or distinct queries,
    /// so the tuner buys recall with latency (100K: `ef` 256 and p99 1.1 ms best of 3 for
    /// .95 on sampled searches, where distinct queries already had .957 at `ef` 48); at 1M,
    /// where held-out rows overstate recall (.966 sampled, .927 on distinct queries at `ef`
    /// 40), it chose `ef` 192 and distinct queries got .955 (crate docs).
    pub tune_on_traffic: bool,
    /// Background or inline graph maintenance.
    pub indexing: Indexing,
    /// Rows left outside the graph before the indexer inserts them (they are flat-scanned until
    /// then). The indexer also publishes its progress every this many inserts.
    pub graph_batch: usize,
    /// Bound on the rows outside the graph while readers search it (≥ `graph_batch`): a novel
    /// outcome that would exceed it is merged into its nearest entry instead (counted in
    /// [`StoreStats::deferred`](super::StoreStats::deferred)), as past `max_entries`. Without
    /// it, novel traffic faster than the indexer inserts grows the flat-scanned tail until
    /// every search is a long scan. Inline indexing never reaches it (the recording thread
    /// indexes every `graph_batch`).
    pub max_unindexed: usize,
    /// Fraction of tombstones in the graph that triggers a rebuild.
    pub rebuild_dead_fraction: f32,
    /// Slots of the neighbour memo (0 disables it).
    pub memo_slots: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dim: crate::embed::DEFAULT_DIM,
            merge_similarity: 0.98,
            max_entries: 1_000_000,
            ewma_alpha: 0.2,
            hnsw: HnswParams::default(),
            graph: GraphBackend::default(),
            crossover: Crossover::Auto,
            // The 0.95 plus a margin for the sample's error (128 queries × 10
            // neighbours: a standard error of ~0.006 at 0.95).
            target_recall: Some(0.96),
            // Recall >= .95 at 1M generated requests needs ef 128 (crate docs).
            max_tuned_ef: 256,
            tune_on_traffic: false,
            indexing: Indexing::Background,
            graph_batch: 256,
            max_unindexed: 1024,
            rebuild_dead_fraction: 0.25,
            memo_slots: 16_384,
        }
    }
}

impl StoreConfig {
    /// Checks every field; the store refuses a config that fails.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |field, reason| Err(StoreError::Config { field, reason });
        if self.dim == 0 {
            return bad("dim", "must be > 0");
        }
        if !(self.merge_similarity > 0.0 && self.merge_similarity <= 1.0) {
            return bad("merge_similarity", "must be in (0, 1]");
        }
        if self.max_entries == 0 || self.max_entries == u32::MAX {
            return bad("max_entries", "must be in 1..u32::MAX");
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha <= 1.0) {
            return bad("ewma_alpha", "must be in (0, 1]");
        }
        if self.hnsw.max_connections < 2 || self.hnsw.max_connections > 256 {
            return bad("hnsw.max_connections", "must be in 2..=256");
        }
        if self.hnsw.ef_construction == 0 || self.hnsw.ef_search == 0 {
            return bad("hnsw.ef_*", "must be > 0");
        }
        if let Some(r) = self.target_recall
            && !(r > 0.0 && r <= 1.0)
        {
            return bad("target_recall", "must be in (0, 1]");
        }
        if self.max_tuned_ef == 0 {
            return bad("max_tuned_ef", "must be > 0");
        }
        if self.graph_batch == 0 {
            return bad("graph_batch", "must be > 0");
        }
        if self.max_unindexed < self.graph_batch {
            return bad("max_unindexed", "must be >= graph_batch");
        }
        if !(self.rebuild_dead_fraction > 0.0 && self.rebuild_dead_fraction <= 1.0) {
            return bad("rebuild_dead_fraction", "must be in (0, 1]");
        }
        Ok(())
    }
}
