//! The immutable picture of the store that readers search.
//!
//! A [`View`] is published through `ArcSwap`: readers load it without locks and keep it for the
//! whole search, so a concurrent insert, graph update or rebuild never changes what a search
//! sees half-way. Vectors live in blocks of [`BLOCK`] rows: full blocks are shared by every later
//! view (`Arc`), only the partial tail block is copied on insert (at most `BLOCK × dim` floats),
//! so an insert costs O(BLOCK·dim + blocks), not O(entries·dim).

use super::graph::Graph;
use super::kernel::{Neighbour, scan_rows};
use super::stats::{EntryMeta, StatRow};
use std::sync::Arc;

/// Rows per vector block and entries per metadata block.
pub(crate) const BLOCK: usize = 64;

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

#[derive(Clone)]
pub(crate) struct View {
    pub(crate) dim: usize,
    pub(crate) len: u32,
    /// Full vector blocks.
    pub(crate) full: Arc<Vec<Arc<[f32]>>>,
    /// Rows after the full blocks.
    pub(crate) tail: Arc<[f32]>,
    pub(crate) meta: Arc<Vec<MetaBlock>>,
    /// The HNSW graph over entries `0..graph_len` (it may already hold later ones, which
    /// readers ignore because the flat part covers them).
    pub(crate) graph: Option<Arc<Graph>>,
    pub(crate) graph_len: u32,
    pub(crate) mode: Mode,
    /// Tombstoned entries (any).
    pub(crate) dead: u32,
    /// Tombstoned entries the graph still holds (they cost search time until a rebuild).
    pub(crate) dead_in_graph: u32,
    /// Bumped whenever the set of searchable entries changes (insert, forget, restore); the
    /// neighbour memo compares it.
    pub(crate) epoch: u64,
}

impl View {
    pub(crate) fn empty(dim: usize) -> View {
        View {
            dim,
            len: 0,
            full: Arc::new(Vec::new()),
            tail: Arc::from(Vec::new()),
            meta: Arc::new(Vec::new()),
            graph: None,
            graph_len: 0,
            mode: Mode::Flat,
            dead: 0,
            dead_in_graph: 0,
            epoch: 0,
        }
    }

    /// A view holding `rows` (row-major, `dim` wide) as entries `0..n`, with empty statistics
    /// and no graph: the bulk path for restores.
    pub(crate) fn from_rows(dim: usize, rows: &[f32]) -> View {
        let n = rows.len() / dim;
        let block_floats = BLOCK * dim;
        let full_blocks = n / BLOCK;
        let full: Vec<Arc<[f32]>> = rows[..full_blocks * block_floats]
            .chunks_exact(block_floats)
            .map(Arc::from)
            .collect();
        let tail = Arc::from(&rows[full_blocks * block_floats..n * dim]);
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
        }
    }

    pub(crate) fn row(&self, entry: u32) -> &[f32] {
        let (block, offset) = (entry as usize / BLOCK, entry as usize % BLOCK);
        let rows: &[f32] = match self.full.get(block) {
            Some(b) => b,
            None => &self.tail,
        };
        &rows[offset * self.dim..(offset + 1) * self.dim]
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

    /// A view with one more row; `entry_meta_init` prepares the new entry's metadata.
    pub(crate) fn with_row(&self, row: &[f32]) -> View {
        let mut next = self.clone();
        let id = self.len as usize;
        let tail_rows = id % BLOCK;
        let mut tail = Vec::with_capacity((tail_rows + 1) * self.dim);
        tail.extend_from_slice(&self.tail[..tail_rows * self.dim]);
        tail.extend_from_slice(row);
        if tail_rows + 1 == BLOCK {
            let mut full = Vec::with_capacity(self.full.len() + 1);
            full.extend(self.full.iter().cloned());
            full.push(Arc::from(tail));
            next.full = Arc::new(full);
            next.tail = Arc::from(Vec::new());
        } else {
            next.tail = Arc::from(tail);
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

    /// Flat scan of entries `from..self.len`.
    pub(crate) fn scan_from(&self, from: u32, query: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        let dead = |e: u32| self.dead > 0 && self.is_dead(e);
        let mut entry = from as usize;
        let end = self.len as usize;
        while entry < end {
            let (block, offset) = (entry / BLOCK, entry % BLOCK);
            let rows: &[f32] = match self.full.get(block) {
                Some(b) => b,
                None => &self.tail,
            };
            let in_block = (rows.len() / self.dim).min(end - block * BLOCK);
            let slice = &rows[offset * self.dim..in_block * self.dim];
            scan_rows(slice, self.dim, entry as u32, query, k, out, &dead);
            entry = block * BLOCK + in_block;
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
                graph.search(query, k + extra, ef.max(k + extra), self.graph_len, |n| {
                    if !self.is_dead(n.entry) {
                        super::kernel::offer(out, k, n);
                    }
                });
                self.scan_from(self.graph_len, query, k, out);
            }
            _ => self.scan_from(0, query, k, out),
        }
    }
}
