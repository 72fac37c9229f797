//! Reading and writing `.onnx` files.

use crate::convert::{model_from_proto, model_to_proto, Source, TensorSink};
use crate::{IrError, Model};
use onnxide_proto::{Message, ModelProto};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How [`save`] writes a model.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    /// Move initializers of at least this many bytes into one external data file.
    pub external_data: Option<ExternalData>,
}

#[derive(Clone, Debug)]
pub struct ExternalData {
    /// File name relative to the model's folder, e.g. `model.onnx.data`.
    pub location: String,
    pub threshold_bytes: usize,
}

/// Reads a model file; external data is read relative to the file's folder.
pub fn load(path: impl AsRef<Path>) -> Result<Model, IrError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    decode_with(
        &bytes,
        &Source {
            path,
            base_dir: base,
        },
    )
}

/// Decodes a model held in memory. External data is refused (there is no folder to read it from).
pub fn decode(bytes: &[u8]) -> Result<Model, IrError> {
    decode_with(
        bytes,
        &Source {
            path: Path::new("<memory>"),
            base_dir: None,
        },
    )
}

fn decode_with(bytes: &[u8], src: &Source) -> Result<Model, IrError> {
    if bytes.is_empty() {
        return Err(IrError::Empty {
            path: src.path.to_path_buf(),
        });
    }
    let proto = ModelProto::decode(bytes).map_err(|e| IrError::NotOnnx {
        path: src.path.to_path_buf(),
        reason: format!("protobuf decoding failed: {e}"),
    })?;
    model_from_proto(proto, src)
}

/// Encodes a model with every tensor inline. The same model always gives the same bytes.
pub fn encode(model: &Model) -> Vec<u8> {
    model_to_proto(model, &mut TensorSink::Inline).encode_to_vec()
}

/// Writes a model (and its external data, if asked) through temporary files renamed into place,
/// so a failure never leaves a half-written output.
pub fn save(model: &Model, path: impl AsRef<Path>, options: &SaveOptions) -> Result<(), IrError> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match &options.external_data {
        None => write_atomic(path, &encode(model)),
        Some(ext) => {
            let mut buffer = Vec::new();
            let proto = model_to_proto(
                model,
                &mut TensorSink::External {
                    location: &ext.location,
                    threshold: ext.threshold_bytes,
                    buffer: &mut buffer,
                },
            );
            write_atomic(&dir.join(&ext.location), &buffer)?;
            write_atomic(path, &proto.encode_to_vec())
        }
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IrError> {
    let io = |source| IrError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries(dir, &file_name);
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Removes `.{file_name}.{pid}.tmp` files an earlier writer of the same file left when it was
/// killed mid-write (its process is gone). Linux only: elsewhere whether the writer still runs
/// is not known, and the files are left alone.
fn remove_stale_temporaries(dir: &Path, file_name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = !Path::new(&format!("/proc/{pid}")).exists();
        if pid != std::process::id() && gone && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
