//! Depthwise convolution (groups = in = out channels), as in YOLO's `DWConv` and the PSA
//! position encoding: each output plane is a kh×kw stencil over its own input plane.
//!
//! As a GEMM this has m = 1 per group; onnxruntime runs it as one, through its single-row
//! kernel, so the taps of every output are summed in that kernel's order (products rounded,
//! added four at a time; see `gemm::single_row`) to round exactly as there. Each plane is
//! copied into a zero-bordered scratch so that every tap is a plain load, outputs are
//! computed a vector at a time (stride 1; one at a time otherwise), and the epilogue runs on
//! each row while it is in L1. Planes are spread over threads.

use super::ConvGeometry;
use crate::activation::{epilogue_tile, Activation, Epilogue};
use crate::gemm;
use crate::scratch::with_row_scratch;
use crate::simd::{dispatch, Scalar, Simd};
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
        with_row_scratch(padded_len(g), |padded| {
            dispatch!(
                isa,
                plane_kernel(g, x, wts, w.bias[c], act, res, out, padded)
            )
        })
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

fn padded_len(g: &ConvGeometry) -> usize {
    (g.in_h + g.pad_top + g.pad_bottom) * (g.in_w + g.pad_left + g.pad_right)
}

/// One output plane: the input plane is first copied into a zero-bordered scratch so that
/// every tap is a plain load (zeros take part as zero products, as in an im2col); at
/// horizontal stride 1 each vector of outputs is summed in registers over all taps and
/// stored once, then the epilogue runs on the row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn plane_kernel<S: Simd>(
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
    let (kh, kw, dh, dw, sw) = (
        g.kernel_h,
        g.kernel_w,
        g.dilation_h,
        g.dilation_w,
        g.stride_w,
    );
    let taps = kh * kw;
    let slice = gemm::k_slice(oh * ow, taps);
    // Offset of tap t from the window's top-left corner.
    let tap_offset = |t: usize| (t / kw) * dh * pw + (t % kw) * dw;
    // Vector starts cover [0, ow) when ow ≥ LANES (see the shifted last vector below).
    let vec_end = if sw == 1 && ow >= S::LANES { ow } else { 0 };
    for oy in 0..oh {
        let top = oy * g.stride_h * pw;
        let row = &mut out[oy * ow..(oy + 1) * ow];
        // SAFETY: a window's taps read padded[top + ox·sw + tap_offset(t)], at most the last
        // element of output (oy, ow − 1)'s window, inside `padded`; vectors start at
        // ox ≤ ow − LANES (stride 1); stores stay inside `row`. The ISA of `S` was checked
        // by `dispatch!`.
        unsafe {
            let base = padded.as_ptr().add(top);
            // Whole vectors, the last one shifted left to end at ow (recomputing a few
            // outputs) so that no output is left to the scalar loop.
            let mut start = 0;
            while start < vec_end {
                let ox = start.min(ow - S::LANES);
                let product = |t: usize| {
                    S::mul(
                        S::splat(*wts.get_unchecked(t)),
                        S::load(base.add(ox + tap_offset(t))),
                    )
                };
                S::store(
                    row.as_mut_ptr().add(ox),
                    gemm::sum_products::<S>(taps, slice, product),
                );
                start += S::LANES;
            }
            for (ox, out) in row.iter_mut().enumerate().skip(vec_end) {
                let product = |t: usize| *wts.get_unchecked(t) * *base.add(ox * sw + tap_offset(t));
                *out = gemm::sum_products::<Scalar>(taps, slice, product);
            }
        }
        let res_row = res.map_or(std::ptr::null(), |r| r[oy * ow..(oy + 1) * ow].as_ptr());
        // SAFETY: `row` and `res_row` (when not null) hold `ow` values; the bias pointer is
        // one value; the ISA of `S` was checked by `dispatch!`.
        unsafe { epilogue_tile::<S>(row.as_mut_ptr(), ow, 1, ow, &bias, act, res_row, ow) };
    }
}
