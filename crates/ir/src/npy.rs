//! `.npy` files (NumPy format versions 1, 2 and 3): the tensor exchange format of `onnxide run`.
//!
//! Little-endian, C order. Element types: f32, f16, bf16 (as ml_dtypes' `<V2` is not portable, bf16 is
//! refused), f64, i8..i64, u8..u64, bool.

use crate::{DType, IrError, Tensor};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        _ => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DType> {
    Some(match descr {
        "<f4" => DType::F32,
        "<f2" => DType::F16,
        "<f8" => DType::F64,
        "|i1" | "<i1" => DType::I8,
        "<i2" => DType::I16,
        "<i4" => DType::I32,
        "<i8" => DType::I64,
        "|u1" | "<u1" => DType::U8,
        "<u2" => DType::U16,
        "<u4" => DType::U32,
        "<u8" => DType::U64,
        "|b1" => DType::Bool,
        _ => return None,
    })
}

fn bad(path: &Path, reason: impl Into<String>) -> IrError {
    IrError::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<Tensor, IrError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|reason| bad(path, reason))
}

/// Parses `.npy` bytes.
pub fn parse(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = dtype_of(descr).ok_or_else(|| {
        format!("element type '{descr}' is not supported (little-endian float/int/uint/bool only)")
    })?;
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape_text = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let shape = parse_shape(shape_text)?;
    Tensor::from_raw_bytes(dtype, shape, &bytes[end..])
        .map_err(|e| format!("data does not match the header: {e}"))
}

/// The text after `'key':` up to the next top-level comma.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pat_single = format!("'{key}':");
    let pat_double = format!("\"{key}\":");
    let at = header
        .find(&pat_single)
        .map(|i| i + pat_single.len())
        .or_else(|| header.find(&pat_double).map(|i| i + pat_double.len()))?;
    let rest = header[at..].trim_start();
    if rest.starts_with('(') {
        let close = rest.find(')')?;
        Some(&rest[..=close])
    } else {
        let stop = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..stop].trim())
    }
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad shape {text}"))
        })
        .collect()
}

/// `.npy` bytes (format version 1.0, or 2.0 when the header needs it).
pub fn to_bytes(tensor: &Tensor) -> Result<Vec<u8>, String> {
    let descr = descr(tensor.dtype())
        .ok_or_else(|| format!("{} tensors cannot be written as .npy", tensor.dtype()))?;
    let dims: Vec<String> = tensor.shape().iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let v1 = header.len() + 11 < 65536;
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + tensor.byte_size());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&tensor.to_raw_bytes().unwrap_or_default());
    Ok(out)
}

/// Writes a `.npy` file atomically.
pub fn write(path: impl AsRef<Path>, tensor: &Tensor) -> Result<(), IrError> {
    let path = path.as_ref();
    let bytes = to_bytes(tensor).map_err(|reason| IrError::Npy {
        path: path.to_path_buf(),
        reason,
    })?;
    crate::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_each_dtype() {
        for dtype in [
            DType::F32,
            DType::F16,
            DType::F64,
            DType::I8,
            DType::I16,
            DType::I32,
            DType::I64,
            DType::U8,
            DType::U16,
            DType::U32,
            DType::U64,
            DType::Bool,
        ] {
            for shape in [vec![], vec![3], vec![2, 3, 4]] {
                let t = Tensor::zeros(dtype, shape.clone()).unwrap();
                let bytes = to_bytes(&t).unwrap();
                assert_eq!(parse(&bytes).unwrap(), t, "{dtype} {shape:?}");
            }
        }
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let t = Tensor::from_vec(vec![4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let bytes = to_bytes(&t).unwrap();
        for cut in [0, 5, 9, 20, bytes.len() - 1] {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(b"hello world, not numpy").is_err());
    }
}
