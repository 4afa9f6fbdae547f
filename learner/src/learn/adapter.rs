//! A micro-LoRA adapter: a rank-r correction of the additive model's prediction learned online
//! from the request embedding.
//!
//! `δ(x, r) = u_r · (A x)` with `A` a shared `rank × dim` projection and `u_r` a per-replica
//! vector of length `rank` (1..=4). Both learn by SGD on the same residual the additive model
//! learns from, so the adapter only captures what the hashed terms cannot: latency that varies
//! smoothly along directions of the embedding. It is off by default (`adapter_rank = 0`); the
//! ablation in `learn::ablation` measures when it helps.

use ndarray::{Array2, ArrayView1};

use crate::rng::Rng;

/// Largest supported rank.
pub(crate) const MAX_RANK: usize = 4;

/// The adapter of one pool.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Adapter {
    /// `rank × dim` projection.
    a: Array2<f32>,
    /// `replicas × rank` per-replica read-out.
    u: Array2<f32>,
    lr: f32,
}

/// The projection of one request, computed once and reused for every candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Projection {
    z: [f32; MAX_RANK],
}

impl Adapter {
    /// A fresh adapter: `A` random with unit-variance outputs on unit inputs, `u = 0` (so it
    /// predicts nothing until it has learned something).
    pub(crate) fn new(rank: usize, dim: usize, replicas: usize, lr: f32, seed: u64) -> Adapter {
        let rank = rank.clamp(1, MAX_RANK);
        let mut rng = Rng::seed(seed);
        let scale = (3.0f32).sqrt();
        let a = Array2::from_shape_fn((rank, dim), |_| scale * (2.0 * rng.unit() as f32 - 1.0));
        Adapter {
            a,
            u: Array2::zeros((replicas, rank)),
            lr,
        }
    }

    /// The embedding dimension.
    pub(crate) fn dim(&self) -> usize {
        self.a.ncols()
    }

    /// `A x`, or `None` when `x` has the wrong dimension.
    pub(crate) fn project(&self, x: &[f32]) -> Option<Projection> {
        if x.len() != self.dim() {
            return None;
        }
        let x = ArrayView1::from(x);
        let mut p = Projection::default();
        for (k, row) in self.a.rows().into_iter().enumerate() {
            p.z[k] = row.dot(&x);
        }
        Some(p)
    }

    /// The correction for `replica` in log ms (0 for replicas beyond the table).
    pub(crate) fn delta(&self, p: &Projection, replica: u32) -> f64 {
        let r = replica as usize;
        if r >= self.u.nrows() {
            return 0.0;
        }
        let u = self.u.row(r);
        f64::from(u.iter().zip(&p.z).map(|(a, b)| a * b).sum::<f32>())
    }

    /// One SGD step on `residual` (target minus the full prediction, adapter included).
    pub(crate) fn learn(&mut self, x: &[f32], p: &Projection, replica: u32, residual: f64) {
        let r = replica as usize;
        if r >= self.u.nrows() || x.len() != self.dim() {
            return;
        }
        let e = residual.clamp(-2.0, 2.0) as f32 * self.lr;
        let rank = self.a.nrows();
        let u_old: [f32; MAX_RANK] =
            std::array::from_fn(|k| if k < rank { self.u[(r, k)] } else { 0.0 });
        for k in 0..rank {
            self.u[(r, k)] += e * p.z[k];
        }
        let x = ArrayView1::from(x);
        for (k, mut row) in self.a.rows_mut().into_iter().enumerate() {
            // d/dA_k of u_r·(A x) = u_r[k]·x (x is unit-norm, so the step is bounded).
            let g = e * u_old[k];
            if g != 0.0 {
                row.scaled_add(g, &x);
            }
        }
    }

    /// `(rank, dim, a, u)` flattened, for snapshots.
    pub(crate) fn export(&self) -> (usize, usize, Vec<f32>, Vec<f32>) {
        (
            self.a.nrows(),
            self.a.ncols(),
            self.a.iter().copied().collect(),
            self.u.iter().copied().collect(),
        )
    }

    /// Rebuilds an adapter from [`Adapter::export`]'s parts; `None` if the shapes disagree.
    pub(crate) fn import(
        rank: usize,
        dim: usize,
        a: Vec<f32>,
        u: Vec<f32>,
        replicas: usize,
        lr: f32,
    ) -> Option<Adapter> {
        if !(1..=MAX_RANK).contains(&rank) || a.iter().chain(&u).any(|v| !v.is_finite()) {
            return None;
        }
        Some(Adapter {
            a: Array2::from_shape_vec((rank, dim), a).ok()?,
            u: Array2::from_shape_vec((replicas, rank), u).ok()?,
            lr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_direction_and_round_trips() {
        let dim = 8;
        let mut ad = Adapter::new(2, dim, 2, 0.05, 1);
        let mut rng = Rng::seed(2);
        let mut err_late = 0.0;
        for i in 0..5_000 {
            let x: Vec<f32> = (0..dim).map(|_| rng.unit() as f32 - 0.5).collect();
            let target = f64::from(x[0]) * 2.0; // replica 0 is slow along axis 0
            let p = ad.project(&x).unwrap();
            let residual = target - ad.delta(&p, 0);
            ad.learn(&x, &p, 0, residual);
            if i >= 4_000 {
                err_late += residual.abs();
            }
        }
        assert!(
            err_late / 1_000.0 < 0.1,
            "mean abs residual {}",
            err_late / 1_000.0
        );
        let (rank, d, a, u) = ad.export();
        let back = Adapter::import(rank, d, a, u, 2, 0.05).unwrap();
        assert_eq!(back, ad);
        assert!(Adapter::import(2, d, vec![0.0; 3], vec![], 2, 0.05).is_none());
        assert!(ad.project(&[0.0; 3]).is_none());
    }
}
