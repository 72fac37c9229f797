//! Reshape and its relatives: the same elements in another shape or order (Identity,
//! Dropout, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Shape, Size, DepthToSpace,
//! SpaceToDepth). They work on every element type with typed storage.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Identity", build_identity),
    ("", "Dropout", build_dropout),
    ("", "Reshape", build_reshape),
    ("", "Flatten", build_flatten),
    ("", "Squeeze", build_squeeze),
    ("", "Unsqueeze", build_unsqueeze),
    ("", "Transpose", build_transpose),
    ("", "Shape", build_shape),
    ("", "Size", build_size),
    ("", "DepthToSpace", build_depth_to_space),
    ("", "SpaceToDepth", build_depth_to_space),
];

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
            .try_fold(1usize, |a, (_, &d)| a.checked_mul(d))
            .unwrap_or(0);
        if rest == 0 || !total.is_multiple_of(rest) {
            bail!("cannot reshape {in_shape:?} to {spec:?}");
        }
        out[i] = total / rest;
    }
    if onnxide_ir::element_count(&out) != Some(total) {
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
