//! BatchNormalization (inference), InstanceNormalization, LayerNormalization,
//! LpNormalization, MeanVarianceNormalization, RMSNormalization, GroupNormalization, LRN.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::Tensor;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "BatchNormalization", build_batchnorm),
    ("", "InstanceNormalization", build_instancenorm),
    ("", "LayerNormalization", build_layernorm),
    ("", "LpNormalization", build_lpnorm),
    ("", "MeanVarianceNormalization", build_mvn),
    ("", "RMSNormalization", build_rmsnorm),
    ("", "GroupNormalization", build_groupnorm),
    ("", "LRN", build_lrn),
];

fn per_channel(t: &Tensor, c: usize, what: &str) -> OpResult<Vec<f32>> {
    let v = f32s(t)?.into_owned();
    if v.len() != c {
        bail!("{what} has {} values for {c} channels", v.len());
    }
    Ok(v)
}

pub fn build_batchnorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let eps = ctx.float("epsilon", 1e-5);
    let momentum = ctx.float("momentum", 0.9);
    let training = ctx.int("training_mode", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 2 {
            bail!("input {:?} must have rank >= 2", x.shape());
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let sp = numel(&x.shape()[2..]);
        let scale = per_channel(req(ins, 1)?, c, "scale")?;
        let bias = per_channel(req(ins, 2)?, c, "B")?;
        let mut mean = per_channel(req(ins, 3)?, c, "input_mean")?;
        let mut var = per_channel(req(ins, 4)?, c, "input_var")?;
        let v = f32s(x)?;
        let (rm, rv) = (mean.clone(), var.clone());
        if training {
            for ch in 0..c {
                let mut s = 0f64;
                let mut s2 = 0f64;
                for b in 0..n {
                    for &a in &v[(b * c + ch) * sp..(b * c + ch + 1) * sp] {
                        s += a as f64;
                        s2 += (a as f64) * (a as f64);
                    }
                }
                let cnt = (n * sp) as f64;
                let m = s / cnt;
                mean[ch] = m as f32;
                var[ch] = (s2 / cnt - m * m) as f32;
            }
        }
        let mut out = vec![0f32; v.len()];
        for b in 0..n {
            for ch in 0..c {
                let k = scale[ch] / (var[ch] + eps).sqrt();
                let off = bias[ch] - mean[ch] * k;
                let base = (b * c + ch) * sp;
                for i in 0..sp {
                    out[base + i] = v[base + i] * k + off;
                }
            }
        }
        let mut res = vec![from_f32(x.dtype(), x.shape().to_vec(), out)?];
        if training {
            let run_m: Vec<f32> = rm
                .iter()
                .zip(&mean)
                .map(|(&r, &m)| r * momentum + m * (1.0 - momentum))
                .collect();
            let run_v: Vec<f32> = rv
                .iter()
                .zip(&var)
                .map(|(&r, &v)| r * momentum + v * (1.0 - momentum))
                .collect();
            let dt = req(ins, 3)?.dtype();
            res.push(from_f32(dt, vec![c], run_m)?);
            res.push(from_f32(dt, vec![c], run_v)?);
        }
        Ok(res)
    })
}

pub fn build_instancenorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let eps = ctx.float("epsilon", 1e-5);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 3 {
            bail!("input {:?} must have rank >= 3", x.shape());
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let sp = numel(&x.shape()[2..]);
        let scale = per_channel(req(ins, 1)?, c, "scale")?;
        let bias = per_channel(req(ins, 2)?, c, "B")?;
        let v = f32s(x)?;
        let mut out = vec![0f32; v.len()];
        for b in 0..n {
            for ch in 0..c {
                let base = (b * c + ch) * sp;
                let s = &v[base..base + sp];
                let m = s.iter().map(|&a| a as f64).sum::<f64>() / sp as f64;
                let var = s.iter().map(|&a| (a as f64 - m).powi(2)).sum::<f64>() / sp as f64;
                let k = scale[ch] as f64 / (var + eps as f64).sqrt();
                for i in 0..sp {
                    out[base + i] = ((s[i] as f64 - m) * k + bias[ch] as f64) as f32;
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_layernorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let eps = ctx.float("epsilon", 1e-5);
    let a = ctx.int("axis", -1);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let ax = axis(a, x.rank())?;
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax..]);
        let v = f32s(x)?;
        let norm_shape = &x.shape()[ax..];
        let bcast = |t: &Tensor| -> OpResult<Vec<f32>> {
            let e = super::slicing::expand(t, norm_shape)?;
            if e.shape() != norm_shape {
                bail!(
                    "scale/bias {:?} do not broadcast to {:?}",
                    t.shape(),
                    norm_shape
                );
            }
            Ok(f32s(&e)?.into_owned())
        };
        let scale = bcast(req(ins, 1)?)?;
        let bias = match opt(ins, 2) {
            Some(b) => bcast(b)?,
            None => vec![0.0; inner],
        };
        let mut out = vec![0f32; v.len()];
        let mut means = vec![0f32; outer];
        let mut inv = vec![0f32; outer];
        for o in 0..outer {
            let s = &v[o * inner..(o + 1) * inner];
            let m = s.iter().map(|&a| a as f64).sum::<f64>() / inner as f64;
            let var = s.iter().map(|&a| (a as f64 - m).powi(2)).sum::<f64>() / inner as f64;
            let r = 1.0 / (var + eps as f64).sqrt();
            means[o] = m as f32;
            inv[o] = r as f32;
            for i in 0..inner {
                out[o * inner + i] = (((s[i] as f64 - m) * r) as f32) * scale[i] + bias[i];
            }
        }
        let mut stat_shape = x.shape()[..ax].to_vec();
        stat_shape.extend(std::iter::repeat_n(1, x.rank() - ax));
        Ok(vec![
            from_f32(x.dtype(), x.shape().to_vec(), out)?,
            from_f32(onnxide_ir::DType::F32, stat_shape.clone(), means)?,
            from_f32(onnxide_ir::DType::F32, stat_shape, inv)?,
        ])
    })
}

pub fn build_lpnorm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.int("axis", -1);
    let p = ctx.int("p", 2);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let ax = axis(a, x.rank())?;
        let d = x.shape()[ax];
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let v = f32s(x)?;
        let mut out = vec![0f32; v.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * d + j) * inner + i;
                let n: f32 = if p == 1 {
                    (0..d).map(|j| v[at(j)].abs()).sum()
                } else {
                    (0..d).map(|j| v[at(j)] * v[at(j)]).sum::<f32>().sqrt()
                };
                for j in 0..d {
                    out[at(j)] = if n == 0.0 { 0.0 } else { v[at(j)] / n };
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}

pub fn build_mvn(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let axes = ctx.ints("axes").unwrap_or(vec![0, 2, 3]);
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let r = x.rank();
        let mut red = vec![false; r];
        for &a in &axes {
            red[axis(a, r)?] = true;
        }
        let v = f32s(x)?;
        let out_full: Vec<usize> = x
            .shape()
            .iter()
            .zip(&red)
            .map(|(&d, &rd)| if rd { 1 } else { d })
            .collect();
        let ost = strides(&out_full);
        let no = numel(&out_full);
        let cnt = (v.len() / no.max(1)) as f64;
        let mut s = vec![0f64; no];
        let mut s2 = vec![0f64; no];
        let mut map = Vec::with_capacity(v.len());
        for_each_index(x.shape(), |i| {
            map.push(
                i.iter()
                    .zip(&ost)
                    .zip(&red)
                    .map(|((&a, &st), &rd)| if rd { 0 } else { a * st })
                    .sum::<usize>(),
            );
        });
        for (k, &o) in map.iter().enumerate() {
            s[o] += v[k] as f64;
            s2[o] += (v[k] as f64).powi(2);
        }
        let out: Vec<f32> = map
            .iter()
            .enumerate()
            .map(|(k, &o)| {
                let m = s[o] / cnt;
                let var = s2[o] / cnt - m * m;
                ((v[k] as f64 - m) / (var.max(0.0).sqrt() + 1e-9)) as f32
            })
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
        let scale = super::slicing::expand(req(ins, 1)?, &x.shape()[ax..])?;
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
