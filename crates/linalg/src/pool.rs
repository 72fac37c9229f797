//! Max pooling and nearest-neighbour upsampling over NCHW planes.
//!
//! Max pooling is separable: the max over a kh×kw window is the max over kw columns of the
//! max over kh rows. Per output row, a vertical pass (whole input rows, vectorised) fills a
//! −inf-bordered scratch row, then kw shifted maxima give the outputs: kh + kw comparisons
//! per output instead of kh·kw — for SPPF's 5×5, run three times in a chain, 10 instead
//! of 25 — and no per-element bounds checks.

use crate::scratch::with_row_scratch;
use rayon::prelude::*;
use rayon::ThreadPool;

/// The window of a 2-D max pool (ONNX `MaxPool` attributes, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Window height.
    pub kernel_h: usize,
    /// Window width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Pads (top, left, bottom, right); padding never wins the max.
    pub pads: [usize; 4],
}

impl PoolGeometry {
    /// Output height.
    pub fn out_h(&self) -> usize {
        (self.in_h + self.pads[0] + self.pads[2] - self.kernel_h) / self.stride_h + 1
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.in_w + self.pads[1] + self.pads[3] - self.kernel_w) / self.stride_w + 1
    }
}

/// Planes (n·c) under which pooling stays on one thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

/// `y = maxpool(x)` for `planes` NCHW planes (N·C).
///
/// # Panics
/// If the window is empty or larger than the padded input, if a pad is not smaller than
/// the window (a window of pure padding has no maximum), or on wrong slice lengths.
pub fn max_pool2d(
    g: &PoolGeometry,
    planes: usize,
    x: &[f32],
    y: &mut [f32],
    pool: Option<&ThreadPool>,
) {
    assert!(
        g.kernel_h > 0 && g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0,
        "max_pool2d: empty window or stride"
    );
    assert!(
        g.in_h + g.pads[0] + g.pads[2] >= g.kernel_h
            && g.in_w + g.pads[1] + g.pads[3] >= g.kernel_w,
        "max_pool2d: window larger than input"
    );
    assert!(
        g.pads[0].max(g.pads[2]) < g.kernel_h && g.pads[1].max(g.pads[3]) < g.kernel_w,
        "max_pool2d: pad must be smaller than the window"
    );
    let (in_plane, out_plane) = (g.in_h * g.in_w, g.out_h() * g.out_w());
    assert_eq!(x.len(), planes * in_plane, "max_pool2d: input length");
    assert_eq!(y.len(), planes * out_plane, "max_pool2d: output length");
    if out_plane == 0 {
        return;
    }
    let task =
        |(p, out): (usize, &mut [f32])| pool_plane(g, &x[p * in_plane..(p + 1) * in_plane], out);
    let mut body = || {
        if y.len() < PARALLEL_MIN_ELEMENTS || rayon::current_num_threads() <= 1 {
            y.chunks_mut(out_plane).enumerate().for_each(task);
        } else {
            y.par_chunks_mut(out_plane).enumerate().for_each(task);
        }
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}

/// Valid window positions along one axis for output index `o`: `[lo, hi)` in the input.
#[inline(always)]
fn window(o: usize, stride: usize, pad: usize, k: usize, len: usize) -> (usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let lo = start.max(0) as usize;
    let hi = ((start + k as isize) as usize).min(len);
    (lo, hi)
}

fn pool_plane(g: &PoolGeometry, x: &[f32], y: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let padded_w = g.in_w + g.pads[1] + g.pads[3];
    with_row_scratch(padded_w, |row| {
        // -inf borders: padding never wins, and the horizontal pass needs no bounds logic.
        row[..g.pads[1]].fill(f32::NEG_INFINITY);
        row[g.pads[1] + g.in_w..].fill(f32::NEG_INFINITY);
        for oy in 0..oh {
            // Vertical pass: max over the window's rows, whole rows at a time (vectorised).
            let (lo, hi) = window(oy, g.stride_h, g.pads[0], g.kernel_h, g.in_h);
            let mid = &mut row[g.pads[1]..g.pads[1] + g.in_w];
            mid.copy_from_slice(&x[lo * g.in_w..(lo + 1) * g.in_w]);
            for iy in lo + 1..hi {
                max_into(mid, &x[iy * g.in_w..(iy + 1) * g.in_w]);
            }
            // Horizontal pass over the padded row: kw shifted maxima.
            let out = &mut y[oy * ow..(oy + 1) * ow];
            if g.stride_w == 1 {
                out.copy_from_slice(&row[..ow]);
                for kx in 1..g.kernel_w {
                    max_into(out, &row[kx..kx + ow]);
                }
            } else {
                for (ox, o) in out.iter_mut().enumerate() {
                    let start = ox * g.stride_w;
                    *o = row[start..start + g.kernel_w]
                        .iter()
                        .copied()
                        .fold(f32::NEG_INFINITY, max);
                }
            }
        }
    })
}

/// `a = max(a, b)` element-wise; written so that it compiles to vector max instructions.
#[inline(always)]
fn max_into(a: &mut [f32], b: &[f32]) {
    for (d, &s) in a.iter_mut().zip(b) {
        *d = max(*d, s);
    }
}

#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

/// Nearest-neighbour upsampling by integer factors (ONNX `Resize` with mode nearest,
/// asymmetric coordinates, floor rounding and integer scales — YOLO's `Upsample(×2)`):
/// `y[p][oy][ox] = x[p][oy / scale_h][ox / scale_w]`.
///
/// # Panics
/// On a zero scale or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn upsample_nearest(
    planes: usize,
    in_h: usize,
    in_w: usize,
    scale_h: usize,
    scale_w: usize,
    x: &[f32],
    y: &mut [f32],
    pool: Option<&ThreadPool>,
) {
    assert!(scale_h > 0 && scale_w > 0, "upsample: zero scale");
    let (oh, ow) = (in_h * scale_h, in_w * scale_w);
    assert_eq!(x.len(), planes * in_h * in_w, "upsample: input length");
    assert_eq!(y.len(), planes * oh * ow, "upsample: output length");
    if y.is_empty() {
        return;
    }
    let task = |(p, out): (usize, &mut [f32])| {
        let plane = &x[p * in_h * in_w..(p + 1) * in_h * in_w];
        for iy in 0..in_h {
            let src = &plane[iy * in_w..(iy + 1) * in_w];
            let first = &mut out[iy * scale_h * ow..(iy * scale_h + 1) * ow];
            if scale_w == 2 {
                for (pair, &v) in first.chunks_exact_mut(2).zip(src) {
                    pair[0] = v;
                    pair[1] = v;
                }
            } else {
                for (group, &v) in first.chunks_exact_mut(scale_w).zip(src) {
                    group.fill(v);
                }
            }
            // The other scale_h − 1 output rows are copies of the first.
            let (done, rest) = out[iy * scale_h * ow..(iy + 1) * scale_h * ow].split_at_mut(ow);
            for row in rest.chunks_exact_mut(ow) {
                row.copy_from_slice(done);
            }
        }
    };
    let mut body = || {
        if y.len() < PARALLEL_MIN_ELEMENTS || rayon::current_num_threads() <= 1 {
            y.chunks_mut(oh * ow).enumerate().for_each(task);
        } else {
            y.par_chunks_mut(oh * ow).enumerate().for_each(task);
        }
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}
