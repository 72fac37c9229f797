//! onnxide's export of each fixture checkpoint against Ultralytics' own ONNX export of it, one
//! case per export listed in `fixtures/manifest.json` (its task, variant and export arguments):
//!
//! - detect, segment, pose, obb: same outputs (onnxruntime; max |Δ| ≤ 1e-3 on coordinates,
//!   ≤ 1e-4 on scores, mask coefficients, mask prototypes, keypoint visibilities and angles), same
//!   I/O names/dtypes/shapes/dim_params, no more nodes, op types a subset, the same metadata (date
//!   aside), and a clean checker run; `nms=True` exports compared row by row (compare_exports.py);
//! - classify: same probabilities (max |Δ| ≤ 1e-6), the same structure, and for static exports the
//!   same op histogram.
//!
//! Static exports run at their input shape on the seeded random input, dynamic ones at the
//! manifest's `dynamic_io_shape`; `nms` exports also on the two letterboxed photos (static) or at
//! two sizes and batch 2 (dynamic). Every case runs even when an earlier one fails; the test
//! prints the cases it ran and the exports compared elsewhere, with their counts.
//!
//! Further down: variants Ultralytics has no fixture for, against its dynamic export, and the
//! fused weights bit for bit.

mod common;

use common::*;
use onnxide_yolo::{ExportOptions, YoloModel};
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `nms=True, dynamic=True` exports run at two sizes and at batch 2: the image side comes from
/// the input shape, and a batch smaller than the export's is padded and sliced back.
const NMS_DYNAMIC_SHAPES: [&str; 3] = ["1,3,640,640", "1,3,480,640", "2,3,640,640"];

/// The photos of `fixtures/images`, letterboxed to 640 (`*_640.npy`, made by
/// `xtask/fixtures/letterbox_images.py`), that every static `nms` export also runs on: many more
/// candidates above conf than noise gives, so NonMaxSuppression has real work and ties.
const NMS_PHOTOS: [&str; 2] = ["bus", "zidane"];

/// Probabilities are in [0, 1]: 1e-6 is far below anything a class ranking could notice.
const CLASSIFY_TOLERANCE: f64 = 1e-6;

/// One comparison: our export of the case's options against Ultralytics' file, on one input.
struct Case {
    /// `<task>/<variant>`, the manifest key.
    export: String,
    task: String,
    opts: ExportOptions,
    /// The input shape the oracle runs both exports at.
    shape: String,
    /// A letterboxed photo (`.npy`) instead of the seeded random input.
    image: Option<PathBuf>,
}

impl Case {
    fn label(&self) -> String {
        let on = match &self.image {
            Some(image) => image
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into(),
            None => "random".to_string(),
        };
        format!("{} [{}] on {on}", self.export, self.shape)
    }
}

/// What the test does with one manifest export.
enum Plan {
    Compare(Vec<Case>),
    /// Compared by another test, named in the reason.
    Elsewhere(String),
}

/// The cases of one manifest export. Panics on an entry it cannot read or an export argument it
/// cannot reproduce: an export the table does not understand is a failure, not a skip.
fn plan(export: &str, entry: &Value, dynamic_shape: &str) -> Plan {
    let kwargs = &entry["export_kwargs"];
    if kwargs["half"] == true {
        return Plan::Elsewhere(
            "half.rs `detect_half_equals_ultralytics` (half_reference.py: also against \
             onnxruntime's FP16 converter)"
                .to_string(),
        );
    }
    let task = entry["task"].as_str().expect("manifest export has a task");
    let opts = options_of(export, kwargs);
    let nms = opts.nms == Some(true);
    let static_shape = || -> String {
        let dims = entry["inputs"][0]["shape"].as_array();
        let dims: Vec<String> = dims
            .expect("manifest export has an input shape")
            .iter()
            .map(|d| d.as_u64().expect("a static input dim").to_string())
            .collect();
        dims.join(",")
    };
    let case = |shape: &str, image: Option<PathBuf>| Case {
        export: export.to_string(),
        task: task.to_string(),
        opts: opts.clone(),
        shape: shape.to_string(),
        image,
    };
    let cases = match (opts.dynamic, nms) {
        (true, true) => NMS_DYNAMIC_SHAPES.iter().map(|s| case(s, None)).collect(),
        (true, false) => vec![case(dynamic_shape, None)],
        (false, true) => {
            let shape = static_shape();
            let photos = NMS_PHOTOS
                .iter()
                .map(|p| Some(fixture(&format!("fixtures/images/{p}_640.npy"))));
            std::iter::once(None)
                .chain(photos)
                .map(|image| case(&shape, image))
                .collect()
        }
        (false, false) => vec![case(&static_shape(), None)],
    };
    Plan::Compare(cases)
}

/// The export options a manifest entry's `export_kwargs` (Ultralytics' `export(...)` arguments)
/// stand for, with the fixtures' pinned date.
fn options_of(export: &str, kwargs: &Value) -> ExportOptions {
    let mut opts = ExportOptions {
        date: Some(PINNED_DATE.into()),
        ..Default::default()
    };
    let kwargs = kwargs
        .as_object()
        .expect("manifest export has export_kwargs");
    let int = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("{export}: {v} is no size"))
    };
    let flag = |v: &Value| {
        v.as_bool()
            .unwrap_or_else(|| panic!("{export}: {v} is no bool"))
    };
    for (key, value) in kwargs {
        match key.as_str() {
            "format" => assert_eq!(value, "onnx", "{export}: format"),
            "imgsz" => {
                opts.imgsz = match value.as_array() {
                    Some(hw) if hw.len() == 2 => (int(&hw[0]) as usize, int(&hw[1]) as usize),
                    _ => (int(value) as usize, int(value) as usize),
                }
            }
            "batch" => opts.batch = int(value) as usize,
            "dynamic" => opts.dynamic = flag(value),
            "opset" => opts.opset = Some(int(value) as i64),
            "nms" => opts.nms = Some(flag(value)),
            "half" => opts.half = flag(value),
            other => panic!("{export}: export argument {other}={value} is not reproduced here"),
        }
    }
    opts
}

#[test]
fn export_arguments_become_export_options() {
    let kwargs = serde_json::json!({
        "format": "onnx", "imgsz": [384, 640], "batch": 2, "dynamic": true, "opset": 13, "nms": true
    });
    let opts = options_of("detect/example", &kwargs);
    assert_eq!(opts.imgsz, (384, 640));
    assert_eq!(
        (opts.batch, opts.dynamic, opts.opset, opts.nms),
        (2, true, Some(13), Some(true))
    );
    assert_eq!(
        options_of("detect/example", &serde_json::json!({"imgsz": 320})).imgsz,
        (320, 320)
    );
}

/// A manifest export the table cannot reproduce fails the test instead of being skipped.
#[test]
#[should_panic(expected = "is not reproduced here")]
fn an_export_argument_the_table_cannot_reproduce_fails() {
    options_of(
        "detect/int8",
        &serde_json::json!({"format": "onnx", "int8": true}),
    );
}

#[test]
fn every_manifest_export_matches_ultralytics() {
    let manifest = manifest();
    let dynamic_shape = manifest["dynamic_io_shape"]
        .as_array()
        .expect("manifest has dynamic_io_shape")
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let exports = manifest["exports"]
        .as_object()
        .expect("manifest has exports");
    let (mut cases, mut elsewhere) = (Vec::new(), Vec::new());
    for (export, entry) in exports {
        match plan(export, entry, &dynamic_shape) {
            Plan::Compare(c) => cases.extend(c),
            Plan::Elsewhere(reason) => elsewhere.push(format!("{export}: {reason}")),
        }
    }
    println!(
        "{} cases from {} manifest exports:",
        cases.len(),
        exports.len()
    );
    for case in &cases {
        println!("  {}", case.label());
    }
    println!("{} exports compared elsewhere:", elsewhere.len());
    for e in &elsewhere {
        println!("  {e}");
    }
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| compare(case)));
            outcome
                .err()
                .map(|p| format!("{}: {}", case.label(), panic_text(&p)))
        })
        .collect();
    println!(
        "{} cases: {} ok, {} failed",
        cases.len(),
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Exports the case and runs compare_exports.py on ours and Ultralytics' file.
fn compare(case: &Case) {
    let variant = case.export.split_once('/').map_or("", |(_, v)| v);
    let theirs = fixture(&format!("fixtures/exports/{}.onnx", case.export));
    let dir = tempfile::tempdir().unwrap();
    let model = task_model(&case.task);
    let ours = export_to(model, &case.opts, dir.path(), &format!("{variant}.onnx"));
    let nc = model.names().len().to_string();
    let mut args = vec![
        "--ours",
        ours.to_str().unwrap(),
        "--theirs",
        theirs.to_str().unwrap(),
        "--shape",
        &case.shape,
    ];
    if case.task == "classify" {
        let r = compare_exports(&args);
        return check_classify(case, &r);
    }
    args.extend(["--layout", case.task.as_str(), "--nc", nc.as_str()]);
    if case.opts.nms == Some(true) {
        args.push("--nms");
    }
    if let Some(image) = &case.image {
        args.extend(["--image", image.to_str().unwrap()]);
    }
    let r = compare_exports(&args);
    check_detection(case, &r);
}

/// detect, segment, pose and obb: the outputs part by part, NMS rows, and the structure.
fn check_detection(case: &Case, r: &Value) {
    let what = case.label();
    if case.opts.nms == Some(true) {
        eprintln!("{what}: {}", r["nms"]);
        assert_eq!(r["nms"]["class_mismatch"], 0, "{what}: class ids");
        let rows = r["nms"]["rows"].as_array().expect("rows per image");
        assert!(
            rows.iter().all(|n| n.as_u64() > Some(0)),
            "{what}: the input must give detections for the comparison to mean anything"
        );
    }
    let (o, t) = (&r["ours"], &r["theirs"]);
    let delta = max_abs(r);
    eprintln!(
        "{what}: max|Δ| {delta:e} {}, nodes {} vs Ultralytics {}, initializers {}",
        r["parts"], o["nodes"], t["nodes"], o["initializers"]
    );
    assert_eq!(r["checker"], "ok", "{what}: onnx.checker");
    assert!(delta <= 1e-3, "{what}: max |Δ| {delta}");
    assert_parts_within_limits(r, &what);
    assert_same_structure(&what, o, t, !case.opts.dynamic);
}

/// Coordinates (`box`, `kpt_xy`) within 1e-3, every other part within 1e-4.
fn assert_parts_within_limits(r: &Value, what: &str) {
    for (part, d) in r["parts"].as_object().expect("per-part |Δ|") {
        let limit = if matches!(part.as_str(), "box" | "kpt_xy") {
            1e-3
        } else {
            1e-4
        };
        let d = d.as_f64().unwrap();
        assert!(d <= limit, "{what}: {part} max |Δ| {d} > {limit}");
    }
}

/// classify: the probabilities, finiteness, the structure and (static) the op histogram.
fn check_classify(case: &Case, r: &Value) {
    let what = case.label();
    let (o, t) = (&r["ours"], &r["theirs"]);
    let delta = max_abs(r);
    eprintln!(
        "{what}: max|Δ| {delta:e}, nodes {} vs Ultralytics {}",
        o["nodes"], t["nodes"]
    );
    assert_eq!(r["checker"], "ok", "{what}: onnx.checker");
    assert_eq!(r["finite"], true, "{what}: finite");
    assert!(delta <= CLASSIFY_TOLERANCE, "{what}: max |Δ| {delta}");
    assert_same_structure(&what, o, t, !case.opts.dynamic);
    if !case.opts.dynamic {
        assert_eq!(o["ops"], t["ops"], "{what}: op histogram");
    }
}

/// The fixture checkpoint of a task (`fixtures/manifest.json` → `checkpoints`), loaded once.
fn task_model(task: &str) -> &'static YoloModel {
    static DETECT: OnceLock<YoloModel> = OnceLock::new();
    static SEGMENT: OnceLock<YoloModel> = OnceLock::new();
    static POSE: OnceLock<YoloModel> = OnceLock::new();
    static OBB: OnceLock<YoloModel> = OnceLock::new();
    static CLASSIFY: OnceLock<YoloModel> = OnceLock::new();
    let cell = match task {
        "detect" => &DETECT,
        "segment" => &SEGMENT,
        "pose" => &POSE,
        "obb" => &OBB,
        "classify" => &CLASSIFY,
        _ => panic!("no fixture checkpoint for task {task}"),
    };
    cell.get_or_init(|| {
        let rel = manifest()["checkpoints"][task]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("manifest has no checkpoint for {task}"))
            .to_string();
        let pt = fixture(&rel);
        YoloModel::load(pt.to_str().expect("utf-8 path")).expect(&rel)
    })
}

fn model() -> &'static YoloModel {
    task_model("detect")
}

/// Ultralytics fuses Conv+BN in float32 after upcasting the float16 weights; so does onnxide,
/// so every fused weight must be bit-identical to the initializers of Ultralytics' file.
#[test]
fn fused_weights_are_bit_identical() {
    let theirs = onnxide_ir::load(fixture("fixtures/exports/detect/default.onnx")).unwrap();
    let ours = onnxide_yolo::export(model(), &ExportOptions::default()).unwrap();
    let compared = assert_weights_bit_identical("detect", &ours, &theirs);
    assert_eq!(compared, 175, "88 conv weights + 87 biases");
}

/// The same for the segment, pose and obb heads: every `model.*` initializer of Ultralytics'
/// export (including the `cv4` branch: 97 conv weights + 96 biases; segment also the proto's 3
/// convs and its ConvTranspose upsample: 101 weights + 100 biases) is in ours, bit for bit, and
/// ours has no other.
#[test]
fn segment_pose_and_obb_fused_weights_are_bit_identical() {
    for (task, expected) in [("segment", 201), ("pose", 193), ("obb", 193)] {
        let theirs =
            onnxide_ir::load(fixture(&format!("fixtures/exports/{task}/default.onnx"))).unwrap();
        let ours = onnxide_yolo::export(task_model(task), &ExportOptions::default()).unwrap();
        let weights = |m: &onnxide_ir::Model| -> Vec<String> {
            let mut names: Vec<String> = m
                .graph
                .initializers
                .iter()
                .map(|t| t.name.clone())
                .filter(|n| n.starts_with("model."))
                .collect();
            names.sort();
            names
        };
        assert_eq!(weights(&ours), weights(&theirs), "{task}: weight names");
        assert_weights_bit_identical(task, &ours, &theirs);
        assert_eq!(weights(&ours).len(), expected, "{task}: weight count");
    }
}

/// Static variants Ultralytics has no fixture for (other opsets, sizes, batches), checked against
/// its dynamic export, which runs at any batch and size: same outputs, a clean checker, fixed
/// output shapes, and ops a subset of Ultralytics'.
fn check_against_dynamic(task: &str, opts: ExportOptions, input_shape: &str) {
    let theirs = fixture(&format!("fixtures/exports/{task}/dynamic.onnx"));
    let dir = tempfile::tempdir().unwrap();
    let model = task_model(task);
    let ours = export_to(model, &opts, dir.path(), "static.onnx");
    let nc = model.names().len().to_string();
    let r = compare_exports(&[
        "--ours",
        ours.to_str().unwrap(),
        "--theirs",
        theirs.to_str().unwrap(),
        "--shape",
        input_shape,
        "--layout",
        task,
        "--nc",
        &nc,
    ]);
    let what = format!("{task} {opts:?}");
    let delta = max_abs(&r);
    eprintln!(
        "{task} opset {} imgsz {:?} batch {}: max|Δ| {delta:e} {}, nodes {}",
        opts.opset(),
        opts.imgsz,
        opts.batch,
        r["parts"],
        r["ours"]["nodes"]
    );
    assert_eq!(r["checker"], "ok", "{what}: onnx.checker");
    assert_parts_within_limits(&r, &what);
    let shape: Vec<u64> = input_shape.split(',').map(|s| s.parse().unwrap()).collect();
    let anchors: u64 = [8, 16, 32]
        .iter()
        .map(|s| (shape[2] / s) * (shape[3] / s))
        .sum();
    let no = match task {
        "pose" => 135,
        "segment" => 116,
        _ => 85,
    };
    assert_eq!(
        r["ours"]["outputs"][0]["shape"],
        serde_json::json!([shape[0], no, anchors]),
        "{what}: output shape"
    );
    if task == "segment" {
        assert_eq!(
            r["ours"]["outputs"][1]["shape"],
            serde_json::json!([shape[0], 32, shape[2] / 4, shape[3] / 4]),
            "{what}: prototype shape"
        );
    }
    let their_ops = r["theirs"]["ops"].as_object().unwrap();
    for op in r["ours"]["ops"].as_object().unwrap().keys() {
        assert!(their_ops.contains_key(op), "{what}: op {op}");
    }
}

#[test]
fn segment_pose_and_obb_static_variants_match_the_dynamic_export() {
    for task in ["segment", "pose", "obb"] {
        for opset in [11, 13, 17] {
            let opts = ExportOptions {
                opset: Some(opset),
                ..Default::default()
            };
            check_against_dynamic(task, opts, "1,3,640,640");
        }
        let opts = ExportOptions {
            imgsz: (384, 640),
            batch: 2,
            ..Default::default()
        };
        check_against_dynamic(task, opts, "2,3,384,640");
        let opts = ExportOptions {
            imgsz: (320, 320),
            ..Default::default()
        };
        check_against_dynamic(task, opts, "1,3,320,320");
    }
}

/// Opset 11 has no integer `Clip`: the batch padding is clipped as float (as torch does). Checked
/// against our opset-18 export (itself equal to Ultralytics'; an Ultralytics opset-11 file gave
/// |Δ| 0 too, 501 vs 543 nodes).
#[test]
fn nms_dynamic_opset11() {
    let dir = tempfile::tempdir().unwrap();
    let base = ExportOptions {
        nms: Some(true),
        dynamic: true,
        batch: 2,
        date: Some(PINNED_DATE.into()),
        ..Default::default()
    };
    let op11 = ExportOptions {
        opset: Some(11),
        ..base.clone()
    };
    let a = export_to(model(), &op11, dir.path(), "op11.onnx");
    let b = export_to(model(), &base, dir.path(), "op18.onnx");
    for shape in ["1,3,480,640", "2,3,640,640"] {
        let r = compare_exports(&[
            "--ours",
            a.to_str().unwrap(),
            "--theirs",
            b.to_str().unwrap(),
            "--shape",
            shape,
            "--layout",
            "detect",
            "--nms",
        ]);
        assert_eq!(r["checker"], "ok", "{shape}");
        assert_eq!(r["nms"]["class_mismatch"], 0, "{shape}");
        let delta = max_abs(&r);
        assert!(delta <= 1e-4, "{shape}: max |Δ| {delta}");
    }
}
