//! A Triton Inference Server model repository for an ONNX file.
//!
//! Layout (Triton's, and Ultralytics' Triton guide's): `REPO/NAME/config.pbtxt` and
//! `REPO/NAME/1/model.onnx`. `config.pbtxt` is protobuf text of Triton's `ModelConfig`:
//! - `platform: "onnxruntime_onnx"`, the model's inputs and outputs with `TYPE_*` data types and
//!   dims (`-1` for a symbolic dim);
//! - a model whose inputs all start with one symbolic dim (and whose outputs start with a
//!   non-fixed dim) is batchable: Triton owns dim 0 (`max_batch_size` > 0, dims without it) and
//!   `dynamic_batching { }` is on. `max_batch_size` defaults to 4, Triton's own default when it
//!   completes a config itself; an `nms=True` export (its loop unrolled for `batch` images) gets
//!   its metadata `batch`. A static model has `max_batch_size: 0` and its full dims;
//! - the ONNX `metadata_props` as one parameter `metadata` whose string is the Python `str()` of a
//!   `dict` of strings, as Ultralytics' guide writes it, so that `YOLO("http://host:8000/NAME")`
//!   reads names, stride, imgsz and task from the server.

use crate::{DeployError, Result};
use onnxide_ir::{DType, Dim, Model, ValueInfo};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Triton's default `max_batch_size` for a batchable model it configures itself
/// (`--backend-config=default-max-batch-size`).
pub const DEFAULT_MAX_BATCH: u32 = 4;

/// How to package the model.
#[derive(Debug, Clone)]
pub struct TritonOptions {
    /// The model's name in the repository (its folder).
    pub name: String,
    /// `max_batch_size` for a batchable model (`None`: see the module docs).
    pub max_batch: Option<u32>,
    /// The version folder (Triton: a positive integer; Ultralytics' guide uses 1).
    pub version: u32,
}

/// What [`write_repository`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub config: PathBuf,
    pub model: PathBuf,
    /// `max_batch_size` in the config (0: not batchable).
    pub max_batch_size: u32,
}

/// `config.pbtxt` for `model`.
pub fn config_pbtxt(model: &Model, options: &TritonOptions) -> Result<(String, u32)> {
    check_name(&options.name)?;
    let g = &model.graph;
    let batchable = is_batchable(&g.inputs, &g.outputs);
    let max_batch = if batchable {
        options
            .max_batch
            .or_else(|| nms_batch(model))
            .unwrap_or(DEFAULT_MAX_BATCH)
            .max(1)
    } else {
        0
    };
    let mut s = String::new();
    // String writes cannot fail.
    let _ = writeln!(s, "name: {}", quote(&options.name));
    let _ = writeln!(s, "platform: \"onnxruntime_onnx\"");
    let _ = writeln!(s, "max_batch_size: {max_batch}");
    for (section, values) in [("input", &g.inputs), ("output", &g.outputs)] {
        // Initializers listed as graph inputs (IR < 4) are not inputs a client sends.
        let values: Vec<&ValueInfo> = values
            .iter()
            .filter(|v| section == "output" || g.initializer(&v.name).is_none())
            .collect();
        let _ = writeln!(s, "{section} [");
        for (i, v) in values.iter().enumerate() {
            let what = if section == "input" {
                "input"
            } else {
                "output"
            };
            let ty = triton_type(v, what)?;
            let dims = triton_dims(v, what, batchable)?;
            let sep = if i + 1 < values.len() { "," } else { "" };
            let _ = writeln!(s, "  {{");
            let _ = writeln!(s, "    name: {}", quote(&v.name));
            let _ = writeln!(s, "    data_type: {ty}");
            if dims.is_empty() {
                // A scalar: Triton wants a non-empty shape, reshaped to rank 0 for the model.
                let _ = writeln!(s, "    dims: [ 1 ]");
                let _ = writeln!(s, "    reshape: {{ shape: [ ] }}");
            } else {
                let list: Vec<String> = dims.iter().map(i64::to_string).collect();
                let _ = writeln!(s, "    dims: [ {} ]", list.join(", "));
            }
            let _ = writeln!(s, "  }}{sep}");
        }
        let _ = writeln!(s, "]");
    }
    if batchable {
        let _ = writeln!(s, "dynamic_batching {{ }}");
    }
    if !model.metadata_props.is_empty() {
        let _ = writeln!(s, "parameters {{");
        let _ = writeln!(s, "  key: \"metadata\"");
        let _ = writeln!(
            s,
            "  value {{ string_value: {} }}",
            quote(&python_dict(&model.metadata_props))
        );
        let _ = writeln!(s, "}}");
    }
    Ok((s, max_batch))
}

/// Writes `REPO/NAME/VERSION/model.onnx` (weights inline) and `REPO/NAME/config.pbtxt`, each
/// through a temporary file renamed into place. The config is made first, so a model Triton
/// cannot describe writes nothing.
pub fn write_repository(model: &Model, repo: &Path, options: &TritonOptions) -> Result<Written> {
    let (config, max_batch_size) = config_pbtxt(model, options)?;
    let version = options.version.max(1);
    let model_dir = repo.join(&options.name).join(version.to_string());
    std::fs::create_dir_all(&model_dir).map_err(|source| DeployError::Io {
        path: model_dir.clone(),
        source,
    })?;
    let model_path = model_dir.join("model.onnx");
    onnxide_ir::save(model, &model_path, &Default::default())?;
    let config_path = repo.join(&options.name).join("config.pbtxt");
    onnxide_ir::write_atomic(&config_path, config.as_bytes())?;
    Ok(Written {
        config: config_path,
        model: model_path,
        max_batch_size,
    })
}

/// Triton model names are folder names; keep them portable.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(DeployError::BadName(name.to_string()))
    }
}

/// Every input starts with one and the same symbolic dim, and every output starts with a dim
/// that is not fixed: Triton may batch over dim 0.
fn is_batchable(inputs: &[ValueInfo], outputs: &[ValueInfo]) -> bool {
    let first = |v: &ValueInfo| v.shape().and_then(|d| d.first().cloned());
    let mut batch = None;
    for v in inputs {
        match first(v) {
            Some(Dim::Param(p)) if batch.as_ref().is_none_or(|b| b == &p) => batch = Some(p),
            _ => return false,
        }
    }
    batch.is_some()
        && !outputs.is_empty()
        && outputs
            .iter()
            .all(|v| matches!(first(v), Some(Dim::Param(_)) | Some(Dim::Unknown)))
}

/// An Ultralytics `nms=True` export unrolls its NMS for `batch` images: that is its batch limit.
fn nms_batch(model: &Model) -> Option<u32> {
    let args = model.metadata("args")?;
    if !args.contains("'nms': True") {
        return None;
    }
    model.metadata("batch")?.trim().parse().ok()
}

fn triton_type(v: &ValueInfo, what: &'static str) -> Result<&'static str> {
    let unsupported = |reason: String| DeployError::Unsupported {
        what,
        name: v.name.clone(),
        reason,
    };
    let dtype = v
        .elem_type()
        .ok_or_else(|| unsupported("not a tensor with a known element type".into()))?;
    Ok(match dtype {
        DType::Bool => "TYPE_BOOL",
        DType::U8 => "TYPE_UINT8",
        DType::U16 => "TYPE_UINT16",
        DType::U32 => "TYPE_UINT32",
        DType::U64 => "TYPE_UINT64",
        DType::I8 => "TYPE_INT8",
        DType::I16 => "TYPE_INT16",
        DType::I32 => "TYPE_INT32",
        DType::I64 => "TYPE_INT64",
        DType::F16 => "TYPE_FP16",
        DType::F32 => "TYPE_FP32",
        DType::F64 => "TYPE_FP64",
        DType::BF16 => "TYPE_BF16",
        DType::String => "TYPE_STRING",
        other => {
            return Err(unsupported(format!(
                "element type {} has no Triton TYPE_*",
                other.short_name()
            )))
        }
    })
}

fn triton_dims(v: &ValueInfo, what: &'static str, batchable: bool) -> Result<Vec<i64>> {
    let shape = v.shape().ok_or_else(|| DeployError::Unsupported {
        what,
        name: v.name.clone(),
        reason: "the file gives no rank (Triton needs one)".into(),
    })?;
    let skip = usize::from(batchable);
    Ok(shape
        .iter()
        .skip(skip)
        .map(|d| match d {
            Dim::Fixed(n) => i64::try_from(*n).unwrap_or(-1),
            Dim::Param(_) | Dim::Unknown => -1,
        })
        .collect())
}

/// A protobuf text-format string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's `str()` of a `dict` of `str` to `str`, in order.
fn python_dict(items: &[(String, String)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{}: {}", python_str(k), python_str(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Python's `repr()` of a `str`: single quotes unless the text has one and no double quote;
/// backslashes, the quote, `\n`, `\r`, `\t` escaped; other control characters as `\xNN`.
fn python_str(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_strings_as_python_writes_them() {
        assert_eq!(python_str("abc"), "'abc'");
        assert_eq!(python_str("it's"), "\"it's\"");
        assert_eq!(python_str("'\""), "'\\'\"'");
        assert_eq!(python_str("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(python_str("\u{1}"), "'\\x01'");
        assert_eq!(
            python_dict(&[
                ("a".into(), "1".into()),
                ("names".into(), "{0: 'x'}".into())
            ]),
            "{'a': '1', 'names': \"{0: 'x'}\"}"
        );
    }

    #[test]
    fn text_format_quoting() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(quote("\u{1}"), "\"\\001\"");
    }

    #[test]
    fn names_are_folder_names() {
        assert!(check_name("yolo11n-seg_v2.1").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", ".."] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
