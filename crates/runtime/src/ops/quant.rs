//! QuantizeLinear / DequantizeLinear for the integer types with typed storage
//! (per-tensor, per-axis and blocked scales); MatMulInteger and ConvInteger.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "QuantizeLinear", build_quantize),
    ("", "DequantizeLinear", build_dequantize),
    ("", "DynamicQuantizeLinear", build_dynamic_quantize),
    ("", "MatMulInteger", build_matmul_integer),
    ("", "ConvInteger", build_conv_integer),
];

/// For each element of `x`, the index into `scale` (per-tensor, per-axis or blocked).
fn scale_index(x: &[usize], scale: &[usize], ax: i64, block: i64) -> OpResult<Vec<usize>> {
    let n = numel(x);
    if numel(scale) == 1 {
        return Ok(vec![0; n]);
    }
    let a = axis(ax, x.len())?;
    if scale.len() == 1 && block <= 0 {
        if scale[0] != x[a] {
            bail!(
                "scale of {} values does not match axis {a} of size {}",
                scale[0],
                x[a]
            );
        }
        let inner = numel(&x[a + 1..]);
        return Ok((0..n).map(|i| (i / inner) % x[a]).collect());
    }
    if scale.len() != x.len() || block <= 0 {
        bail!("scale shape {scale:?} does not fit input {x:?}");
    }
    let b = block as usize;
    let sst = strides(scale);
    let mut out = Vec::with_capacity(n);
    let mut err = None;
    for_each_index(x, |i| {
        let mut off = 0;
        for d in 0..i.len() {
            let c = if d == a { i[d] / b } else { i[d] };
            if c >= scale[d] {
                err = Some(format!(
                    "scale shape {scale:?} does not cover input {x:?} with block {b}"
                ));
            }
            off += c.min(scale[d].saturating_sub(1)) * sst[d];
        }
        out.push(off);
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn int_range(d: DType) -> OpResult<(f64, f64)> {
    Ok(match d {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        other => bail!("quantized type {other} is not supported"),
    })
}

pub fn build_dequantize(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let ax = ctx.int("axis", 1);
    let block = ctx.int("block_size", 0);
    let out_dt = ctx
        .node
        .attr_int("output_dtype")
        .filter(|&c| c != 0)
        .and_then(|c| DType::from_onnx_code(c as i32));
    kernel(move |ins| {
        let (x, s) = (req(ins, 0)?, req(ins, 1)?);
        int_range(x.dtype())?;
        let xv = x.to_f64_vec().ok_or("unsupported input type")?;
        let sv = s.to_f64_vec().ok_or("unsupported scale type")?;
        let zv = match opt(ins, 2) {
            Some(z) => z.to_f64_vec().ok_or("unsupported zero point type")?,
            None => vec![0.0; sv.len()],
        };
        if zv.len() != sv.len() {
            bail!("zero point and scale differ in size");
        }
        let si = scale_index(x.shape(), s.shape(), ax, block)?;
        let y: Vec<f64> = xv
            .iter()
            .zip(&si)
            .map(|(&q, &k)| ((q - zv[k]) as f32 * sv[k] as f32) as f64)
            .collect();
        let t = tensor(x.shape().to_vec(), TensorData::F64(y))?;
        Ok(vec![super::cast::cast(&t, out_dt.unwrap_or(s.dtype()))?])
    })
}

pub fn build_quantize(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let ax = ctx.int("axis", 1);
    let block = ctx.int("block_size", 0);
    let out_dt = ctx
        .node
        .attr_int("output_dtype")
        .filter(|&c| c != 0)
        .and_then(|c| DType::from_onnx_code(c as i32));
    kernel(move |ins| {
        let (x, s) = (req(ins, 0)?, req(ins, 1)?);
        let zp = opt(ins, 2);
        let dt = zp.map(Tensor::dtype).or(out_dt).unwrap_or(DType::U8);
        let (lo, hi) = int_range(dt)?;
        let xv = x.to_f64_vec().ok_or("unsupported input type")?;
        let sv = s.to_f64_vec().ok_or("unsupported scale type")?;
        let zv = match zp {
            Some(z) => z.to_f64_vec().ok_or("unsupported zero point type")?,
            None => vec![0.0; sv.len()],
        };
        if zv.len() != sv.len() {
            bail!("zero point and scale differ in size");
        }
        let si = scale_index(x.shape(), s.shape(), ax, block)?;
        let y: Vec<f64> = xv
            .iter()
            .zip(&si)
            .map(|(&v, &k)| {
                (((v as f32) / (sv[k] as f32)).round_ties_even() as f64 + zv[k]).clamp(lo, hi)
            })
            .collect();
        let t = tensor(x.shape().to_vec(), TensorData::F64(y))?;
        Ok(vec![super::cast::cast(&t, dt)?])
    })
}

pub fn build_dynamic_quantize(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = f32s(x)?;
        let mx = v.iter().copied().fold(0f32, f32::max);
        let mn = v.iter().copied().fold(0f32, f32::min);
        let scale = (mx - mn) / 255.0;
        let zp = if scale == 0.0 {
            0.0
        } else {
            (-mn / scale).round_ties_even().clamp(0.0, 255.0)
        };
        let y: Vec<u8> = v
            .iter()
            .map(|&a| {
                let q = if scale == 0.0 {
                    0.0
                } else {
                    (a / scale).round_ties_even()
                };
                (q + zp).clamp(0.0, 255.0) as u8
            })
            .collect();
        Ok(vec![
            tensor(x.shape().to_vec(), TensorData::U8(y))?,
            Tensor::scalar(scale),
            Tensor::scalar(zp as u8),
        ])
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
