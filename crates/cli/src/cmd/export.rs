//! `onnxide export model=yolo11n.pt [key=value ...]`: YOLO11 / YOLOv8 → ONNX like `yolo export format=onnx`.
//! The `key=value` text is read here, into onnxide-yolo's typed `ExportOptions`.

use crate::keyvalue::{self, invalid, is_none, parse_bool, parse_int};
use anyhow::Result;
use onnxide_yolo::options::{check_batch, check_imgsz_sides, check_opset, refuse_unsupported};
use onnxide_yolo::{ExportOptions, ExportRequest};

/// The `--help` text listing every key and its default.
const ARGS_HELP: &str = "\
Arguments (key=value, as in `yolo export`; Python-style booleans True/False/true/false):
  model=PATH      (required) yolo11n.pt / yolov8n.pt / best.pt (Ultralytics checkpoint), a
                  .safetensors written by onnxide, or a built-in config name
                  yolo11{n,s,m,l,x}[-seg|-pose|-obb|-cls].yaml or yolov8{n,s,m,l,x}[...].yaml
                  (seeded random weights). Families: YOLO11 and YOLOv8, every task (detect, segment,
                  pose, obb, classify); not yet YOLOv10, YOLO12, YOLO26 (refused with the module named)
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
A misspelt key gets a suggestion (imgz=640: did you mean 'imgsz'?).

The output goes next to the model (dir/yolo11n.pt -> dir/yolo11n.onnx; yolo11n.yaml -> ./yolo11n.onnx).
Examples:
  onnxide export model=yolo11n.pt
  onnxide export model=yolo11s.yaml imgsz=320 dynamic=True opset=13";

/// Every key `export` takes.
const KEYS: [&str; 10] = [
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

/// Export a YOLO11 model to ONNX, numerically equal to Ultralytics' export (no Python needed).
#[derive(clap::Args)]
#[command(after_help = ARGS_HELP)]
pub struct Args {
    /// Export arguments as key=value (model=yolo11n.pt imgsz=640 ...); see the list below.
    #[arg(value_name = "KEY=VALUE", required = true, num_args = 1..)]
    args: Vec<String>,
}

pub fn main(args: Args) -> Result<()> {
    let request = parse_request(&args.args)?;
    for w in &request.warnings {
        eprintln!("warning: {w}");
    }
    let summary = onnxide_yolo::run_export(&request)?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", summary.line());
    Ok(())
}

/// Reads `key=value` export arguments (`model=` is required) into a request; unsupported
/// combinations are refused here, before any file is read.
pub fn parse_request<S: AsRef<str>>(args: &[S]) -> Result<ExportRequest> {
    let mut options = ExportOptions::default();
    let mut model = None;
    let mut warnings = Vec::new();
    for (key, value) in keyvalue::parse(args, &KEYS, &ULTRALYTICS_ONLY_KEYS)? {
        match key {
            "model" if value.is_empty() => {
                return Err(invalid(
                    key,
                    value,
                    "give a .pt/.safetensors file or a yolo11n.yaml name",
                ))
            }
            "model" => model = Some(value.to_string()),
            "format" => parse_format(value, &mut warnings)?,
            "imgsz" => options.imgsz = parse_imgsz(value)?,
            "batch" => options.batch = parse_batch(value)?,
            "dynamic" => options.dynamic = parse_bool(key, value)?,
            "simplify" => options.simplify = parse_bool(key, value)?,
            "half" => options.half = parse_bool(key, value)?,
            "opset" => options.opset = parse_opset(value)?,
            "nms" if is_none(value) => options.nms = None,
            "nms" => options.nms = Some(parse_bool(key, value)?),
            "device" if is_none(value) || value.eq_ignore_ascii_case("cpu") => {}
            "device" => {
                return Err(invalid(
                    key,
                    value,
                    "the ONNX export is device-independent and runs on the CPU; use device=cpu or leave it out",
                ))
            }
            other => return Err(anyhow::anyhow!("unknown argument '{other}'")),
        }
    }
    refuse_unsupported(&options)?;
    warnings.extend(onnxide_yolo::options::warnings(&options));
    let model = model.ok_or_else(|| {
        invalid(
            "model",
            "",
            "required, e.g. model=yolo11n.pt or model=yolo11n.yaml",
        )
    })?;
    Ok(ExportRequest {
        model,
        options,
        warnings,
    })
}

/// `640`, `384,640`, `[384, 640]`, `(384,640)` → (h, w), as given: the rounding to the model's
/// stride happens once the model is loaded (`onnxide_yolo::round_imgsz`).
fn parse_imgsz(value: &str) -> Result<(usize, usize)> {
    let inner = value
        .trim()
        .trim_start_matches(['[', '('])
        .trim_end_matches([']', ')']);
    let sides = inner
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|side| {
            side.parse::<i64>()
                .map_err(|_| invalid("imgsz", value, "expected 640 or h,w such as 384,640"))
        })
        .collect::<Result<Vec<i64>>>()?;
    let (h, w) = match sides.as_slice() {
        [s] => (*s, *s),
        [h, w] => (*h, *w),
        _ => {
            return Err(invalid(
                "imgsz",
                value,
                "expected one or two integers (640 or h,w)",
            ))
        }
    };
    check_imgsz_sides(h, w, value)?;
    Ok((h as usize, w as usize))
}

fn parse_batch(value: &str) -> Result<usize> {
    let batch = parse_int("batch", value)?;
    check_batch(batch, value)?;
    Ok(batch as usize)
}

fn parse_opset(value: &str) -> Result<Option<i64>> {
    if is_none(value) {
        return Ok(None);
    }
    let opset = parse_int("opset", value)?;
    check_opset(opset, value)?;
    Ok(Some(opset))
}

/// `format=onnx`; Ultralytics' other formats are refused by name, and a close misspelling of
/// `onnx` is corrected with Ultralytics' warning.
fn parse_format(value: &str, warnings: &mut Vec<String>) -> Result<()> {
    let format = value.to_ascii_lowercase();
    if format == "onnx" {
        return Ok(());
    }
    let unsupported = |f: &str| {
        invalid(
            "format",
            value,
            format!("format='{f}' is not supported by onnxide; supported formats: onnx"),
        )
    };
    if format == "pt" {
        return Err(invalid(
            "format",
            value,
            "the model is already in PyTorch format; supported formats: onnx",
        ));
    }
    if ULTRALYTICS_FORMATS.contains(&format.as_str()) || FORMAT_ALIASES.contains(&format.as_str()) {
        return Err(unsupported(&format));
    }
    match keyvalue::closest(&format, &ULTRALYTICS_FORMATS) {
        Some("onnx") => {
            warnings.push(format!(
                "Invalid export format='{format}', updating to format='onnx'"
            ));
            Ok(())
        }
        Some(other) => Err(unsupported(other)),
        None => Err(invalid(
            "format",
            value,
            "invalid export format; supported formats: onnx",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ultralytics_style_arguments() {
        let r = parse_request(&[
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
        let r = parse_request(&[
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
            assert!(parse_request(&bad).is_err(), "{bad:?}");
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
            let _ = parse_request(&[format!("{key}={value}"), "model=m.pt".into()]);
            let _ = parse_request(&[value]);
        }
    }
}
