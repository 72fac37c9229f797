//! Depthwise convolution (groups = in = out channels), as in YOLO's `DWConv` and the PSA
//! position encoding: each output plane is a kh×kw stencil over its own input plane.
//!
//! A GEMM would have m = 1 per group, so instead every output row is accumulated with one
//! vectorised `row += w · shifted input row` per tap (stride 1), then the epilogue runs on
//! the row while it is in L1. Planes are spread over threads.

use super::ConvGeometry;
use crate::activation::{epilogue_tile, Activation, Epilogue};
use crate::scratch::with_row_scratch;
use crate::simd::{dispatch, Simd};
use crate::Isa;
use rayon::prelude::*;
use rayon::ThreadPool;

/// Depthwise weights `[C, kh·kw]` and bias `[C]`, as planned.
#[derive(Clone, Debug)]
pub(crate) struct DepthwiseWeights {
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl DepthwiseWeights {
    pub(crate) fn new(g: &ConvGeometry, weights: &[f32], bias: Option<&[f32]>) -> DepthwiseWeights {
        DepthwiseWeights {
            weights: weights.to_vec(),
            bias: bias.map_or_else(|| vec![0.0; g.out_channels], <[f32]>::to_vec),
        }
    }
}

/// Work under which the planes stay on one thread.
const PARALLEL_MIN_FLOPS: usize = 1 << 20;

#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    isa: Isa,
    g: &ConvGeometry,
    w: &DepthwiseWeights,
    epilogue: Epilogue,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
    batch: usize,
    pool: Option<&ThreadPool>,
) {
    let in_plane = g.in_h * g.in_w;
    let out_plane = g.out_h() * g.out_w();
    let taps = g.kernel_h * g.kernel_w;
    let channels = g.out_channels;
    let act = epilogue.activation;
    let plane = |(p, out): (usize, &mut [f32])| {
        let c = p % channels;
        let x = &input[p * in_plane..(p + 1) * in_plane];
        let res = residual.map(|r| &r[p * out_plane..(p + 1) * out_plane]);
        let wts = &w.weights[c * taps..(c + 1) * taps];
        if g.stride_w == 1 {
            with_row_scratch(padded_len(g), |padded| {
                dispatch!(
                    isa,
                    plane_kernel_unit_stride(g, x, wts, w.bias[c], act, res, out, padded)
                )
            })
        } else {
            dispatch!(isa, plane_kernel(g, x, wts, w.bias[c], act, res, out))
        }
    };
    let flops = 2 * batch * channels * out_plane * taps;
    let mut body = move || {
        if flops < PARALLEL_MIN_FLOPS || rayon::current_num_threads() <= 1 {
            output.chunks_mut(out_plane).enumerate().for_each(plane);
        } else {
            output.par_chunks_mut(out_plane).enumerate().for_each(plane);
        }
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}

/// `out += w · x` over equal-length slices.
#[inline(always)]
fn axpy<S: Simd>(w: f32, x: &[f32], out: &mut [f32]) {
    let n = x.len().min(out.len());
    let mut i = 0;
    // SAFETY: every access is below `n`, which bounds both slices; the ISA of `S` was
    // checked by `dispatch!`.
    unsafe {
        let wv = S::splat(w);
        while i + S::LANES <= n {
            let acc = S::fma(wv, S::load(x.as_ptr().add(i)), S::load(out.as_ptr().add(i)));
            S::store(out.as_mut_ptr().add(i), acc);
            i += S::LANES;
        }
    }
    for j in i..n {
        out[j] += w * x[j];
    }
}

fn padded_len(g: &ConvGeometry) -> usize {
    (g.in_h + g.pad_top + g.pad_bottom) * (g.in_w + g.pad_left + g.pad_right)
}

/// One output plane, horizontal stride 1: the input plane is first copied into a
/// zero-bordered scratch so that every tap is a plain unaligned vector load; each vector
/// of outputs is then accumulated in a register over all taps and stored once, with the
/// epilogue (accumulating in memory instead made every tap a store→load round trip
/// through misaligned, overlapping addresses, which the store buffer cannot forward).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn plane_kernel_unit_stride<S: Simd>(
    g: &ConvGeometry,
    x: &[f32],
    wts: &[f32],
    bias: f32,
    act: Activation,
    res: Option<&[f32]>,
    out: &mut [f32],
    padded: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let pw = g.in_w + g.pad_left + g.pad_right;
    padded[..g.pad_top * pw].fill(0.0);
    for iy in 0..g.in_h {
        let row = &mut padded[(g.pad_top + iy) * pw..(g.pad_top + iy + 1) * pw];
        row[..g.pad_left].fill(0.0);
        row[g.pad_left..g.pad_left + g.in_w].copy_from_slice(&x[iy * g.in_w..(iy + 1) * g.in_w]);
        row[g.pad_left + g.in_w..].fill(0.0);
    }
    padded[(g.pad_top + g.in_h) * pw..].fill(0.0);
    let (kh, kw, dh, dw) = (g.kernel_h, g.kernel_w, g.dilation_h, g.dilation_w);
    // Vector starts cover [0, ow) when ow ≥ LANES (see the shifted last vector below).
    let vec_end = if ow >= S::LANES { ow } else { 0 };
    for oy in 0..oh {
        let top = oy * g.stride_h * pw;
        let row = &mut out[oy * ow..(oy + 1) * ow];
        // SAFETY: every vector starts at ox ≤ ow − LANES, so the taps read padded[top + ky·dh·pw + ox +
        // kx·dw + lane], whose largest index is the last element of the padded window of
        // output (oy, ow − 1), inside `padded`; stores stay inside `row`. The ISA of `S`
        // was checked by `dispatch!`.
        unsafe {
            let base = padded.as_ptr().add(top);
            // Whole vectors, the last one shifted left to end at ow (recomputing a few
            // outputs) so that no output is left to a scalar loop.
            let mut start = 0;
            while start < vec_end {
                let ox = start.min(ow - S::LANES);
                let mut acc = S::splat(0.0);
                for ky in 0..kh {
                    let line = base.add(ky * dh * pw + ox);
                    for kx in 0..kw {
                        acc = S::fma(
                            S::splat(*wts.get_unchecked(ky * kw + kx)),
                            S::load(line.add(kx * dw)),
                            acc,
                        );
                    }
                }
                S::store(row.as_mut_ptr().add(ox), acc);
                start += S::LANES;
            }
        }
        for (ox, o) in row.iter_mut().enumerate().skip(vec_end) {
            let mut acc = 0.0;
            for ky in 0..kh {
                for kx in 0..kw {
                    acc += wts[ky * kw + kx] * padded[top + ky * dh * pw + ox + kx * dw];
                }
            }
            *o = acc;
        }
        let res_row = res.map_or(std::ptr::null(), |r| r[oy * ow..(oy + 1) * ow].as_ptr());
        // SAFETY: `row` and `res_row` (when not null) hold `ow` values; the bias pointer is
        // one value; the ISA of `S` was checked by `dispatch!`.
        unsafe { epilogue_tile::<S>(row.as_mut_ptr(), ow, 1, ow, &bias, act, res_row, ow) };
    }
}

/// One output plane (any stride): taps, then bias, activation and residual, row by row.
#[inline(always)]
fn plane_kernel<S: Simd>(
    g: &ConvGeometry,
    x: &[f32],
    wts: &[f32],
    bias: f32,
    act: Activation,
    res: Option<&[f32]>,
    out: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (h, w) = (g.in_h as isize, g.in_w as isize);
    for oy in 0..oh {
        let row = &mut out[oy * ow..(oy + 1) * ow];
        row.fill(0.0);
        for ky in 0..g.kernel_h {
            let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
            if iy < 0 || iy >= h {
                continue;
            }
            let src = &x[iy as usize * g.in_w..(iy as usize + 1) * g.in_w];
            for kx in 0..g.kernel_w {
                let wv = wts[ky * g.kernel_w + kx];
                // Input column of output ox is ox·sw + off; keep ox with it in [0, w).
                let off = (kx * g.dilation_w) as isize - g.pad_left as isize;
                let sw = g.stride_w as isize;
                let lo = if off >= 0 {
                    0
                } else {
                    ((-off + sw - 1) / sw).min(ow as isize)
                };
                let hi = if off >= w {
                    lo
                } else {
                    ((w - off + sw - 1) / sw).clamp(lo, ow as isize)
                };
                let (lo, hi) = (lo as usize, hi as usize);
                if hi <= lo {
                    continue;
                }
                let first = (off + lo as isize * sw) as usize;
                if g.stride_w == 1 {
                    axpy::<S>(wv, &src[first..first + (hi - lo)], &mut row[lo..hi]);
                } else {
                    for (t, o) in row[lo..hi].iter_mut().enumerate() {
                        *o += wv * src[first + t * g.stride_w];
                    }
                }
            }
        }
        let res_row = res.map_or(std::ptr::null(), |r| r[oy * ow..(oy + 1) * ow].as_ptr());
        // SAFETY: `row` and `res_row` (when not null) hold `ow` values; the bias pointer is
        // one value; the ISA of `S` was checked by `dispatch!`.
        unsafe { epilogue_tile::<S>(row.as_mut_ptr(), ow, 1, ow, &bias, act, res_row, ow) };
    }
}
