//! Concat and Split, on every element type.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::Tensor;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] =
    &[("", "Concat", build_concat), ("", "Split", build_split)];

pub fn concat(parts: &[&Tensor], ax: i64) -> OpResult<Tensor> {
    let first = parts.first().ok_or("no inputs")?;
    let r = first.rank();
    let ax = axis(ax, r)?;
    let dtype = first.dtype();
    let mut shape = first.shape().to_vec();
    shape[ax] = 0;
    for p in parts {
        if p.dtype() != dtype || p.rank() != r {
            bail!("inputs differ in element type or rank");
        }
        for d in 0..r {
            if d != ax && p.shape()[d] != first.shape()[d] {
                bail!(
                    "shapes {:?} and {:?} differ outside axis {ax}",
                    first.shape(),
                    p.shape()
                );
            }
        }
        shape[ax] += p.shape()[ax];
    }
    let outer = numel(&first.shape()[..ax]);
    let chunks: Vec<usize> = parts.iter().map(|p| numel(&p.shape()[ax..])).collect();
    with_type!(dtype, T => {
        let slices: Vec<&[T]> = parts.iter().map(|p| slice_of::<T>(p)).collect::<OpResult<_>>()?;
        let mut out: Vec<T> = Vec::with_capacity(numel(&shape));
        for o in 0..outer {
            for (s, &c) in slices.iter().zip(&chunks) {
                out.extend_from_slice(&s[o * c..(o + 1) * c]);
            }
        }
        tensor(shape, T::wrap(out))
    })
}

pub fn build_concat(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let ax = ctx
        .node
        .attr_int("axis")
        .ok_or("attribute 'axis' is required")?;
    kernel(move |ins| {
        let parts: Vec<&Tensor> = ins.iter().flatten().copied().collect();
        one(concat(&parts, ax)?)
    })
}

/// Slices `x` along `ax` into consecutive pieces of the given sizes.
pub fn split(x: &Tensor, ax: usize, sizes: &[usize]) -> OpResult<Vec<Tensor>> {
    let outer = numel(&x.shape()[..ax]);
    let inner = numel(&x.shape()[ax + 1..]);
    let dim = x.shape()[ax];
    if sizes.iter().sum::<usize>() != dim {
        bail!("split sizes {sizes:?} do not add up to {dim}");
    }
    with_type!(x.dtype(), T => {
        let v = slice_of::<T>(x)?;
        let mut outs = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for &s in sizes {
            let mut o: Vec<T> = Vec::with_capacity(outer * s * inner);
            for b in 0..outer {
                let base = (b * dim + start) * inner;
                o.extend_from_slice(&v[base..base + s * inner]);
            }
            let mut shape = x.shape().to_vec();
            shape[ax] = s;
            outs.push(tensor(shape, T::wrap(o))?);
            start += s;
        }
        Ok(outs)
    })
}

pub fn build_split(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", 0);
    let attr = if ctx.opset < 13 {
        ctx.ints("split")
    } else {
        None
    };
    let num_outputs = ctx.node.attr_int("num_outputs");
    let n = ctx.node.outputs.len();
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let ax = axis(a, x.rank())?;
        let dim = x.shape()[ax];
        let sizes: Vec<usize> = match ints_from(ins, 1, &attr)? {
            Some(s) => s.iter().map(|&d| d.max(0) as usize).collect(),
            None => {
                let k = num_outputs.map(|k| k.max(1) as usize).unwrap_or(n.max(1));
                let chunk = if num_outputs.is_some() {
                    dim.div_ceil(k)
                } else {
                    dim / k
                };
                if num_outputs.is_none() && dim % k != 0 {
                    bail!("cannot split {dim} into {k} equal parts");
                }
                (0..k)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        split(x, ax, &sizes)
    })
}
