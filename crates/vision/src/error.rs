//! The one error type of the crate.

use thiserror::Error;

/// What can go wrong reading an image, a model's metadata or its outputs.
#[derive(Debug, Error)]
pub enum VisionError {
    /// The bytes are not an image this crate decodes (jpg, png, bmp, webp, tiff).
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// An image larger than the decoder limit (width × height).
    #[error("image too large: {width}x{height} (at most {max} pixels)")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// The pixel limit.
        max: usize,
    },
    /// An image with no pixels.
    #[error("empty image ({width}x{height})")]
    Empty {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// The model's metadata is missing something the pipeline needs, or cannot be read.
    #[error("model metadata: {0}")]
    Metadata(String),
    /// The model's inputs or outputs are not what an Ultralytics export has.
    #[error("model: {0}")]
    Model(String),
    /// A setting out of its range.
    #[error("invalid setting: {0}")]
    Setting(String),
    /// The executor failed.
    #[error("inference: {0}")]
    Runtime(#[from] onnxide_runtime::RuntimeError),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, VisionError>;
