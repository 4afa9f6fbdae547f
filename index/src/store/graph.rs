//! The graph part of the store: which HNSW implementation serves it.
//!
//! [`GraphBackend::Native`] (the default) is the store's own flat-array HNSW ([`super::hnsw`]);
//! [`GraphBackend::HnswRs`] is the `hnsw_rs` crate, kept selectable so the two can be compared
//! on the running machine (the `index_search` bench measures both). hnsw_rs facts its wrapper
//! is shaped by: `insert` and `search` take `&self` and are memory-safe together; there is no
//! deletion (tombstones + rebuilds instead, as for the native graph); a NaN distance panics (the
//! store refuses non-finite vectors and [`DotClamp`] never returns NaN); data ids are `usize`,
//! here the entry id.

use super::hnsw::{Graph as NativeGraph, HnswParams};
use super::kernel::{DotClamp, Neighbour};
use super::view::View;
use hnsw_rs::hnsw::Hnsw;

/// Which HNSW implementation the store builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphBackend {
    /// The store's own flat-array graph (default: several times faster per search here).
    #[default]
    Native,
    /// The `hnsw_rs` crate.
    HnswRs,
}

pub(crate) enum Graph {
    Native(NativeGraph),
    Rs(Hnsw<'static, f32, DotClamp>),
}

impl Graph {
    /// An empty graph expected to hold about `expected` nodes (the native one grows on demand).
    pub(crate) fn new(backend: GraphBackend, params: &HnswParams, expected: usize) -> Graph {
        match backend {
            GraphBackend::Native => Graph::Native(NativeGraph::new(params, expected)),
            GraphBackend::HnswRs => {
                let max_layer = 16usize
                    .min((expected.max(2) as f64).ln().ceil() as usize)
                    .max(1);
                Graph::Rs(Hnsw::new(
                    params.max_connections,
                    expected.max(1024),
                    max_layer,
                    params.ef_construction,
                    DotClamp,
                ))
            }
        }
    }

    /// A larger copy when inserting `entry` needs one (native graph only; hnsw_rs grows itself).
    pub(crate) fn grown_for(&self, entry: u32) -> Option<Graph> {
        match self {
            Graph::Native(g) if g.needs_growth(entry) => Some(Graph::Native(
                g.grown((entry as usize + 1).max(2 * g.capacity() as usize)),
            )),
            _ => None,
        }
    }

    /// Inserts `entry` (its row is in `view`). One writer at a time.
    pub(crate) fn insert(&self, view: &View, entry: u32) {
        match self {
            Graph::Native(g) => g.insert(view, entry),
            Graph::Rs(h) => h.insert_slice((view.row(entry), entry as usize)),
        }
    }

    /// Inserts many entries; hnsw_rs uses the global rayon pool, the native graph inserts
    /// serially (its inserts are cheap enough, and serial insertion keeps it deterministic).
    /// Returns the graph to publish (a grown copy when the native graph ran out of room).
    pub(crate) fn insert_many(
        self: std::sync::Arc<Self>,
        view: &View,
        entries: &[u32],
    ) -> std::sync::Arc<Graph> {
        let mut graph = self;
        match &*graph {
            Graph::Rs(h) => {
                let rows: Vec<(&[f32], usize)> =
                    entries.iter().map(|&e| (view.row(e), e as usize)).collect();
                // hnsw_rs wants `&Vec<(&[T], usize)>`; batches of ~1000 per thread as its docs
                // advise.
                for chunk in rows.chunks(4096) {
                    h.parallel_insert_slice(&chunk.to_vec());
                }
            }
            Graph::Native(_) => {
                for &e in entries {
                    if let Some(bigger) = graph.grown_for(e) {
                        graph = std::sync::Arc::new(bigger);
                    }
                    graph.insert(view, e);
                }
            }
        }
        graph
    }

    /// Searches and hands each result with an entry id below `limit` to `f`, best first.
    pub(crate) fn search(
        &self,
        view: &View,
        query: &[f32],
        k: usize,
        ef: usize,
        limit: u32,
        mut f: impl FnMut(Neighbour),
    ) {
        match self {
            Graph::Native(g) => g.search(view, query, k, ef, |n| {
                if n.entry < limit {
                    f(n)
                }
            }),
            Graph::Rs(h) => {
                for n in h.search(query, k, ef) {
                    if n.d_id < limit as usize {
                        f(Neighbour {
                            entry: n.d_id as u32,
                            similarity: 1.0 - n.distance,
                        });
                    }
                }
            }
        }
    }
}
