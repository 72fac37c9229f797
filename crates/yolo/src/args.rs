//! An export request as the CLI hands it over (the CLI reads the `key=value` text into typed
//! options, whose limits and validation live in [`crate::options`]): the output path and the
//! export-to-file run.

use crate::error::Result;
use crate::export::{export, YoloModel};
use crate::options::ExportOptions;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A parsed `export` command line.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    pub model: String,
    pub options: ExportOptions,
    /// Things corrected on the way (format spelling, imgsz rounding), to print as warnings.
    pub warnings: Vec<String>,
}

/// What one export did.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub output: PathBuf,
    pub bytes: u64,
    pub seconds: f64,
    pub nodes: usize,
    pub opset: i64,
    /// Corrections made once the model was known (imgsz rounded to its stride), to print as
    /// warnings.
    pub warnings: Vec<String>,
}

impl ExportSummary {
    /// The one-line summary the CLI prints.
    pub fn line(&self) -> String {
        format!(
            "onnxide export: saved {} ({:.1} MB, {} nodes, opset {}) in {:.2} s",
            self.output.display(),
            self.bytes as f64 / 1e6,
            self.nodes,
            self.opset,
            self.seconds
        )
    }
}

pub use crate::options::round_imgsz;

/// Where Ultralytics writes the export: next to a weights file, or in the current folder for a
/// config name.
pub fn output_path(model: &str) -> PathBuf {
    let p = Path::new(model);
    if model.ends_with(".yaml") || model.ends_with(".yml") {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        PathBuf::from(format!("{stem}.onnx"))
    } else {
        p.with_extension("onnx")
    }
}

/// Loads, builds and writes (temporary file, then rename) the export. Unsupported option
/// combinations are refused before the model file is read.
pub fn run_export(req: &ExportRequest) -> Result<ExportSummary> {
    let start = Instant::now();
    crate::options::refuse_unsupported(&req.options)?;
    let model = YoloModel::load(&req.model)?;
    let mut options = req.options.clone();
    let (imgsz, warning) = round_imgsz(options.imgsz, model.config().imgsz_multiple());
    options.imgsz = imgsz;
    let onnx = export(&model, &options)?;
    let output = output_path(&req.model);
    let bytes = onnxide_ir::encode(&onnx);
    onnxide_ir::write_atomic(&output, &bytes)?;
    Ok(ExportSummary {
        output,
        bytes: bytes.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        nodes: onnx.graph.nodes.len(),
        opset: req.options.opset(),
        warnings: warning.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imgsz_rounds_up_to_the_stride() {
        let (sz, warning) = round_imgsz((300, 300), 32);
        assert_eq!(sz, (320, 320));
        assert!(warning.unwrap().contains("updating to [320, 320]"));
        // Classification models have stride 1: any size is kept, without a warning.
        assert_eq!(round_imgsz((300, 225), 1), ((300, 225), None));
    }

    #[test]
    fn output_next_to_the_model() {
        assert_eq!(
            output_path("dir/yolo11n.pt"),
            PathBuf::from("dir/yolo11n.onnx")
        );
        assert_eq!(
            output_path("cfg/yolo11n.yaml"),
            PathBuf::from("yolo11n.onnx")
        );
    }
}
