//! Vector kernels: the dot product, the clamped distance handed to hnsw_rs, and the flat top-k
//! scan.
//!
//! The portable bodies are safe Rust with 16 independent accumulators (they break the add
//! dependency chain, which matters more than vector width at 64–256 dimensions). On x86-64
//! with AVX2 or AVX-512, detected at run time, the same computations run as explicit
//! intrinsics ([`simd`]; LLVM compiled the portable f32 body as 2-float chains even with the
//! wide units enabled), bit-identical, so replay results do not depend on the CPU. Measured in
//! the replay of the committed datasets (`vecgate replay --policies vector --threads 1`,
//! alternating old and new binaries on the loaded 2-core machine): `vector` 1.2–1.4× faster
//! (uniform 2,088–2,338 → 3,041–3,312 simulated req/s, hotspot 10,665–11,728 → 13,975–16,990),
//! `results.json` byte-identical on all seven. The `index_kernels` bench compares the kernel
//! with anndists' runtime-dispatched AVX2 L2 kernel.

use anndists::dist::Distance;

#[cfg(target_arch = "x86_64")]
mod simd;

/// Number of independent partial sums in [`dot`].
const LANES: usize = 16;

/// Dot product of two equal-length vectors.
///
/// On x86-64 with AVX2 (or AVX-512) detected at run time this runs the same code compiled
/// for those units (the private `simd` module): the same 16 lanes, the same products and sums in the same
/// order, so the result is bit-identical to the baseline build (Rust never fuses a multiply
/// and an add), only fewer instructions per row (replay results do not depend on the CPU).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(d) = simd::dot(a, b) {
            return d;
        }
    }
    dot_portable(a, b)
}

/// [`dot`]'s body, inlined into each target-feature variant.
#[inline(always)]
pub(crate) fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let chunks_a = a.chunks_exact(LANES);
    let chunks_b = b.chunks_exact(LANES);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut tail = 0.0;
    for (x, y) in rest_a.iter().zip(rest_b) {
        tail += x * y;
    }
    // Pairwise reduction in a fixed order: deterministic results.
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// `1 − a·b` clamped to `[0, 2]`, for unit vectors: hnsw_rs's `DistDot` asserts `a·b ≤ 1` and
/// panics when rounding makes a self-match exceed it, and any NaN distance panics inside
/// hnsw_rs; this never returns NaN.
#[derive(Clone, Copy, Debug, Default)]
pub struct DotClamp;

impl Distance<f32> for DotClamp {
    #[inline]
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let d = 1.0 - dot(va, vb);
        if d.is_nan() { 2.0 } else { d.clamp(0.0, 2.0) }
    }
}

/// One search result: an entry and its cosine similarity to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    /// The entry id (stable for the store's lifetime and across snapshots).
    pub entry: u32,
    /// Cosine similarity to the query, in `[-1, 1]`.
    pub similarity: f32,
}

/// Keeps the `k` best neighbours in `out`, best first (ties: lower entry id first, so results
/// are deterministic).
#[inline]
pub(crate) fn offer(out: &mut Vec<Neighbour>, k: usize, candidate: Neighbour) {
    let better = |a: &Neighbour, b: &Neighbour| {
        a.similarity > b.similarity || (a.similarity == b.similarity && a.entry < b.entry)
    };
    if out.len() == k {
        match out.last() {
            Some(worst) if better(&candidate, worst) => {
                out.pop();
            }
            _ => return,
        }
    }
    let mut i = out.len();
    out.push(candidate);
    while i > 0 && better(&candidate, &out[i - 1]) {
        out[i] = out[i - 1];
        i -= 1;
    }
    out[i] = candidate;
}

/// Offers every row of `rows` (row-major, `dim` wide, first row = entry `first`) to `out`,
/// skipping entries for which `dead` is true.
pub(crate) fn scan_rows(
    rows: &[f32],
    dim: usize,
    first: u32,
    query: &[f32],
    k: usize,
    out: &mut Vec<Neighbour>,
    dead: &impl Fn(u32) -> bool,
) {
    let mut floor = if out.len() == k {
        out.last().map_or(f32::NEG_INFINITY, |n| n.similarity)
    } else {
        f32::NEG_INFINITY
    };
    for (i, row) in rows.chunks_exact(dim).enumerate() {
        let similarity = dot(query, row);
        // Cheap reject before the dead check and the insertion.
        if similarity < floor {
            continue;
        }
        let entry = first + i as u32;
        if dead(entry) {
            continue;
        }
        offer(out, k, Neighbour { entry, similarity });
        if out.len() == k {
            floor = out[k - 1].similarity;
        }
    }
}

/// Widest vectors the quantised scan handles (the query's codes live on the stack).
pub(crate) const MAX_QUANT_DIM: usize = 512;

/// Symmetric per-vector int8 quantisation: writes `round(x · 127 / max|x|)` into `out` and
/// returns the scale that maps codes back (`max|x| / 127`; 0 for a zero vector).
pub fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return 0.0;
    }
    let inv = 127.0 / max;
    for (o, x) in out.iter_mut().zip(v) {
        *o = round_half_away(x * inv).clamp(-127.0, 127.0) as i8;
    }
    max / 127.0
}

/// `v.round()` (halves away from zero; a zero may lose its sign) for |v| < 2^23, without
/// a call: the baseline x86-64 target has no rounding instruction (SSE4.1), so `f32::round`
/// is a libm call per element, which measured ~12 instructions × dim per quantised query
/// (3 % of a forwarded call's instructions under callgrind). Truncation (`cvttss2si`) and the
/// fraction `v - trunc(v)` are exact here, so adding the carry reproduces `round`.
#[inline]
fn round_half_away(v: f32) -> f32 {
    let truncated = v as i32 as f32;
    let fraction = v - truncated;
    let carry = if fraction >= 0.5 {
        1.0
    } else if fraction <= -0.5 {
        -1.0
    } else {
        0.0
    };
    truncated + carry
}

/// Integer dot product of two int8 code vectors (exact in i32 for dim ≤ 2^16).
///
/// Measured (`index_kernels`, 128-d, in cache, portable body on the baseline x86-64 target,
/// before the run-time dispatch): 17 ns/row against 10 ns for the f32 [`dot`]: without SSE4.1
/// the widening multiply is costly (the AVX2/AVX-512 path uses `vpmaddwd`). Two other shapes (i16
/// pair sums for `pmaddwd`, f32 conversion) measured 46 ns. The int8 scan still pays off when the
/// rows do not fit in cache (a quarter of the bytes to stream); see the crate docs.
///
/// Dispatched like [`dot`] (integer sums: exact whatever the vector width).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(d) = simd::dot_i8(a, b) {
            return d;
        }
    }
    dot_i8_portable(a, b)
}

/// `out[i] = dot_i8(query, row i)` for the `query.len()`-wide rows of `rows` (`out` as long
/// as the rows): the flat scan's inner loop, dispatched once per block.
#[inline]
pub(crate) fn dot_i8_rows(query: &[i8], rows: &[i8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if simd::dot_i8_rows(query, rows, out) {
            return;
        }
    }
    if query.is_empty() {
        out.fill(0);
        return;
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(query.len())) {
        *o = dot_i8_portable(query, row);
    }
}

/// [`dot_i8`]'s body, inlined into each target-feature variant.
#[inline(always)]
pub(crate) fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; LANES];
    let chunks_a = a.chunks_exact(LANES);
    let chunks_b = b.chunks_exact(LANES);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += i32::from(ca[i]) * i32::from(cb[i]);
        }
    }
    let mut total: i32 = acc.iter().sum();
    for (x, y) in rest_a.iter().zip(rest_b) {
        total += i32::from(*x) * i32::from(*y);
    }
    total
}

/// The quantised scan's shortlist: the `cap` best candidates offered, on the stack.
///
/// A buffered top-k: candidates above the floor are appended, and when the buffer (twice the
/// capacity) fills it is cut back to the best `cap` by selection, which raises the floor. An
/// offer is amortised O(1) whatever the order of the candidates; a sorted list costs O(cap) per
/// offer while the list fills and whenever candidates arrive in rising order, which made it
/// the hottest loop of a small store's scan (every row beats the floor at first).
pub(crate) struct Shortlist {
    items: [Neighbour; 2 * Shortlist::CAPACITY],
    len: usize,
    cap: usize,
    floor: f32,
}

impl Shortlist {
    /// Largest shortlist.
    pub(crate) const CAPACITY: usize = 80;

    pub(crate) fn new(cap: usize) -> Shortlist {
        Shortlist {
            items: [Neighbour {
                entry: 0,
                similarity: 0.0,
            }; 2 * Shortlist::CAPACITY],
            len: 0,
            cap: cap.clamp(1, Shortlist::CAPACITY),
            floor: f32::NEG_INFINITY,
        }
    }

    /// A score at or below which a candidate cannot enter the list (it only rises).
    #[inline]
    pub(crate) fn floor(&self) -> f32 {
        self.floor
    }

    #[inline]
    pub(crate) fn offer(&mut self, candidate: Neighbour) {
        if candidate.similarity <= self.floor {
            return;
        }
        self.items[self.len] = candidate;
        self.len += 1;
        if self.len == 2 * self.cap {
            self.cut();
        }
    }

    /// Keeps the best `cap` (ties broken by entry id, so the result does not depend on the
    /// order of the offers) and raises the floor to the worst of them.
    fn cut(&mut self) {
        if self.len <= self.cap {
            return;
        }
        let items = &mut self.items[..self.len];
        items.select_nth_unstable_by(self.cap - 1, best_first);
        self.floor = items[self.cap - 1].similarity;
        self.len = self.cap;
    }

    /// The best `cap` candidates offered, in no particular order.
    pub(crate) fn as_slice(&mut self) -> &[Neighbour] {
        self.cut();
        &self.items[..self.len]
    }
}

/// Higher similarity first, then lower entry id.
fn best_first(a: &Neighbour, b: &Neighbour) -> std::cmp::Ordering {
    b.similarity
        .total_cmp(&a.similarity)
        .then(a.entry.cmp(&b.entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_is_f32_round_over_the_code_range() {
        // Every tie and its neighbours in ±130, then a dense sweep of the range.
        let mut values = vec![
            0.0f32,
            -0.0,
            0.49999997,
            -0.49999997,
            0.5,
            -0.5,
            127.0,
            -127.0,
        ];
        for i in -260..=260 {
            let tie = i as f32 * 0.5;
            values.extend([tie, tie.next_up(), tie.next_down()]);
        }
        let mut v = -130.0f32;
        while v <= 130.0 {
            values.push(v);
            v += 0.001_953_125 * 1.37;
        }
        for v in values {
            // Equal as numbers (a zero may lose its sign, which the i8 code does not keep).
            assert_eq!(round_half_away(v), v.round(), "round({v:e}) differs");
            assert_eq!(
                round_half_away(v).clamp(-127.0, 127.0) as i8,
                v.round().clamp(-127.0, 127.0) as i8
            );
        }
    }

    #[test]
    fn quantize_keeps_the_largest_magnitude_at_127() {
        let v = [0.25f32, -1.0, 0.5, 0.0];
        let mut codes = [0i8; 4];
        let scale = quantize(&v, &mut codes);
        assert_eq!(codes, [32, -127, 64, 0]);
        assert_eq!(scale, 1.0 / 127.0);
    }

    #[test]
    fn the_shortlist_keeps_the_best_whatever_the_order_of_offers() {
        let n = 1000u32;
        // Rising, falling and interleaved orders of the same scores.
        let score = |i: u32| ((i * 7919) % n) as f32 / n as f32;
        let orders: [Vec<u32>; 3] = [
            (0..n).collect(),
            (0..n).rev().collect(),
            (0..n).map(|i| (i * 37) % n).collect(),
        ];
        for cap in [1usize, 8, 48, Shortlist::CAPACITY] {
            let mut want: Vec<u32> = (0..n).collect();
            want.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
            want.truncate(cap);
            want.sort_unstable();
            for order in &orders {
                let mut list = Shortlist::new(cap);
                for &i in order {
                    list.offer(Neighbour {
                        entry: i,
                        similarity: score(i),
                    });
                }
                let mut got: Vec<u32> = list.as_slice().iter().map(|c| c.entry).collect();
                got.sort_unstable();
                assert_eq!(got, want, "cap {cap}");
            }
        }
    }
}
