//! f32 `ReduceSum` over one contiguous block of axes, summed in onnxruntime's order so the
//! sums are bit-identical (they feed softmax denominators, e.g. of a Softmax expanded into
//! ReduceMax/Exp/ReduceSum/Div). With size-1 axes dropped the input is `[outer, reduced,
//! inner]`, and onnxruntime sums:
//! - `inner == 1` (rows): Eigen's vectorised sum — four-lane partial sums over the 16-byte
//!   aligned part of the row (two accumulators interleaved), folded `(p0+p2)+(p1+p3)`, then
//!   the unaligned head and the tail one by one;
//! - `outer == 1` (columns): row after row, in order;
//! - both > 1: a ones-vector GEMM, i.e. the single-row sum of `gemm::single_row`.
//!
//! Other axis patterns, dtypes and empty tensors go to the reference (f64) kernel.

use super::elementwise::{f32_input, wrap};
use crate::kernel::{BuildCtx, Builder, Kernel};
use crate::value::*;
use onnxide_ir::TensorData;

pub(crate) fn build_reduce_sum(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let attr_axes = if ctx.opset >= 13 {
        None
    } else {
        Some(ctx.ints("axes").unwrap_or_default())
    };
    let keep = ctx.int("keepdims", 1) != 0;
    let noop = ctx.int("noop_with_empty_axes", 0) != 0;
    let isa = ctx.isa;
    wrap(ctx, reference, move |_, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let axes = match (&attr_axes, opt(ins, 1)) {
            (Some(a), _) => a.clone(),
            (None, Some(a)) => ints(a)?,
            (None, None) => vec![],
        };
        let shape = t.shape();
        if x.is_empty() || (axes.is_empty() && noop) {
            return Ok(None);
        }
        let mut reduced = vec![axes.is_empty(); shape.len()];
        for a in axes {
            reduced[axis(a, shape.len())?] = true;
        }
        let Some((outer, count, inner)) = three_blocks(shape, &reduced) else {
            return Ok(None);
        };
        let out_shape: Vec<usize> = shape
            .iter()
            .zip(&reduced)
            .filter_map(|(&d, &r)| match (r, keep) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let mut y = vec![0.0f32; outer * inner];
        if inner == 1 {
            for (row, out) in y.iter_mut().enumerate() {
                *out = eigen_row_sum(&x[row * count..(row + 1) * count], row * count);
            }
        } else if outer == 1 {
            y.copy_from_slice(&x[..inner]);
            for r in 1..count {
                for (o, &v) in y.iter_mut().zip(&x[r * inner..(r + 1) * inner]) {
                    *o += v;
                }
            }
        } else {
            let ones = vec![1.0f32; count];
            for (o, out) in y.chunks_mut(inner).enumerate() {
                let slab = &x[o * count * inner..(o + 1) * count * inner];
                onnxide_linalg::gemm::single_row_gemm(isa, &ones, slab, inner, out);
            }
        }
        Ok(Some(mk(out_shape, TensorData::F32(y))))
    })
}

/// `(outer, reduced, inner)` element counts when the reduced axes (ignoring size-1 ones)
/// form one contiguous block; `None` otherwise.
fn three_blocks(shape: &[usize], reduced: &[bool]) -> Option<(usize, usize, usize)> {
    let dims: Vec<(usize, bool)> = shape
        .iter()
        .zip(reduced)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &r)| (d, r))
        .collect();
    let first = dims.iter().position(|&(_, r)| r);
    let last = dims.iter().rposition(|&(_, r)| r);
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => return Some((dims.iter().map(|d| d.0).product(), 1, 1)),
    };
    if dims[first..=last].iter().any(|&(_, r)| !r) {
        return None;
    }
    let product = |s: &[(usize, bool)]| s.iter().map(|d| d.0).product::<usize>();
    Some((
        product(&dims[..first]),
        product(&dims[first..=last]),
        product(&dims[last + 1..]),
    ))
}

/// Eigen's vectorised sum of `row`, whose first element sits `offset` floats from a
/// 64-byte-aligned tensor start (onnxruntime's buffers are).
fn eigen_row_sum(row: &[f32], offset: usize) -> f32 {
    const P: usize = 4;
    let start = ((P - offset % P) % P).min(row.len());
    let body = &row[start..];
    let packets = body.len() / P;
    if packets == 0 {
        return row[1..].iter().fold(row[0], |s, &v| s + v);
    }
    let lanes = |i: usize| -> [f32; P] { std::array::from_fn(|l| body[i * P + l]) };
    let add = |a: [f32; P], b: [f32; P]| -> [f32; P] { std::array::from_fn(|l| a[l] + b[l]) };
    let mut p0 = lanes(0);
    if packets > 1 {
        let mut p1 = lanes(1);
        let pairs = packets / 2;
        for i in 1..pairs {
            p0 = add(p0, lanes(2 * i));
            p1 = add(p1, lanes(2 * i + 1));
        }
        p0 = add(p0, p1);
        if packets % 2 == 1 {
            p0 = add(p0, lanes(packets - 1));
        }
    }
    let mut sum = (p0[0] + p0[2]) + (p0[1] + p0[3]);
    for &v in row[..start].iter().chain(&body[packets * P..]) {
        sum += v;
    }
    sum
}
