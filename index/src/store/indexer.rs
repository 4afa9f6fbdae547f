//! The background indexer: keeps the HNSW graph in step with the store, off the request path.
//!
//! It wakes when the writer has left enough rows outside the graph, then either inserts them
//! into the live graph (hnsw_rs allows `insert` during `search`) or, when tombstones pass
//! [`StoreConfig::rebuild_dead_fraction`], builds a new graph from the live entries while the old
//! one keeps serving. Each finished step is published as a new view under the writer mutex
//! (held only for the swap). With [`Crossover::Auto`] it also times graph search against the
//! flat scan on the machine it runs on and lets readers use whichever is faster.

use super::graph::Graph;
use super::view::{Mode, View};
use super::{Crossover, GraphBackend, Shared};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Entries below which the auto crossover does not even build a graph (a flat scan of this
/// many rows takes a few microseconds).
pub(crate) const AUTO_MIN_GRAPH: u32 = 4096;

/// Queries timed per calibration.
const CALIBRATION_QUERIES: usize = 64;

pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        {
            let mut pending = shared.wake.lock();
            while !*pending && !shared.is_shutting_down() {
                shared.wake_cv.wait(&mut pending);
            }
            *pending = false;
        }
        if shared.is_shutting_down() {
            return;
        }
        while !shared.is_shutting_down() && step(&shared, false) {}
    }
}

/// Does one unit of indexing work; returns whether there was any. `all` indexes even a batch
/// smaller than the configured one (used by `flush`).
pub(crate) fn step(shared: &Shared, all: bool) -> bool {
    let _one_indexer = shared.indexer.lock();
    let view = shared.view.load_full();
    let config = &shared.config;
    let threshold = match config.crossover {
        Crossover::Auto => AUTO_MIN_GRAPH,
        Crossover::Fixed(n) => n.max(1),
        Crossover::FlatOnly => return false,
    };
    if view.len < threshold {
        return false;
    }
    let rebuild = match &view.graph {
        None => true,
        Some(_) => {
            view.dead_in_graph > 0
                && view.dead_in_graph as f32 > config.rebuild_dead_fraction * view.graph_len as f32
        }
    };
    let pending = view.len - view.graph_len;
    if !rebuild && (pending == 0 || (!all && (pending as usize) < config.graph_batch)) {
        return false;
    }
    let upto = view.len;
    // Rows dead when reached are left out of the graph; tombstones never come back to life, so
    // at publish time "dead now" minus "skipped" is the tombstones the graph holds.
    let from = if rebuild { 0 } else { view.graph_len };
    let mut skipped = 0u32;
    let mut from_published = from;
    let mut graph = match (&view.graph, rebuild) {
        (Some(graph), false) => Arc::clone(graph),
        _ => Arc::new(Graph::new(
            config.graph,
            &config.hnsw,
            match config.graph {
                // The native graph grows on demand; hnsw_rs sizes its layers up front.
                GraphBackend::Native => (upto as usize) * 2,
                GraphBackend::HnswRs => (upto as usize).max(config.max_entries as usize / 4),
            },
        )),
    };
    if all {
        // `flush`: the caller waits (hnsw_rs then uses every core).
        let live: Vec<u32> = (from..upto).filter(|&e| !view.is_dead(e)).collect();
        skipped = (upto - from) - live.len() as u32;
        graph = graph.insert_many(&view, &live);
    } else {
        // An insert step publishes its progress every `graph_batch` rows, so readers' flat tail
        // (and the writer's `max_unindexed` bound) shrinks while a long step runs. A rebuild
        // cannot: its graph is new and covers nothing until it is done.
        let chunk = if rebuild {
            u32::MAX
        } else {
            config.graph_batch.max(1) as u32
        };
        let mut published = from;
        for entry in from..upto {
            if view.is_dead(entry) {
                skipped += 1;
            } else {
                if let Some(bigger) = graph.grown_for(entry) {
                    graph = Arc::new(bigger);
                }
                graph.insert(&view, entry);
            }
            // A large build must not hold up the store's drop for minutes.
            if entry % 1024 == 0 && shared.is_shutting_down() {
                return false;
            }
            if entry + 1 - published >= chunk && entry + 1 < upto {
                publish(
                    shared,
                    &graph,
                    published,
                    entry + 1,
                    skipped,
                    false,
                    view.mode,
                );
                (published, skipped) = (entry + 1, 0);
            }
        }
        from_published = published;
    }
    if rebuild {
        shared.rebuilds.fetch_add(1, Ordering::Relaxed);
    }
    let mode = match config.crossover {
        Crossover::Fixed(_) => Mode::Graph,
        _ => {
            let calibrated = shared.calibrated_len.load(Ordering::Relaxed);
            if rebuild || upto >= calibrated.saturating_mul(2) {
                shared.calibrated_len.store(upto, Ordering::Relaxed);
                calibrate(&view, &graph, upto, config.hnsw.ef_search)
            } else {
                view.mode
            }
        }
    };
    publish(shared, &graph, from_published, upto, skipped, rebuild, mode);
    true
}

/// Publishes `graph` as covering entries `0..upto`, having inserted `from..upto` in this step
/// minus `skipped` rows that were dead when reached (all of `0..upto` for a rebuild).
fn publish(
    shared: &Shared,
    graph: &Arc<Graph>,
    from: u32,
    upto: u32,
    skipped: u32,
    rebuild: bool,
    mode: Mode,
) {
    shared.publish(|current| {
        let mut next = current.clone();
        let base = if rebuild { 0 } else { current.dead_in_graph };
        let dead_now = (from..upto).filter(|&e| current.is_dead(e)).count() as u32;
        next.dead_in_graph = base + dead_now.saturating_sub(skipped);
        next.graph = Some(Arc::clone(graph));
        next.graph_len = upto;
        next.mode = mode;
        next
    });
}

/// Times graph search against a flat scan on sample rows and returns the faster mode.
fn calibrate(view: &View, graph: &Graph, upto: u32, ef: usize) -> Mode {
    let mut out = Vec::with_capacity(16);
    let step = (upto as usize / CALIBRATION_QUERIES).max(1);
    let queries: Vec<u32> = (0..upto as usize)
        .step_by(step)
        .take(CALIBRATION_QUERIES)
        .map(|e| e as u32)
        .collect();
    let mut time = |f: &mut dyn FnMut(&[f32], &mut Vec<super::Neighbour>)| {
        let mut samples: Vec<u128> = queries
            .iter()
            .map(|&q| {
                let start = Instant::now();
                f(view.row(q), &mut out);
                start.elapsed().as_nanos()
            })
            .collect();
        samples.sort_unstable();
        samples[samples.len() / 2]
    };
    let flat = time(&mut |q, out| {
        out.clear();
        view.scan_from(0, q, 10, out);
    });
    let hnsw = time(&mut |q, out| {
        out.clear();
        graph.search(view, q, 10, ef.max(10), upto, |n| {
            super::kernel::offer(out, 10, n)
        });
    });
    if hnsw < flat { Mode::Graph } else { Mode::Flat }
}
