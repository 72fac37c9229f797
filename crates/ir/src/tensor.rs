//! Owned tensors with typed storage for every ONNX element type.

use crate::DType;
use half::{bf16, f16};

/// Element storage. Types without native Rust arithmetic (complex, float8, int4, ...) keep ONNX's
/// raw little-endian encoding so that they survive a load/save round trip unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    String(Vec<Vec<u8>>),
    /// Packed ONNX raw bytes of a type listed in [`DType`] without a typed variant here.
    Raw {
        dtype: DType,
        bytes: Vec<u8>,
    },
}

/// A dense tensor in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

/// A tensor that carries the name (and doc string) ONNX stores with it: initializers and
/// tensor-valued attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub doc_string: String,
    pub tensor: Tensor,
}

impl NamedTensor {
    /// A named tensor without a doc string.
    pub fn new(name: impl Into<String>, tensor: Tensor) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            doc_string: String::new(),
            tensor,
        }
    }
}

/// Element types that have a typed [`TensorData`] variant.
pub trait Element: Copy + Default + Send + Sync + 'static {
    const DTYPE: DType;
    fn wrap(v: Vec<Self>) -> TensorData;
    fn slice(d: &TensorData) -> Option<&[Self]>;
    fn slice_mut(d: &mut TensorData) -> Option<&mut [Self]>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(v: Vec<Self>) -> TensorData {
                TensorData::$variant(v)
            }
            fn slice(d: &TensorData) -> Option<&[Self]> {
                match d {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(d: &mut TensorData) -> Option<&mut [Self]> {
                match d {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(f16, F16);
element!(bf16, BF16);
element!(i8, I8);
element!(i16, I16);
element!(i32, I32);
element!(i64, I64);
element!(u8, U8);
element!(u16, U16);
element!(u32, U32);
element!(u64, U64);
element!(bool, Bool);

/// Why a tensor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    #[error("shape {shape:?} holds {expected} elements but {got} were given")]
    ElementCount {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("shape {0:?} has more elements than this machine can address")]
    TooLarge(Vec<usize>),
    #[error("{dtype} tensor of {elements} elements needs {expected} raw bytes, got {got}")]
    RawLength {
        dtype: DType,
        elements: usize,
        expected: usize,
        got: usize,
    },
}

/// Number of elements of `shape`, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl TensorData {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::Bool(_) => DType::Bool,
            TensorData::String(_) => DType::String,
            TensorData::Raw { dtype, .. } => *dtype,
        }
    }

    /// Element count for typed storage; for raw storage, the count is implied by the shape.
    fn len(&self) -> Option<usize> {
        Some(match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::BF16(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U16(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::String(v) => v.len(),
            TensorData::Raw { .. } => return None,
        })
    }

    /// All-zero (or empty-string) storage of `n` elements.
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::BF16 => TensorData::BF16(vec![bf16::ZERO; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::I16 => TensorData::I16(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::U16 => TensorData::U16(vec![0; n]),
            DType::U32 => TensorData::U32(vec![0; n]),
            DType::U64 => TensorData::U64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
            DType::String => TensorData::String(vec![Vec::new(); n]),
            other => TensorData::Raw {
                dtype: other,
                bytes: vec![0; other.raw_len(n).unwrap_or(0)],
            },
        }
    }
}

impl Tensor {
    /// A tensor from shape and storage; the element count must match the shape.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, TensorError> {
        let expected = element_count(&shape).ok_or_else(|| TensorError::TooLarge(shape.clone()))?;
        match data.len() {
            Some(got) if got != expected => Err(TensorError::ElementCount {
                shape,
                expected,
                got,
            }),
            Some(_) => Ok(Tensor { shape, data }),
            None => {
                let TensorData::Raw { dtype, bytes } = &data else {
                    unreachable!("only raw storage has no typed length")
                };
                let need = dtype.raw_len(expected).unwrap_or(0);
                if bytes.len() != need {
                    return Err(TensorError::RawLength {
                        dtype: *dtype,
                        elements: expected,
                        expected: need,
                        got: bytes.len(),
                    });
                }
                Ok(Tensor { shape, data })
            }
        }
    }

    /// A typed tensor from shape and values.
    pub fn from_vec<T: Element>(shape: Vec<usize>, values: Vec<T>) -> Result<Tensor, TensorError> {
        Tensor::new(shape, T::wrap(values))
    }

    /// A 0-d tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor {
            shape: Vec::new(),
            data: T::wrap(vec![value]),
        }
    }

    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        let n = element_count(&shape).ok_or_else(|| TensorError::TooLarge(shape.clone()))?;
        Ok(Tensor {
            shape,
            data: TensorData::zeros(dtype, n),
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        element_count(&self.shape).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn into_parts(self) -> (Vec<usize>, TensorData) {
        (self.shape, self.data)
    }

    /// The values, if the element type is `T`.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.data)
    }

    pub fn as_slice_mut<T: Element>(&mut self) -> Option<&mut [T]> {
        T::slice_mut(&mut self.data)
    }

    /// Same data, new shape with the same element count.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        Tensor::new(shape, self.data)
    }

    /// Bytes the storage occupies in ONNX's raw encoding (strings: sum of their lengths).
    pub fn byte_size(&self) -> usize {
        match &self.data {
            TensorData::String(v) => v.iter().map(Vec::len).sum(),
            TensorData::Raw { bytes, .. } => bytes.len(),
            d => d.dtype().raw_len(self.len()).unwrap_or(0),
        }
    }

    /// Values converted to `f64`, for numeric types (used by tools that print or compare).
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        Some(match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
            TensorData::BF16(v) => v.iter().map(|x| x.to_f64()).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I16(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U16(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            TensorData::String(_) | TensorData::Raw { .. } => return None,
        })
    }

    /// Integer values as `i64` (for shape-like inputs such as Reshape's `shape`).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            TensorData::I64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I16(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U16(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U64(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }

    /// The raw little-endian bytes ONNX stores in `raw_data` (`None` for strings).
    pub fn to_raw_bytes(&self) -> Option<Vec<u8>> {
        fn le<T: bytemuck::Pod>(v: &[T]) -> Vec<u8> {
            // Every supported target of this crate is little-endian (checked in lib.rs).
            bytemuck::cast_slice(v).to_vec()
        }
        Some(match &self.data {
            TensorData::F32(v) => le(v),
            TensorData::F64(v) => le(v),
            TensorData::F16(v) => le(v),
            TensorData::BF16(v) => le(v),
            TensorData::I8(v) => le(v),
            TensorData::I16(v) => le(v),
            TensorData::I32(v) => le(v),
            TensorData::I64(v) => le(v),
            TensorData::U8(v) => v.clone(),
            TensorData::U16(v) => le(v),
            TensorData::U32(v) => le(v),
            TensorData::U64(v) => le(v),
            TensorData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
            TensorData::Raw { bytes, .. } => bytes.clone(),
            TensorData::String(_) => return None,
        })
    }

    /// A tensor from ONNX raw little-endian bytes.
    pub fn from_raw_bytes(
        dtype: DType,
        shape: Vec<usize>,
        bytes: &[u8],
    ) -> Result<Tensor, TensorError> {
        let n = element_count(&shape).ok_or_else(|| TensorError::TooLarge(shape.clone()))?;
        let need = dtype.raw_len(n).unwrap_or(0);
        if dtype == DType::String || bytes.len() != need {
            return Err(TensorError::RawLength {
                dtype,
                elements: n,
                expected: need,
                got: bytes.len(),
            });
        }
        fn read<T: bytemuck::Pod>(b: &[u8]) -> Vec<T> {
            bytemuck::pod_collect_to_vec(b)
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(read(bytes)),
            DType::F64 => TensorData::F64(read(bytes)),
            DType::F16 => TensorData::F16(read(bytes)),
            DType::BF16 => TensorData::BF16(read(bytes)),
            DType::I8 => TensorData::I8(read(bytes)),
            DType::I16 => TensorData::I16(read(bytes)),
            DType::I32 => TensorData::I32(read(bytes)),
            DType::I64 => TensorData::I64(read(bytes)),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::U16 => TensorData::U16(read(bytes)),
            DType::U32 => TensorData::U32(read(bytes)),
            DType::U64 => TensorData::U64(read(bytes)),
            DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
            other => TensorData::Raw {
                dtype: other,
                bytes: bytes.to_vec(),
            },
        };
        Ok(Tensor { shape, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_every_dtype() {
        for dtype in DType::ALL {
            if dtype == DType::String {
                continue;
            }
            let t = Tensor::zeros(dtype, vec![2, 3]).unwrap();
            let raw = t.to_raw_bytes().unwrap();
            assert_eq!(raw.len(), dtype.raw_len(6).unwrap());
            let back = Tensor::from_raw_bytes(dtype, vec![2, 3], &raw).unwrap();
            assert_eq!(back, t, "{dtype}");
        }
    }

    #[test]
    fn element_count_mismatch_is_an_error() {
        let e = Tensor::from_vec(vec![2, 2], vec![1.0f32; 3]).unwrap_err();
        assert!(matches!(
            e,
            TensorError::ElementCount {
                expected: 4,
                got: 3,
                ..
            }
        ));
    }

    #[test]
    fn overflowing_shape_is_an_error() {
        assert!(Tensor::zeros(DType::F32, vec![usize::MAX, 2]).is_err());
    }
}
