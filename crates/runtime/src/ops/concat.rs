//! Concat and Split, on every element type.
//!
//! Concat in place: when the planner hands a Concat its first input by value (no other step
//! reads it) and everything before the axis has size 1 (a batch-1 channel concat), the
//! other inputs are appended to that input's own buffer. The planner also asks the step
//! producing that input for a buffer with room for the whole output (see
//! [`RunContext::take_f32`]), so the producer writes straight into the first slice of the
//! Concat's output and the first part is never copied.

use crate::kernel::{BuildCtx, Kernel, Registration, RunContext};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] =
    &[("", "Concat", build_concat), ("", "Split", build_split)];

/// The output shape of concatenating `parts` along `ax` (checked: same type, rank and dims
/// outside the axis), and the axis as an index.
fn concat_shape(parts: &[&Tensor], ax: i64) -> OpResult<(Vec<usize>, usize)> {
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
    Ok((shape, ax))
}

pub fn concat(parts: &[&Tensor], ax: i64) -> OpResult<Tensor> {
    let (shape, ax) = concat_shape(parts, ax)?;
    let first = parts.first().ok_or("no inputs")?;
    let dtype = first.dtype();
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
    let axis = ctx
        .node
        .attr_int("axis")
        .ok_or("attribute 'axis' is required")?;
    Ok(Box::new(Concat { axis }))
}

struct Concat {
    axis: i64,
}

impl Kernel for Concat {
    fn run(&self, _: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let parts: Vec<&Tensor> = ins.iter().flatten().copied().collect();
        one(concat(&parts, self.axis)?)
    }

    /// Input 0 by value, f32, size 1 before the axis: see [`append_in_place`].
    fn run_consuming(
        &self,
        run: &RunContext,
        ins: &[Option<&Tensor>],
        index: usize,
        owned: Tensor,
    ) -> OpResult<Vec<Tensor>> {
        match append_in_place(ins, index, owned, self.axis)? {
            Ok(t) => one(t),
            Err(owned) => {
                let mut all: Vec<Option<&Tensor>> = ins.to_vec();
                if let Some(slot) = all.get_mut(index) {
                    *slot = Some(&owned);
                }
                self.run(run, &all)
            }
        }
    }
}

/// An in-place Concat: `owned` is input 0, handed over by value (`ins[0]` is `None`); when it
/// and every other input are f32 and everything before the axis has size 1, the others are
/// appended to its buffer (which grows only if its producer did not leave room) and the
/// result is `Ok(output)`. Otherwise `Err(owned)`, for the caller's copying kernel.
/// Shapes are checked as Concat checks them.
pub(crate) fn append_in_place(
    ins: &[Option<&Tensor>],
    index: usize,
    owned: Tensor,
    axis: i64,
) -> OpResult<Result<Tensor, Tensor>> {
    let rest: Vec<&Tensor> = ins.iter().skip(1).flatten().copied().collect();
    let (shape, ax) = {
        let mut parts = Vec::with_capacity(rest.len() + 1);
        parts.push(&owned);
        parts.extend(rest.iter().copied());
        concat_shape(&parts, axis)?
    };
    let in_place = index == 0
        && ins.first().is_some_and(Option::is_none)
        && owned.dtype() == DType::F32
        && numel(&shape[..ax]) == 1;
    if !in_place {
        return Ok(Err(owned));
    }
    let (_, data) = owned.into_parts();
    let TensorData::F32(mut out) = data else {
        bail!("in-place Concat: the first input is not f32");
    };
    out.reserve_exact(numel(&shape).saturating_sub(out.len()));
    for p in &rest {
        out.extend_from_slice(slice_of::<f32>(p)?);
    }
    Ok(Ok(tensor(shape, TensorData::F32(out))?))
}

/// Slices `x` along `ax` into consecutive pieces of the given sizes.
/// Slices `x` along `ax` into consecutive pieces of the given sizes; f32 outputs come from the
/// run's buffers (so that a part an in-place Concat consumes has room for the Concat's output).
pub fn split(run: &RunContext, x: &Tensor, ax: usize, sizes: &[usize]) -> OpResult<Vec<Tensor>> {
    let outer = numel(&x.shape()[..ax]);
    let inner = numel(&x.shape()[ax + 1..]);
    let dim = x.shape()[ax];
    if sizes.iter().sum::<usize>() != dim {
        bail!("split sizes {sizes:?} do not add up to {dim}");
    }
    if let TensorData::F32(v) = x.data() {
        let mut outs = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for &s in sizes {
            let mut o = run.take_empty_f32(outer * s * inner);
            for b in 0..outer {
                let base = (b * dim + start) * inner;
                o.extend_from_slice(&v[base..base + s * inner]);
            }
            let mut shape = x.shape().to_vec();
            shape[ax] = s;
            outs.push(tensor(shape, TensorData::F32(o))?);
            start += s;
        }
        return Ok(outs);
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
    Ok(Box::new(SplitKernel(
        move |run: &RunContext, ins: &[Option<&Tensor>]| {
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
            split(run, x, ax, &sizes)
        },
    )))
}

/// Split as a kernel that sees the run (its f32 outputs come from the run's buffers).
struct SplitKernel<F>(F);

impl<F> Kernel for SplitKernel<F>
where
    F: Fn(&RunContext, &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> + Send + Sync,
{
    fn run(&self, run: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        (self.0)(run, ins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor) -> Vec<f32> {
        match t.into_parts().1 {
            TensorData::F32(v) => v,
            other => panic!("not f32: {:?}", other.dtype()),
        }
    }

    /// The producer's buffer (room asked for by the plan) becomes the output: the first part
    /// is not copied and the buffer does not move; the room is given once.
    #[test]
    fn in_place_concat_appends_to_the_producers_buffer() {
        let run = RunContext::default();
        run.set_room(Some((6, 10)));
        let mut produced = run.take_f32(6);
        assert!(produced.capacity() >= 10);
        assert!(run.take_f32(6).capacity() < 10, "room is given once");
        produced.copy_from_slice(&[1., 2., 3., 4., 5., 6.]);
        let start = produced.as_ptr();
        let first = Tensor::from_vec(vec![1, 3, 2], produced).unwrap();
        let second = Tensor::from_vec(vec![1, 2, 2], vec![7f32, 8., 9., 10.]).unwrap();
        let out = append_in_place(&[None, Some(&second)], 0, first, -2)
            .unwrap()
            .unwrap();
        assert_eq!(out.shape(), [1, 5, 2]);
        let v = values(out);
        assert_eq!(v.as_ptr(), start, "the producer's buffer is the output");
        assert_eq!(v, (1..=10).map(|x| x as f32).collect::<Vec<_>>());
    }

    /// Something before the axis larger than 1 (batch 2), or another element type: left to
    /// the copying kernel.
    #[test]
    fn in_place_concat_declines_strided_and_other_types() {
        let a = Tensor::from_vec(vec![2, 1], vec![1f32, 2.]).unwrap();
        let b = Tensor::from_vec(vec![2, 1], vec![3f32, 4.]).unwrap();
        assert!(append_in_place(&[None, Some(&b)], 0, a, 1)
            .unwrap()
            .is_err());
        let a = Tensor::from_vec(vec![2], vec![1i64, 2]).unwrap();
        let b = Tensor::from_vec(vec![1], vec![3i64]).unwrap();
        assert!(append_in_place(&[None, Some(&b)], 0, a, 0)
            .unwrap()
            .is_err());
        let a = Tensor::from_vec(vec![1, 2], vec![1f32, 2.]).unwrap();
        let b = Tensor::from_vec(vec![2, 2], vec![1f32, 2., 3., 4.]).unwrap();
        assert!(
            append_in_place(&[None, Some(&b)], 0, a, 1).is_err(),
            "shapes differ"
        );
    }
}
