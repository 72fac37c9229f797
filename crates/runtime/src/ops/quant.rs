//! QuantizeLinear / DequantizeLinear for the integer types with typed storage
//! (per-tensor, per-axis and blocked scales).

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "QuantizeLinear", build_quantize),
    ("", "DequantizeLinear", build_dequantize),
    ("", "DynamicQuantizeLinear", build_dynamic_quantize),
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
        Ok(vec![super::shape::cast(&t, out_dt.unwrap_or(s.dtype()))?])
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
        Ok(vec![super::shape::cast(&t, dt)?])
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
