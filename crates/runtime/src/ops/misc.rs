//! Less common ops: Swish, RMSNormalization, GroupNormalization, LRN, OneHot, Compress,
//! CumProd, window functions, CenterCropPad, ReverseSequence, Unique, Det, Einsum.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Swish", build_swish),
    ("", "RMSNormalization", build_rmsnorm),
    ("", "GroupNormalization", build_groupnorm),
    ("", "LRN", build_lrn),
    ("", "OneHot", build_onehot),
    ("", "Compress", build_compress),
    ("", "CumProd", build_cumprod),
    ("", "HannWindow", build_window),
    ("", "HammingWindow", build_window),
    ("", "BlackmanWindow", build_window),
    ("", "CenterCropPad", build_center_crop_pad),
    ("", "ReverseSequence", build_reverse_sequence),
    ("", "Unique", build_unique),
    ("", "Det", build_det),
    ("", "Einsum", build_einsum),
    ("", "BitCast", build_bitcast),
    ("", "AffineGrid", build_affine_grid),
    ("", "MaxUnpool", build_max_unpool),
    ("", "MatMulInteger", build_matmul_integer),
    ("", "RoiAlign", build_roi_align),
    ("", "Col2Im", build_col2im),
    ("", "ConvInteger", build_conv_integer),
];

fn f64s(t: &Tensor) -> OpResult<Vec<f64>> {
    t.to_f64_vec()
        .ok_or_else(|| format!("unsupported element type {}", t.dtype()))
}

pub fn build_swish(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let alpha = ctx.float("alpha", 1.0) as f64;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = f64s(x)?;
        let out: Vec<f32> = v
            .iter()
            .map(|&a| (a / (1.0 + (-alpha * a).exp())) as f32)
            .collect();
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_rmsnorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", -1);
    let eps = ctx.float("epsilon", 1e-5) as f64;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let ax = axis(a, x.rank())?;
        let inner = numel(&x.shape()[ax..]);
        let scale = super::shape::expand(req(ins, 1)?, &x.shape()[ax..])?;
        if scale.shape() != &x.shape()[ax..] {
            bail!(
                "scale {:?} does not broadcast to {:?}",
                req(ins, 1)?.shape(),
                &x.shape()[ax..]
            );
        }
        let sv = f64s(&scale)?;
        let v = f64s(x)?;
        let mut out = vec![0f32; v.len()];
        for (o, chunk) in v.chunks(inner.max(1)).enumerate() {
            let ms = chunk.iter().map(|a| a * a).sum::<f64>() / inner as f64;
            let r = 1.0 / (ms + eps).sqrt();
            for (i, &a) in chunk.iter().enumerate() {
                out[o * inner + i] = (a * r * sv[i]) as f32;
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_groupnorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let groups = ctx.int("num_groups", 0).max(0) as usize;
    let eps = ctx.float("epsilon", 1e-5) as f64;
    let per_group = ctx.opset < 21;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 2 || groups == 0 || x.shape()[1] % groups != 0 {
            bail!("input {:?} does not split into {groups} groups", x.shape());
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let sp = numel(&x.shape()[2..]);
        let cg = c / groups;
        let (sc, bi) = (f64s(req(ins, 1)?)?, f64s(req(ins, 2)?)?);
        let want = if per_group { groups } else { c };
        if sc.len() != want || bi.len() != want {
            bail!("scale/bias must have {want} values");
        }
        let v = f64s(x)?;
        let mut out = vec![0f32; v.len()];
        for b in 0..n {
            for g in 0..groups {
                let base = (b * c + g * cg) * sp;
                let s = &v[base..base + cg * sp];
                let m = s.iter().sum::<f64>() / s.len().max(1) as f64;
                let var = s.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / s.len().max(1) as f64;
                let r = 1.0 / (var + eps).sqrt();
                for (i, &a) in s.iter().enumerate() {
                    let ch = g * cg + i / sp.max(1);
                    let k = if per_group { g } else { ch };
                    out[base + i] = ((a - m) * r * sc[k] + bi[k]) as f32;
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_lrn(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let alpha = ctx.float("alpha", 1e-4) as f64;
    let beta = ctx.float("beta", 0.75) as f64;
    let bias = ctx.float("bias", 1.0) as f64;
    let size = ctx.int("size", 1).max(1) as usize;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 2 {
            bail!("input must have rank >= 2");
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let sp = numel(&x.shape()[2..]);
        let v = f64s(x)?;
        let (before, after) = ((size - 1) / 2, (size - 1).div_ceil(2));
        let mut out = vec![0f32; v.len()];
        for b in 0..n {
            for ch in 0..c {
                let lo = ch.saturating_sub(before);
                let hi = (ch + after).min(c - 1);
                for i in 0..sp {
                    let sq: f64 = (lo..=hi).map(|k| v[(b * c + k) * sp + i].powi(2)).sum();
                    let a = v[(b * c + ch) * sp + i];
                    out[(b * c + ch) * sp + i] =
                        (a / (bias + alpha / size as f64 * sq).powf(beta)) as f32;
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_onehot(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", -1);
    kernel(move |ins| {
        let (ind, depth, values) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let d = f64s(depth)?.first().copied().ok_or("depth is empty")? as i64;
        if d <= 0 || values.len() != 2 {
            bail!("depth must be positive and values must have 2 elements");
        }
        let iv = f64s(ind)?;
        let r = ind.rank() + 1;
        let ax = axis(a, r)?;
        let outer = numel(&ind.shape()[..ax]);
        let inner = numel(&ind.shape()[ax..]);
        let mut idx = vec![0usize; outer * d as usize * inner];
        for o in 0..outer {
            for i in 0..inner {
                let mut k = iv[o * inner + i] as i64;
                if k < 0 {
                    k += d;
                }
                if (0..d).contains(&k) {
                    idx[(o * d as usize + k as usize) * inner + i] = 1;
                }
            }
        }
        let mut shape = ind.shape().to_vec();
        shape.insert(ax, d as usize);
        let flat = values
            .clone()
            .reshaped(vec![2])
            .map_err(|e| e.to_string())?;
        Ok(vec![take(&flat, &idx, None, shape)?])
    })
}

pub fn build_compress(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.node.attr_int("axis");
    kernel(move |ins| {
        let (x, cond) = (req(ins, 0)?, req(ins, 1)?);
        let TensorData::Bool(cv) = cond.data() else {
            bail!("condition must be bool")
        };
        let (x, ax) = match a {
            Some(a) => (x.clone(), axis(a, x.rank())?),
            None => (
                x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                0,
            ),
        };
        let d = x.shape()[ax];
        if cv.len() > d {
            bail!("condition has {} entries for an axis of size {d}", cv.len());
        }
        let keep: Vec<usize> = (0..cv.len()).filter(|&i| cv[i]).collect();
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let mut idx = Vec::with_capacity(outer * keep.len() * inner);
        for o in 0..outer {
            for &k in &keep {
                idx.extend((o * d + k) * inner..(o * d + k + 1) * inner);
            }
        }
        let mut shape = x.shape().to_vec();
        shape[ax] = keep.len();
        Ok(vec![take(&x, &idx, None, shape)?])
    })
}

pub fn build_cumprod(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let exclusive = ctx.int("exclusive", 0) != 0;
    let reverse = ctx.int("reverse", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let dims = super::reduce::scan_dims(x, req(ins, 1)?)?;
        let out = super::reduce::scan_axis(&f64s(x)?, dims, reverse, exclusive, 1f64, |a, b| a * b);
        let t = tensor(x.shape().to_vec(), TensorData::F64(out))?;
        Ok(vec![super::shape::cast(&t, x.dtype())?])
    })
}

pub fn build_window(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    let periodic = ctx.int("periodic", 1) != 0;
    let dt =
        DType::from_onnx_code(ctx.int("output_datatype", 1) as i32).ok_or("bad output_datatype")?;
    kernel(move |ins| {
        let size = ints(req(ins, 0)?)?
            .first()
            .copied()
            .ok_or("size is empty")?
            .max(0) as usize;
        let n = if periodic {
            size as f64
        } else {
            size as f64 - 1.0
        };
        let pi = std::f64::consts::PI;
        let v: Vec<f64> = (0..size)
            .map(|i| {
                let t = 2.0 * pi * i as f64 / n;
                match op.as_str() {
                    "HannWindow" => 0.5 - 0.5 * t.cos(),
                    "HammingWindow" => 25.0 / 46.0 - (21.0 / 46.0) * t.cos(),
                    _ => 0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos(),
                }
            })
            .collect();
        let t = tensor(vec![size], TensorData::F64(v))?;
        Ok(vec![super::shape::cast(&t, dt)?])
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

pub fn build_unique(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let sorted = ctx.int("sorted", 1) != 0;
    let a = ctx.node.attr_int("axis");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let (xf, ax) = match a {
            Some(a) => (x.clone(), axis(a, x.rank())?),
            None => (
                x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                0,
            ),
        };
        let v = f64s(&xf)?;
        let d = xf.shape()[ax];
        let outer = numel(&xf.shape()[..ax]);
        let inner = numel(&xf.shape()[ax + 1..]);
        let slice = |k: usize| -> Vec<f64> {
            (0..outer)
                .flat_map(|o| v[(o * d + k) * inner..(o * d + k + 1) * inner].to_vec())
                .collect()
        };
        let keys: Vec<Vec<f64>> = (0..d).map(slice).collect();
        let mut uniq: Vec<usize> = Vec::new();
        for k in 0..d {
            if !uniq.iter().any(|&u| keys[u] == keys[k]) {
                uniq.push(k);
            }
        }
        if sorted {
            uniq.sort_by(|&p, &q| {
                keys[p]
                    .partial_cmp(&keys[q])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        let inverse: Vec<i64> = (0..d)
            .map(|k| uniq.iter().position(|&u| keys[u] == keys[k]).unwrap_or(0) as i64)
            .collect();
        let counts: Vec<i64> = (0..uniq.len())
            .map(|j| inverse.iter().filter(|&&i| i == j as i64).count() as i64)
            .collect();
        let mut idx = Vec::with_capacity(outer * uniq.len() * inner);
        for o in 0..outer {
            for &k in &uniq {
                idx.extend((o * d + k) * inner..(o * d + k + 1) * inner);
            }
        }
        let mut shape = xf.shape().to_vec();
        shape[ax] = uniq.len();
        let nu = uniq.len();
        Ok(vec![
            take(&xf, &idx, None, shape)?,
            tensor(
                vec![nu],
                TensorData::I64(uniq.iter().map(|&u| u as i64).collect()),
            )?,
            tensor(vec![d], TensorData::I64(inverse))?,
            tensor(vec![nu], TensorData::I64(counts))?,
        ])
    })
}

pub fn build_det(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let r = x.rank();
        if r < 2 || x.shape()[r - 1] != x.shape()[r - 2] {
            bail!("Det needs [..., M, M], got {:?}", x.shape());
        }
        let m = x.shape()[r - 1];
        let v = f64s(x)?;
        let out: Vec<f32> = v
            .chunks(m * m)
            .map(|c| {
                let mut a = c.to_vec();
                let mut det = 1f64;
                for col in 0..m {
                    let p = (col..m)
                        .max_by(|&i, &j| {
                            a[i * m + col]
                                .abs()
                                .partial_cmp(&a[j * m + col].abs())
                                .unwrap_or(std::cmp::Ordering::Equal)
                        })
                        .unwrap_or(col);
                    if a[p * m + col] == 0.0 {
                        return 0.0;
                    }
                    if p != col {
                        for k in 0..m {
                            a.swap(p * m + k, col * m + k);
                        }
                        det = -det;
                    }
                    det *= a[col * m + col];
                    for i in col + 1..m {
                        let f = a[i * m + col] / a[col * m + col];
                        for k in col..m {
                            a[i * m + k] -= f * a[col * m + k];
                        }
                    }
                }
                det as f32
            })
            .collect();
        Ok(vec![from_f32(x.dtype(), x.shape()[..r - 2].to_vec(), out)?])
    })
}

/// Einsum by direct summation over every label (a reference kernel, not a fast one).
pub fn build_einsum(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let eq: String = ctx
        .string("equation", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    kernel(move |ins| {
        let xs: Vec<&Tensor> = ins.iter().flatten().copied().collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (eq.clone(), None),
        };
        let terms: Vec<&str> = lhs.split(',').collect();
        if terms.len() != xs.len() {
            bail!(
                "equation has {} operands, got {} inputs",
                terms.len(),
                xs.len()
            );
        }
        // Ellipsis dims become labels '0', '1', ... (right-aligned).
        let mut ell_rank = 0;
        for (t, x) in terms.iter().zip(&xs) {
            if t.contains("...") {
                ell_rank = ell_rank.max(x.rank() + 3 - t.len());
            }
        }
        let ell: String = (0..ell_rank).map(|i| char::from(b'0' + i as u8)).collect();
        let expand = |t: &str, rank: usize| -> String {
            match t.find("...") {
                Some(_) => {
                    let k = rank + 3 - t.len();
                    t.replace("...", &ell[ell_rank - k..])
                }
                None => t.to_string(),
            }
        };
        let labels: Vec<Vec<char>> = terms
            .iter()
            .zip(&xs)
            .map(|(t, x)| expand(t, x.rank()).chars().collect())
            .collect();
        let mut size: std::collections::BTreeMap<char, usize> = Default::default();
        for (l, x) in labels.iter().zip(&xs) {
            if l.len() != x.rank() {
                bail!(
                    "term {:?} does not match rank {}",
                    l.iter().collect::<String>(),
                    x.rank()
                );
            }
            for (&c, &d) in l.iter().zip(x.shape()) {
                let e = size.entry(c).or_insert(d);
                if *e != d {
                    if *e == 1 {
                        *e = d;
                    } else if d != 1 {
                        bail!("label {c} has sizes {e} and {d}");
                    }
                }
            }
        }
        let out: Vec<char> = match rhs {
            Some(r) => r.replace("...", &ell).chars().collect(),
            None => {
                let mut once: Vec<char> = size
                    .keys()
                    .copied()
                    .filter(|c| {
                        c.is_alphabetic()
                            && labels.iter().flatten().filter(|&&d| d == *c).count() == 1
                    })
                    .collect();
                once.sort_unstable();
                ell.chars().chain(once).collect()
            }
        };
        let all: Vec<char> = out
            .iter()
            .copied()
            .chain(size.keys().copied().filter(|c| !out.contains(c)))
            .collect();
        let dims: Vec<usize> = all.iter().map(|c| size[c]).collect();
        let vals: Vec<Vec<f64>> = xs.iter().map(|x| f64s(x)).collect::<OpResult<_>>()?;
        // Per operand: stride of each label in `all` (0 if absent or broadcast).
        let op_st: Vec<Vec<usize>> = labels
            .iter()
            .zip(&xs)
            .map(|(l, x)| {
                let st = strides(x.shape());
                all.iter()
                    .map(|c| {
                        l.iter()
                            .enumerate()
                            .filter(|(_, d)| *d == c)
                            .map(|(i, _)| if x.shape()[i] == 1 { 0 } else { st[i] })
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let out_dims: Vec<usize> = dims[..out.len()].to_vec();
        let nout = numel(&out_dims);
        let mut res = vec![0f64; nout];
        let no = out.len();
        for_each_index(&dims, |i| {
            let o: usize = if no == 0 {
                0
            } else {
                i[..no]
                    .iter()
                    .zip(strides(&out_dims))
                    .map(|(a, s)| a * s)
                    .sum()
            };
            let mut p = 1f64;
            for (v, st) in vals.iter().zip(&op_st) {
                let off: usize = i.iter().zip(st).map(|(a, s)| a * s).sum();
                p *= v[off];
            }
            res[o] += p;
        });
        let t = tensor(out_dims, TensorData::F64(res))?;
        Ok(vec![super::shape::cast(&t, xs[0].dtype())?])
    })
}

pub fn build_bitcast(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let to = DType::from_onnx_code(ctx.int("to", 0) as i32).ok_or("bad 'to' type")?;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        if x.dtype() == DType::String || to == DType::String || x.dtype().bits() != to.bits() {
            bail!("cannot bit-cast {} to {to}", x.dtype());
        }
        let bytes = x.to_raw_bytes().ok_or("no raw representation")?;
        Ok(vec![
            Tensor::from_raw_bytes(to, x.shape().to_vec(), &bytes).map_err(|e| e.to_string())?
        ])
    })
}

pub fn build_affine_grid(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let align = ctx.int("align_corners", 0) != 0;
    kernel(move |ins| {
        let (theta, size) = (req(ins, 0)?, ints(req(ins, 1)?)?);
        require_float(theta)?;
        let k = size.len().saturating_sub(2);
        if !(k == 2 || k == 3)
            || theta.shape() != [size[0].max(0) as usize, k, k + 1]
            || size.iter().any(|&d| d < 0)
        {
            bail!("theta {:?} and size {size:?} do not fit", theta.shape());
        }
        let n = size[0] as usize;
        let sp: Vec<usize> = size[2..].iter().map(|&d| d as usize).collect();
        let lin = |d: usize, i: usize| -> f64 {
            if align {
                if d <= 1 {
                    -1.0
                } else {
                    -1.0 + 2.0 * i as f64 / (d - 1) as f64
                }
            } else {
                -1.0 + (2 * i + 1) as f64 / d as f64
            }
        };
        let th = theta.to_f64_vec().ok_or("bad theta")?;
        let np = numel(&sp);
        let mut out = Vec::with_capacity(n * np * k);
        for b in 0..n {
            let t = &th[b * k * (k + 1)..(b + 1) * k * (k + 1)];
            for_each_index(&sp, |i| {
                // Homogeneous point in reverse dimension order: (x, y[, z], 1).
                let mut p: Vec<f64> = (0..k).map(|j| lin(sp[k - 1 - j], i[k - 1 - j])).collect();
                p.push(1.0);
                for r in 0..k {
                    out.push((0..=k).map(|c| t[r * (k + 1) + c] * p[c]).sum::<f64>());
                }
            });
        }
        let mut shape = vec![n];
        shape.extend(&sp);
        shape.push(k);
        let t = tensor(shape, TensorData::F64(out))?;
        Ok(vec![super::shape::cast(&t, theta.dtype())?])
    })
}

pub fn build_max_unpool(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let kernel_shape = ctx.ints("kernel_shape").ok_or("kernel_shape is required")?;
    let strides_attr = ctx.ints("strides");
    let pads = ctx.ints("pads");
    kernel(move |ins| {
        let (x, ind) = (req(ins, 0)?, req(ins, 1)?);
        let nd = kernel_shape.len();
        if x.rank() != nd + 2 || ind.shape() != x.shape() {
            bail!(
                "X {:?} / I {:?} do not fit kernel {kernel_shape:?}",
                x.shape(),
                ind.shape()
            );
        }
        // Indices address the default output shape; an explicit output_shape (larger, with
        // padding) receives them at the same coordinates.
        let mut default = x.shape()[..2].to_vec();
        for (i, &ks) in kernel_shape.iter().enumerate() {
            let st = strides_attr
                .as_ref()
                .map_or(1, |v| v.get(i).copied().unwrap_or(1));
            let (pb, pe) = pads.as_ref().map_or((0, 0), |p| {
                (
                    p.get(i).copied().unwrap_or(0),
                    p.get(i + nd).copied().unwrap_or(0),
                )
            });
            let d = (x.shape()[i + 2] as i64 - 1) * st + ks - pb - pe;
            default.push(d.max(0) as usize);
        }
        let shape: Vec<usize> = match opt(ins, 2) {
            Some(s) => ints(s)?.iter().map(|&d| d.max(0) as usize).collect(),
            None => default.clone(),
        };
        if shape.len() != default.len() || shape.iter().zip(&default).any(|(a, b)| a < b) {
            bail!("output_shape {shape:?} is smaller than the unpooled shape {default:?}");
        }
        let total = numel(&shape);
        let iv = ints(ind)?;
        let mut idx = vec![usize::MAX; total];
        let (dst, ost) = (strides(&default), strides(&shape));
        let dtotal = numel(&default);
        for (j, &t) in iv.iter().enumerate() {
            if t < 0 || t as usize >= dtotal {
                bail!("index {t} is out of range for output {default:?}");
            }
            let mut rem = t as usize;
            let mut o = 0;
            for d in 0..default.len() {
                o += (rem / dst[d]) * ost[d];
                rem %= dst[d];
            }
            idx[o] = j;
        }
        let zero = Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?;
        let flat = x
            .clone()
            .reshaped(vec![x.len()])
            .map_err(|e| e.to_string())?;
        Ok(vec![take(&flat, &idx, Some(&zero), shape)?])
    })
}

/// MatMulInteger: exact integer arithmetic, int32 result.
pub fn build_matmul_integer(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (a, b) = (req(ins, 0)?, req(ins, 1)?);
        if a.rank() != 2 || b.rank() != 2 || a.shape()[1] != b.shape()[0] {
            bail!(
                "MatMulInteger supports 2-D inputs; got {:?} and {:?}",
                a.shape(),
                b.shape()
            );
        }
        let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
        let (av, bv) = (ints(a)?, ints(b)?);
        let zp = |i: usize, len: usize| -> OpResult<Vec<i64>> {
            match opt(ins, i) {
                Some(z) => {
                    let v = ints(z)?;
                    match v.len() {
                        1 => Ok(vec![v[0]; len]),
                        l if l == len => Ok(v),
                        l => Err(format!("zero point has {l} values, expected 1 or {len}")),
                    }
                }
                None => Ok(vec![0; len]),
            }
        };
        let (az, bz) = (zp(2, m)?, zp(3, n)?);
        let mut out = vec![0i32; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: i64 = (0..k)
                    .map(|p| (av[i * k + p] - az[i]) * (bv[p * n + j] - bz[j]))
                    .sum();
                out[i * n + j] = s as i32;
            }
        }
        Ok(vec![tensor(vec![m, n], TensorData::I32(out))?])
    })
}

/// RoiAlign (opset 10/16), following the ONNX reference (Detectron-style sampling grid).
pub fn build_roi_align(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let half_pixel = ctx.string(
        "coordinate_transformation_mode",
        if ctx.opset < 16 {
            "output_half_pixel"
        } else {
            "half_pixel"
        },
    ) == "half_pixel";
    let max_mode = ctx.string("mode", "avg") == "max";
    let (oh, ow) = (
        ctx.int("output_height", 1).max(1) as usize,
        ctx.int("output_width", 1).max(1) as usize,
    );
    let sampling = ctx.int("sampling_ratio", 0);
    let scale = ctx.float("spatial_scale", 1.0) as f64;
    kernel(move |ins| {
        let (x, rois, bi) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        require_float(x)?;
        if x.rank() != 4 || rois.rank() != 2 || rois.shape()[1] != 4 || bi.len() != rois.shape()[0]
        {
            bail!(
                "X {:?}, rois {:?}, batch_indices {:?} do not fit",
                x.shape(),
                rois.shape(),
                bi.shape()
            );
        }
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        if h == 0 || w == 0 {
            bail!("empty feature map {:?}", x.shape());
        }
        let xv = f64s(x)?;
        let rv = f64s(rois)?;
        let bv = ints(bi)?;
        let nr = rois.shape()[0];
        let mut out = vec![0f32; nr * c * oh * ow];
        for r in 0..nr {
            let b = bv[r];
            if b < 0 || b as usize >= n {
                bail!("batch index {b} is out of range");
            }
            let off = if half_pixel { 0.5 } else { 0.0 };
            let (sw, sh) = (rv[r * 4] * scale - off, rv[r * 4 + 1] * scale - off);
            let (ew, eh) = (rv[r * 4 + 2] * scale - off, rv[r * 4 + 3] * scale - off);
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / oh as f64, rw / ow as f64);
            let gh = if sampling > 0 {
                sampling as usize
            } else {
                (rh / oh as f64).ceil() as usize
            };
            let gw = if sampling > 0 {
                sampling as usize
            } else {
                (rw / ow as f64).ceil() as usize
            };
            let count = (gh * gw).max(1) as f64;
            // (positions, weights) per sample, shared by all channels.
            let mut pre: Vec<([usize; 4], [f64; 4])> = Vec::with_capacity(oh * ow * gh * gw);
            for ph in 0..oh {
                for pw in 0..ow {
                    for iy in 0..gh {
                        let yy = sh + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            if yy < -1.0 || yy > h as f64 || xx < -1.0 || xx > w as f64 {
                                pre.push(([0; 4], [0.0; 4]));
                                continue;
                            }
                            let (mut y, mut xq) = (yy.max(0.0), xx.max(0.0));
                            let (mut yl, mut xl) = (y as usize, xq as usize);
                            let yhi = if yl >= h - 1 {
                                yl = h - 1;
                                y = yl as f64;
                                yl
                            } else {
                                yl + 1
                            };
                            let xhi = if xl >= w - 1 {
                                xl = w - 1;
                                xq = xl as f64;
                                xl
                            } else {
                                xl + 1
                            };
                            let (ly, lx) = (y - yl as f64, xq - xl as f64);
                            let (hy, hx) = (1.0 - ly, 1.0 - lx);
                            pre.push((
                                [yl * w + xl, yl * w + xhi, yhi * w + xl, yhi * w + xhi],
                                [hy * hx, hy * lx, ly * hx, ly * lx],
                            ));
                        }
                    }
                }
            }
            for ch in 0..c {
                let plane = &xv[(b as usize * c + ch) * h * w..(b as usize * c + ch + 1) * h * w];
                for p in 0..oh * ow {
                    let samples = &pre[p * gh * gw..(p + 1) * gh * gw];
                    let v = if max_mode {
                        samples
                            .iter()
                            .map(|(pos, wt)| {
                                (0..4)
                                    .map(|k| wt[k] * plane[pos[k]])
                                    .fold(f64::NEG_INFINITY, f64::max)
                            })
                            .fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        samples
                            .iter()
                            .map(|(pos, wt)| (0..4).map(|k| wt[k] * plane[pos[k]]).sum::<f64>())
                            .sum::<f64>()
                            / count
                    };
                    out[(r * c + ch) * oh * ow + p] = if v.is_finite() { v as f32 } else { 0.0 };
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), vec![nr, c, oh, ow], out)?])
    })
}

/// Col2Im: scatter-adds sliding blocks back into an image (N-D).
pub fn build_col2im(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let dil = ctx.ints("dilations");
    let pads = ctx.ints("pads");
    let strides_attr = ctx.ints("strides");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let img: Vec<usize> = ints(req(ins, 1)?)?
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect();
        let blk: Vec<usize> = ints(req(ins, 2)?)?
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect();
        let nd = img.len();
        if blk.len() != nd || x.rank() != 3 || nd == 0 {
            bail!(
                "input {:?}, image_shape {img:?}, block_shape {blk:?} do not fit",
                x.shape()
            );
        }
        let get = |v: &Option<Vec<i64>>, d: i64, n: usize| v.clone().unwrap_or(vec![d; n]);
        let (dl, st, pd) = (
            get(&dil, 1, nd),
            get(&strides_attr, 1, nd),
            get(&pads, 0, 2 * nd),
        );
        if dl.len() != nd || st.len() != nd || pd.len() != 2 * nd {
            bail!("dilations/strides/pads do not fit {nd} dims");
        }
        let kprod = numel(&blk);
        let (n, ck, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        if kprod == 0 || ck % kprod != 0 {
            bail!("channels {ck} are not a multiple of the block size {kprod}");
        }
        let c = ck / kprod;
        let counts: Vec<usize> = (0..nd)
            .map(|i| {
                let span = img[i] as i64 + pd[i] + pd[i + nd] - (dl[i] * (blk[i] as i64 - 1) + 1);
                if span < 0 {
                    0
                } else {
                    (span / st[i].max(1)) as usize + 1
                }
            })
            .collect();
        if numel(&counts) != l {
            bail!("{l} blocks given, the geometry makes {}", numel(&counts));
        }
        let v = f64s(x)?;
        let isz = numel(&img);
        let ist = strides(&img);
        let mut out = vec![0f64; n * c * isz];
        let mut ks: Vec<Vec<usize>> = Vec::new();
        for_each_index(&blk, |k| ks.push(k.to_vec()));
        let mut ls: Vec<Vec<usize>> = Vec::new();
        for_each_index(&counts, |p| ls.push(p.to_vec()));
        for b in 0..n {
            for ch in 0..c {
                for (ki, k) in ks.iter().enumerate() {
                    for (li, p) in ls.iter().enumerate() {
                        let mut off = 0usize;
                        let mut inside = true;
                        for d in 0..nd {
                            let pos = p[d] as i64 * st[d] - pd[d] + k[d] as i64 * dl[d];
                            if pos < 0 || pos >= img[d] as i64 {
                                inside = false;
                                break;
                            }
                            off += pos as usize * ist[d];
                        }
                        if inside {
                            out[(b * c + ch) * isz + off] += v[(b * ck + ch * kprod + ki) * l + li];
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&img);
        let t = tensor(shape, TensorData::F64(out))?;
        Ok(vec![super::shape::cast(&t, x.dtype())?])
    })
}

/// ConvInteger: exact integer convolution (2-D and other ranks through the conv geometry).
pub fn build_conv_integer(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attrs = super::conv::WindowAttrs::read(ctx);
    let group = ctx.int("group", 1).max(1) as usize;
    kernel(move |ins| {
        let (x, w) = (req(ins, 0)?, req(ins, 1)?);
        if x.rank() < 3 || w.rank() != x.rank() {
            bail!(
                "input {:?} and weight {:?} ranks do not fit",
                x.shape(),
                w.shape()
            );
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let (m, cg) = (w.shape()[0], w.shape()[1]);
        if c != cg * group || m % group != 0 {
            bail!("channels do not fit group {group}");
        }
        let g = super::conv::geometry(&x.shape()[2..], &w.shape()[2..], &attrs)?;
        let xz = match opt(ins, 2) {
            Some(z) => ints(z)?.first().copied().unwrap_or(0),
            None => 0,
        };
        let wz = match opt(ins, 3) {
            Some(z) => {
                let v = ints(z)?;
                if v.len() == 1 {
                    vec![v[0]; m]
                } else if v.len() == m {
                    v
                } else {
                    bail!("w_zero_point has {} values", v.len())
                }
            }
            None => vec![0; m],
        };
        let (xv, wv) = (ints(x)?, ints(w)?);
        let (isz, osz, ks) = (g.in_size(), g.out_size(), g.k_size());
        let mg = m / group;
        let mut out = vec![0i32; n * m * osz];
        for b in 0..n {
            for oc in 0..m {
                let gi = oc / mg;
                let mut o = 0;
                for oz in 0..g.out[0] {
                    for oy in 0..g.out[1] {
                        for ox in 0..g.out[2] {
                            let mut acc = 0i64;
                            for ci in 0..cg {
                                let ch = gi * cg + ci;
                                for kk in 0..ks {
                                    let (kz, ky, kx) = (
                                        kk / (g.k[1] * g.k[2]),
                                        (kk / g.k[2]) % g.k[1],
                                        kk % g.k[2],
                                    );
                                    let iz = (oz * g.s[0] + kz * g.d[0]) as i64 - g.pb[0];
                                    let iy = (oy * g.s[1] + ky * g.d[1]) as i64 - g.pb[1];
                                    let ix = (ox * g.s[2] + kx * g.d[2]) as i64 - g.pb[2];
                                    let xval = if iz < 0
                                        || iy < 0
                                        || ix < 0
                                        || iz >= g.inp[0] as i64
                                        || iy >= g.inp[1] as i64
                                        || ix >= g.inp[2] as i64
                                    {
                                        xz // padding holds the zero point
                                    } else {
                                        xv[(b * c + ch) * isz
                                            + (iz as usize * g.inp[1] + iy as usize) * g.inp[2]
                                            + ix as usize]
                                    };
                                    acc += (xval - xz) * (wv[(oc * cg + ci) * ks + kk] - wz[oc]);
                                }
                            }
                            out[(b * m + oc) * osz + o] = acc as i32;
                            o += 1;
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, m];
        shape.extend(g.out_dims());
        Ok(vec![tensor(shape, TensorData::I32(out))?])
    })
}
