//! The immutable picture of the store that readers search.
//!
//! A [`View`] is published through `ArcSwap`: readers load it without locks and keep it for the
//! whole search, so a concurrent insert, graph update or rebuild never changes what a search
//! sees half-way. Vectors live in blocks of [`BLOCK`] rows: full blocks are shared by every later
//! view (`Arc`), only the partial tail block is copied on insert (at most `BLOCK × dim` floats),
//! so an insert costs O(BLOCK·dim + blocks), not O(entries·dim).

use super::graph::Graph;
use super::kernel::{MAX_QUANT_DIM, Neighbour, Shortlist, dot_i8_rows, offer, quantize, scan_rows};
use super::stats::{EntryMeta, StatRow};
use std::sync::Arc;

/// Rows per vector block and entries per metadata block.
pub(crate) const BLOCK: usize = 64;

/// Up to [`BLOCK`] rows: the exact vectors, plus int8 codes and per-row scales for the fast
/// flat scan (a quarter of the memory traffic; the shortlist is re-ranked on the exact rows).
#[derive(Default)]
pub(crate) struct Block {
    pub(crate) rows: Box<[f32]>,
    pub(crate) codes: Box<[i8]>,
    pub(crate) scales: Box<[f32]>,
}

impl Block {
    fn from_rows(dim: usize, rows: &[f32]) -> Block {
        let mut codes = vec![0i8; rows.len()];
        let scales = rows
            .chunks_exact(dim)
            .zip(codes.chunks_exact_mut(dim))
            .map(|(row, code)| quantize(row, code))
            .collect();
        Block {
            rows: rows.into(),
            codes: codes.into(),
            scales,
        }
    }

    /// This block plus one row.
    fn with_row(&self, dim: usize, row: &[f32]) -> Block {
        let mut rows = Vec::with_capacity(self.rows.len() + dim);
        rows.extend_from_slice(&self.rows);
        rows.extend_from_slice(row);
        let mut codes = Vec::with_capacity(rows.len());
        codes.extend_from_slice(&self.codes);
        codes.resize(rows.len(), 0);
        let scale = quantize(row, &mut codes[self.rows.len()..]);
        let mut scales = Vec::with_capacity(self.scales.len() + 1);
        scales.extend_from_slice(&self.scales);
        scales.push(scale);
        Block {
            rows: rows.into(),
            codes: codes.into(),
            scales: scales.into(),
        }
    }
}

/// Entries' metadata, allocated a block at a time and shared by every view.
pub(crate) type MetaBlock = Arc<[EntryMeta]>;

/// How a view answers searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Scan every row.
    Flat,
    /// Search the graph for entries below `graph_len`, scan the rest.
    Graph,
}

/// The queries a calibration measured recall on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecallSample {
    /// No calibration has measured recall.
    #[default]
    None,
    /// Stored rows held out of the graph while it was built (before searches were sampled).
    HeldOut,
    /// Queries sampled from the store's own searches (weighted as the traffic asks them).
    Traffic,
}

/// A calibrated `ef` (0: none) or, failing that, the configured one.
pub(crate) fn tuned_or(tuned: u32, configured: usize) -> usize {
    if tuned > 0 {
        tuned as usize
    } else {
        configured
    }
}

#[derive(Clone)]
pub(crate) struct View {
    pub(crate) dim: usize,
    pub(crate) len: u32,
    /// Full vector blocks.
    pub(crate) full: Arc<Vec<Arc<Block>>>,
    /// Rows after the full blocks.
    pub(crate) tail: Arc<Block>,
    pub(crate) meta: Arc<Vec<MetaBlock>>,
    /// The HNSW graph over entries `0..graph_len` (it may already hold later ones, which
    /// readers ignore because the flat part covers them).
    pub(crate) graph: Option<Arc<Graph>>,
    pub(crate) graph_len: u32,
    pub(crate) mode: Mode,
    /// The graph search's `ef` chosen by the last calibration (0: none ran, use the
    /// configured one), and the recall@10 it measured on the calibration sample.
    pub(crate) tuned_ef: u32,
    pub(crate) sampled_recall: Option<f32>,
    /// Which queries `sampled_recall` was measured on.
    pub(crate) recall_sample: RecallSample,
    /// Tombstoned entries (any).
    pub(crate) dead: u32,
    /// Tombstoned entries the graph still holds (they cost search time until a rebuild).
    pub(crate) dead_in_graph: u32,
    /// Bumped whenever the set of searchable entries changes (insert, forget, restore); the
    /// neighbour memo compares it.
    pub(crate) epoch: u64,
    /// Bumped whenever an entry is tombstoned: the neighbour memo's lists stay valid (for the
    /// entries they covered) while it holds, since entries are otherwise only appended.
    pub(crate) forgets: u64,
}

impl View {
    /// The `ef` for a search that asks for the store's own: the calibrated one, else
    /// `configured`.
    pub(crate) fn ef_or(&self, configured: usize) -> usize {
        tuned_or(self.tuned_ef, configured)
    }

    pub(crate) fn empty(dim: usize) -> View {
        View {
            dim,
            len: 0,
            full: Arc::new(Vec::new()),
            tail: Arc::new(Block::default()),
            meta: Arc::new(Vec::new()),
            graph: None,
            graph_len: 0,
            mode: Mode::Flat,
            tuned_ef: 0,
            sampled_recall: None,
            recall_sample: RecallSample::None,
            dead: 0,
            dead_in_graph: 0,
            epoch: 0,
            forgets: 0,
        }
    }

    /// A view holding `rows` (row-major, `dim` wide) as entries `0..n`, with empty statistics
    /// and no graph: the bulk path for restores.
    pub(crate) fn from_rows(dim: usize, rows: &[f32]) -> View {
        let n = rows.len() / dim;
        let block_floats = BLOCK * dim;
        let full_blocks = n / BLOCK;
        let full: Vec<Arc<Block>> = rows[..full_blocks * block_floats]
            .chunks_exact(block_floats)
            .map(|b| Arc::new(Block::from_rows(dim, b)))
            .collect();
        let tail = Arc::new(Block::from_rows(
            dim,
            &rows[full_blocks * block_floats..n * dim],
        ));
        let meta = (0..n.div_ceil(BLOCK))
            .map(|_| {
                (0..BLOCK)
                    .map(|_| EntryMeta::default())
                    .collect::<MetaBlock>()
            })
            .collect();
        View {
            len: n as u32,
            full: Arc::new(full),
            tail,
            meta: Arc::new(meta),
            epoch: 1,
            ..View::empty(dim)
        }
    }

    /// Copies out `entry`'s statistics rows.
    pub(crate) fn export_stats(&self, entry: u32) -> Vec<StatRow> {
        self.meta(entry)
            .map(|m| m.rows.lock().clone())
            .unwrap_or_default()
    }

    /// Replaces `entry`'s statistics rows.
    pub(crate) fn import_stats(&self, entry: u32, rows: impl Iterator<Item = StatRow>) {
        if let Some(m) = self.meta(entry) {
            *m.rows.lock() = rows.collect();
        }
    }

    /// Tombstones `entry` in a view not yet published (restore); published views go through
    /// `TrajectoryStore::forget`.
    pub(crate) fn mark_dead(&mut self, entry: u32) {
        if let Some(m) = self.meta(entry)
            && !m.dead.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.dead += 1;
            self.forgets += 1;
        }
    }

    fn block(&self, index: usize) -> &Block {
        match self.full.get(index) {
            Some(b) => b,
            None => &self.tail,
        }
    }

    pub(crate) fn row(&self, entry: u32) -> &[f32] {
        let (block, offset) = (entry as usize / BLOCK, entry as usize % BLOCK);
        &self.block(block).rows[offset * self.dim..(offset + 1) * self.dim]
    }

    pub(crate) fn meta(&self, entry: u32) -> Option<&EntryMeta> {
        if entry >= self.len {
            return None;
        }
        self.meta
            .get(entry as usize / BLOCK)
            .map(|b| &b[entry as usize % BLOCK])
    }

    pub(crate) fn is_dead(&self, entry: u32) -> bool {
        self.meta(entry).is_none_or(EntryMeta::is_dead)
    }

    /// A view with one more row (its metadata slot starts empty).
    pub(crate) fn with_row(&self, row: &[f32]) -> View {
        let mut next = self.clone();
        let id = self.len as usize;
        let tail = self.tail.with_row(self.dim, row);
        if (id + 1).is_multiple_of(BLOCK) {
            let mut full = Vec::with_capacity(self.full.len() + 1);
            full.extend(self.full.iter().cloned());
            full.push(Arc::new(tail));
            next.full = Arc::new(full);
            next.tail = Arc::new(Block::default());
        } else {
            next.tail = Arc::new(tail);
        }
        if id.is_multiple_of(BLOCK) {
            let block: MetaBlock = (0..BLOCK).map(|_| EntryMeta::default()).collect();
            let mut meta = Vec::with_capacity(self.meta.len() + 1);
            meta.extend(self.meta.iter().cloned());
            meta.push(block);
            next.meta = Arc::new(meta);
        }
        next.len += 1;
        next.epoch += 1;
        next
    }

    /// Flat scan of entries `from..self.len`: int8 shortlist, then exact re-ranking (exact f32
    /// scan when `k` or the dimension is beyond the shortlist's reach).
    pub(crate) fn scan_from(&self, from: u32, query: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        self.scan_range(from, self.len, query, k, out, |_| false);
    }

    /// [`View::scan_from`] over entries `from..end` only, leaving out those `skip` names too.
    pub(crate) fn scan_range(
        &self,
        from: u32,
        end: u32,
        query: &[f32],
        k: usize,
        out: &mut Vec<Neighbour>,
        skip: impl Fn(u32) -> bool,
    ) {
        let dead = |e: u32| (self.dead > 0 && self.is_dead(e)) || skip(e);
        let end = end.min(self.len) as usize;
        let shortlist_len = 4 * k + 16;
        if shortlist_len > Shortlist::CAPACITY || self.dim > MAX_QUANT_DIM {
            let mut entry = from as usize;
            while entry < end {
                let (block, offset) = (entry / BLOCK, entry % BLOCK);
                let rows = &self.block(block).rows;
                let in_block = (rows.len() / self.dim).min(end - block * BLOCK);
                let slice = &rows[offset * self.dim..in_block * self.dim];
                scan_rows(slice, self.dim, entry as u32, query, k, out, &dead);
                entry = block * BLOCK + in_block;
            }
            return;
        }
        let mut query_codes = [0i8; MAX_QUANT_DIM];
        let query_codes = &mut query_codes[..self.dim];
        let query_scale = quantize(query, query_codes);
        let mut shortlist = Shortlist::new(shortlist_len);
        let mut entry = from as usize;
        while entry < end {
            let (block_index, offset) = (entry / BLOCK, entry % BLOCK);
            let block = self.block(block_index);
            let in_block = (block.scales.len()).min(end - block_index * BLOCK);
            let mut floor = shortlist.floor();
            // The block's integer dots in one call (exact, so the same values as one by one).
            let mut dots = [0i32; BLOCK];
            dot_i8_rows(
                query_codes,
                &block.codes[offset * self.dim..in_block * self.dim],
                &mut dots[offset..in_block],
            );
            for (i, (&d, &scale)) in dots
                .iter()
                .zip(block.scales.iter())
                .enumerate()
                .take(in_block)
                .skip(offset)
            {
                let approx = d as f32 * query_scale * scale;
                if approx <= floor {
                    continue;
                }
                let id = (block_index * BLOCK + i) as u32;
                if dead(id) {
                    continue;
                }
                shortlist.offer(Neighbour {
                    entry: id,
                    similarity: approx,
                });
                floor = shortlist.floor();
            }
            entry = block_index * BLOCK + in_block;
        }
        for candidate in shortlist.as_slice() {
            let similarity = super::kernel::dot(query, self.row(candidate.entry));
            offer(
                out,
                k,
                Neighbour {
                    entry: candidate.entry,
                    similarity,
                },
            );
        }
    }

    /// Searches this view: graph part (if any) plus flat part.
    pub(crate) fn search(&self, query: &[f32], k: usize, ef: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        if k == 0 || self.len == 0 {
            return;
        }
        match (&self.graph, self.mode) {
            (Some(graph), Mode::Graph) if self.graph_len > 0 => {
                // Ask for extra results when tombstones may be among them.
                let extra = if self.dead > 0 { k.min(32) } else { 0 };
                graph.search(
                    self,
                    query,
                    k + extra,
                    ef.max(k + extra),
                    self.graph_len,
                    |n| {
                        if !self.is_dead(n.entry) {
                            offer(out, k, n);
                        }
                    },
                );
                self.scan_from(self.graph_len, query, k, out);
            }
            _ => self.scan_from(0, query, k, out),
        }
    }
}
