//! Run-time dispatch of the kernels to AVX-512 or AVX2 code on x86-64.
//!
//! The default x86-64 target only guarantees SSE2, and LLVM compiles the portable 16-lane
//! bodies ([`super::dot_portable`], [`super::dot_i8_portable`]) for it poorly: `perf annotate`
//! showed the f32 dot as eight 2-float chains (`vmovsd`/`vmulps` on 64 bits) even with AVX-512
//! enabled, and the int8 dot without a widening multiply. Here the same computations are
//! written with explicit 512/256-bit intrinsics, picked when the CPU has the units. The float
//! arithmetic is the portable body's (lane `i` sums the same products in the same order,
//! multiply then add, never fused; the pairwise reduction in the same order), so results are
//! bit-identical across machines and replay stays deterministic; the test below checks it
//! against the portable body.
//!
//! The only `unsafe` of the crate: calling a `#[target_feature]` function is sound once the
//! feature was detected, which `is_x86_feature_detected!` does (std caches the answer, so a
//! check is one relaxed load).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

/// The portable body's last steps: the 16 partial sums `acc[0..8]` (the AVX-512 register's
/// halves already added: `acc[i] + acc[i + 8]`) reduced pairwise in the same order, plus the
/// scalar tail summed in order.
#[inline(always)]
fn finish(acc8: [f32; 8], a: &[f32], b: &[f32], done: usize) -> f32 {
    let mut acc = acc8;
    let mut width = 4;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    let mut tail = 0.0f32;
    for (x, y) in a[done..].iter().zip(&b[done..]) {
        tail += x * y;
    }
    acc[0] + tail
}

/// [`super::dot_portable`] with one 16-lane register: lane `i` sums `a[16j + i] · b[16j + i]`
/// over `j` in order (multiply, then add: no fused multiply-add), as the portable body's
/// `acc[i]`; then the halves are added lane-wise (`acc[i] + acc[i + 8]`), as its first
/// reduction step.
#[target_feature(enable = "avx512f,avx2")]
fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let chunks = n / 16;
    let mut acc = _mm512_setzero_ps();
    for j in 0..chunks {
        // SAFETY: j·16 + 16 ≤ n ≤ both lengths; unaligned loads.
        let (x, y) = unsafe {
            (
                _mm512_loadu_ps(a.as_ptr().add(j * 16)),
                _mm512_loadu_ps(b.as_ptr().add(j * 16)),
            )
        };
        acc = _mm512_add_ps(acc, _mm512_mul_ps(x, y));
    }
    let lo = _mm512_castps512_ps256(acc);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc)));
    let mut acc8 = [0.0f32; 8];
    // SAFETY: `acc8` holds exactly 8 floats; unaligned store.
    unsafe { _mm256_storeu_ps(acc8.as_mut_ptr(), _mm256_add_ps(lo, hi)) };
    finish(acc8, a, b, chunks * 16)
}

/// [`super::dot_portable`] with two 8-lane registers (`acc[0..8]` and `acc[8..16]`).
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let chunks = n / 16;
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for j in 0..chunks {
        // SAFETY: j·16 + 16 ≤ n ≤ both lengths; unaligned loads.
        unsafe {
            let (pa, pb) = (a.as_ptr().add(j * 16), b.as_ptr().add(j * 16));
            lo = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb)));
            hi = _mm256_add_ps(
                hi,
                _mm256_mul_ps(_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8))),
            );
        }
    }
    let mut acc8 = [0.0f32; 8];
    // SAFETY: `acc8` holds exactly 8 floats; unaligned store.
    unsafe { _mm256_storeu_ps(acc8.as_mut_ptr(), _mm256_add_ps(lo, hi)) };
    finish(acc8, a, b, chunks * 16)
}

/// Integer dot product, 32 codes per step (sign-extended to i16, `vpmaddwd`): exact, so
/// equal to [`super::dot_i8_portable`] whatever the summation order.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn dot_i8_avx512(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let chunks = n / 32;
    let mut acc = _mm512_setzero_si512();
    for j in 0..chunks {
        // SAFETY: j·32 + 32 ≤ n ≤ both lengths; unaligned 32-byte loads.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(j * 32).cast()),
                _mm256_loadu_si256(b.as_ptr().add(j * 32).cast()),
            )
        };
        let prod = _mm512_madd_epi16(_mm512_cvtepi8_epi16(x), _mm512_cvtepi8_epi16(y));
        acc = _mm512_add_epi32(acc, prod);
    }
    let mut total = _mm512_reduce_add_epi32(acc);
    for (x, y) in a[chunks * 32..n].iter().zip(&b[chunks * 32..n]) {
        total += i32::from(*x) * i32::from(*y);
    }
    total
}

/// [`dot_i8_avx512`] with 16 codes per step.
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let chunks = n / 16;
    let mut acc = _mm256_setzero_si256();
    for j in 0..chunks {
        // SAFETY: j·16 + 16 ≤ n ≤ both lengths; unaligned 16-byte loads.
        let (x, y) = unsafe {
            (
                _mm_loadu_si128(a.as_ptr().add(j * 16).cast()),
                _mm_loadu_si128(b.as_ptr().add(j * 16).cast()),
            )
        };
        let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y));
        acc = _mm256_add_epi32(acc, prod);
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` holds exactly 8 i32s; unaligned store.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    let mut total: i32 = lanes.iter().sum();
    for (x, y) in a[chunks * 16..n].iter().zip(&b[chunks * 16..n]) {
        total += i32::from(*x) * i32::from(*y);
    }
    total
}

/// [`dot_i8_avx512`] of `query` with each `query.len()`-wide row of `rows`, into `out`
/// (one dispatch per block instead of per row: the per-row call was most of the scan's cost).
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn dot_i8_rows_avx512(query: &[i8], rows: &[i8], out: &mut [i32]) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(query.len())) {
        *o = dot_i8_avx512(query, row);
    }
}

/// [`dot_i8_rows_avx512`] on AVX2, 32 codes per step with `vpmaddubsw`: it multiplies
/// unsigned by signed bytes, so the query's magnitudes (taken once per block) meet the row's
/// codes carrying the query's signs (`vpsignb`), and `|q|·sign(q)·r = q·r`. Codes lie in
/// −127..=127 (never −128, whose magnitude does not fit), so a pair of products is at most
/// 2·127² = 32,258 and the 16-bit sums never saturate: the result is exact, as the widening
/// kernel's, in about half the instructions (the flat scan's inner loop).
#[target_feature(enable = "avx2")]
fn dot_i8_rows_avx2(query: &[i8], rows: &[i8], out: &mut [i32]) {
    const MAX_CHUNKS: usize = super::MAX_QUANT_DIM / 32;
    let dim = query.len();
    let chunks = dim / 32;
    if chunks == 0 || chunks > MAX_CHUNKS {
        for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
            *o = dot_i8_avx2(query, row);
        }
        return;
    }
    let mut signs = [_mm256_setzero_si256(); MAX_CHUNKS];
    let mut magnitudes = [_mm256_setzero_si256(); MAX_CHUNKS];
    for j in 0..chunks {
        // SAFETY: j·32 + 32 ≤ dim = query.len(); unaligned 32-byte load.
        let q = unsafe { _mm256_loadu_si256(query.as_ptr().add(j * 32).cast()) };
        signs[j] = q;
        magnitudes[j] = _mm256_abs_epi8(q);
    }
    let ones = _mm256_set1_epi16(1);
    let done = chunks * 32;
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        let mut acc = _mm256_setzero_si256();
        for j in 0..chunks {
            // SAFETY: j·32 + 32 ≤ done ≤ dim = row.len(); unaligned 32-byte load.
            let r = unsafe { _mm256_loadu_si256(row.as_ptr().add(j * 32).cast()) };
            let pairs = _mm256_maddubs_epi16(magnitudes[j], _mm256_sign_epi8(r, signs[j]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        }
        let sum128 = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let sum64 = _mm_add_epi32(sum128, _mm_unpackhi_epi64(sum128, sum128));
        let sum32 = _mm_add_epi32(sum64, _mm_shuffle_epi32::<0b01>(sum64));
        let mut total = _mm_cvtsi128_si32(sum32);
        for (x, y) in query[done..].iter().zip(&row[done..]) {
            total += i32::from(*x) * i32::from(*y);
        }
        *o = total;
    }
}

/// `out[i] = dot_i8(query, row i of rows)` on the widest unit detected; false (nothing
/// written) on a CPU without AVX2.
pub(super) fn dot_i8_rows(query: &[i8], rows: &[i8], out: &mut [i32]) -> bool {
    if query.is_empty() {
        return false;
    }
    if has_avx512() {
        // SAFETY: avx512f, avx512bw (and so avx2) were detected on this CPU just above.
        unsafe { dot_i8_rows_avx512(query, rows, out) };
        true
    } else if std::is_x86_feature_detected!("avx2") {
        // SAFETY: avx2 was detected on this CPU just above.
        unsafe { dot_i8_rows_avx2(query, rows, out) };
        true
    } else {
        false
    }
}

fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
}

/// `dot(a, b)` on the widest unit detected; `None` on a CPU without AVX2.
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> Option<f32> {
    if has_avx512() {
        // SAFETY: avx512f, avx512bw (and so avx2) were detected on this CPU just above.
        Some(unsafe { dot_avx512(a, b) })
    } else if std::is_x86_feature_detected!("avx2") {
        // SAFETY: avx2 was detected on this CPU just above.
        Some(unsafe { dot_avx2(a, b) })
    } else {
        None
    }
}

/// `dot_i8(a, b)` on the widest unit detected; `None` on a CPU without AVX2.
#[inline]
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> Option<i32> {
    if has_avx512() {
        // SAFETY: avx512f, avx512bw (and so avx2) were detected on this CPU just above.
        Some(unsafe { dot_i8_avx512(a, b) })
    } else if std::is_x86_feature_detected!("avx2") {
        // SAFETY: avx2 was detected on this CPU just above.
        Some(unsafe { dot_i8_avx2(a, b) })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::{dot_i8_portable, dot_portable};

    /// The dispatched kernels must give exactly the portable body's bits (replay's results
    /// must not depend on the CPU), on lengths with and without a tail.
    #[test]
    fn wide_kernels_are_bit_identical_to_the_portable_body() {
        let mut x = 0x9E37_79B9u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for len in [1usize, 7, 16, 31, 64, 128, 130, 384] {
            for _ in 0..50 {
                let a: Vec<f32> = (0..len)
                    .map(|_| next() as f32 / u32::MAX as f32 - 0.5)
                    .collect();
                let b: Vec<f32> = (0..len)
                    .map(|_| next() as f32 / u32::MAX as f32 - 0.5)
                    .collect();
                let (ai, bi): (Vec<i8>, Vec<i8>) = (
                    a.iter().map(|v| (v * 254.0) as i8).collect(),
                    b.iter().map(|v| (v * 254.0) as i8).collect(),
                );
                if let Some(d) = super::dot(&a, &b) {
                    assert_eq!(d.to_bits(), dot_portable(&a, &b).to_bits(), "len {len}");
                }
                if let Some(d) = super::dot_i8(&ai, &bi) {
                    assert_eq!(d, dot_i8_portable(&ai, &bi), "len {len}");
                }
                // The extremes too: every pair of products at ±2·127², where a saturating
                // 16-bit step would show.
                let (top, bottom) = (vec![127i8; len], vec![-127i8; len]);
                let rows: Vec<i8> = [&bi[..], &ai[..], &top[..], &bottom[..]].concat();
                for query in [&ai, &top, &bottom] {
                    let mut out = [0i32; 4];
                    if super::dot_i8_rows(query, &rows, &mut out) {
                        let want = [&bi, &ai, &top, &bottom].map(|r| dot_i8_portable(query, r));
                        assert_eq!(out, want, "rows len {len}");
                    }
                    if std::is_x86_feature_detected!("avx2") {
                        let mut out = [0i32; 4];
                        // SAFETY: avx2 detected.
                        unsafe { super::dot_i8_rows_avx2(query, &rows, &mut out) };
                        let want = [&bi, &ai, &top, &bottom].map(|r| dot_i8_portable(query, r));
                        assert_eq!(out, want, "avx2 rows len {len}");
                    }
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: avx2 detected.
                    let d = unsafe { super::dot_avx2(&a, &b) };
                    assert_eq!(
                        d.to_bits(),
                        dot_portable(&a, &b).to_bits(),
                        "avx2 len {len}"
                    );
                    let d = unsafe { super::dot_i8_avx2(&ai, &bi) };
                    assert_eq!(d, dot_i8_portable(&ai, &bi), "avx2 len {len}");
                }
            }
        }
    }
}
