//! Whole-model conversions for any ONNX model, as passes over `onnxide_ir::rewrite`.
//!
//! - [`float16`]: float32 → float16 the way onnxruntime's
//!   `onnxruntime.transformers.float16.convert_float_to_float16(model, keep_io_types=True)`
//!   does it, node for node (Ultralytics' `half=True` export runs exactly that converter).
//!
//! - [`opset`]: the default-domain opset converted up or down between 7 and 22 (subgraphs included), one adapter per
//!   op and schema boundary; conversions it cannot do exactly fail, naming every node.

pub mod float16;
pub mod opset;

/// What can go wrong converting a model.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Ir(#[from] onnxide_ir::IrError),
    #[error("{node}: {reason}")]
    Unsupported { node: String, reason: String },
    #[error("cannot convert opset {from} to {to}: {}", problems.join("; "))]
    Opset {
        from: i64,
        to: i64,
        problems: Vec<String>,
    },
    #[error("float16 conversion: {0}")]
    Tensor(String),
}

pub type Result<T, E = ConvertError> = std::result::Result<T, E>;
