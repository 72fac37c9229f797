//! Slicing and padding: Slice, Pad, CenterCropPad, Expand, Tile.

use crate::broadcast;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::Tensor;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Slice", build_slice),
    ("", "Expand", build_expand),
    ("", "Tile", build_tile),
    ("", "Pad", build_pad),
    ("", "CenterCropPad", build_center_crop_pad),
];

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

pub fn expand(x: &Tensor, target: &[usize]) -> OpResult<Tensor> {
    let shape = broadcast::shape_of(&[x.shape(), target])?;
    if shape == x.shape() {
        return Ok(x.clone());
    }
    crate::limits::alloc_elems(&shape, std::mem::size_of::<usize>())?;
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
            .map(|(&d, &r)| usize::try_from(r).ok().and_then(|r| d.checked_mul(r)))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("repeats {reps:?} are too large for {:?}", x.shape()))?;
        let st = strides(x.shape());
        let mut idx = index_vec(&shape)?;
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
                let n = (x.shape()[d] as i64)
                    .checked_add(pads[d].0)
                    .and_then(|n| n.checked_add(pads[d].1))
                    .ok_or_else(|| format!("pads {raw:?} are too large"))?;
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
        let mut idx = index_vec(&shape)?;
        let mut bad = false;
        for_each_index(&shape, |o| {
            let mut off = 0usize;
            for d in 0..r {
                let n = x.shape()[d] as i64;
                let mut i = o[d] as i64 - pads[d].0;
                if i < 0 || i >= n {
                    // Constant mode fills any position outside the input, also along an
                    // empty dimension (onnxruntime pads x[0, 6] to [3, 6]); the other
                    // modes have nothing to copy from there.
                    if n == 0 && mode != "constant" {
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

pub fn build_center_crop_pad(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let axes_attr = ctx.ints("axes");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let target = ints(req(ins, 1)?)?;
        let r = x.rank();
        let axes: Vec<usize> = match &axes_attr {
            Some(a) => a.iter().map(|&v| axis(v, r)).collect::<OpResult<_>>()?,
            None => (0..r).collect(),
        };
        if target.len() != axes.len() || target.iter().any(|&t| t < 0) {
            bail!("shape {target:?} does not fit the axes");
        }
        let mut shape = x.shape().to_vec();
        let mut off = vec![0i64; r];
        for (i, &a) in axes.iter().enumerate() {
            let (d, t) = (x.shape()[a] as i64, target[i]);
            // crop: start at (d - t) / 2; pad: leading (t - d) / 2.
            off[a] = if t <= d { (d - t) / 2 } else { -((t - d) / 2) };
            shape[a] = t as usize;
        }
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(numel(&shape));
        for_each_index(&shape, |o| {
            let mut f = 0usize;
            for d in 0..r {
                let i = o[d] as i64 + off[d];
                if i < 0 || i >= x.shape()[d] as i64 {
                    idx.push(usize::MAX);
                    return;
                }
                f += i as usize * st[d];
            }
            idx.push(f);
        });
        let zero = Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?;
        Ok(vec![take(x, &idx, Some(&zero), shape)?])
    })
}
