//! The store's HNSW graph: a flat-array implementation of Malkov & Yashunin's hierarchical
//! navigable small world (TPAMI 2018), written for this store.
//!
//! Why not hnsw_rs (the crate docs give the figures): its nodes are `Arc`s with neighbour lists
//! behind `RwLock`s, every candidate allocates, and the visited set is a hash map, which cost
//! ~0.5 µs per visited node here. This graph keeps
//! - layer-0 links in one array of `AtomicU32` (`1 + 2·M` slots per node: count, then ids),
//! - upper-layer links in a second array, reached through a per-node offset,
//! - no vectors: rows are read from the store's [`View`] blocks (immutable once written),
//! - a reused, generation-stamped visited array and reused heaps per thread.
//!
//! **Concurrency.** One writer (the indexer, or the recording thread when indexing is inline)
//! inserts while readers search. A list is rewritten in place (ids first, then the count with
//! `Release`), so a reader may see a list half old and half new; every id it can see is a node
//! already linked, and a reader skips ids its own view does not cover yet. Nothing blocks.
//!
//! **Determinism.** A node's level comes from a hash of its entry id and insertion is serial, so
//! the same insertion order gives the same graph (replay relies on it).
//!
//! Node ids are entry ids (sparse after a rebuild that skipped tombstones). The arrays have a
//! fixed capacity; [`Graph::grown`] copies into larger ones (the caller publishes the copy).

use super::kernel::{Neighbour, dot};
use super::view::View;
use std::cell::RefCell;
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Highest layer a node may get.
const MAX_LEVEL: usize = 12;
/// Marks "no upper links" and an empty graph.
const NONE: u32 = u32::MAX;

/// HNSW construction and search parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper layers (`M`; layer 0 keeps `2·M`).
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
            max_connections: 20,
            ef_construction: 200,
            ef_search: 48,
        }
    }
}

/// A similarity with a total order (NaN never reaches the graph: the store refuses
/// non-finite vectors).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sim(f32);

impl Eq for Sim {}

impl PartialOrd for Sim {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sim {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.0.total_cmp(&other.0)
    }
}

/// Per-thread search state, reused across searches (no allocation in steady state).
#[derive(Default)]
struct Scratch {
    /// `visited[node] == generation` marks a node seen in the current search.
    visited: Vec<u32>,
    generation: u32,
    /// Best-first candidates to expand.
    candidates: BinaryHeap<(Sim, u32)>,
    /// The `ef` best found so far, worst on top.
    found: BinaryHeap<Reverse<(Sim, u32)>>,
    /// Neighbour ids copied out of a list before scoring.
    ids: Vec<u32>,
    /// `found`, drained best first.
    sorted: Vec<(Sim, u32)>,
    /// Neighbour selection's working lists.
    kept: Vec<(Sim, u32)>,
    pruned: Vec<(Sim, u32)>,
}

impl Scratch {
    /// Starts a search over node ids below `capacity`.
    fn begin(&mut self, capacity: usize) {
        if self.visited.len() < capacity {
            self.visited.resize(capacity, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.visited.fill(0);
            self.generation = 1;
        }
        self.candidates.clear();
        self.found.clear();
    }

    /// Drains `found` into `sorted`, best first.
    fn drain_sorted(&mut self) {
        self.sorted.clear();
        while let Some(Reverse(pair)) = self.found.pop() {
            self.sorted.push(pair);
        }
        self.sorted.reverse();
    }

    /// Marks `node` visited; false if it already was.
    #[inline]
    fn visit(&mut self, node: u32) -> bool {
        let slot = &mut self.visited[node as usize];
        if *slot == self.generation {
            return false;
        }
        *slot = self.generation;
        true
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The graph. See the module docs.
pub(crate) struct Graph {
    params: HnswParams,
    m0: usize,
    capacity: u32,
    /// Layer 0: node · (1 + m0) slots: count, then ids.
    links0: Box<[AtomicU32]>,
    /// Per node: offset of its upper-layer lists in `upper`, or [`NONE`].
    upper_at: Box<[AtomicU32]>,
    /// Upper layers: a node of level L owns L lists of `1 + M` slots (layers 1..=L).
    upper: Box<[AtomicU32]>,
    /// Upper slots handed out so far.
    upper_used: AtomicU32,
    /// `(level << 32) | node` of the entry point, or `u64::MAX` when empty.
    entry: AtomicU64,
    /// Nodes inserted.
    nodes: AtomicU32,
}

/// A native graph's arrays as plain values: what a snapshot stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GraphParts {
    pub(crate) capacity: u32,
    pub(crate) links0: Vec<u32>,
    pub(crate) upper_at: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    pub(crate) upper_used: u32,
    pub(crate) entry: u64,
    pub(crate) nodes: u32,
}

fn atomics(n: usize, value: u32) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(value)).collect()
}

impl Graph {
    /// An empty graph for node ids below `capacity`.
    pub(crate) fn new(params: &HnswParams, capacity: usize) -> Graph {
        let capacity = capacity.max(64);
        let m = params.max_connections;
        let m0 = 2 * m;
        // Expected upper slots: N·(M+1)/(M−1); twice that, plus room for a few tall nodes.
        let upper_slots = 2 * capacity * (m + 1) / (m - 1).max(1) + MAX_LEVEL * (m + 1) * 8;
        Graph {
            params: *params,
            m0,
            capacity: capacity as u32,
            links0: atomics(capacity * (1 + m0), 0),
            upper_at: atomics(capacity, NONE),
            upper: atomics(upper_slots, 0),
            upper_used: AtomicU32::new(0),
            entry: AtomicU64::new(u64::MAX),
            nodes: AtomicU32::new(0),
        }
    }

    /// A copy with room for node ids below `capacity` (the writer calls it before inserting
    /// past [`Graph::capacity`]; readers keep the old graph until the copy is published).
    pub(crate) fn grown(&self, capacity: usize) -> Graph {
        let next = Graph::new(&self.params, capacity.max(self.capacity as usize));
        let copy = |from: &[AtomicU32], to: &[AtomicU32]| {
            for (f, t) in from.iter().zip(to) {
                t.store(f.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        };
        copy(&self.links0, &next.links0);
        copy(&self.upper_at, &next.upper_at);
        copy(&self.upper, &next.upper);
        next.upper_used
            .store(self.upper_used.load(Ordering::Relaxed), Ordering::Relaxed);
        next.nodes
            .store(self.nodes.load(Ordering::Relaxed), Ordering::Relaxed);
        next.entry
            .store(self.entry.load(Ordering::Acquire), Ordering::Release);
        next
    }

    /// Node ids this graph can hold.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The parameters it was built with.
    pub(crate) fn params(&self) -> &HnswParams {
        &self.params
    }

    /// A copy of its arrays (for snapshots; call it while no insert runs, or the copy may mix
    /// a list's old and new neighbours, which costs recall, never safety).
    pub(crate) fn to_parts(&self) -> GraphParts {
        let load = |a: &[AtomicU32]| a.iter().map(|x| x.load(Ordering::Relaxed)).collect();
        GraphParts {
            capacity: self.capacity,
            links0: load(&self.links0),
            upper_at: load(&self.upper_at),
            upper: load(&self.upper),
            upper_used: self.upper_used.load(Ordering::Relaxed),
            entry: self.entry.load(Ordering::Acquire),
            nodes: self.nodes.load(Ordering::Relaxed),
        }
    }

    /// The graph `parts` describe, built with `params`; an error when the arrays do not fit
    /// together. Node ids and list offsets are bounds-checked on every access anyway, so a
    /// graph that passes can cost recall if its lists are wrong, never a panic.
    pub(crate) fn from_parts(params: &HnswParams, parts: GraphParts) -> Result<Graph, String> {
        let m = params.max_connections;
        let m0 = 2 * m;
        let capacity = parts.capacity as usize;
        let entry_ok = parts.entry == u64::MAX
            || ((parts.entry as u32) < parts.capacity && (parts.entry >> 32) as usize <= MAX_LEVEL);
        if capacity == 0
            || parts.links0.len() != capacity * (1 + m0)
            || parts.upper_at.len() != capacity
            || parts.upper_used as usize > parts.upper.len()
            || parts.nodes > parts.capacity
            || !entry_ok
        {
            return Err(format!(
                "graph arrays do not fit together (capacity {capacity}, M {m})"
            ));
        }
        let store = |v: Vec<u32>| v.into_iter().map(AtomicU32::new).collect();
        Ok(Graph {
            params: *params,
            m0,
            capacity: parts.capacity,
            links0: store(parts.links0),
            upper_at: store(parts.upper_at),
            upper: store(parts.upper),
            upper_used: AtomicU32::new(parts.upper_used),
            entry: AtomicU64::new(parts.entry),
            nodes: AtomicU32::new(parts.nodes),
        })
    }

    /// Whether inserting a node of id `entry` needs a [`Graph::grown`] copy first.
    pub(crate) fn needs_growth(&self, entry: u32) -> bool {
        let m = self.params.max_connections;
        entry >= self.capacity
            || self.upper_used.load(Ordering::Relaxed) as usize + MAX_LEVEL * (m + 1)
                > self.upper.len()
    }

    /// The level of a new node: geometric with ratio 1/M (mL = 1/ln M), from a hash of its id.
    fn level_of(&self, entry: u32) -> usize {
        let mut z = u64::from(entry).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.params.max_connections as f64).ln();
        ((-u.ln() * ml) as usize).min(MAX_LEVEL)
    }

    /// The list of `node` at `layer`: (first slot, width). `None` above the node's level.
    fn list(&self, node: u32, layer: usize) -> Option<(&[AtomicU32], usize)> {
        if layer == 0 {
            let w = 1 + self.m0;
            let at = node as usize * w;
            return self.links0.get(at..at + w).map(|s| (s, self.m0));
        }
        let base = self.upper_at.get(node as usize)?.load(Ordering::Acquire);
        if base == NONE {
            return None;
        }
        let w = 1 + self.params.max_connections;
        let at = base as usize + (layer - 1) * w;
        self.upper
            .get(at..at + w)
            .map(|s| (s, self.params.max_connections))
    }

    /// Copies the neighbour ids of `node` at `layer` into `out`.
    #[inline]
    fn read_list(&self, node: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some((slots, max)) = self.list(node, layer) {
            let n = (slots[0].load(Ordering::Acquire) as usize).min(max);
            out.extend(slots[1..=n].iter().map(|s| s.load(Ordering::Relaxed)));
        }
    }

    fn write_list(&self, node: u32, layer: usize, ids: &[u32]) {
        if let Some((slots, max)) = self.list(node, layer) {
            let n = ids.len().min(max);
            for (slot, &id) in slots[1..=n].iter().zip(ids) {
                slot.store(id, Ordering::Relaxed);
            }
            slots[0].store(n as u32, Ordering::Release);
        }
    }

    /// Greedy best-first search of one layer from the entry points in `s.found`/`s.candidates`
    /// (already seeded), keeping the `ef` best in `s.found`. `row` gives a node's vector (None
    /// for nodes the caller's view does not cover).
    fn search_layer<'v>(
        &self,
        query: &[f32],
        ef: usize,
        layer: usize,
        s: &mut Scratch,
        row: &impl Fn(u32) -> Option<&'v [f32]>,
    ) {
        let mut ids = std::mem::take(&mut s.ids);
        while let Some((Sim(sim), node)) = s.candidates.pop() {
            let worst = s.found.peek().map_or(f32::NEG_INFINITY, |r| (r.0).0.0);
            if sim < worst && s.found.len() >= ef {
                break;
            }
            self.read_list(node, layer, &mut ids);
            for &next in &ids {
                if next >= self.capacity || !s.visit(next) {
                    continue;
                }
                let Some(v) = row(next) else { continue };
                let sim = dot(query, v);
                let worst = s.found.peek().map_or(f32::NEG_INFINITY, |r| (r.0).0.0);
                if s.found.len() < ef || sim > worst {
                    s.candidates.push((Sim(sim), next));
                    s.found.push(Reverse((Sim(sim), next)));
                    if s.found.len() > ef {
                        s.found.pop();
                    }
                }
            }
        }
        s.ids = ids;
    }

    /// Descends from the entry point to `down_to` with ef = 1; returns the closest node found
    /// and its similarity.
    fn descend<'v>(
        &self,
        query: &[f32],
        down_to: usize,
        s: &mut Scratch,
        row: &impl Fn(u32) -> Option<&'v [f32]>,
    ) -> Option<(u32, f32, usize)> {
        let packed = self.entry.load(Ordering::Acquire);
        if packed == u64::MAX {
            return None;
        }
        let (top, mut node) = ((packed >> 32) as usize, packed as u32);
        let mut best = dot(query, row(node)?);
        let mut ids = std::mem::take(&mut s.ids);
        let mut layer = top;
        while layer > down_to {
            let mut improved = true;
            while improved {
                improved = false;
                self.read_list(node, layer, &mut ids);
                for &next in &ids {
                    if let Some(v) = row(next) {
                        let sim = dot(query, v);
                        if sim > best {
                            (best, node, improved) = (sim, next, true);
                        }
                    }
                }
            }
            layer -= 1;
        }
        s.ids = ids;
        Some((node, best, top))
    }

    /// The `k` best nodes for `query` with candidate list `ef`, handed to `f` best first.
    pub(crate) fn search(
        &self,
        view: &View,
        query: &[f32],
        k: usize,
        ef: usize,
        mut f: impl FnMut(Neighbour),
    ) {
        let row = |n: u32| (n < view.len).then(|| view.row(n));
        SCRATCH.with_borrow_mut(|s| {
            s.begin(self.capacity as usize);
            let Some((node, sim, _)) = self.descend(query, 0, s, &row) else {
                return;
            };
            s.visit(node);
            s.candidates.push((Sim(sim), node));
            s.found.push(Reverse((Sim(sim), node)));
            self.search_layer(query, ef.max(k), 0, s, &row);
            s.drain_sorted();
            for &(Sim(similarity), entry) in s.sorted.iter().take(k) {
                f(Neighbour { entry, similarity });
            }
        });
    }

    /// Inserts entry `entry` (its row must be in `view`). The caller checks
    /// [`Graph::needs_growth`] first and inserts serially (one writer).
    pub(crate) fn insert(&self, view: &View, entry: u32) {
        debug_assert!(!self.needs_growth(entry));
        if entry >= self.capacity || entry >= view.len {
            return;
        }
        let m = self.params.max_connections;
        let level = self.level_of(entry);
        if level > 0 {
            let base = self
                .upper_used
                .fetch_add((level * (m + 1)) as u32, Ordering::Relaxed);
            self.upper_at[entry as usize].store(base, Ordering::Release);
        }
        let query = view.row(entry);
        let row = |n: u32| (n < view.len).then(|| view.row(n));
        SCRATCH.with_borrow_mut(|s| {
            s.begin(self.capacity as usize);
            let Some((node, sim, top)) = self.descend(query, level, s, &row) else {
                self.entry
                    .store(((level as u64) << 32) | u64::from(entry), Ordering::Release);
                self.nodes.fetch_add(1, Ordering::Relaxed);
                return;
            };
            s.sorted.clear();
            s.sorted.push((Sim(sim), node));
            for layer in (0..=level.min(top)).rev() {
                s.begin(self.capacity as usize);
                s.visit(entry);
                for i in 0..s.sorted.len() {
                    let seed = s.sorted[i];
                    s.visit(seed.1);
                    s.candidates.push(seed);
                    s.found.push(Reverse(seed));
                }
                self.search_layer(query, self.params.ef_construction, layer, s, &row);
                s.drain_sorted();
                // The next layer starts from this layer's candidates; `link` reuses `sorted`.
                let seeds = s.sorted.clone();
                let max = if layer == 0 { self.m0 } else { m };
                self.select(max, layer == 0, s, &row);
                let kept: Vec<u32> = s.kept.iter().map(|&(_, id)| id).collect();
                self.write_list(entry, layer, &kept);
                for &n in &kept {
                    self.link(n, entry, layer, s, &row);
                }
                s.sorted = seeds;
            }
            if level > top {
                self.entry
                    .store(((level as u64) << 32) | u64::from(entry), Ordering::Release);
            }
            self.nodes.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// HNSW's neighbour-selection heuristic over `s.sorted` (best first) into `s.kept`: a
    /// candidate is kept when it is closer to the base than to every kept one, which spreads
    /// links across directions. With `fill`, pruned candidates top the list up to `max`
    /// (near-duplicate clusters stay connected).
    fn select<'v>(
        &self,
        max: usize,
        fill: bool,
        s: &mut Scratch,
        row: &impl Fn(u32) -> Option<&'v [f32]>,
    ) {
        s.kept.clear();
        s.pruned.clear();
        for &(Sim(sim), c) in &s.sorted {
            if s.kept.len() >= max {
                break;
            }
            let Some(cv) = row(c) else { continue };
            let diverse = s
                .kept
                .iter()
                .all(|&(_, r)| row(r).is_none_or(|rv| dot(cv, rv) < sim));
            if diverse {
                s.kept.push((Sim(sim), c));
            } else {
                s.pruned.push((Sim(sim), c));
            }
        }
        if fill {
            let room = max.saturating_sub(s.kept.len());
            s.kept.extend(s.pruned.iter().take(room));
        }
    }

    /// Adds `new` to `node`'s list at `layer`, re-selecting (without the fill-up) when the list
    /// is full.
    fn link<'v>(
        &self,
        node: u32,
        new: u32,
        layer: usize,
        s: &mut Scratch,
        row: &impl Fn(u32) -> Option<&'v [f32]>,
    ) {
        let Some((slots, max)) = self.list(node, layer) else {
            return;
        };
        let n = (slots[0].load(Ordering::Acquire) as usize).min(max);
        if n < max {
            slots[1 + n].store(new, Ordering::Relaxed);
            slots[0].store(n as u32 + 1, Ordering::Release);
            return;
        }
        let Some(base) = row(node) else { return };
        self.read_list(node, layer, &mut s.ids);
        s.ids.push(new);
        s.sorted.clear();
        for &id in &s.ids {
            if let Some(v) = row(id) {
                s.sorted.push((Sim(dot(base, v)), id));
            }
        }
        s.sorted.sort_unstable_by(|a, b| b.cmp(a));
        // No fill-up here (only a new node's own layer-0 list is filled): a re-selected list
        // keeps its diverse links only, so the next reverse links append without re-selecting
        // until it is full again. Measured (`index_search`, crate docs): builds 1.5–2.3× faster,
        // recall@10 at 100K and ef 64 .918 → .931, and searches faster (shorter, more diverse
        // lists). Filling here kept every list full, so almost every link re-selected.
        self.select(max, false, s, row);
        s.ids.clear();
        s.ids.extend(s.kept.iter().map(|&(_, id)| id));
        let ids = std::mem::take(&mut s.ids);
        self.write_list(node, layer, &ids);
        s.ids = ids;
    }
}
