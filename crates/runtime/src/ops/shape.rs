//! Shape and data-movement ops. They work on every element type with typed storage.

use crate::broadcast;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Identity", build_identity),
    ("", "Dropout", build_dropout),
    ("", "Reshape", build_reshape),
    ("", "Flatten", build_flatten),
    ("", "Squeeze", build_squeeze),
    ("", "Unsqueeze", build_unsqueeze),
    ("", "Transpose", build_transpose),
    ("", "Concat", build_concat),
    ("", "Split", build_split),
    ("", "Slice", build_slice),
    ("", "Shape", build_shape),
    ("", "Size", build_size),
    ("", "Expand", build_expand),
    ("", "Tile", build_tile),
    ("", "Gather", build_gather),
    ("", "GatherElements", build_gather_elements),
    ("", "GatherND", build_gather_nd),
    ("", "ScatterND", build_scatter_nd),
    ("", "ScatterElements", build_scatter_elements),
    ("", "Pad", build_pad),
    ("", "ConstantOfShape", build_constant_of_shape),
    ("", "Constant", build_constant),
    ("", "Range", build_range),
    ("", "Cast", build_cast),
    ("", "CastLike", build_cast_like),
    ("", "Where", build_where),
    ("", "NonZero", build_nonzero),
    ("", "Trilu", build_trilu),
    ("", "DepthToSpace", build_depth_to_space),
    ("", "SpaceToDepth", build_depth_to_space),
    ("", "EyeLike", build_eye_like),
    ("", "Scatter", build_scatter_elements),
];

fn one(t: Tensor) -> OpResult<Vec<Tensor>> {
    Ok(vec![t])
}

fn i64_tensor(shape: Vec<usize>, v: Vec<i64>) -> OpResult<Tensor> {
    tensor(shape, TensorData::I64(v))
}

/// Integer list from an attribute (old opsets) or an input (new opsets).
fn ints_from(
    ins: &[Option<&Tensor>],
    i: usize,
    attr: &Option<Vec<i64>>,
) -> OpResult<Option<Vec<i64>>> {
    if let Some(a) = attr {
        return Ok(Some(a.clone()));
    }
    match opt(ins, i) {
        Some(t) => Ok(Some(ints(t)?)),
        None => Ok(None),
    }
}

pub fn build_identity(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| one(req(ins, 0)?.clone()))
}

/// Dropout: identity at inference (ratio 0 or training_mode false); in training mode the mask
/// comes from MT19937 seeded with the `seed` attribute, drawn exactly as numpy's legacy
/// `np.random.seed(seed); np.random.uniform(0, 1, shape) >= ratio`.
pub fn build_dropout(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    if ctx.opset < 7 && ctx.int("is_test", 0) == 0 && ctx.opset < 6 {
        bail!("Dropout in training mode (opset < 7) is not supported");
    }
    let attr_ratio = if ctx.opset < 12 {
        Some(ctx.float("ratio", 0.5))
    } else {
        None
    };
    let seed = ctx.int("seed", 0) as u32;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let training = match opt(ins, 2) {
            Some(t) => ints(t)?.first().copied().unwrap_or(0) != 0,
            None => false,
        };
        let ratio = match (attr_ratio, opt(ins, 1)) {
            (Some(r), _) => r,
            (None, Some(t)) => f32s(t)?.first().copied().unwrap_or(0.5),
            (None, None) => 0.5,
        };
        if !training || ratio == 0.0 {
            let mask = tensor(x.shape().to_vec(), TensorData::Bool(vec![true; x.len()]))?;
            return Ok(vec![x.clone(), mask]);
        }
        let mut rng = super::random::Mt19937::new(seed);
        let mask: Vec<bool> = (0..x.len())
            .map(|_| rng.next_f64() >= ratio as f64)
            .collect();
        let scale = 1.0f32 / (1.0f32 - ratio);
        let v = f32s(x)?;
        let y: Vec<f32> = v
            .iter()
            .zip(&mask)
            .map(|(&a, &m)| if m { a * scale } else { 0.0 })
            .collect();
        Ok(vec![
            from_f32(x.dtype(), x.shape().to_vec(), y)?,
            tensor(x.shape().to_vec(), TensorData::Bool(mask))?,
        ])
    })
}

pub fn reshape_target(in_shape: &[usize], spec: &[i64], allowzero: bool) -> OpResult<Vec<usize>> {
    let total = numel(in_shape);
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 => {
                if infer.is_some() {
                    bail!("reshape {spec:?}: more than one -1");
                }
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => match in_shape.get(i) {
                Some(&s) => out.push(s),
                None => bail!(
                    "reshape {spec:?}: 0 at position {i} but the input has rank {}",
                    in_shape.len()
                ),
            },
            d if d < 0 => bail!("reshape {spec:?}: invalid dimension {d}"),
            d => out.push(d as usize),
        }
    }
    if let Some(i) = infer {
        let rest: usize = out
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, &d)| d)
            .product();
        if rest == 0 || !total.is_multiple_of(rest) {
            bail!("cannot reshape {in_shape:?} to {spec:?}");
        }
        out[i] = total / rest;
    }
    if numel(&out) != total {
        bail!("cannot reshape {in_shape:?} ({total} elements) to {spec:?}");
    }
    Ok(out)
}

pub fn build_reshape(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attr = if ctx.opset < 5 {
        ctx.ints("shape")
    } else {
        None
    };
    let allowzero = ctx.int("allowzero", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let spec = ints_from(ins, 1, &attr)?.ok_or("the shape is missing")?;
        let shape = reshape_target(x.shape(), &spec, allowzero)?;
        one(x.clone().reshaped(shape).map_err(|e| e.to_string())?)
    })
}

pub fn build_flatten(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", 1);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let r = x.rank() as i64;
        let ax = if a < 0 { a + r } else { a };
        if ax < 0 || ax > r {
            bail!("axis {a} out of range for rank {r}");
        }
        let outer = numel(&x.shape()[..ax as usize]);
        let shape = vec![outer, numel(&x.shape()[ax as usize..])];
        one(x.clone().reshaped(shape).map_err(|e| e.to_string())?)
    })
}

pub fn build_squeeze(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attr = if ctx.opset < 13 {
        ctx.ints("axes")
    } else {
        None
    };
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let axes = ints_from(ins, 1, &attr)?;
        let r = x.rank();
        let shape: Vec<usize> = match axes {
            None => x.shape().iter().copied().filter(|&d| d != 1).collect(),
            Some(a) => {
                let mut drop = vec![false; r];
                for ax in a {
                    let ax = axis(ax, r)?;
                    if x.shape()[ax] != 1 {
                        bail!("cannot squeeze axis {ax} of size {}", x.shape()[ax]);
                    }
                    drop[ax] = true;
                }
                x.shape()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !drop[*i])
                    .map(|(_, &d)| d)
                    .collect()
            }
        };
        one(x.clone().reshaped(shape).map_err(|e| e.to_string())?)
    })
}

pub fn build_unsqueeze(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attr = if ctx.opset < 13 {
        ctx.ints("axes")
    } else {
        None
    };
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let axes = ints_from(ins, 1, &attr)?.ok_or("axes are missing")?;
        let r = x.rank() + axes.len();
        let mut ins_at = vec![false; r];
        for a in axes {
            let a = axis(a, r)?;
            if ins_at[a] {
                bail!("axis {a} repeated");
            }
            ins_at[a] = true;
        }
        let mut it = x.shape().iter();
        let shape: Vec<usize> = ins_at
            .iter()
            .map(|&u| {
                if u {
                    1
                } else {
                    it.next().copied().unwrap_or(1)
                }
            })
            .collect();
        one(x.clone().reshaped(shape).map_err(|e| e.to_string())?)
    })
}

pub fn transpose(x: &Tensor, perm: &[usize]) -> OpResult<Tensor> {
    let r = x.rank();
    if perm.len() != r {
        bail!("perm {perm:?} does not match rank {r}");
    }
    let mut seen = vec![false; r];
    for &p in perm {
        if p >= r || seen[p] {
            bail!("invalid perm {perm:?}");
        }
        seen[p] = true;
    }
    let st = strides(x.shape());
    let out_shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let mut idx = Vec::with_capacity(x.len());
    for_each_index(&out_shape, |i| {
        idx.push(i.iter().zip(&pst).map(|(a, b)| a * b).sum())
    });
    take(x, &idx, None, out_shape)
}

pub fn build_transpose(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let perm = ctx.ints("perm");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let p: Vec<usize> = match &perm {
            Some(p) => p.iter().map(|&a| a.max(0) as usize).collect(),
            None => (0..x.rank()).rev().collect(),
        };
        one(transpose(x, &p)?)
    })
}

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

/// The per-axis (start, step, count) of a Slice after ONNX's clamping rules.
pub fn slice_params(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> OpResult<Vec<(i64, i64, usize)>> {
    let r = shape.len();
    let mut p: Vec<(i64, i64, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
    if starts.len() != ends.len() {
        bail!("starts and ends differ in length");
    }
    for i in 0..starts.len() {
        let ax = match axes {
            Some(a) => axis(*a.get(i).ok_or("axes shorter than starts")?, r)?,
            None => i,
        };
        if ax >= r {
            bail!("more starts than dimensions");
        }
        let step = match steps {
            Some(s) => *s.get(i).ok_or("steps shorter than starts")?,
            None => 1,
        };
        if step == 0 {
            bail!("step 0");
        }
        let d = shape[ax] as i64;
        let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (mut s, mut e) = (norm(starts[i]), norm(ends[i]));
        if step > 0 {
            s = s.clamp(0, d);
            e = e.clamp(0, d);
        } else {
            s = s.clamp(0, (d - 1).max(0));
            e = e.clamp(-1, d - 1);
        }
        let count = if step > 0 {
            if e > s {
                ((e - s) + step - 1) / step
            } else {
                0
            }
        } else if s > e {
            ((s - e) + (-step) - 1) / (-step)
        } else {
            0
        };
        p[ax] = (s, step, count as usize);
    }
    Ok(p)
}

pub fn slice(x: &Tensor, p: &[(i64, i64, usize)]) -> OpResult<Tensor> {
    let st = strides(x.shape());
    let shape: Vec<usize> = p.iter().map(|q| q.2).collect();
    let mut idx = Vec::with_capacity(numel(&shape));
    for_each_index(&shape, |i| {
        let mut off = 0i64;
        for d in 0..i.len() {
            off += (p[d].0 + p[d].1 * i[d] as i64) * st[d] as i64;
        }
        idx.push(off as usize);
    });
    take(x, &idx, None, shape)
}

pub fn build_slice(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let old = ctx.opset < 10;
    let (s_attr, e_attr, a_attr) = (ctx.ints("starts"), ctx.ints("ends"), ctx.ints("axes"));
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let p = if old {
            slice_params(
                x.shape(),
                s_attr.as_deref().ok_or("starts missing")?,
                e_attr.as_deref().ok_or("ends missing")?,
                a_attr.as_deref(),
                None,
            )?
        } else {
            let s = ints(req(ins, 1)?)?;
            let e = ints(req(ins, 2)?)?;
            let a = opt(ins, 3).map(ints).transpose()?;
            let st = opt(ins, 4).map(ints).transpose()?;
            slice_params(x.shape(), &s, &e, a.as_deref(), st.as_deref())?
        };
        one(slice(x, &p)?)
    })
}

pub fn build_shape(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let start = ctx.int("start", 0);
    let end = ctx.node.attr_int("end");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let r = x.rank() as i64;
        let norm = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = norm(start);
        let e = norm(end.unwrap_or(r));
        let dims: Vec<i64> = if e > s {
            x.shape()[s..e].iter().map(|&d| d as i64).collect()
        } else {
            vec![]
        };
        one(i64_tensor(vec![dims.len()], dims)?)
    })
}

pub fn build_size(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| one(i64_tensor(vec![], vec![req(ins, 0)?.len() as i64])?))
}

pub fn expand(x: &Tensor, target: &[usize]) -> OpResult<Tensor> {
    let shape = broadcast::shape_of(&[x.shape(), target])?;
    if shape == x.shape() {
        return Ok(x.clone());
    }
    let idx = broadcast::index_map(x.shape(), &shape);
    take(x, &idx, None, shape)
}

pub fn build_expand(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        let s = ints(req(ins, 1)?)?;
        if s.iter().any(|&d| d < 0) {
            bail!("negative dimension in shape {s:?}");
        }
        let s: Vec<usize> = s.iter().map(|&d| d as usize).collect();
        one(expand(x, &s)?)
    })
}

pub fn build_tile(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        let reps = ints(req(ins, 1)?)?;
        if reps.len() != x.rank() || reps.iter().any(|&r| r < 0) {
            bail!("repeats {reps:?} do not fit rank {}", x.rank());
        }
        let shape: Vec<usize> = x
            .shape()
            .iter()
            .zip(&reps)
            .map(|(&d, &r)| d * r as usize)
            .collect();
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(numel(&shape));
        for_each_index(&shape, |i| {
            idx.push(
                i.iter()
                    .enumerate()
                    .map(|(d, &v)| (v % x.shape()[d]) * st[d])
                    .sum(),
            );
        });
        one(take(x, &idx, None, shape)?)
    })
}

fn norm_index(i: i64, d: usize) -> OpResult<usize> {
    let v = if i < 0 { i + d as i64 } else { i };
    if v < 0 || v >= d as i64 {
        bail!("index {i} is out of range for a dimension of size {d}");
    }
    Ok(v as usize)
}

pub fn build_gather(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", 0);
    kernel(move |ins| {
        let (x, it) = (req(ins, 0)?, req(ins, 1)?);
        let ax = axis(a, x.rank())?;
        let ind = ints(it)?;
        let d = x.shape()[ax];
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let mut shape = x.shape()[..ax].to_vec();
        shape.extend_from_slice(it.shape());
        shape.extend_from_slice(&x.shape()[ax + 1..]);
        let ind: Vec<usize> = ind
            .iter()
            .map(|&i| norm_index(i, d))
            .collect::<OpResult<_>>()?;
        let mut idx = Vec::with_capacity(numel(&shape));
        for o in 0..outer {
            for &i in &ind {
                let base = (o * d + i) * inner;
                idx.extend(base..base + inner);
            }
        }
        one(take(x, &idx, None, shape)?)
    })
}

pub fn build_gather_elements(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", 0);
    kernel(move |ins| {
        let (x, it) = (req(ins, 0)?, req(ins, 1)?);
        let ax = axis(a, x.rank())?;
        if it.rank() != x.rank() {
            bail!(
                "indices rank {} differs from data rank {}",
                it.rank(),
                x.rank()
            );
        }
        let ind = ints(it)?;
        let idx = element_offsets(x.shape(), it.shape(), &ind, ax)?;
        one(take(x, &idx, None, it.shape().to_vec())?)
    })
}

/// GatherND offsets: for each index tuple, the flat offset of the addressed slice in `x`.
fn nd_offsets(x: &Tensor, it: &Tensor, b: usize) -> OpResult<(Vec<usize>, usize, Vec<usize>)> {
    let q = it.rank();
    let k = *it.shape().last().ok_or("indices must have rank >= 1")?;
    if b + k > x.rank() || b >= q {
        bail!(
            "indices last dimension {k} too large for data rank {}",
            x.rank()
        );
    }
    let ind = ints(it)?;
    let st = strides(x.shape());
    let batch = numel(&x.shape()[..b]);
    let batch_stride = if b == 0 { 0 } else { st[b - 1] };
    let tuples = ind.len() / k.max(1);
    let per_batch = tuples.checked_div(batch).unwrap_or(0);
    let slice_len = numel(&x.shape()[b + k..]);
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let bi = t.checked_div(per_batch).unwrap_or(0);
        let mut off = bi * batch_stride;
        for j in 0..k {
            off += norm_index(ind[t * k + j], x.shape()[b + j])? * st[b + j];
        }
        offs.push(off);
    }
    let mut shape = it.shape()[..q - 1].to_vec();
    shape.extend_from_slice(&x.shape()[b + k..]);
    Ok((offs, slice_len, shape))
}

pub fn build_gather_nd(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let b = ctx.int("batch_dims", 0).max(0) as usize;
    kernel(move |ins| {
        let (x, it) = (req(ins, 0)?, req(ins, 1)?);
        let (offs, len, shape) = nd_offsets(x, it, b)?;
        let idx: Vec<usize> = offs.iter().flat_map(|&o| o..o + len).collect();
        one(take(x, &idx, None, shape)?)
    })
}

/// Combines an update into an existing value (ScatterND / ScatterElements reductions).
fn reduce_into<T>(red: &str, old: &T, new: &T) -> OpResult<T>
where
    T: Copy + PartialOrd + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    Ok(match red {
        "add" => *old + *new,
        "mul" => *old * *new,
        "max" => {
            if *new > *old {
                *new
            } else {
                *old
            }
        }
        "min" => {
            if *new < *old {
                *new
            } else {
                *old
            }
        }
        _ => *new,
    })
}

fn scatter(x: &Tensor, targets: &[usize], updates: &Tensor, reduction: &str) -> OpResult<Tensor> {
    if updates.dtype() != x.dtype() {
        bail!(
            "updates type {} differs from data type {}",
            updates.dtype(),
            x.dtype()
        );
    }
    if targets.len() != updates.len() {
        bail!(
            "updates shape {:?} does not match the indices",
            updates.shape()
        );
    }
    if reduction == "none" {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        // Later updates win: index n+j means updates[j].
        for (j, &t) in targets.iter().enumerate() {
            idx[t] = x.len() + j;
        }
        let both = concat(
            &[
                &x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                &updates
                    .clone()
                    .reshaped(vec![updates.len()])
                    .map_err(|e| e.to_string())?,
            ],
            0,
        )?;
        return take(&both, &idx, None, x.shape().to_vec());
    }
    let wx = widen(x);
    let wu = widen(updates);
    let out = match (wx.data(), wu.data()) {
        (TensorData::F32(a), TensorData::F32(u)) => {
            let mut a = a.clone();
            for (j, &t) in targets.iter().enumerate() {
                a[t] = reduce_into(reduction, &a[t], &u[j])?;
            }
            tensor(x.shape().to_vec(), TensorData::F32(a))?
        }
        (TensorData::F64(a), TensorData::F64(u)) => {
            let mut a = a.clone();
            for (j, &t) in targets.iter().enumerate() {
                a[t] = reduce_into(reduction, &a[t], &u[j])?;
            }
            tensor(x.shape().to_vec(), TensorData::F64(a))?
        }
        (TensorData::I32(a), TensorData::I32(u)) => {
            let mut a = a.clone();
            for (j, &t) in targets.iter().enumerate() {
                a[t] = reduce_into(reduction, &a[t], &u[j])?;
            }
            tensor(x.shape().to_vec(), TensorData::I32(a))?
        }
        (TensorData::I64(a), TensorData::I64(u)) => {
            let mut a = a.clone();
            for (j, &t) in targets.iter().enumerate() {
                a[t] = reduce_into(reduction, &a[t], &u[j])?;
            }
            tensor(x.shape().to_vec(), TensorData::I64(a))?
        }
        (d, _) => bail!("reduction '{reduction}' on {} is not supported", d.dtype()),
    };
    Ok(narrow(out, x.dtype()))
}

pub fn build_scatter_nd(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let red = ctx.string("reduction", "none");
    kernel(move |ins| {
        let (x, it, u) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let (offs, len, _) = nd_offsets(x, it, 0)?;
        let targets: Vec<usize> = offs.iter().flat_map(|&o| o..o + len).collect();
        one(scatter(x, &targets, u, &red)?)
    })
}

pub fn build_scatter_elements(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", 0);
    let red = ctx.string("reduction", "none");
    kernel(move |ins| {
        let (x, it, u) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let ax = axis(a, x.rank())?;
        if it.rank() != x.rank() || it.shape() != u.shape() {
            bail!(
                "indices {:?} / updates {:?} do not fit data {:?}",
                it.shape(),
                u.shape(),
                x.shape()
            );
        }
        let ind = ints(it)?;
        let targets = element_offsets(x.shape(), it.shape(), &ind, ax)?;
        one(scatter(x, &targets, u, &red)?)
    })
}

/// GatherElements/ScatterElements addressing: for every position of `indices` (shape
/// `index_shape`), the flat offset into `data_shape` of the element it names — the position
/// itself with its `axis` coordinate replaced by the (possibly negative) index.
fn element_offsets(
    data_shape: &[usize],
    index_shape: &[usize],
    indices: &[i64],
    axis: usize,
) -> OpResult<Vec<usize>> {
    let st = strides(data_shape);
    let mut offsets = Vec::with_capacity(indices.len());
    let mut err = None;
    let mut k = 0;
    for_each_index(index_shape, |i| {
        let mut off = 0;
        for (d, &coord) in i.iter().enumerate() {
            let v = if d == axis {
                norm_index(indices[k], data_shape[axis]).unwrap_or_else(|e| {
                    err = Some(e);
                    0
                })
            } else {
                coord
            };
            off += v * st[d];
        }
        k += 1;
        offsets.push(off);
    });
    match err {
        Some(e) => Err(e),
        None => Ok(offsets),
    }
}

pub fn build_pad(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let mode = ctx.string("mode", "constant");
    let old = ctx.opset < 11;
    let pads_attr = ctx.ints(if ctx.opset < 2 { "paddings" } else { "pads" });
    let value_attr = ctx.float("value", 0.0);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let r = x.rank();
        let raw = if old {
            pads_attr.clone().ok_or("pads missing")?
        } else {
            ints(req(ins, 1)?)?
        };
        let axes: Vec<usize> = match opt(ins, 3) {
            Some(a) if !old => ints(a)?
                .iter()
                .map(|&v| axis(v, r))
                .collect::<OpResult<_>>()?,
            _ => (0..r).collect(),
        };
        if raw.len() != 2 * axes.len() {
            bail!("pads {raw:?} do not fit {} axes", axes.len());
        }
        let mut pads = vec![(0i64, 0i64); r];
        for (i, &a) in axes.iter().enumerate() {
            pads[a] = (raw[i], raw[i + axes.len()]);
        }
        let shape: Vec<usize> = (0..r)
            .map(|d| {
                let n = x.shape()[d] as i64 + pads[d].0 + pads[d].1;
                if n < 0 {
                    Err(format!("pads {raw:?} make a negative dimension"))
                } else {
                    Ok(n as usize)
                }
            })
            .collect::<OpResult<_>>()?;
        let fill = if old {
            from_f32(x.dtype(), vec![1], vec![value_attr]).ok()
        } else {
            match opt(ins, 2) {
                Some(v) if !v.is_empty() => Some(
                    v.clone()
                        .reshaped(vec![v.len()])
                        .map_err(|e| e.to_string())?,
                ),
                _ => Some(Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?),
            }
        };
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(numel(&shape));
        let mut bad = false;
        for_each_index(&shape, |o| {
            let mut off = 0usize;
            for d in 0..r {
                let n = x.shape()[d] as i64;
                let mut i = o[d] as i64 - pads[d].0;
                if i < 0 || i >= n {
                    if n == 0 {
                        bad = true;
                        return;
                    }
                    match mode.as_str() {
                        "edge" => i = i.clamp(0, n - 1),
                        "wrap" => i = i.rem_euclid(n),
                        "reflect" => {
                            if n == 1 {
                                i = 0
                            } else {
                                let p = 2 * (n - 1);
                                i = i.rem_euclid(p);
                                if i >= n {
                                    i = p - i;
                                }
                            }
                        }
                        _ => {
                            idx.push(usize::MAX);
                            return;
                        }
                    }
                }
                off += i as usize * st[d];
            }
            idx.push(off);
        });
        if bad {
            bail!("cannot pad an empty dimension in mode {mode}");
        }
        one(take(x, &idx, fill.as_ref(), shape)?)
    })
}

fn shape_from(t: &Tensor) -> OpResult<Vec<usize>> {
    let v = ints(t)?;
    if v.iter().any(|&d| d < 0) {
        bail!("negative dimension in {v:?}");
    }
    Ok(v.iter().map(|&d| d as usize).collect())
}

pub fn build_constant_of_shape(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let value = match ctx.node.attr_tensor("value") {
        Some(v) => v.tensor.clone(),
        None => Tensor::from_vec(vec![1], vec![0f32]).map_err(|e| e.to_string())?,
    };
    kernel(move |ins| {
        let shape = shape_from(req(ins, 0)?)?;
        let idx = vec![0usize; numel(&shape)];
        one(take(&value, &idx, None, shape)?)
    })
}

pub fn build_constant(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    use onnxide_ir::AttrValue as A;
    let n = ctx.node;
    let t = if let Some(v) = n.attr_tensor("value") {
        v.tensor.clone()
    } else {
        match n.attributes.first().map(|a| (a.name.as_str(), &a.value)) {
            Some(("value_float", A::Float(f))) => Tensor::scalar(*f),
            Some(("value_int", A::Int(i))) => Tensor::scalar(*i),
            Some(("value_floats", A::Floats(v))) => {
                tensor(vec![v.len()], TensorData::F32(v.clone()))?
            }
            Some(("value_ints", A::Ints(v))) => tensor(vec![v.len()], TensorData::I64(v.clone()))?,
            Some(("value_string", A::String(s))) => {
                tensor(vec![], TensorData::String(vec![s.clone()]))?
            }
            Some(("value_strings", A::Strings(v))) => {
                tensor(vec![v.len()], TensorData::String(v.clone()))?
            }
            _ => bail!("unsupported or missing value attribute"),
        }
    };
    kernel(move |_| one(t.clone()))
}

pub fn build_range(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (s, l, d) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let dtype = s.dtype();
        let scalar = |t: &Tensor| -> OpResult<f64> {
            t.to_f64_vec()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| "expected a numeric scalar".to_string())
        };
        if matches!(dtype, DType::I64 | DType::I32 | DType::I16 | DType::I8) {
            let (a, b, c) = (ints(s)?[0], ints(l)?[0], ints(d)?[0]);
            if c == 0 {
                bail!("delta is 0");
            }
            let n = if (c > 0 && b > a) || (c < 0 && b < a) {
                ((b - a).abs() + c.abs() - 1) / c.abs()
            } else {
                0
            };
            let v: Vec<i64> = (0..n).map(|i| a + i * c).collect();
            let t = i64_tensor(vec![n as usize], v)?;
            return one(cast(&t, dtype)?);
        }
        let (a, b, c) = (scalar(s)?, scalar(l)?, scalar(d)?);
        if c == 0.0 {
            bail!("delta is 0");
        }
        let n = ((b - a) / c).ceil().max(0.0) as usize;
        if dtype == DType::F64 {
            return one(tensor(
                vec![n],
                TensorData::F64((0..n).map(|i| a + i as f64 * c).collect()),
            )?);
        }
        let (a, c) = (a as f32, c as f32);
        one(from_f32(
            dtype,
            vec![n],
            (0..n).map(|i| a + i as f32 * c).collect(),
        )?)
    })
}

/// Converts between element types with numpy `astype` semantics (floats truncate toward zero).
pub fn cast(x: &Tensor, to: DType) -> OpResult<Tensor> {
    if x.dtype() == to {
        return Ok(x.clone());
    }
    let shape = x.shape().to_vec();
    let n = x.len();
    if to == DType::String || x.dtype() == DType::String {
        bail!("casts to or from string are not supported");
    }
    let src_int = x.dtype().is_integer() || x.dtype() == DType::Bool;
    macro_rules! conv {
        ($t:ty, $variant:ident) => {{
            let v: Vec<$t> = if src_int {
                match x.data() {
                    TensorData::U64(u) => u.iter().map(|&a| a as $t).collect(),
                    _ => ints(x)?.into_iter().map(|a| a as $t).collect(),
                }
            } else {
                match x.data() {
                    TensorData::F32(f) => f.iter().map(|&a| a as $t).collect(),
                    _ => x
                        .to_f64_vec()
                        .ok_or("unsupported source type")?
                        .into_iter()
                        .map(|a| a as $t)
                        .collect(),
                }
            };
            TensorData::$variant(v)
        }};
    }
    let data = match to {
        DType::F32 => conv!(f32, F32),
        DType::F64 => conv!(f64, F64),
        DType::I8 => conv!(i8, I8),
        DType::I16 => conv!(i16, I16),
        DType::I32 => conv!(i32, I32),
        DType::I64 => conv!(i64, I64),
        DType::U8 => conv!(u8, U8),
        DType::U16 => conv!(u16, U16),
        DType::U32 => conv!(u32, U32),
        DType::U64 => conv!(u64, U64),
        DType::F16 => {
            let f = x.to_f64_vec().ok_or("unsupported source type")?;
            TensorData::F16(f.into_iter().map(half::f16::from_f64).collect())
        }
        DType::BF16 => {
            let f = x.to_f64_vec().ok_or("unsupported source type")?;
            TensorData::BF16(f.into_iter().map(half::bf16::from_f64).collect())
        }
        DType::Bool => {
            let f = x.to_f64_vec().ok_or("unsupported source type")?;
            TensorData::Bool(f.into_iter().map(|a| a != 0.0).collect())
        }
        other => bail!("casting to {other} is not supported"),
    };
    let _ = n;
    tensor(shape, data)
}

pub fn build_cast(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let to = ctx
        .node
        .attr_int("to")
        .ok_or("attribute 'to' is required")?;
    let to = DType::from_onnx_code(to as i32).ok_or_else(|| format!("unknown type code {to}"))?;
    kernel(move |ins| one(cast(req(ins, 0)?, to)?))
}

pub fn build_cast_like(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| one(cast(req(ins, 0)?, req(ins, 1)?.dtype())?))
}

pub fn build_where(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (c, x, y) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let TensorData::Bool(cv) = c.data() else {
            bail!("condition must be bool, got {}", c.dtype())
        };
        if x.dtype() != y.dtype() {
            bail!("X and Y differ in type");
        }
        let shape = broadcast::shape_of(&[c.shape(), x.shape(), y.shape()])?;
        let (ci, xi, yi) = (
            broadcast::index_map(c.shape(), &shape),
            broadcast::index_map(x.shape(), &shape),
            broadcast::index_map(y.shape(), &shape),
        );
        let idx: Vec<usize> = (0..ci.len())
            .map(|k| if cv[ci[k]] { xi[k] } else { x.len() + yi[k] })
            .collect();
        let both = concat(
            &[
                &x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                &y.clone()
                    .reshaped(vec![y.len()])
                    .map_err(|e| e.to_string())?,
            ],
            0,
        )?;
        one(take(&both, &idx, None, shape)?)
    })
}

pub fn build_nonzero(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        let nz: Vec<bool> = match x.data() {
            TensorData::Bool(v) => v.clone(),
            _ => x
                .to_f64_vec()
                .ok_or("unsupported element type")?
                .iter()
                .map(|&a| a != 0.0)
                .collect(),
        };
        let r = x.rank();
        let mut coords: Vec<Vec<i64>> = vec![Vec::new(); r];
        let mut k = 0;
        let mut count = 0;
        for_each_index(x.shape(), |i| {
            if nz[k] {
                for d in 0..r {
                    coords[d].push(i[d] as i64);
                }
                count += 1;
            }
            k += 1;
        });
        if r == 0 && nz.first().copied().unwrap_or(false) {
            count = 1;
        }
        let v: Vec<i64> = coords.into_iter().flatten().collect();
        one(i64_tensor(vec![r, if r == 0 { 0 } else { count }], v)?)
    })
}

pub fn build_trilu(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let upper = ctx.int("upper", 1) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let k = match opt(ins, 1) {
            Some(t) => ints(t)?.first().copied().unwrap_or(0),
            None => 0,
        };
        if x.rank() < 2 {
            bail!("input rank must be >= 2");
        }
        let r = x.rank();
        let (rows, cols) = (x.shape()[r - 2], x.shape()[r - 1]);
        let zero = Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?;
        let mut idx = Vec::with_capacity(x.len());
        for flat in 0..x.len() {
            let j = (flat % cols) as i64;
            let i = ((flat / cols) % rows.max(1)) as i64;
            let keep = if upper { j - i >= k } else { j - i <= k };
            idx.push(if keep { flat } else { usize::MAX });
        }
        one(take(x, &idx, Some(&zero), x.shape().to_vec())?)
    })
}

pub fn build_depth_to_space(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let b = ctx.int("blocksize", 0).max(0) as usize;
    let crd = ctx.string("mode", "DCR") == "CRD";
    let to_space = ctx.node.op_type == "DepthToSpace";
    kernel(move |ins| {
        let x = req(ins, 0)?;
        if x.rank() != 4 || b == 0 {
            bail!("expects a 4-D input and blocksize > 0");
        }
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        if to_space {
            if c % (b * b) != 0 {
                bail!("channels {c} not divisible by blocksize²");
            }
            let t = if crd {
                x.clone()
                    .reshaped(vec![n, c / (b * b), b, b, h, w])
                    .map_err(|e| e.to_string())?
            } else {
                x.clone()
                    .reshaped(vec![n, b, b, c / (b * b), h, w])
                    .map_err(|e| e.to_string())?
            };
            let perm = if crd {
                [0, 1, 4, 2, 5, 3]
            } else {
                [0, 3, 4, 1, 5, 2]
            };
            let y = transpose(&t, &perm)?;
            one(y
                .reshaped(vec![n, c / (b * b), h * b, w * b])
                .map_err(|e| e.to_string())?)
        } else {
            if h % b != 0 || w % b != 0 {
                bail!("spatial dims not divisible by blocksize");
            }
            let t = x
                .clone()
                .reshaped(vec![n, c, h / b, b, w / b, b])
                .map_err(|e| e.to_string())?;
            let perm = if crd {
                [0, 1, 3, 5, 2, 4]
            } else {
                [0, 3, 5, 1, 2, 4]
            };
            let y = transpose(&t, &perm)?;
            one(y
                .reshaped(vec![n, c * b * b, h / b, w / b])
                .map_err(|e| e.to_string())?)
        }
    })
}

pub fn build_eye_like(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let k = ctx.int("k", 0);
    let dtype = ctx
        .node
        .attr_int("dtype")
        .and_then(|c| DType::from_onnx_code(c as i32));
    kernel(move |ins| {
        let x = req(ins, 0)?;
        if x.rank() != 2 {
            bail!("EyeLike needs a 2-D input");
        }
        let (r, c) = (x.shape()[0], x.shape()[1]);
        let v: Vec<i64> = (0..r * c)
            .map(|f| ((f % c) as i64 - (f / c) as i64 == k) as i64)
            .collect();
        one(cast(
            &i64_tensor(vec![r, c], v)?,
            dtype.unwrap_or(x.dtype()),
        )?)
    })
}
