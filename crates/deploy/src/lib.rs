//! Packaging ONNX files for the places Ultralytics' export guide deploys them.
//!
//! - [`triton`]: a Triton Inference Server model repository (`REPO/NAME/1/model.onnx` and
//!   `REPO/NAME/config.pbtxt`, platform `onnxruntime_onnx`) with the export's metadata as the
//!   `metadata` parameter Ultralytics' Triton client reads.

pub mod triton;

use std::path::PathBuf;

/// What can go wrong while packaging a model.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Reading or writing the model failed.
    #[error(transparent)]
    Ir(#[from] onnxide_ir::IrError),
    /// A graph input or output whose element type Triton has no `TYPE_*` for, or whose type
    /// the file does not give.
    #[error("{what} '{name}': {reason}")]
    Unsupported {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// A model name Triton cannot use as a directory.
    #[error("model name '{0}': use letters, digits, '-', '_' and '.' (not starting with '.')")]
    BadName(String),
    /// Creating the repository's folders failed.
    #[error("{}: cannot create the folder", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`DeployError`].
pub type Result<T> = std::result::Result<T, DeployError>;
