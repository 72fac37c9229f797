//! `key=value` export arguments with Ultralytics' semantics, shared by `onnxide export` and
//! `cargo xtask export`: the text turned into [`ExportOptions`] (whose limits and validation
//! live in [`crate::options`]), the output path, and the export-to-file run.

use crate::error::{Result, YoloError};
use crate::export::{export, YoloModel};
use crate::options::{self, ExportOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The `--help` text listing every key and its default.
pub const ARGS_HELP: &str = "\
Arguments (key=value, as in `yolo export`; Python-style booleans True/False/true/false):
  model=PATH      (required) yolo11n.pt / best.pt (Ultralytics checkpoint), a .safetensors written by
                  onnxide, or a built-in config name yolo11{n,s,m,l,x}[-seg|-pose|-obb|-cls].yaml
                  (seeded random weights); tasks: detect, segment, pose, obb, classify
  format=onnx     only onnx; close misspellings are corrected with a warning
  imgsz=640       input size: 640 or h,w (e.g. 384,640); rounded up to a multiple of the model's
                  max stride (32; classify models take any size)
  batch=1         static batch size
  dynamic=False   symbolic batch/height/width inputs; anchors computed in the graph
  simplify=True   accepted (the graph is always emitted simplified, as onnxslim leaves it)
  opset=None      ONNX opset, 11..=22 (None = 18)
  device=None     cpu or None: the export is device-independent
  half=False      FP16 weights and activations (float32 I/O with Cast nodes), as Ultralytics
                  exports on the CPU (quantize=16 in the metadata)
  nms=None        True: embedded NMS (Ultralytics' NMSModel; conf 0.25, iou 0.7, max_det 300 baked
                  in; output0 [B, 300, 6 + extras]; opset >= 11, obb >= 14; not for classify;
                  with dynamic=True (not obb) images beyond batch=N get zero rows, so set the
                  largest batch); False/None give the raw output

The output goes next to the model (dir/yolo11n.pt -> dir/yolo11n.onnx; yolo11n.yaml -> ./yolo11n.onnx).
Examples:
  onnxide export model=yolo11n.pt
  onnxide export model=yolo11s.yaml imgsz=320 dynamic=True opset=13";

/// Every key `parse_args` accepts.
pub const KEYS: [&str; 10] = [
    "model", "format", "imgsz", "batch", "dynamic", "simplify", "opset", "device", "half", "nms",
];

/// Ultralytics export arguments onnxide does not take (yet): named as such rather than "unknown".
const ULTRALYTICS_ONLY_KEYS: [&str; 12] = [
    "quantize",
    "int8",
    "data",
    "fraction",
    "workspace",
    "keras",
    "optimize",
    "name",
    "conf",
    "iou",
    "max_det",
    "agnostic_nms",
];

/// Ultralytics' export formats (`export_formats()["Argument"]`) plus the aliases it accepts.
const ULTRALYTICS_FORMATS: [&str; 22] = [
    "torchscript",
    "onnx",
    "openvino",
    "engine",
    "coreml",
    "coreai",
    "saved_model",
    "pb",
    "edgetpu",
    "litert",
    "paddle",
    "mnn",
    "ncnn",
    "imx",
    "rknn",
    "executorch",
    "axelera",
    "deepx",
    "qnn",
    "hailo",
    "ascend",
    "xilinx",
];
const FORMAT_ALIASES: [&str; 14] = [
    "tensorrt",
    "trt",
    "mlmodel",
    "mlpackage",
    "mlprogram",
    "apple",
    "ios",
    "huawei",
    "cann",
    "om",
    "vitis",
    "vitisai",
    "versal",
    "tflite",
];

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

/// `difflib.SequenceMatcher(None, a, b).ratio()`.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    fn matches(a: &[char], b: &[char]) -> usize {
        // Longest common block (earliest in a, then in b), then recurse on both sides.
        let (mut best, mut bi, mut bj) = (0, 0, 0);
        for i in 0..a.len() {
            for j in 0..b.len() {
                let mut k = 0;
                while i + k < a.len() && j + k < b.len() && a[i + k] == b[j + k] {
                    k += 1;
                }
                if k > best {
                    (best, bi, bj) = (k, i, j);
                }
            }
        }
        if best == 0 {
            return 0;
        }
        best + matches(&a[..bi], &b[..bj]) + matches(&a[bi + best..], &b[bj + best..])
    }
    2.0 * matches(&a, &b) as f64 / (a.len() + b.len()) as f64
}

/// The closest candidate with similarity ≥ 0.6 (`difflib.get_close_matches(n=1)`).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // The matcher is cubic in the length: nothing that long is a misspelt key anyway.
    if word.len() > 64 {
        return None;
    }
    candidates
        .iter()
        .map(|c| (similarity(word, c), *c))
        .filter(|(r, _)| *r >= 0.6)
        .fold(None, |best: Option<(f64, &str)>, (r, c)| match best {
            Some((br, _)) if br >= r => best,
            _ => Some((r, c)),
        })
        .map(|(_, c)| c)
}

fn bad(key: &str, value: &str, reason: impl Into<String>) -> YoloError {
    YoloError::Argument {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, v, "expected True or False")),
    }
}

fn is_none(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "none" | "null" | "")
}

fn parse_int(key: &str, v: &str) -> Result<i64> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| bad(key, v, "expected an integer"))
}

/// `640`, `384,640`, `[384, 640]`, `(384,640)` → (h, w), as given: the rounding to the model's
/// stride happens once the model is loaded ([`round_imgsz`]).
fn parse_imgsz(v: &str) -> Result<(usize, usize)> {
    let inner = v
        .trim()
        .trim_start_matches(['[', '('])
        .trim_end_matches([']', ')']);
    let parts: Vec<&str> = inner
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let nums: Vec<i64> = parts
        .iter()
        .map(|p| {
            p.parse::<i64>()
                .map_err(|_| bad("imgsz", v, "expected 640 or h,w such as 384,640"))
        })
        .collect::<Result<_>>()?;
    let (h, w) = match nums.as_slice() {
        [s] => (*s, *s),
        [h, w] => (*h, *w),
        _ => return Err(bad("imgsz", v, "expected one or two integers (640 or h,w)")),
    };
    options::check_imgsz_sides(h, w, v)?;
    Ok((h as usize, w as usize))
}

/// Ultralytics' `check_imgsz`, with the other option rules in [`crate::options`].
pub use crate::options::round_imgsz;

fn parse_format(v: &str, warnings: &mut Vec<String>) -> Result<()> {
    let fmt = v.to_ascii_lowercase();
    if fmt == "onnx" {
        return Ok(());
    }
    let unsupported = |f: &str| {
        bad(
            "format",
            v,
            format!("format='{f}' is not supported by onnxide; supported formats: onnx"),
        )
    };
    if fmt == "pt" {
        return Err(bad(
            "format",
            v,
            "the model is already in PyTorch format; supported formats: onnx",
        ));
    }
    if ULTRALYTICS_FORMATS.contains(&fmt.as_str()) || FORMAT_ALIASES.contains(&fmt.as_str()) {
        return Err(unsupported(&fmt));
    }
    match closest(&fmt, &ULTRALYTICS_FORMATS) {
        Some("onnx") => {
            warnings.push(format!(
                "Invalid export format='{fmt}', updating to format='onnx'"
            ));
            Ok(())
        }
        Some(other) => Err(unsupported(other)),
        None => Err(bad(
            "format",
            v,
            "invalid export format; supported formats: onnx",
        )),
    }
}

/// Parses `key=value` arguments (`model=` is required).
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<ExportRequest> {
    let mut opts = ExportOptions::default();
    let mut model = None;
    let mut warnings = Vec::new();
    for raw in args {
        let raw = raw.as_ref();
        let Some((key, value)) = raw.split_once('=') else {
            return Err(YoloError::UnknownArgument {
                key: raw.into(),
                hint: "; arguments are key=value, e.g. model=yolo11n.pt imgsz=640".into(),
            });
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "model" => {
                if value.is_empty() {
                    return Err(bad(
                        "model",
                        value,
                        "give a .pt/.safetensors file or a yolo11n.yaml name",
                    ));
                }
                model = Some(value.to_string());
            }
            "format" => parse_format(value, &mut warnings)?,
            "imgsz" => opts.imgsz = parse_imgsz(value)?,
            "batch" => {
                let b = parse_int(key, value)?;
                options::check_batch(b, value)?;
                opts.batch = b as usize;
            }
            "dynamic" => opts.dynamic = parse_bool(key, value)?,
            "simplify" => opts.simplify = parse_bool(key, value)?,
            "half" => opts.half = parse_bool(key, value)?,
            "opset" => {
                opts.opset = if is_none(value) {
                    None
                } else {
                    let o = parse_int(key, value)?;
                    options::check_opset(o, value)?;
                    Some(o)
                }
            }
            "nms" => {
                opts.nms = if is_none(value) {
                    None
                } else {
                    Some(parse_bool(key, value)?)
                }
            }
            "device" => {
                if !(is_none(value) || value.eq_ignore_ascii_case("cpu")) {
                    return Err(bad(
                        key,
                        value,
                        "the ONNX export is device-independent and runs on the CPU; use device=cpu or leave it out",
                    ));
                }
            }
            other if ULTRALYTICS_ONLY_KEYS.contains(&other) => {
                return Err(YoloError::NotYetSupported {
                    key: other.into(),
                    value: value.into(),
                    reason: format!(
                        "onnxide's ONNX export does not take '{other}' yet (valid keys: {})",
                        KEYS.join(", ")
                    ),
                });
            }
            other => {
                let hint = match closest(other, &KEYS) {
                    Some(k) => format!("; did you mean '{k}'?"),
                    None => format!("; valid keys: {}", KEYS.join(", ")),
                };
                return Err(YoloError::UnknownArgument {
                    key: other.into(),
                    hint,
                });
            }
        }
    }
    // Refuse unsupported features before any file is read.
    options::refuse_unsupported(&opts)?;
    warnings.extend(options::warnings(&opts));
    let model = model.ok_or_else(|| YoloError::Argument {
        key: "model".into(),
        value: String::new(),
        reason: "required, e.g. model=yolo11n.pt or model=yolo11n.yaml".into(),
    })?;
    Ok(ExportRequest {
        model,
        options: opts,
        warnings,
    })
}

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

/// Loads, builds and writes (temporary file, then rename) the export.
pub fn run_export(req: &ExportRequest) -> Result<ExportSummary> {
    let start = Instant::now();
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
    fn difflib_ratio() {
        assert!((similarity("onx", "onnx") - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(closest("onx", &ULTRALYTICS_FORMATS), Some("onnx"));
        assert_eq!(closest("imgz", &KEYS), Some("imgsz"));
        assert_eq!(closest("zzzz", &KEYS), None);
    }

    #[test]
    fn parses_ultralytics_style_arguments() {
        let r = parse_args(&[
            "model=yolo11n.pt",
            "imgsz=300",
            "dynamic=True",
            "opset=13",
            "format=onx",
        ])
        .unwrap();
        assert_eq!(r.options.imgsz, (300, 300));
        assert!(r.options.dynamic);
        assert_eq!(r.options.opset, Some(13));
        assert_eq!(r.warnings.len(), 1);
        let (sz, warning) = round_imgsz(r.options.imgsz, 32);
        assert_eq!(sz, (320, 320));
        assert!(warning.unwrap().contains("updating to [320, 320]"));
        // Classification models have stride 1: any size is kept, without a warning.
        assert_eq!(round_imgsz((300, 225), 1), ((300, 225), None));
        let r = parse_args(&[
            "model=a.pt",
            "imgsz=[384, 640]",
            "simplify=false",
            "device=cpu",
        ])
        .unwrap();
        assert_eq!(r.options.imgsz, (384, 640));
        assert!(!r.options.simplify);
    }

    #[test]
    fn refuses_bad_arguments() {
        for bad in [
            vec!["model=a.pt", "imgz=640"],
            vec!["model=a.pt", "imgsz=1,2,3"],
            vec!["model=a.pt", "imgsz=-5"],
            vec!["model=a.pt", "format=tflite"],
            vec!["model=a.pt", "device=0"],
            vec!["model=a.pt", "half=True", "nms=True"],
            vec!["model=a.pt", "opset=9"],
            vec!["model=a.pt", "dynamic=yes"],
            vec!["imgsz=640"],
            vec!["model=a.pt", "quantize=8"],
        ] {
            assert!(parse_args(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_arguments_never_panic() {
        let alphabet: Vec<char> = "=,[]() -01239abcdefimnorstxyzTFNé\u{0}/.".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let key = KEYS[(next() % KEYS.len() as u64) as usize];
            let len = (next() % 12) as usize;
            let value: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = parse_args(&[format!("{key}={value}"), "model=m.pt".into()]);
            let _ = parse_args(&[value]);
        }
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
