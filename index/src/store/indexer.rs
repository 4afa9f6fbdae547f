//! The background indexer: keeps the HNSW graph in step with the store, off the request path.
//!
//! It wakes when the writer has left enough rows outside the graph, then either inserts them
//! into the live graph (hnsw_rs allows `insert` during `search`) or, when tombstones pass
//! [`StoreConfig::rebuild_dead_fraction`], builds a new graph from the live entries while the old
//! one keeps serving. Each finished step is published as a new view under the writer mutex
//! (held only for the swap). With [`Crossover::Auto`] it also times graph search against the
//! flat scan on the machine it runs on and lets readers use whichever is faster.

use super::graph::Graph;
use super::view::{Mode, RecallSample, View};
use super::{Crossover, GraphBackend, Shared};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Entries below which the auto crossover does not even build a graph (a flat scan of this
/// many rows takes a few microseconds).
pub(crate) const AUTO_MIN_GRAPH: u32 = 4096;

/// Sample rows per calibration (recall measured and both paths timed on them).
const CALIBRATION_QUERIES: usize = 128;

/// How often the idle indexer looks at the traffic sample.
const TRAFFIC_CHECK: Duration = Duration::from_secs(1);

/// The shortest time between two tunings on traffic.
const TRAFFIC_TUNE_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// A tuning on traffic runs at most once per this many times its own duration, so its exact
/// scans (20 ms a query at 1M entries) take at most ~2 % of the indexer's core.
const TRAFFIC_TUNE_PACE: u32 = 50;

pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        let woken = {
            let mut pending = shared.wake.lock();
            if !*pending && !shared.is_shutting_down() {
                // Tuning on traffic needs a look now and then; otherwise only writes wake it.
                if shared.config.tune_on_traffic {
                    shared.wake_cv.wait_for(&mut pending, TRAFFIC_CHECK);
                } else {
                    shared.wake_cv.wait(&mut pending);
                }
            }
            std::mem::take(&mut *pending)
        };
        if shared.is_shutting_down() {
            return;
        }
        if woken {
            while !shared.is_shutting_down() && step(&shared, false) {}
        }
        if traffic_tuning_due(&shared) {
            tune_on_traffic(&shared);
        }
    }
}

/// Whether the paced, periodic tuning on traffic should run now.
fn traffic_tuning_due(shared: &Shared) -> bool {
    // While readers flat-scan, `ef` does not matter until the next calibration, which
    // tunes it anyway.
    if shared.view.load().mode != Mode::Graph || !shared.traffic.is_refilled() {
        return false;
    }
    match *shared.traffic_tuned.lock() {
        None => true,
        Some((at, took)) => at.elapsed() >= TRAFFIC_TUNE_MIN_INTERVAL.max(took * TRAFFIC_TUNE_PACE),
    }
}

/// Re-tunes the graph's `ef` on the sampled searches, if the store tunes `ef`
/// ([`Crossover::Auto`] with a target recall), has a graph, and the sample has been
/// refilled since its last use. Returns whether it ran.
pub(crate) fn tune_on_traffic(shared: &Shared) -> bool {
    let _one_indexer = shared.indexer.lock();
    let config = &shared.config;
    let (Crossover::Auto, Some(target), true) = (
        config.crossover,
        config.target_recall,
        config.tune_on_traffic,
    ) else {
        return false;
    };
    let view = shared.view.load_full();
    let Some(graph) = view.graph.as_ref() else {
        return false;
    };
    let Some(queries) = shared.traffic.take() else {
        return false;
    };
    let started = Instant::now();
    let (ef, recall) = tune_ef(
        &view,
        graph,
        view.graph_len,
        &queries,
        |_| false,
        config.max_tuned_ef,
        target,
    );
    *shared.traffic_tuned.lock() = Some((Instant::now(), started.elapsed()));
    // Only the tuning changes: rows and graph are whatever is current by now.
    shared.publish(|current| {
        let mut next = current.clone();
        next.tuned_ef = ef as u32;
        next.sampled_recall = Some(recall);
        next.recall_sample = RecallSample::Traffic;
        next
    });
    true
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
    let calibrating = config.crossover == Crossover::Auto
        && (rebuild
            || upto
                >= shared
                    .calibrated_len
                    .load(Ordering::Relaxed)
                    .saturating_mul(2));
    // While `ef` is tuned, it is tuned on the searches' own queries when enough were sampled;
    // else a sample spread over this step's rows is held out of the graph: requests like the
    // stored ones that the graph has not seen, searched in it before they join it.
    let traffic = match config.target_recall {
        Some(_) if calibrating => shared.traffic.take(),
        _ => None,
    };
    let held_out = match config.target_recall {
        Some(_) if calibrating && traffic.is_none() => HeldOut::spread(from..upto),
        _ => HeldOut::none(),
    };
    let mut progress = Progress {
        published: from,
        skipped: 0,
        // An insert step publishes its progress every `graph_batch` rows, so readers' flat
        // tail (and the writer's `max_unindexed` bound) shrinks while a long step runs. A
        // rebuild cannot: its graph is new and covers nothing until it is done; nor can a
        // step that holds rows out (they would be published as covered before they are).
        chunk: if rebuild || all || held_out.len() > 0 {
            u32::MAX
        } else {
            config.graph_batch.max(1) as u32
        },
        upto,
    };
    let rest = (from..upto).filter(|&e| !held_out.contains(e));
    if !insert_rows(shared, &view, &mut graph, rest, all, &mut progress) {
        return false;
    }
    let ef_tuning = match (config.target_recall, &traffic) {
        (Some(target), Some(queries)) => {
            let (ef, recall) = tune_ef(
                &view,
                &graph,
                upto,
                queries,
                |_| false,
                config.max_tuned_ef,
                target,
            );
            Some((ef as u32, recall, RecallSample::Traffic))
        }
        (Some(target), None) if held_out.len() >= MIN_HELD_OUT => {
            let queries: Vec<f32> = held_out
                .rows()
                .filter(|&e| !view.is_dead(e))
                .flat_map(|e| view.row(e).iter().copied())
                .collect();
            let (ef, recall) = tune_ef(
                &view,
                &graph,
                upto,
                &queries,
                |e| held_out.contains(e),
                config.max_tuned_ef,
                target,
            );
            Some((ef as u32, recall, RecallSample::HeldOut))
        }
        _ => None,
    };
    if !insert_rows(
        shared,
        &view,
        &mut graph,
        held_out.rows(),
        all,
        &mut progress,
    ) {
        return false;
    }
    if rebuild {
        shared.rebuilds.fetch_add(1, Ordering::Relaxed);
    }
    let mut tuning = Tuning::of(&view);
    if let Some((ef, recall, sample)) = ef_tuning {
        (tuning.ef, tuning.recall, tuning.sample) = (ef, Some(recall), sample);
    }
    match config.crossover {
        Crossover::Fixed(_) => tuning.mode = Mode::Graph,
        _ if calibrating => {
            shared.calibrated_len.store(upto, Ordering::Relaxed);
            let ef = super::view::tuned_or(tuning.ef, config.hnsw.ef_search);
            tuning.mode = faster_mode(&view, &graph, upto, ef);
        }
        _ => {}
    }
    let (from_published, skipped) = (progress.published, progress.skipped);
    publish(
        shared,
        &graph,
        from_published,
        upto,
        skipped,
        rebuild,
        tuning,
    );
    true
}

/// Rows of an indexing step held out of the graph while `ef` is tuned: every `stride`-th row
/// from `start`, at most [`CALIBRATION_QUERIES`].
struct HeldOut {
    start: u32,
    stride: u32,
    count: u32,
}

impl HeldOut {
    fn none() -> HeldOut {
        HeldOut {
            start: 0,
            stride: 1,
            count: 0,
        }
    }

    /// A sample spread evenly over `rows`.
    fn spread(rows: std::ops::Range<u32>) -> HeldOut {
        let n = rows.end - rows.start;
        let count = n.min(CALIBRATION_QUERIES as u32);
        HeldOut {
            start: rows.start,
            stride: n.checked_div(count).unwrap_or(1),
            count,
        }
    }

    fn len(&self) -> usize {
        self.count as usize
    }

    fn contains(&self, entry: u32) -> bool {
        entry >= self.start
            && (entry - self.start).is_multiple_of(self.stride)
            && (entry - self.start) / self.stride < self.count
    }

    fn rows(&self) -> impl Iterator<Item = u32> + use<> {
        let (start, stride) = (self.start, self.stride);
        (0..self.count).map(move |i| start + i * stride)
    }
}

/// An insert step's progress: what readers have been shown so far.
struct Progress {
    /// Rows below this are published as covered by the graph.
    published: u32,
    /// Dead rows left out since `published` (see [`publish`]).
    skipped: u32,
    /// Publish every this many rows (`u32::MAX`: only at the end of the step).
    chunk: u32,
    /// The end of the step (never published from inside it).
    upto: u32,
}

/// Inserts the live rows of `rows` (ascending within a call) into `graph`, replacing it when
/// it grows; false when the store is shutting down (the step is abandoned).
fn insert_rows(
    shared: &Shared,
    view: &View,
    graph: &mut Arc<Graph>,
    rows: impl Iterator<Item = u32>,
    all: bool,
    progress: &mut Progress,
) -> bool {
    if all {
        // `flush`: the caller waits (hnsw_rs then uses every core).
        let mut live = Vec::new();
        for entry in rows {
            if view.is_dead(entry) {
                progress.skipped += 1;
            } else {
                live.push(entry);
            }
        }
        *graph = Arc::clone(graph).insert_many(view, &live);
        return true;
    }
    for entry in rows {
        if view.is_dead(entry) {
            progress.skipped += 1;
        } else {
            if let Some(bigger) = graph.grown_for(entry) {
                *graph = Arc::new(bigger);
            }
            graph.insert(view, entry);
        }
        // A large build must not hold up the store's drop for minutes.
        if entry % 1024 == 0 && shared.is_shutting_down() {
            return false;
        }
        if entry + 1 - progress.published >= progress.chunk && entry + 1 < progress.upto {
            publish(
                shared,
                graph,
                progress.published,
                entry + 1,
                progress.skipped,
                false,
                Tuning::of(view),
            );
            (progress.published, progress.skipped) = (entry + 1, 0);
        }
    }
    true
}

/// What a calibration decides: flat scan or graph, and the graph's `ef`.
#[derive(Clone, Copy, Debug)]
struct Tuning {
    mode: Mode,
    /// 0: the configured `ef`.
    ef: u32,
    recall: Option<f32>,
    sample: RecallSample,
}

impl Tuning {
    /// The tuning `view` already has.
    fn of(view: &View) -> Tuning {
        Tuning {
            mode: view.mode,
            ef: view.tuned_ef,
            recall: view.sampled_recall,
            sample: view.recall_sample,
        }
    }

    fn apply(self, view: &mut View) {
        view.mode = self.mode;
        view.tuned_ef = self.ef;
        view.sampled_recall = self.recall;
        view.recall_sample = self.sample;
    }
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
    tuning: Tuning,
) {
    shared.publish(|current| {
        let mut next = current.clone();
        let base = if rebuild { 0 } else { current.dead_in_graph };
        let dead_now = (from..upto).filter(|&e| current.is_dead(e)).count() as u32;
        next.dead_in_graph = base + dead_now.saturating_sub(skipped);
        next.graph = Some(Arc::clone(graph));
        next.graph_len = upto;
        tuning.apply(&mut next);
        next
    });
}

/// Times graph search (at `ef`) against a flat scan on sample rows and returns the faster
/// mode.
fn faster_mode(view: &View, graph: &Graph, upto: u32, ef: usize) -> Mode {
    let step = (upto as usize / CALIBRATION_QUERIES).max(1);
    let queries: Vec<u32> = (0..upto as usize)
        .step_by(step)
        .take(CALIBRATION_QUERIES)
        .map(|e| e as u32)
        .collect();
    let mut out = Vec::with_capacity(16);
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

/// The `ef` values calibration tries, smallest first (then the ceiling itself).
const EF_LADDER: [usize; 13] = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256];

/// Recall within this of the best measured counts as the graph's plateau: when no `ef`
/// reaches the target, the smallest `ef` on the plateau is kept.
const PLATEAU: f32 = 0.003;

/// Neighbours per query whose recall is measured (the bench's and the router's k).
const RECALL_K: usize = 10;

/// Held-out rows below which a calibration leaves `ef` as it was (too few for an estimate).
const MIN_HELD_OUT: usize = 32;

/// The smallest `ef` of [`EF_LADDER`] up to `max_ef` whose recall@10 on `queries` (row-major
/// vectors) reaches `target`, with the recall it measured; when none does, the smallest on
/// the graph's plateau (within [`PLATEAU`] of the best). The graph covers `0..limit` except
/// rows `held_out` of it; a query's truth is the exact scan of those same rows. A result with
/// the same similarity as the 10th true neighbour counts: identical rows are interchangeable.
fn tune_ef(
    view: &View,
    graph: &Graph,
    limit: u32,
    queries: &[f32],
    held_out: impl Fn(u32) -> bool,
    max_ef: usize,
    target: f32,
) -> (usize, f32) {
    let k = RECALL_K;
    let mut out = Vec::with_capacity(k);
    let queries: Vec<&[f32]> = queries.chunks_exact(view.dim).collect();
    // Per query: its true neighbours and the similarity a result needs to count.
    let truth: Vec<(Vec<u32>, f32)> = queries
        .iter()
        .map(|q| {
            out.clear();
            view.scan_range(0, limit, q, k, &mut out, &held_out);
            let floor = out.last().map_or(f32::NEG_INFINITY, |n| n.similarity);
            (out.iter().map(|n| n.entry).collect(), floor)
        })
        .collect();
    let expected: usize = truth.iter().map(|(ids, _)| ids.len()).sum();
    let mut recall_at = |ef: usize| {
        let mut found = 0usize;
        for (q, (ids, floor)) in queries.iter().zip(&truth) {
            out.clear();
            graph.search(view, q, k, ef.max(k), limit, |n| {
                if !view.is_dead(n.entry) {
                    super::kernel::offer(&mut out, k, n)
                }
            });
            found += out
                .iter()
                .filter(|n| n.similarity >= *floor || ids.contains(&n.entry))
                .count();
        }
        if expected == 0 {
            1.0
        } else {
            found as f32 / expected as f32
        }
    };
    let ladder = EF_LADDER.iter().copied().filter(|&ef| ef < max_ef);
    let mut measured = Vec::with_capacity(EF_LADDER.len() + 1);
    for ef in ladder.chain(std::iter::once(max_ef)) {
        let recall = recall_at(ef);
        if recall >= target {
            return (ef, recall);
        }
        measured.push((ef, recall));
    }
    let best = measured.iter().map(|&(_, r)| r).fold(0.0, f32::max);
    measured
        .into_iter()
        .find(|&(_, r)| r >= best - PLATEAU)
        .unwrap_or((max_ef, best))
}

#[cfg(test)]
mod tests {
    use super::HeldOut;

    #[test]
    fn held_out_rows_are_spread_and_recognised() {
        for (start, end) in [(0u32, 10u32), (100, 356), (0, 100_000), (7, 7)] {
            let held = HeldOut::spread(start..end);
            let rows: Vec<u32> = held.rows().collect();
            assert_eq!(rows.len(), held.len());
            assert_eq!(
                held.len(),
                ((end - start) as usize).min(super::CALIBRATION_QUERIES)
            );
            let members = (start..end).filter(|&e| held.contains(e)).count();
            assert_eq!(members, rows.len(), "{start}..{end}");
            assert!(
                rows.iter()
                    .all(|&e| (start..end).contains(&e) && held.contains(e))
            );
            if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                // Spread over the range, not bunched at one end.
                assert_eq!(*first, start);
                assert!(*last >= start + (end - start) / 2, "{start}..{end}: {last}");
            }
        }
        assert_eq!(HeldOut::none().len(), 0);
        assert!(!HeldOut::none().contains(0));
    }
}
