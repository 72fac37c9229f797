//! Reductions, arg-reductions, softmax family, CumSum, CumProd, TopK.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "ReduceMax", build_reduce),
    ("", "ReduceMin", build_reduce),
    ("", "ReduceSum", build_reduce),
    ("", "ReduceMean", build_reduce),
    ("", "ReduceProd", build_reduce),
    ("", "ReduceL1", build_reduce),
    ("", "ReduceL2", build_reduce),
    ("", "ReduceLogSum", build_reduce),
    ("", "ReduceLogSumExp", build_reduce),
    ("", "ReduceSumSquare", build_reduce),
    ("", "ArgMax", build_arg),
    ("", "ArgMin", build_arg),
    ("", "Softmax", build_softmax),
    ("", "LogSoftmax", build_softmax),
    ("", "Hardmax", build_softmax),
    ("", "CumSum", build_cumsum),
    ("", "TopK", build_topk),
    ("", "CumProd", build_cumprod),
];

/// f64 results back to `dtype` (rounding for floats, truncating for integers).
fn from_f64s(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> OpResult<Tensor> {
    let t = tensor(shape, TensorData::F64(v))?;
    super::cast::cast(&t, dtype)
}

#[derive(Clone, Copy, PartialEq)]
enum Red {
    Max,
    Min,
    Sum,
    Mean,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

pub fn build_reduce(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.as_str();
    let red = match op {
        "ReduceMax" => Red::Max,
        "ReduceMin" => Red::Min,
        "ReduceSum" => Red::Sum,
        "ReduceMean" => Red::Mean,
        "ReduceProd" => Red::Prod,
        "ReduceL1" => Red::L1,
        "ReduceL2" => Red::L2,
        "ReduceLogSum" => Red::LogSum,
        "ReduceLogSumExp" => Red::LogSumExp,
        _ => Red::SumSquare,
    };
    let axes_as_input = if op == "ReduceSum" {
        ctx.opset >= 13
    } else {
        ctx.opset >= 18
    };
    let attr_axes = if axes_as_input {
        None
    } else {
        ctx.ints("axes")
    };
    let keep = ctx.int("keepdims", 1) != 0;
    let noop = ctx.int("noop_with_empty_axes", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let axes = match (&attr_axes, axes_as_input) {
            (Some(a), _) => a.clone(),
            (None, true) => match opt(ins, 1) {
                Some(t) => ints(t)?,
                None => vec![],
            },
            (None, false) => vec![],
        };
        let r = x.rank();
        if axes.is_empty() && noop {
            return Ok(vec![x.clone()]);
        }
        let mut reduce = vec![axes.is_empty(); r];
        for a in axes {
            reduce[axis(a, r)?] = true;
        }
        let v = f64s(x)?;
        let out_full: Vec<usize> = x
            .shape()
            .iter()
            .zip(&reduce)
            .map(|(&d, &rd)| if rd { 1 } else { d })
            .collect();
        let ost = strides(&out_full);
        let n_out = numel(&out_full);
        let count = (numel(x.shape()) / n_out.max(1)).max(if n_out == 0 { 0 } else { 1 });
        let count = if numel(x.shape()) == 0 { 0 } else { count };
        let boolean = x.dtype() == DType::Bool;
        let init = match red {
            Red::Max if boolean => 0.0,
            Red::Min if boolean => 1.0,
            Red::Max => f64::NEG_INFINITY,
            Red::Min => f64::INFINITY,
            Red::Prod => 1.0,
            _ => 0.0,
        };
        let mut acc = vec![init; n_out];
        let mut mx = vec![f64::NEG_INFINITY; if red == Red::LogSumExp { n_out } else { 0 }];
        let xs = x.shape();
        if red == Red::LogSumExp {
            let mut k = 0;
            for_each_index(xs, |i| {
                let o: usize = i
                    .iter()
                    .zip(&ost)
                    .zip(&reduce)
                    .map(|((&a, &s), &rd)| if rd { 0 } else { a * s })
                    .sum();
                mx[o] = mx[o].max(v[k]);
                k += 1;
            });
        }
        let mut k = 0;
        for_each_index(xs, |i| {
            let o: usize = i
                .iter()
                .zip(&ost)
                .zip(&reduce)
                .map(|((&a, &s), &rd)| if rd { 0 } else { a * s })
                .sum();
            let a = v[k];
            let c = &mut acc[o];
            match red {
                Red::Max => {
                    if a > *c || a.is_nan() {
                        *c = a
                    }
                }
                Red::Min => {
                    if a < *c || a.is_nan() {
                        *c = a
                    }
                }
                Red::Sum | Red::Mean | Red::LogSum => *c += a,
                Red::Prod => *c *= a,
                Red::L1 => *c += a.abs(),
                Red::L2 | Red::SumSquare => *c += a * a,
                Red::LogSumExp => *c += (a - mx[o]).exp(),
            }
            k += 1;
        });
        for (o, c) in acc.iter_mut().enumerate() {
            *c = match red {
                Red::Mean => *c / count as f64,
                Red::L2 => c.sqrt(),
                Red::LogSum => c.ln(),
                Red::LogSumExp => {
                    if count == 0 {
                        f64::NEG_INFINITY
                    } else {
                        c.ln() + mx[o]
                    }
                }
                _ => *c,
            };
        }
        let shape: Vec<usize> = if keep {
            out_full
        } else {
            x.shape()
                .iter()
                .zip(&reduce)
                .filter(|(_, &rd)| !rd)
                .map(|(&d, _)| d)
                .collect()
        };
        let dtype = x.dtype();
        if is_float(dtype) {
            // Round through f32 like the f32 kernels would.
            let t = tensor(shape, TensorData::F64(acc))?;
            return Ok(vec![super::cast::cast(&t, dtype)?]);
        }
        Ok(vec![from_f64s(dtype, shape, acc)?])
    })
}

pub fn build_arg(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let max = ctx.node.op_type == "ArgMax";
    let a = ctx.int("axis", 0);
    let keep = ctx.int("keepdims", 1) != 0;
    let last = ctx.int("select_last_index", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let ax = axis(a, x.rank())?;
        let v = f64s(x)?;
        let d = x.shape()[ax];
        if d == 0 {
            bail!(
                "cannot take the arg-{} of an empty axis",
                if max { "max" } else { "min" }
            );
        }
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = v[o * d * inner + i];
                let mut bi = 0;
                for j in 1..d {
                    let c = v[(o * d + j) * inner + i];
                    let better = if max {
                        c > best || (last && c == best)
                    } else {
                        c < best || (last && c == best)
                    };
                    if better {
                        best = c;
                        bi = j;
                    }
                }
                out.push(bi as i64);
            }
        }
        let mut shape = x.shape().to_vec();
        if keep {
            shape[ax] = 1;
        } else {
            shape.remove(ax);
        }
        Ok(vec![tensor(shape, TensorData::I64(out))?])
    })
}

pub fn build_softmax(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    let legacy = ctx.opset < 13;
    let a = ctx.int("axis", if legacy { 1 } else { -1 });
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let r = x.rank();
        let ax = axis(a, r.max(1))?;
        // Legacy: flatten to [outer, inner] at `axis`; otherwise reduce along `axis` only.
        let (outer, d, inner) = if legacy {
            (numel(&x.shape()[..ax]), numel(&x.shape()[ax..]), 1)
        } else {
            (
                numel(&x.shape()[..ax]),
                x.shape().get(ax).copied().unwrap_or(1),
                numel(&x.shape()[ax + 1..]),
            )
        };
        let v = f32s(x)?;
        let rnd: fn(f32) -> f32 = match x.dtype() {
            DType::F16 => |a| half::f16::from_f32(a).to_f32(),
            DType::BF16 => |a| half::bf16::from_f32(a).to_f32(),
            _ => |a| a,
        };
        let mut out = vec![0f32; v.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * d + j) * inner + i;
                let mx = (0..d).map(|j| v[at(j)]).fold(f32::NEG_INFINITY, f32::max);
                match op.as_str() {
                    "Hardmax" => {
                        let mut done = false;
                        for j in 0..d {
                            out[at(j)] = if !done && v[at(j)] == mx {
                                done = true;
                                1.0
                            } else {
                                0.0
                            };
                        }
                    }
                    _ => {
                        // Intermediates are rounded to the storage type (f16/bf16), as numpy's
                        // step-by-step reference does; the sum accumulates in f32.
                        let sum: f32 = rnd((0..d).map(|j| rnd(rnd(v[at(j)] - mx).exp())).sum());
                        for j in 0..d {
                            let e = rnd(v[at(j)] - mx);
                            out[at(j)] = if op == "LogSoftmax" {
                                e - rnd(sum.ln())
                            } else {
                                rnd(e.exp()) / sum
                            };
                        }
                    }
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

/// The running `combine` along one axis of a `[outer, d, inner]` view (CumSum, CumProd):
/// each output holds the fold of the values before it (`exclusive`) or up to and including it,
/// walking the axis backwards when `reverse`.
pub(crate) fn scan_axis<T: Copy>(
    v: &[T],
    (outer, d, inner): (usize, usize, usize),
    reverse: bool,
    exclusive: bool,
    identity: T,
    combine: impl Fn(T, T) -> T,
) -> Vec<T> {
    let mut out = vec![identity; v.len()];
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = identity;
            for jj in 0..d {
                let j = if reverse { d - 1 - jj } else { jj };
                let k = (o * d + j) * inner + i;
                if exclusive {
                    out[k] = acc;
                    acc = combine(acc, v[k]);
                } else {
                    acc = combine(acc, v[k]);
                    out[k] = acc;
                }
            }
        }
    }
    out
}

/// The `[outer, d, inner]` view of `x` around the axis given by a scan op's second input.
pub(crate) fn scan_dims(x: &Tensor, axis_input: &Tensor) -> OpResult<(usize, usize, usize)> {
    let a = ints(axis_input)?.first().copied().ok_or("axis is empty")?;
    let ax = axis(a, x.rank())?;
    Ok((
        numel(&x.shape()[..ax]),
        x.shape()[ax],
        numel(&x.shape()[ax + 1..]),
    ))
}

pub fn build_cumsum(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let exclusive = ctx.int("exclusive", 0) != 0;
    let reverse = ctx.int("reverse", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let dims = scan_dims(x, req(ins, 1)?)?;
        if is_float(x.dtype()) {
            let out = scan_axis(&f64s(x)?, dims, reverse, exclusive, 0f64, |a, b| a + b);
            return Ok(vec![from_f64s(x.dtype(), x.shape().to_vec(), out)?]);
        }
        let out = scan_axis(&ints(x)?, dims, reverse, exclusive, 0i64, i64::wrapping_add);
        let t = tensor(x.shape().to_vec(), TensorData::I64(out))?;
        Ok(vec![super::cast::cast(&t, x.dtype())?])
    })
}

pub fn build_topk(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", -1);
    let largest = ctx.int("largest", 1) != 0;
    let attr_k = if ctx.opset < 10 {
        ctx.node.attr_int("k")
    } else {
        None
    };
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let k = match attr_k {
            Some(k) => k,
            None => ints(req(ins, 1)?)?.first().copied().ok_or("K is empty")?,
        };
        let ax = axis(a, x.rank())?;
        let d = x.shape()[ax];
        if k < 0 || k as usize > d {
            bail!("K = {k} is out of range for an axis of size {d}");
        }
        let k = k as usize;
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let v = f64s(x)?;
        let mut ord: Vec<usize> = Vec::with_capacity(d);
        let mut picked = vec![0usize; outer * k * inner];
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * d + j) * inner + i;
                ord.clear();
                ord.extend(0..d);
                ord.sort_by(|&p, &q| {
                    let (vp, vq) = (v[at(p)], v[at(q)]);
                    let c = if largest {
                        vq.partial_cmp(&vp)
                    } else {
                        vp.partial_cmp(&vq)
                    };
                    c.unwrap_or(std::cmp::Ordering::Equal).then(p.cmp(&q))
                });
                for (j, &p) in ord.iter().take(k).enumerate() {
                    picked[(o * k + j) * inner + i] = at(p);
                }
            }
        }
        let idx: Vec<i64> = picked.iter().map(|&p| ((p / inner) % d) as i64).collect();
        let mut shape = x.shape().to_vec();
        shape[ax] = k;
        let values = take(x, &picked, None, shape.clone())?;
        Ok(vec![values, tensor(shape, TensorData::I64(idx))?])
    })
}

pub fn build_cumprod(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let exclusive = ctx.int("exclusive", 0) != 0;
    let reverse = ctx.int("reverse", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let dims = scan_dims(x, req(ins, 1)?)?;
        let out = scan_axis(&f64s(x)?, dims, reverse, exclusive, 1f64, |a, b| a * b);
        let t = tensor(x.shape().to_vec(), TensorData::F64(out))?;
        Ok(vec![super::cast::cast(&t, x.dtype())?])
    })
}
