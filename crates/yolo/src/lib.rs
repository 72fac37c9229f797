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
//! # Opsets
//! 11 to 22 (default 18). The graph takes Ultralytics' per-opset form: `Split` sizes as an
//! attribute below 13 and as an input from 13; below 13 the DFL moves its bins to the last axis
//! around `Softmax` (one more `Transpose`: 321 nodes instead of 320); `Reshape` carries
//! `allowzero=0` from 14; `Resize` gets an empty `roi` input below 13. IR version: 6 (opset 11),
//! 7 (12–14), 8 (15–18), 9 (19–20), 10 (21–22).
//!
//! # Random weights
//! A bare config name (`yolo11s.yaml`) gets seeded random weights (see [`params::RandomParams`]):
//! SplitMix64 per tensor name, seed 0, rounded to float16 like a saved checkpoint, then fused
//! like any checkpoint. [`random_checkpoint`] returns them unfused, so Ultralytics can be given
//! the very same model (`cargo xtask interop reference`).
//!
//! Modules: [`config`] (yaml → layers, Ultralytics' scaling rules), [`params`] (weights,
//! Conv+BN fusion, seeded random init), [`builder`] (graph builder with torch-style names),
//! [`blocks`] (one module per block family), [`nms`] (the `nms=True` tail: Ultralytics'
//! `NMSModel`), [`options`] (export options, their limits and validation), [`mod@export`]
//! (entry point), [`metadata`] (`metadata_props`), [`args`] (the export request the CLI builds
//! from its `key=value` arguments, run to a file).

pub mod args;
pub mod blocks;
pub mod builder;
pub mod config;
mod error;
pub mod export;
pub mod metadata;
pub mod nms;
pub mod options;
pub mod params;

pub use args::{round_imgsz, run_export, ExportRequest, ExportSummary};
pub use error::{Result, YoloError};
pub use export::{count_parameters, export, random_checkpoint, YoloModel};
pub use options::{ExportOptions, DEFAULT_OPSET, MAX_OPSET, MIN_OPSET};
