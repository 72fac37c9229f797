//! Tensor helpers every kernel uses: float views, typed dispatch, index arithmetic.

use half::{bf16, f16};
use onnxide_ir::{DType, Tensor, TensorData};
use std::borrow::Cow;

pub use crate::kernel::OpResult;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}
pub(crate) use bail;

/// Applies `$body` to the typed storage of the numeric types computed natively (f32, f64 and the integers).
/// Callers convert f16/bf16 to f32 first (see [`widen`]).
macro_rules! map_num {
    ($data:expr, |$v:ident| $body:expr) => {
        match $data {
            onnxide_ir::TensorData::F32($v) => onnxide_ir::TensorData::F32($body),
            onnxide_ir::TensorData::F64($v) => onnxide_ir::TensorData::F64($body),
            onnxide_ir::TensorData::I8($v) => onnxide_ir::TensorData::I8($body),
            onnxide_ir::TensorData::I16($v) => onnxide_ir::TensorData::I16($body),
            onnxide_ir::TensorData::I32($v) => onnxide_ir::TensorData::I32($body),
            onnxide_ir::TensorData::I64($v) => onnxide_ir::TensorData::I64($body),
            onnxide_ir::TensorData::U8($v) => onnxide_ir::TensorData::U8($body),
            onnxide_ir::TensorData::U16($v) => onnxide_ir::TensorData::U16($body),
            onnxide_ir::TensorData::U32($v) => onnxide_ir::TensorData::U32($body),
            onnxide_ir::TensorData::U64($v) => onnxide_ir::TensorData::U64($body),
            other => {
                return Err(format!(
                    "element type {} is not supported by this op",
                    other.dtype()
                ))
            }
        }
    };
}
pub(crate) use map_num;

/// The tensor with f16/bf16 storage widened to f32 (other types borrowed as they are).
pub fn widen(t: &Tensor) -> Cow<'_, Tensor> {
    match t.data() {
        TensorData::F16(v) => Cow::Owned(mk(
            t.shape().to_vec(),
            TensorData::F32(v.iter().map(|x| x.to_f32()).collect()),
        )),
        TensorData::BF16(v) => Cow::Owned(mk(
            t.shape().to_vec(),
            TensorData::F32(v.iter().map(|x| x.to_f32()).collect()),
        )),
        _ => Cow::Borrowed(t),
    }
}

/// Rounds f32 storage back to `dtype` when that is f16 or bf16 (the inverse of [`widen`]).
pub fn narrow(t: Tensor, dtype: DType) -> Tensor {
    match (dtype, t.data()) {
        (DType::F16, TensorData::F32(v)) => mk(
            t.shape().to_vec(),
            TensorData::F16(v.iter().map(|&x| f16::from_f32(x)).collect()),
        ),
        (DType::BF16, TensorData::F32(v)) => mk(
            t.shape().to_vec(),
            TensorData::BF16(v.iter().map(|&x| bf16::from_f32(x)).collect()),
        ),
        _ => t,
    }
}

/// Builds a tensor whose element count is known to match (kernels compute both from one shape).
pub fn mk(shape: Vec<usize>, data: TensorData) -> Tensor {
    match Tensor::new(shape, data) {
        Ok(t) => t,
        Err(e) => panic!("kernel built an inconsistent tensor: {e}"),
    }
}

/// Builds a tensor, reporting a count mismatch as an op error.
pub fn tensor(shape: Vec<usize>, data: TensorData) -> OpResult<Tensor> {
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// A float tensor's values as f32 (any float type; integers are converted too).
pub fn f32s(t: &Tensor) -> OpResult<Cow<'_, [f32]>> {
    Ok(match t.data() {
        TensorData::F32(v) => Cow::Borrowed(v.as_slice()),
        TensorData::F16(v) => Cow::Owned(v.iter().map(|x| x.to_f32()).collect()),
        TensorData::BF16(v) => Cow::Owned(v.iter().map(|x| x.to_f32()).collect()),
        TensorData::F64(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
        _ => match t.to_f64_vec() {
            Some(v) => Cow::Owned(v.into_iter().map(|x| x as f32).collect()),
            None => bail!("expected a numeric tensor, got {}", t.dtype()),
        },
    })
}

/// f32 values packed into a tensor of float type `dtype` (f32, f16, bf16 or f64).
pub fn from_f32(dtype: DType, shape: Vec<usize>, v: Vec<f32>) -> OpResult<Tensor> {
    let data = match dtype {
        DType::F32 => TensorData::F32(v),
        DType::F16 => TensorData::F16(v.into_iter().map(f16::from_f32).collect()),
        DType::BF16 => TensorData::BF16(v.into_iter().map(bf16::from_f32).collect()),
        DType::F64 => TensorData::F64(v.into_iter().map(|x| x as f64).collect()),
        other => bail!("expected a float type, got {other}"),
    };
    tensor(shape, data)
}

pub fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
}

/// Requires a float tensor (the op's type constraint).
pub fn require_float(t: &Tensor) -> OpResult<()> {
    if !is_float(t.dtype()) {
        bail!("expected a float tensor, got {}", t.dtype());
    }
    Ok(())
}

/// Integer values of a tensor (shape-like inputs).
pub fn ints(t: &Tensor) -> OpResult<Vec<i64>> {
    t.to_i64_vec()
        .ok_or_else(|| format!("expected an integer tensor, got {}", t.dtype()))
}

/// Normalises a possibly negative axis against `rank`.
pub fn axis(a: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if v < 0 || v >= r {
        bail!("axis {a} is out of range for rank {rank}");
    }
    Ok(v as usize)
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Element count of `shape`; `usize::MAX` when the product overflows (never a valid count:
/// comparisons with a real length fail and the allocation check refuses it).
pub fn numel(shape: &[usize]) -> usize {
    onnxide_ir::element_count(shape).unwrap_or(usize::MAX)
}

/// Input `i`, which the op requires.
pub fn req<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> OpResult<&'a Tensor> {
    match inputs.get(i) {
        Some(Some(t)) => Ok(t),
        _ => Err(format!("required input {i} is missing")),
    }
}

/// Optional input `i`.
pub fn opt<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}

/// Widens an f16/bf16 tensor, runs `f` on the f32 tensor, and rounds the result back.
pub fn via_f32(t: &Tensor, f: impl FnOnce(&Tensor) -> OpResult<Tensor>) -> OpResult<Tensor> {
    let dtype = t.dtype();
    let w = widen(t);
    let out = f(&w)?;
    Ok(narrow(out, dtype))
}

/// Element types with typed storage, including strings (`Vec<u8>`): for data-movement kernels.
pub trait Elem: Clone + Send + Sync + 'static {
    fn get(d: &TensorData) -> Option<&[Self]>;
    fn wrap(v: Vec<Self>) -> TensorData;
}

macro_rules! elem_impl {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn get(d: &TensorData) -> Option<&[Self]> { <$t as onnxide_ir::Element>::slice(d) }
            fn wrap(v: Vec<Self>) -> TensorData { <$t as onnxide_ir::Element>::wrap(v) }
        }
    )*};
}
elem_impl!(f32, f64, f16, bf16, i8, i16, i32, i64, u8, u16, u32, u64, bool);

impl Elem for Vec<u8> {
    fn get(d: &TensorData) -> Option<&[Self]> {
        match d {
            TensorData::String(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> TensorData {
        TensorData::String(v)
    }
}

/// Runs `$body` with `$T` aliased to the Rust element type of `$dtype` (any typed storage).
macro_rules! with_type {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            onnxide_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            onnxide_ir::DType::F64 => {
                type $T = f64;
                $body
            }
            onnxide_ir::DType::F16 => {
                type $T = half::f16;
                $body
            }
            onnxide_ir::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            onnxide_ir::DType::I8 => {
                type $T = i8;
                $body
            }
            onnxide_ir::DType::I16 => {
                type $T = i16;
                $body
            }
            onnxide_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            onnxide_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            onnxide_ir::DType::U8 => {
                type $T = u8;
                $body
            }
            onnxide_ir::DType::U16 => {
                type $T = u16;
                $body
            }
            onnxide_ir::DType::U32 => {
                type $T = u32;
                $body
            }
            onnxide_ir::DType::U64 => {
                type $T = u64;
                $body
            }
            onnxide_ir::DType::Bool => {
                type $T = bool;
                $body
            }
            onnxide_ir::DType::String => {
                type $T = Vec<u8>;
                $body
            }
            other => return Err(format!("element type {other} is not supported by this op")),
        }
    };
}
pub(crate) use with_type;

/// The typed slice of `t` as `T` (the caller dispatched on `t.dtype()`).
pub fn slice_of<T: Elem>(t: &Tensor) -> OpResult<&[T]> {
    T::get(t.data()).ok_or_else(|| format!("unexpected element type {}", t.dtype()))
}

#[allow(clippy::clone_on_copy)]
/// `out[i] = data[idx[i]]`, any element type; `usize::MAX` in `idx` takes `fill[0]`.
pub fn take(
    t: &Tensor,
    idx: &[usize],
    fill: Option<&Tensor>,
    shape: Vec<usize>,
) -> OpResult<Tensor> {
    with_type!(t.dtype(), T => {
        let v = slice_of::<T>(t)?;
        let f: Option<T> = match fill {
            Some(f) => slice_of::<T>(f)?.first().cloned(),
            None => None,
        };
        let mut out = crate::limits::vec_for::<T>(&shape)?;
        for &i in idx {
            if i == usize::MAX {
                match &f {
                    Some(x) => out.push(x.clone()),
                    None => bail!("internal: fill value missing"),
                }
            } else {
                match v.get(i) {
                    Some(x) => out.push(x.clone()),
                    None => bail!("index {i} out of range"),
                }
            }
        }
        tensor(shape, T::wrap(out))
    })
}

/// A zero-length index buffer with room for a tensor of `shape`, its size checked against
/// the memory budget first (see `limits`).
pub fn index_vec(shape: &[usize]) -> OpResult<Vec<usize>> {
    crate::limits::vec_for::<usize>(shape)
}

/// Visits every multi-index of `shape` in row-major order.
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let n: usize = shape.iter().product();
    if n == 0 {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        f(&idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// A kernel's single output.
pub fn one(t: Tensor) -> OpResult<Vec<Tensor>> {
    Ok(vec![t])
}

/// An int64 tensor of `shape`.
pub fn i64_tensor(shape: Vec<usize>, v: Vec<i64>) -> OpResult<Tensor> {
    tensor(shape, TensorData::I64(v))
}

/// Integer list from an attribute (old opsets) or an input (new opsets).
pub fn ints_from(
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

/// Index `i` (negative counts from the end) into a dimension of size `d`, range-checked.
pub fn norm_index(i: i64, d: usize) -> OpResult<usize> {
    let v = if i < 0 { i + d as i64 } else { i };
    if v < 0 || v >= d as i64 {
        bail!("index {i} is out of range for a dimension of size {d}");
    }
    Ok(v as usize)
}

/// A shape read from an int tensor; negative dimensions are an error.
pub fn shape_from(t: &Tensor) -> OpResult<Vec<usize>> {
    let v = ints(t)?;
    if v.iter().any(|&d| d < 0) {
        bail!("negative dimension in {v:?}");
    }
    Ok(v.iter().map(|&d| d as usize).collect())
}

/// Values as f64 (bool as 0/1), any numeric type.
pub fn f64s(t: &Tensor) -> OpResult<Vec<f64>> {
    t.to_f64_vec()
        .ok_or_else(|| format!("unsupported element type {}", t.dtype()))
}
