//! The pattern bank: clusters of recent request embeddings, distilled in the background, each
//! keeping per-replica latency statistics.
//!
//! The instant loop assigns a request to its nearest pattern (cosine ≥ threshold) and updates
//! that pattern × replica's EWMA, quantile sketch and residual CUSUM; routing uses the pattern
//! id as one more additive term. The background loop moves centroids towards the mean of their
//! recent members (mini-batch k-means), opens a pattern for recent requests no pattern covers
//! (leader clustering), and when the bank is full recycles the least recently used slot. Pattern
//! ids are slot numbers, so they stay stable across reclustering, and a quiet pattern keeps its
//! knowledge until its slot is needed.

use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, RwLock};
// The index's unrolled dot: a naive f32 sum is one long add chain (~3 µs for 16 × 128-d).
use vecgate_index::store::dot;

use super::change::Cusum;
use super::sketch::LatencySketch;

/// Weight of a new outcome in a pattern × replica's log-latency EWMA.
const STATS_ALPHA: f64 = 0.1;
/// How far a centroid moves towards its members' mean per tick.
const CENTROID_STEP: f32 = 0.3;

/// Statistics of one pattern on one replica.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PatternStats {
    /// EWMA of `ln(latency_ms)` (0 until `count > 0`).
    pub(crate) mean_log: f64,
    /// Outcomes seen (since the slot was last recycled).
    pub(crate) count: u64,
    /// Latency distribution.
    pub(crate) sketch: LatencySketch,
    /// Residual change detector.
    pub(crate) cusum: Cusum,
}

#[derive(Debug, Default)]
struct Centroids {
    dim: usize,
    /// `max × dim`, L2-normalised rows; inactive rows are ignored.
    rows: Vec<f32>,
    active: Vec<bool>,
    /// Tick at which each pattern last had members.
    last_used: Vec<u64>,
}

#[derive(Debug, Default)]
struct Recent {
    dim: usize,
    rows: Vec<f32>,
    len: usize,
    next: usize,
}

/// The pattern bank of one pool.
#[derive(Debug)]
pub(crate) struct PatternBank {
    max: usize,
    threshold: f32,
    window: usize,
    replicas: usize,
    centroids: RwLock<Centroids>,
    recent: Mutex<Recent>,
    stats: Box<[Mutex<PatternStats>]>,
    epochs: Box<[AtomicU32]>,
}

fn normalise(v: &mut [f32]) -> bool {
    let n = dot(v, v).sqrt();
    if !(n.is_finite() && n > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= n);
    true
}

impl PatternBank {
    pub(crate) fn new(max: u16, threshold: f32, window: u32, replicas: u32) -> PatternBank {
        let cells = usize::from(max) * replicas as usize;
        PatternBank {
            max: usize::from(max),
            threshold,
            window: window as usize,
            replicas: replicas as usize,
            centroids: RwLock::new(Centroids::default()),
            recent: Mutex::new(Recent::default()),
            stats: (0..cells).map(|_| Mutex::default()).collect(),
            epochs: (0..cells).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn cell(&self, pattern: u16, replica: u32) -> Option<usize> {
        let (p, r) = (usize::from(pattern), replica as usize);
        (p < self.max && r < self.replicas).then_some(p * self.replicas + r)
    }

    /// The nearest pattern with cosine ≥ threshold, if any.
    pub(crate) fn assign(&self, embedding: &[f32]) -> Option<u16> {
        if self.max == 0 || embedding.is_empty() {
            return None;
        }
        let c = self.centroids.read();
        if c.dim != embedding.len() {
            return None;
        }
        let mut best = None;
        let mut best_sim = self.threshold;
        for (p, row) in c.rows.chunks_exact(c.dim).enumerate() {
            if !c.active[p] {
                continue;
            }
            let s = dot(row, embedding);
            if s >= best_sim {
                best_sim = s;
                best = Some(p as u16);
            }
        }
        best
    }

    /// The pattern × replica epoch (0 without a pattern).
    pub(crate) fn epoch(&self, pattern: Option<u16>, replica: u32) -> u16 {
        pattern
            .and_then(|p| self.cell(p, replica))
            .map_or(0, |i| self.epochs[i].load(Ordering::Relaxed) as u16)
    }

    /// Keeps the embedding for the next clustering pass (a fixed ring; no allocation after the
    /// first call).
    pub(crate) fn remember(&self, embedding: &[f32]) {
        if self.max == 0 || embedding.is_empty() {
            return;
        }
        let mut r = self.recent.lock();
        if r.dim != embedding.len() {
            // First embedding, or the embedder changed: start over.
            r.dim = embedding.len();
            r.rows = vec![0.0; self.window * r.dim];
            r.len = 0;
            r.next = 0;
        }
        let (dim, next) = (r.dim, r.next);
        r.rows[next * dim..(next + 1) * dim].copy_from_slice(embedding);
        r.next = (next + 1) % self.window;
        r.len = (r.len + 1).min(self.window);
    }

    /// Records one outcome of `pattern` on `replica`.
    pub(crate) fn record(&self, pattern: u16, replica: u32, latency_ms: f64, residual: f64) {
        let Some(i) = self.cell(pattern, replica) else {
            return;
        };
        let mut s = self.stats[i].lock();
        let log = latency_ms.max(1e-3).ln();
        s.mean_log = if s.count == 0 {
            log
        } else {
            (1.0 - STATS_ALPHA) * s.mean_log + STATS_ALPHA * log
        };
        s.count += 1;
        s.sketch.add(latency_ms);
        s.cusum.add(residual);
    }

    /// A copy of one pattern × replica's statistics.
    pub(crate) fn stats(&self, pattern: u16, replica: u32) -> Option<PatternStats> {
        self.cell(pattern, replica)
            .map(|i| self.stats[i].lock().clone())
    }

    /// Number of active patterns.
    pub(crate) fn active(&self) -> usize {
        self.centroids.read().active.iter().filter(|a| **a).count()
    }

    /// Background work: change detection per pattern × replica (alarms bump the epoch and
    /// restart the CUSUM), sketch decay, then reclustering. Returns the number of alarms.
    pub(crate) fn tick(&self, tick: u64, threshold: f64, decay: f32) -> u32 {
        let mut alarms = 0;
        for (i, cell) in self.stats.iter().enumerate() {
            let mut s = cell.lock();
            s.sketch.decay(decay);
            if s.cusum.alarmed(threshold) {
                s.cusum.reset();
                self.epochs[i].fetch_add(1, Ordering::Relaxed);
                alarms += 1;
            }
        }
        self.recluster(tick);
        alarms
    }

    fn recluster(&self, tick: u64) {
        if self.max == 0 {
            return;
        }
        let (dim, samples) = {
            let r = self.recent.lock();
            if r.len == 0 {
                return;
            }
            (r.dim, r.rows[..r.len * r.dim].to_vec())
        };
        // Work on a copy so routing keeps reading the old centroids meanwhile.
        let (mut rows, mut active, mut last_used) = {
            let c = self.centroids.read();
            if c.dim == dim {
                (c.rows.clone(), c.active.clone(), c.last_used.clone())
            } else {
                (
                    vec![0.0; self.max * dim],
                    vec![false; self.max],
                    vec![0; self.max],
                )
            }
        };
        let mut sums = vec![0f32; self.max * dim];
        let mut members = vec![0u32; self.max];
        let mut recycled = Vec::new();
        for x in samples.chunks_exact(dim) {
            let mut best = None;
            let mut best_sim = self.threshold;
            for (p, row) in rows.chunks_exact(dim).enumerate() {
                if active[p] {
                    let s = dot(row, x);
                    if s >= best_sim {
                        best_sim = s;
                        best = Some(p);
                    }
                }
            }
            let p = match best {
                Some(p) => p,
                None => {
                    // Leader clustering: open (or recycle) a slot for an uncovered request.
                    let slot = match active.iter().position(|a| !a) {
                        Some(free) => free,
                        None => match (0..self.max).min_by_key(|&p| (last_used[p], members[p])) {
                            Some(lru) if last_used[lru] < tick => lru,
                            _ => continue,
                        },
                    };
                    rows[slot * dim..(slot + 1) * dim].copy_from_slice(x);
                    sums[slot * dim..(slot + 1) * dim].fill(0.0);
                    members[slot] = 0;
                    active[slot] = true;
                    last_used[slot] = tick;
                    recycled.push(slot);
                    slot
                }
            };
            members[p] += 1;
            last_used[p] = tick;
            sums[p * dim..(p + 1) * dim]
                .iter_mut()
                .zip(x)
                .for_each(|(s, v)| *s += v);
        }
        for p in 0..self.max {
            if members[p] == 0 {
                continue;
            }
            let inv = 1.0 / members[p] as f32;
            let row = &mut rows[p * dim..(p + 1) * dim];
            for (c, s) in row.iter_mut().zip(&sums[p * dim..(p + 1) * dim]) {
                *c = (1.0 - CENTROID_STEP) * *c + CENTROID_STEP * s * inv;
            }
            if !normalise(row) {
                active[p] = false;
            }
        }
        for &slot in &recycled {
            // A recycled slot is a new pattern: its old statistics and weights are void.
            for r in 0..self.replicas {
                let i = slot * self.replicas + r;
                *self.stats[i].lock() = PatternStats::default();
                self.epochs[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut c = self.centroids.write();
        c.dim = dim;
        c.rows = rows;
        c.active = active;
        c.last_used = last_used;
    }

    /// `(dim, rows, active)` of the centroids, for snapshots.
    pub(crate) fn export_centroids(&self) -> (usize, Vec<f32>, Vec<bool>) {
        let c = self.centroids.read();
        (c.dim, c.rows.clone(), c.active.clone())
    }

    /// Every pattern × replica cell as `(epoch, stats)`, row-major.
    pub(crate) fn export_cells(&self) -> Vec<(u32, PatternStats)> {
        self.stats
            .iter()
            .zip(self.epochs.iter())
            .map(|(s, e)| (e.load(Ordering::Relaxed), s.lock().clone()))
            .collect()
    }

    /// Restores a state produced by the exports; `false` if the shapes do not match.
    pub(crate) fn import(
        &self,
        dim: usize,
        rows: Vec<f32>,
        active: Vec<bool>,
        cells: Vec<(u32, PatternStats)>,
    ) -> bool {
        // A bank that never saw an embedding exports no centroids at all.
        let never_clustered = dim == 0 && rows.is_empty() && active.is_empty();
        let shape_ok = (never_clustered
            || (active.len() == self.max && rows.len() == self.max * dim))
            && cells.len() == self.stats.len()
            && rows.iter().all(|x| x.is_finite());
        if !shape_ok {
            return false;
        }
        for ((slot, epoch), (e, s)) in self.stats.iter().zip(self.epochs.iter()).zip(cells) {
            *slot.lock() = s;
            epoch.store(e, Ordering::Relaxed);
        }
        let mut c = self.centroids.write();
        c.dim = dim;
        c.rows = rows;
        c.last_used = vec![0; active.len()];
        c.active = active;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn around(centre: &[f32], rng: &mut Rng, noise: f32) -> Vec<f32> {
        let mut v: Vec<f32> = centre
            .iter()
            .map(|c| c + noise * (rng.unit() as f32 - 0.5))
            .collect();
        normalise(&mut v);
        v
    }

    #[test]
    fn clusters_recent_requests_and_keeps_ids_stable() {
        let mut rng = Rng::seed(9);
        let dim = 16;
        let centres: Vec<Vec<f32>> = (0..3)
            .map(|k| {
                let mut v = vec![0.0; dim];
                v[k * 4] = 1.0;
                v
            })
            .collect();
        let bank = PatternBank::new(8, 0.8, 64, 4);
        assert_eq!(bank.assign(&centres[0]), None);
        for _ in 0..64 {
            let k = rng.below(3);
            bank.remember(&around(&centres[k], &mut rng, 0.2));
        }
        bank.tick(1, 16.0, 1.0);
        assert_eq!(bank.active(), 3);
        let ids: Vec<Option<u16>> = centres.iter().map(|c| bank.assign(c)).collect();
        assert!(ids.iter().all(Option::is_some));
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        // More of the same keeps the ids.
        for _ in 0..64 {
            let k = rng.below(3);
            bank.remember(&around(&centres[k], &mut rng, 0.2));
        }
        bank.tick(2, 16.0, 1.0);
        let again: Vec<Option<u16>> = centres.iter().map(|c| bank.assign(c)).collect();
        assert_eq!(ids, again);
        assert_eq!(
            bank.assign(&[1.0; 3]),
            None,
            "wrong dimension never matches"
        );
    }

    #[test]
    fn stats_alarm_bumps_only_that_cell() {
        let bank = PatternBank::new(2, 0.8, 8, 2);
        for _ in 0..100 {
            bank.record(1, 0, 20.0, 1.0);
            bank.record(1, 1, 20.0, 0.0);
        }
        assert_eq!(bank.tick(1, 16.0, 0.5), 1);
        assert_eq!(bank.epoch(Some(1), 0), 1);
        assert_eq!(bank.epoch(Some(1), 1), 0);
        let s = bank.stats(1, 1).unwrap();
        assert_eq!(s.count, 100);
        assert!((s.mean_log - 20f64.ln()).abs() < 1e-9);
        assert!((s.sketch.total() - 50.0).abs() < 1e-3);
    }
}
