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
    check_size(&model, &options)?;
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

/// The largest intermediate tensor an export may need when run (16 GiB): beyond it the file
/// would only abort whatever runs it.
pub const MAX_INTERMEDIATE_BYTES: u128 = 16 << 30;

/// Side of the probe export [`check_size`] measures (a multiple of every YOLO11 stride).
const PROBE: usize = 64;

/// Refuses an export whose largest intermediate would exceed [`MAX_INTERMEDIATE_BYTES`]. The
/// same model is exported at 64×64, batch 1, static, without NMS (fast), its value shapes
/// inferred, and each value's size scaled by the requested pixel count and batch (feature maps
/// grow with both). The NMS tail's tensors are not measured (they are at most
/// `batch × anchors × (4 + classes + extras)`, the head output's size).
pub fn check_size(model: &YoloModel, options: &ExportOptions) -> Result<()> {
    let (h, w) = options.imgsz;
    // YOLO11's feature maps take at most a few hundred bytes per input pixel (yolo11x: 96
    // channels at stride 2, 96 B/pixel): up to 2^24 pixels in all (batch 40 at 640) stay far
    // below the bound, and the probe is skipped (the export's time stays as it was).
    if (h as u128 * w as u128) * options.batch as u128 <= 1 << 24 {
        return Ok(());
    }
    let probe_opts = ExportOptions {
        imgsz: (PROBE, PROBE),
        batch: 1,
        dynamic: false,
        nms: None,
        half: false,
        ..options.clone()
    };
    let probe = export(model, &probe_opts)?;
    let Ok(inferred) = onnxide_ir::infer::infer(&probe) else {
        return Ok(()); // nothing to measure with; the export itself decides
    };
    let scale = (h as u128 * w as u128).div_ceil((PROBE * PROBE) as u128);
    let mut largest: Option<(u128, &str, Vec<u64>)> = None;
    // Activations only: node outputs grow with the image, weights do not.
    let activations: std::collections::HashSet<&str> = probe
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type != "Constant")
        .flat_map(|n| n.outputs.iter().map(String::as_str))
        .collect();
    for (name, _) in inferred.iter() {
        if !activations.contains(name) {
            continue;
        }
        let (Some(shape), Some(elem)) = (inferred.static_shape(name), inferred.elem(name)) else {
            continue;
        };
        let n: u128 = shape.iter().map(|&d| d as u128).product();
        let bytes = n * elem.raw_len(1).unwrap_or(4) as u128;
        if largest.as_ref().is_none_or(|(b, _, _)| bytes > *b) {
            largest = Some((bytes, name, shape));
        }
    }
    let Some((probe_bytes, name, shape)) = largest else {
        return Ok(());
    };
    let bytes = probe_bytes * scale * options.batch as u128;
    if bytes > MAX_INTERMEDIATE_BYTES {
        return Err(crate::error::YoloError::TooLarge {
            imgsz: options.imgsz,
            batch: options.batch,
            value: name.to_string(),
            shape: format!("{shape:?} at {PROBE}x{PROBE}, batch 1"),
            bytes,
            limit: MAX_INTERMEDIATE_BYTES,
        });
    }
    Ok(())
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
    fn the_size_bound_refuses_only_unrunnable_exports() {
        let model = YoloModel::from_builtin("yolo11n.yaml", 0).unwrap();
        let at = |imgsz, batch| ExportOptions {
            imgsz,
            batch,
            ..ExportOptions::default()
        };
        // Above the probe's 2^24-pixel threshold (26M pixels), within the bound: accepted.
        check_size(&model, &at((1280, 1280), 16)).unwrap();
        let err = check_size(&model, &at((8192, 8192), 4096)).unwrap_err();
        let text = err.to_string();
        println!("{text}");
        assert!(
            matches!(err, crate::error::YoloError::TooLarge { .. }),
            "{text}"
        );
        assert!(text.contains("imgsz=8192,8192 batch=4096"), "{text}");
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
