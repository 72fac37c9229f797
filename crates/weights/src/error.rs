//! Error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing weights.
///
/// Every variant names the file; pickle errors also carry the byte offset of the
/// opcode inside `data.pkl`, and storage errors the storage key.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be opened, read or written. The cause is the `source`, not part of
    /// this message, so that a printed chain (`{:#}`, the CLI's one line) shows it once.
    #[error("{path}: I/O error")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is neither a torch zip checkpoint nor a safetensors file.
    #[error("{path}: not a weights file: {reason}")]
    UnknownFormat { path: PathBuf, reason: String },
    /// A torch checkpoint in the legacy (pre-1.6, non-zip) serialization format.
    #[error(
        "{path}: this is a legacy (non-zip) torch checkpoint, which onnxide does not read; \
         re-save it once with a recent torch: \
         python -c \"import torch; torch.save(torch.load('{file}', weights_only=False), 'resaved.pt')\" \
         (only do this for a file you trust: torch.load runs code from the file)"
    )]
    LegacyTorchFormat { path: PathBuf, file: String },
    /// The zip container is damaged or is missing an entry torch always writes.
    #[error("{path}: bad torch zip archive: {reason}")]
    Zip { path: PathBuf, reason: String },
    /// The pickle program in `data.pkl` is malformed or uses something unsupported.
    #[error("{path}: data.pkl offset {offset}: {reason}")]
    Pickle {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    /// The pickle referenced a global that is not on the allow-list. Nothing was executed.
    #[error(
        "{path}: data.pkl offset {offset}: refused global `{global}`: not on onnxide's allow-list \
         of torch/Ultralytics classes (nothing from the file was executed)"
    )]
    ForbiddenGlobal {
        path: PathBuf,
        offset: usize,
        global: String,
    },
    /// A tensor storage is missing, too small for what the pickle declares, or a view
    /// reaches outside it.
    #[error("{path}: storage `{key}`: {reason}")]
    Storage {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// The checkpoint decoded, but its structure is not an Ultralytics checkpoint.
    #[error("{path}: {reason}")]
    Structure { path: PathBuf, reason: String },
    /// The safetensors file is malformed.
    #[error("{path}: bad safetensors file: {reason}")]
    SafeTensors { path: PathBuf, reason: String },
    /// A tensor cannot be converted as asked.
    #[error("tensor conversion: {0}")]
    Convert(String),
}

pub(crate) fn io_err(path: &std::path::Path, source: std::io::Error) -> WeightsError {
    WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}
