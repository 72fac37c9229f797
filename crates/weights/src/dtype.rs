//! Element types and the tensor container.

use crate::WeightsError;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightDType {
    F16,
    BF16,
    F32,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl WeightDType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            WeightDType::F64 | WeightDType::I64 => 8,
            WeightDType::F32 | WeightDType::I32 => 4,
            WeightDType::F16 | WeightDType::BF16 | WeightDType::I16 => 2,
            WeightDType::I8 | WeightDType::U8 | WeightDType::Bool => 1,
        }
    }

    /// torch's name of the dtype (`torch.float16` → `"float16"`).
    pub fn torch_name(self) -> &'static str {
        match self {
            WeightDType::F16 => "float16",
            WeightDType::BF16 => "bfloat16",
            WeightDType::F32 => "float32",
            WeightDType::F64 => "float64",
            WeightDType::I64 => "int64",
            WeightDType::I32 => "int32",
            WeightDType::I16 => "int16",
            WeightDType::I8 => "int8",
            WeightDType::U8 => "uint8",
            WeightDType::Bool => "bool",
        }
    }

    /// The dtype of a torch legacy storage class name (`HalfStorage`), or of a
    /// torch dtype attribute name (`float16`, `half`).
    pub fn from_torch_name(name: &str) -> Option<Self> {
        Some(match name {
            "HalfStorage" | "float16" | "half" => WeightDType::F16,
            "BFloat16Storage" | "bfloat16" => WeightDType::BF16,
            "FloatStorage" | "float32" | "float" => WeightDType::F32,
            "DoubleStorage" | "float64" | "double" => WeightDType::F64,
            "LongStorage" | "int64" | "long" => WeightDType::I64,
            "IntStorage" | "int32" | "int" => WeightDType::I32,
            "ShortStorage" | "int16" | "short" => WeightDType::I16,
            "CharStorage" | "int8" => WeightDType::I8,
            "ByteStorage" | "UntypedStorage" | "uint8" => WeightDType::U8,
            "BoolStorage" | "bool" => WeightDType::Bool,
            _ => return None,
        })
    }
}

impl std::fmt::Display for WeightDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.torch_name())
    }
}

/// One tensor: dtype, shape and contiguous (row-major) little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    pub dtype: WeightDType,
    pub shape: Vec<usize>,
    /// Contiguous, row-major, little-endian element bytes; `len == numel * dtype.size()`.
    pub data: Vec<u8>,
}

impl WeightTensor {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// All elements converted to `f32` (integers and bools by value).
    pub fn to_f32(&self) -> Result<Vec<f32>, WeightsError> {
        let n = self.numel();
        if self.data.len() != n.saturating_mul(self.dtype.size()) {
            return Err(WeightsError::Convert(format!(
                "{} bytes for {n} elements of {}",
                self.data.len(),
                self.dtype
            )));
        }
        let d = &self.data;
        let out = match self.dtype {
            WeightDType::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            WeightDType::F16 => d
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            WeightDType::BF16 => d
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            WeightDType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(arr8(c)) as f32)
                .collect(),
            WeightDType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(arr8(c)) as f32)
                .collect(),
            WeightDType::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            WeightDType::I16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
                .collect(),
            WeightDType::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            WeightDType::U8 => d.iter().map(|&b| b as f32).collect(),
            WeightDType::Bool => d.iter().map(|&b| (b != 0) as u8 as f32).collect(),
        };
        Ok(out)
    }

    /// All elements converted to `i64` (floats are truncated toward zero).
    pub fn to_i64(&self) -> Result<Vec<i64>, WeightsError> {
        match self.dtype {
            WeightDType::I64 => {
                if self.data.len() != self.numel().saturating_mul(8) {
                    return Err(WeightsError::Convert("bad int64 byte length".into()));
                }
                Ok(self
                    .data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(arr8(c)))
                    .collect())
            }
            _ => Ok(self.to_f32()?.into_iter().map(|v| v as i64).collect()),
        }
    }

    /// A float16 copy (from any dtype, through f32).
    pub fn to_f16(&self) -> Result<WeightTensor, WeightsError> {
        if self.dtype == WeightDType::F16 {
            return Ok(self.clone());
        }
        let data = self
            .to_f32()?
            .into_iter()
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        Ok(WeightTensor {
            dtype: WeightDType::F16,
            shape: self.shape.clone(),
            data,
        })
    }

    /// A float32 copy (from any dtype).
    pub fn to_f32_tensor(&self) -> Result<WeightTensor, WeightsError> {
        let data = self
            .to_f32()?
            .into_iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        Ok(WeightTensor {
            dtype: WeightDType::F32,
            shape: self.shape.clone(),
            data,
        })
    }
}

fn arr8(c: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&c[..8]);
    a
}
