//! onnxide's predict pipeline, `yolo predict` on onnxide's executor.
//!
//! decode ([`image`]) → letterbox ([`letterbox`], with OpenCV's exact INTER_LINEAR in [`resize`])
//! → [`onnxide_runtime::Session`] → per-task postprocessing and NMS ([`postprocess`], [`nms`]) →
//! typed [`results`]. [`Predictor`] ties them together:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use onnxide_vision::{decode, PredictOptions, Predictor};
//! let model = onnxide_ir::load(std::path::Path::new("yolo11n.onnx"))?;
//! let predictor = Predictor::new(&model, &Default::default(), PredictOptions::default())?;
//! let image = decode(&std::fs::read("bus.jpg")?)?;
//! for p in predictor.predict(&[image], 1)? {
//!     for d in &p.boxes {
//!         println!("{} {:.2} {:?}", predictor.meta().name(d.class), d.conf, d.xyxy);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod draw;
pub mod error;
pub mod image;
pub mod letterbox;
pub mod meta;
pub mod nms;
pub mod postprocess;
pub mod predictor;
pub mod resize;
pub mod results;

/// The `image` crate, for encoding annotated images.
pub use ::image as image_crate;
pub use error::{Result, VisionError};
pub use image::{decode, BgrImage};
pub use meta::{ModelMeta, Task};
pub use postprocess::Thresholds;
pub use predictor::{PredictOptions, Predictor, Timing};
pub use results::{Detection, Mask, Prediction, RotatedBox};
