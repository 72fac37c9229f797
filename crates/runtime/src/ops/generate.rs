//! Generators: tensors made from attributes and shapes (Constant, ConstantOfShape, Range,
//! EyeLike, OneHot, the Hann/Hamming/Blackman windows).

use super::cast::cast;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "ConstantOfShape", build_constant_of_shape),
    ("", "Constant", build_constant),
    ("", "Range", build_range),
    ("", "EyeLike", build_eye_like),
    ("", "OneHot", build_onehot),
    ("", "HannWindow", build_window),
    ("", "HammingWindow", build_window),
    ("", "BlackmanWindow", build_window),
];

pub fn build_constant_of_shape(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let value = match ctx.node.attr_tensor("value") {
        Some(v) => v.tensor.clone(),
        None => Tensor::from_vec(vec![1], vec![0f32]).map_err(|e| e.to_string())?,
    };
    kernel(move |ins| {
        let shape = shape_from(req(ins, 0)?)?;
        let mut idx = index_vec(&shape)?;
        idx.resize(numel(&shape), 0);
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
            let (a128, b128, c128) = (a as i128, b as i128, c as i128);
            let n = if (c > 0 && b > a) || (c < 0 && b < a) {
                ((b128 - a128).abs() + c128.abs() - 1) / c128.abs()
            } else {
                0
            };
            let n = i64::try_from(n).map_err(|_| format!("Range {a}..{b} step {c} is too long"))?;
            crate::limits::alloc_elems(&[n as usize], 8)?;
            let v: Vec<i64> = (0..n).map(|i| a + i * c).collect();
            let t = i64_tensor(vec![n as usize], v)?;
            return one(cast(&t, dtype)?);
        }
        let (a, b, c) = (scalar(s)?, scalar(l)?, scalar(d)?);
        if c == 0.0 {
            bail!("delta is 0");
        }
        let steps = ((b - a) / c).ceil().max(0.0);
        if !steps.is_finite() || steps >= usize::MAX as f64 {
            bail!("Range {a}..{b} step {c} is too long");
        }
        let n = steps as usize;
        crate::limits::alloc_elems(&[n], 8)?;
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
        let d_us = usize::try_from(d).map_err(|_| format!("depth {d} is too large"))?;
        let mut idx = index_vec(&[outer, d_us, inner])?;
        idx.resize(outer * d_us * inner, 0);
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
        Ok(vec![super::cast::cast(&t, dt)?])
    })
}
