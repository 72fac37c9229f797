//! Softmax over one axis of a tensor viewed as `[outer, axis, inner]`, in place of a
//! transpose: for a non-last axis (YOLO's DFL softmax is `[4, 16, 8400]` over the 16-axis,
//! stride 8400) the `axis` values of one position are `inner` apart, so the kernel walks
//! whole rows of `inner` contiguous values — a vector of running maxima and sums across
//! the inner positions — instead of gathering strided columns. That access pattern is what
//! made tract spend 45 ms (a third of its YOLO11n time) on this one node.

use crate::activation::exp_v;
use crate::simd::{dispatch, Simd};
use crate::Isa;
use rayon::prelude::*;
use rayon::ThreadPool;

/// Inner positions handled per block: the running max and sum (2 × 256 floats) stay in
/// registers/L1 while the `axis` rows stream through.
const BLOCK: usize = 256;

/// Elements under which softmax stays on one thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// `y = softmax(x)` along the middle axis of `[outer, axis, inner]` (`inner = 1` is the
/// usual last-axis softmax).
///
/// # Panics
/// If `x` or `y` does not hold `outer·axis·inner` values.
pub fn softmax(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    axis: usize,
    inner: usize,
    pool: Option<&ThreadPool>,
) {
    let len = outer * axis * inner;
    assert_eq!(x.len(), len, "softmax: input length");
    assert_eq!(y.len(), len, "softmax: output length");
    if len == 0 {
        return;
    }
    let slab = axis * inner;
    let blocks_per_slab = inner.div_ceil(BLOCK);
    let task = |(t, y_slab): (usize, &mut [f32])| {
        let x_slab = &x[t * slab..(t + 1) * slab];
        if inner == 1 {
            dispatch!(isa, softmax_contiguous(x_slab, y_slab));
        } else {
            for b in 0..blocks_per_slab {
                let i0 = b * BLOCK;
                let width = BLOCK.min(inner - i0);
                dispatch!(isa, softmax_strided(x_slab, y_slab, axis, inner, i0, width));
            }
        }
    };
    let mut body = || {
        if len < PARALLEL_MIN_ELEMENTS
            || rayon::current_num_threads() <= 1
            || outer == 1 && inner == 1
        {
            y.chunks_mut(slab).enumerate().for_each(task);
        } else if outer >= rayon::current_num_threads() * 2 || inner == 1 {
            y.par_chunks_mut(slab).enumerate().for_each(task);
        } else {
            // Few slabs (the DFL case: outer = 4): split each slab's columns across threads.
            y.chunks_mut(slab).enumerate().for_each(|(t, y_slab)| {
                let x_slab = &x[t * slab..(t + 1) * slab];
                let y_ptr = SlabPtr(y_slab.as_mut_ptr());
                (0..blocks_per_slab).into_par_iter().for_each(|b| {
                    let i0 = b * BLOCK;
                    let width = BLOCK.min(inner - i0);
                    // SAFETY: block b touches only columns i0..i0+width of every row of
                    // this slab, disjoint from every other block; the slab outlives the loop.
                    let y_slab = unsafe { std::slice::from_raw_parts_mut(y_ptr.get(), slab) };
                    dispatch!(isa, softmax_strided(x_slab, y_slab, axis, inner, i0, width));
                });
            });
        }
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}

#[derive(Clone, Copy)]
struct SlabPtr(*mut f32);
// SAFETY: used only to hand disjoint column blocks of one slab to rayon tasks.
unsafe impl Send for SlabPtr {}
// SAFETY: as above.
unsafe impl Sync for SlabPtr {}
impl SlabPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// onnxruntime (MLAS) sums the exponentials of a row in 16 interleaved partial sums —
/// value `i` goes to partial `i mod 16`, in order — then folds them by a fixed tree. Summing
/// in exactly that order makes the normaliser, and so every output, bit-identical.
const PARTIALS: usize = 16;

/// The fold of the 16 partial sums: `t[i] = p[i + 8] + p[i]`, then pairs of pairs.
#[inline(always)]
fn fold_partials(p: &[f32; PARTIALS]) -> f32 {
    let t: [f32; 8] = std::array::from_fn(|i| p[i + 8] + p[i]);
    ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))
}

/// `e^(x - max)` of `n` values into `y`, whole vectors and a masked tail (the same maths
/// for every element).
#[inline(always)]
unsafe fn exp_shifted<S: Simd>(x: *const f32, y: *mut f32, n: usize, max: S::V) {
    // SAFETY: the caller guarantees `x` and `y` valid for `n` values and `S`'s ISA enabled; whole
    // vectors are accessed while `i + LANES <= n`, then a masked tail of `n - i` values.
    unsafe {
        let mut i = 0;
        while i + S::LANES <= n {
            S::store(y.add(i), exp_v::<S>(S::sub(S::load(x.add(i)), max)));
            i += S::LANES;
        }
        if i < n {
            let e = exp_v::<S>(S::sub(S::load_partial(x.add(i), n - i), max));
            S::store_partial(y.add(i), e, n - i);
        }
    }
}

/// Last-axis softmax of one contiguous row.
#[inline(always)]
fn softmax_contiguous<S: Simd>(x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let mut max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        max = 0.0; // all -inf: e^(x - 0) = 0 everywhere, then 0/0 like the reference
    }
    // SAFETY: x and y hold n values; the ISA was checked by dispatch!.
    unsafe { exp_shifted::<S>(x.as_ptr(), y.as_mut_ptr(), n, S::splat(max)) };
    let mut partials = [0.0f32; PARTIALS];
    let mut chunks = y.chunks_exact(PARTIALS);
    for chunk in &mut chunks {
        for (p, &e) in partials.iter_mut().zip(chunk) {
            *p += e;
        }
    }
    for (p, &e) in partials.iter_mut().zip(chunks.remainder()) {
        *p += e;
    }
    let inv = 1.0 / fold_partials(&partials);
    y.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax over the `axis` rows (stride `inner`) of columns `i0..i0+width` of one slab:
/// the per-column sums keep onnxruntime's 16 partials (row `a` goes to partial `a mod 16`).
#[inline(always)]
fn softmax_strided<S: Simd>(
    x: &[f32],
    y: &mut [f32],
    axis: usize,
    inner: usize,
    i0: usize,
    width: usize,
) {
    let mut max = [f32::NEG_INFINITY; BLOCK];
    let max = &mut max[..width];
    for a in 0..axis {
        let row = &x[a * inner + i0..a * inner + i0 + width];
        for (m, &v) in max.iter_mut().zip(row) {
            *m = if v > *m { v } else { *m };
        }
    }
    for m in max.iter_mut() {
        if *m == f32::NEG_INFINITY {
            *m = 0.0;
        }
    }
    let mut partials = [[0.0f32; BLOCK]; PARTIALS];
    for a in 0..axis {
        let at = a * inner + i0;
        let (row, out) = (&x[at..at + width], &mut y[at..at + width]);
        // SAFETY: row, out and max hold `width` values; the ISA was checked by dispatch!.
        unsafe {
            let mut j = 0;
            while j < width {
                let n = S::LANES.min(width - j);
                let (xs, ys, ms) = (
                    row.as_ptr().add(j),
                    out.as_mut_ptr().add(j),
                    max.as_ptr().add(j),
                );
                if n == S::LANES {
                    S::store(ys, exp_v::<S>(S::sub(S::load(xs), S::load(ms))));
                } else {
                    let d = S::sub(S::load_partial(xs, n), S::load_partial(ms, n));
                    S::store_partial(ys, exp_v::<S>(d), n);
                }
                j += S::LANES;
            }
        }
        for (p, &e) in partials[a % PARTIALS][..width].iter_mut().zip(out.iter()) {
            *p += e;
        }
    }
    let mut inv = [0.0f32; BLOCK];
    for (j, v) in inv[..width].iter_mut().enumerate() {
        let p: [f32; PARTIALS] = std::array::from_fn(|l| partials[l][j]);
        *v = 1.0 / fold_partials(&p);
    }
    for a in 0..axis {
        let at = a * inner + i0;
        for (o, &inv) in y[at..at + width].iter_mut().zip(inv.iter()) {
            *o *= inv;
        }
    }
}
