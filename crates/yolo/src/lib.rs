//! YOLO11 → ONNX without Python: the graph Ultralytics' `yolo export format=onnx` produces
//! (after onnxslim), built directly from a checkpoint or from a built-in config.
//!
//! ```no_run
//! use onnxide_yolo::{export, ExportOptions, YoloModel};
//! let model = YoloModel::load("yolo11n.pt")?;
//! let onnx = export(&model, &ExportOptions::default())?;
//! onnxide_ir::save(&onnx, "yolo11n.onnx", &Default::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`config`] (yaml → layers, Ultralytics' scaling rules), [`params`] (weights,
//! Conv+BN fusion, seeded random init), [`builder`] (graph builder with torch-style names),
//! [`blocks`] (one module per block family), [`export`] (entry point), [`metadata`]
//! (`metadata_props`), [`args`] (`key=value` arguments as the CLI takes them).

pub mod args;
pub mod blocks;
pub mod builder;
pub mod config;
mod error;
pub mod export;
pub mod metadata;
pub mod params;

pub use args::{parse_args, run_export, ExportRequest, ExportSummary, ARGS_HELP};
pub use error::{Result, YoloError};
pub use export::{
    count_parameters, export, random_checkpoint, ExportOptions, YoloModel, DEFAULT_OPSET,
    MAX_OPSET, MIN_OPSET,
};
