//! The error type of this crate: every variant names what was wrong (file, layer, tensor, argument).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum YoloError {
    /// The weights file could not be read (missing, truncated, not a checkpoint, ...).
    #[error(transparent)]
    Weights(#[from] onnxide_weights::WeightsError),
    /// The model file does not exist.
    #[error("model file '{}' not found", .0.display())]
    ModelNotFound(PathBuf),
    /// The model config (the checkpoint's `yaml`, or a built-in config name) cannot be used.
    #[error("{origin}: {reason}")]
    Config { origin: String, reason: String },
    /// One layer of the config cannot be built.
    #[error("{origin}: layer {layer} ({module}): {reason}")]
    Layer {
        origin: String,
        layer: usize,
        module: String,
        reason: String,
    },
    /// A weight the architecture needs is not in the checkpoint.
    #[error("{origin}: tensor '{tensor}' is missing (expected shape {expected:?})")]
    MissingTensor {
        origin: String,
        tensor: String,
        expected: Vec<usize>,
    },
    /// A weight has a different shape than the architecture needs.
    #[error("{origin}: tensor '{tensor}' has shape {found:?}, expected {expected:?}")]
    TensorShape {
        origin: String,
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A weight cannot be converted to float32 or holds non-finite values.
    #[error("{origin}: tensor '{tensor}': {reason}")]
    BadTensor {
        origin: String,
        tensor: String,
        reason: String,
    },
    /// The head is a variant of a known one (v10Detect, WorldDetect, YOLOESegment, ...) that
    /// onnxide cannot build.
    #[error("head '{head}' is not supported: onnxide exports the YOLO11 heads Detect, Segment, Pose, OBB and Classify ({origin})")]
    UnsupportedHead { head: String, origin: String },
    /// An export argument has a bad value.
    #[error("invalid argument {key}={value}: {reason}")]
    Argument {
        key: String,
        value: String,
        reason: String,
    },
    /// The export would need a tensor larger than [`crate::args::MAX_INTERMEDIATE_BYTES`] when run.
    #[error("imgsz={h},{w} batch={batch}: the export's largest intermediate, '{value}', would take about {bytes} bytes ({shape}), more than the {limit} bytes onnxide exports for; lower imgsz or batch", h = .imgsz.0, w = .imgsz.1)]
    TooLarge {
        imgsz: (usize, usize),
        batch: usize,
        value: String,
        shape: String,
        bytes: u128,
        limit: u128,
    },
    /// An export argument name onnxide does not know.
    #[error("unknown argument '{key}'{hint}")]
    UnknownArgument { key: String, hint: String },
    /// An argument that is known but not implemented yet.
    #[error("{key}={value} is not supported yet: {reason}")]
    NotYetSupported {
        key: String,
        value: String,
        reason: String,
    },
    /// Building the ONNX graph failed (a bug, reported instead of panicking).
    #[error("graph construction: {0}")]
    Graph(String),
    /// Writing the output failed.
    #[error(transparent)]
    Ir(#[from] onnxide_ir::IrError),
    /// The float16 conversion (`half=True`) failed.
    #[error(transparent)]
    Convert(#[from] onnxide_convert::ConvertError),
}

pub type Result<T, E = YoloError> = std::result::Result<T, E>;
