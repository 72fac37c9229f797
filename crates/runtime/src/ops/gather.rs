//! Indexed reads and writes: Gather, GatherElements, GatherND, ScatterND, ScatterElements
//! (and the deprecated Scatter), ReverseSequence.

use super::concat::concat;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Gather", build_gather),
    ("", "GatherElements", build_gather_elements),
    ("", "GatherND", build_gather_nd),
    ("", "ScatterND", build_scatter_nd),
    ("", "ScatterElements", build_scatter_elements),
    ("", "Scatter", build_scatter_elements),
    ("", "ReverseSequence", build_reverse_sequence),
];

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

pub fn build_reverse_sequence(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let ba = ctx.int("batch_axis", 1) as usize;
    let ta = ctx.int("time_axis", 0) as usize;
    kernel(move |ins| {
        let (x, lens) = (req(ins, 0)?, req(ins, 1)?);
        if x.rank() < 2 || ba >= x.rank() || ta >= x.rank() || ba == ta {
            bail!("bad batch_axis / time_axis for rank {}", x.rank());
        }
        let l = ints(lens)?;
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(x.shape(), |i| {
            let b = i[ba];
            let t = i[ta] as i64;
            let n = l
                .get(b)
                .copied()
                .unwrap_or(0)
                .clamp(0, x.shape()[ta] as i64);
            let src_t = if t < n { n - 1 - t } else { t };
            let mut f = 0;
            for d in 0..i.len() {
                f += if d == ta { src_t as usize } else { i[d] } * st[d];
            }
            idx.push(f);
        });
        Ok(vec![take(x, &idx, None, x.shape().to_vec())?])
    })
}
