//! Element type conversions: Cast, CastLike (numpy `astype` semantics) and BitCast.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Cast", build_cast),
    ("", "CastLike", build_cast_like),
    ("", "BitCast", build_bitcast),
];

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
