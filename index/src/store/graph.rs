//! The HNSW part of the store, on `hnsw_rs`.
//!
//! hnsw_rs facts this wrapper is shaped by (measured, see the crate docs): `insert` and `search`
//! both take `&self` and are memory-safe together, so one indexer thread may add rows while
//! readers search; there is no deletion (tombstones + rebuilds instead); a NaN distance panics
//! (the store refuses non-finite vectors and [`DotClamp`] never returns NaN); data ids are
//! `usize`, here the entry id.

use super::kernel::{DotClamp, Neighbour};
use hnsw_rs::hnsw::Hnsw;

/// HNSW construction and search parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node and layer (`M`; layer 0 keeps `2·M`). hnsw_rs exits the process above 256,
    /// so the store refuses more.
    pub max_connections: usize,
    /// Candidate list size while inserting (`ef_construction`).
    pub ef_construction: usize,
    /// Candidate list size while searching (`ef`); raised to `k` when smaller.
    pub ef_search: usize,
}

impl Default for HnswParams {
    /// The parameters chosen by the `index_search` bench (see the crate docs).
    fn default() -> Self {
        HnswParams {
            max_connections: 16,
            ef_construction: 100,
            ef_search: 64,
        }
    }
}

pub(crate) struct Graph {
    hnsw: Hnsw<'static, f32, DotClamp>,
}

impl Graph {
    pub(crate) fn new(params: &HnswParams, expected: usize) -> Graph {
        let max_layer = 16usize
            .min((expected.max(2) as f64).ln().ceil() as usize)
            .max(1);
        let hnsw = Hnsw::new(
            params.max_connections,
            expected.max(1024),
            max_layer,
            params.ef_construction,
            DotClamp,
        );
        Graph { hnsw }
    }

    pub(crate) fn insert(&self, row: &[f32], entry: u32) {
        self.hnsw.insert_slice((row, entry as usize));
    }

    /// Inserts many rows using the global rayon pool.
    pub(crate) fn insert_many(&self, rows: &[(&[f32], usize)]) {
        // hnsw_rs wants `&Vec<(&[T], usize)>`; batches of ~1000 per thread as its docs advise.
        for chunk in rows.chunks(4096) {
            self.hnsw.parallel_insert_slice(&chunk.to_vec());
        }
    }

    /// Searches and hands each result with an entry id below `limit` to `f`.
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        limit: u32,
        mut f: impl FnMut(Neighbour),
    ) {
        for n in self.hnsw.search(query, k, ef) {
            if n.d_id < limit as usize {
                f(Neighbour {
                    entry: n.d_id as u32,
                    similarity: 1.0 - n.distance,
                });
            }
        }
    }
}
