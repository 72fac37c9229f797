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

/// Last-axis softmax of one contiguous row.
#[inline(always)]
fn softmax_contiguous<S: Simd>(x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let mut lanes = [0.0f32; 16];
    // SAFETY: all accesses are below n = x.len(); the ISA was checked by dispatch!.
    let mut max = unsafe {
        let mut m = S::splat(f32::NEG_INFINITY);
        let mut i = 0;
        while i + S::LANES <= n {
            m = S::max(m, S::load(x.as_ptr().add(i)));
            i += S::LANES;
        }
        S::store(lanes.as_mut_ptr(), m);
        let mut max = lanes[..S::LANES]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        for &v in &x[i..] {
            max = max.max(v);
        }
        max
    };
    if max == f32::NEG_INFINITY {
        max = 0.0; // all -inf: e^(x - 0) = 0 everywhere, then 0/0 like the reference
    }
    let mut sum = 0.0f32;
    // SAFETY: all accesses are below n = x.len() = y.len(); the ISA was checked by dispatch!.
    unsafe {
        let m = S::splat(max);
        let mut i = 0;
        let mut acc = S::splat(0.0);
        while i + S::LANES <= n {
            let e = exp_v::<S>(S::sub(S::load(x.as_ptr().add(i)), m));
            S::store(y.as_mut_ptr().add(i), e);
            acc = S::add(acc, e);
            i += S::LANES;
        }
        S::store(lanes.as_mut_ptr(), acc);
        sum += lanes[..S::LANES].iter().sum::<f32>();
        for j in i..n {
            let e = exp_v::<crate::simd::Scalar>(x[j] - max);
            y[j] = e;
            sum += e;
        }
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax over the `axis` rows (stride `inner`) of columns `i0..i0+width` of one slab.
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
    let mut sum = [0.0f32; BLOCK];
    let (max, sum) = (&mut max[..width], &mut sum[..width]);
    for a in 0..axis {
        let row = &x[a * inner + i0..a * inner + i0 + width];
        for (m, &v) in max.iter_mut().zip(row) {
            *m = if v > *m { v } else { *m };
        }
    }
    let vec_end = width / S::LANES * S::LANES;
    for a in 0..axis {
        let at = a * inner + i0;
        let (row, out) = (&x[at..at + width], &mut y[at..at + width]);
        // SAFETY: j + LANES ≤ vec_end ≤ width bounds row, out, max and sum; the ISA was
        // checked by dispatch!.
        unsafe {
            let mut j = 0;
            while j < vec_end {
                let e = exp_v::<S>(S::sub(
                    S::load(row.as_ptr().add(j)),
                    S::load(max.as_ptr().add(j)),
                ));
                S::store(out.as_mut_ptr().add(j), e);
                S::store(
                    sum.as_mut_ptr().add(j),
                    S::add(S::load(sum.as_ptr().add(j)), e),
                );
                j += S::LANES;
            }
        }
        for j in vec_end..width {
            let e = unsafe { exp_v::<crate::simd::Scalar>(row[j] - max[j]) };
            out[j] = e;
            sum[j] += e;
        }
    }
    for s in sum.iter_mut() {
        *s = 1.0 / *s;
    }
    for a in 0..axis {
        let at = a * inner + i0;
        for (o, &inv) in y[at..at + width].iter_mut().zip(sum.iter()) {
            *o *= inv;
        }
    }
}
