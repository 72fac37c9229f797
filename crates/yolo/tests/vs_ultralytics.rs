//! onnxide's export of each fixture checkpoint (detect, segment, pose, obb) against Ultralytics'
//! own ONNX export of it: same outputs (onnxruntime; max |Δ| ≤ 1e-3 on coordinates, ≤ 1e-4 on
//! scores, mask coefficients, mask prototypes, keypoint visibilities and angles), same I/O names/dtypes/shapes/dim_params, no more nodes, op
//! types a subset, the same metadata (date aside), and a clean checker run.

mod common;

use common::*;
use onnxide_yolo::{ExportOptions, YoloModel};
use std::sync::OnceLock;

fn load(file: &str) -> YoloModel {
    let pt = fixture(&format!("fixtures/checkpoints/{file}"));
    YoloModel::load(pt.to_str().expect("utf-8 path")).expect(file)
}

fn model() -> &'static YoloModel {
    static MODEL: OnceLock<YoloModel> = OnceLock::new();
    MODEL.get_or_init(|| load("yolo11n.pt"))
}

/// The fixture checkpoint of a task.
fn task_model(task: &str) -> &'static YoloModel {
    static SEGMENT: OnceLock<YoloModel> = OnceLock::new();
    static POSE: OnceLock<YoloModel> = OnceLock::new();
    static OBB: OnceLock<YoloModel> = OnceLock::new();
    match task {
        "detect" => model(),
        "segment" => SEGMENT.get_or_init(|| load("yolo11n-seg.pt")),
        "pose" => POSE.get_or_init(|| load("yolo11n-pose.pt")),
        "obb" => OBB.get_or_init(|| load("yolo11n-obb.pt")),
        _ => panic!("no fixture model for {task}"),
    }
}

fn check(variant: &str, opts: ExportOptions, input_shape: &str) {
    check_task("detect", variant, opts, input_shape);
}

fn check_task(task: &str, variant: &str, opts: ExportOptions, input_shape: &str) {
    check_task_on(task, variant, opts, input_shape, None);
}

/// As [`check_task`], on `image` (letterboxed like Ultralytics' predict) when given instead of the
/// seeded random input. `nms=True` exports are compared row by row (see compare_exports.py).
fn check_task_on(
    task: &str,
    variant: &str,
    opts: ExportOptions,
    input_shape: &str,
    image: Option<&str>,
) {
    let theirs = fixture(&format!("fixtures/exports/{task}/{variant}.onnx"));
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        date: Some(PINNED_DATE.into()),
        ..opts
    };
    let model = task_model(task);
    let ours = export_to(model, &opts, dir.path(), &format!("{variant}.onnx"));
    let nc = model.names().len().to_string();
    let mut args = vec![
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
    ];
    let nms = opts.nms == Some(true);
    if nms {
        args.push("--nms");
    }
    if let Some(image) = image {
        args.extend(["--image", image]);
    }
    let r = compare_exports(&args);
    let variant = &match image {
        Some(image) => format!("{task}/{variant} on {image}"),
        None => format!("{task}/{variant}"),
    };
    if nms {
        eprintln!("{variant}: {}", r["nms"]);
        assert_eq!(r["nms"]["class_mismatch"], 0, "{variant}: class ids");
        let rows = r["nms"]["rows"].as_array().expect("rows per image");
        assert!(
            rows.iter().all(|n| n.as_u64() > Some(0)),
            "{variant}: the input must give detections for the comparison to mean anything"
        );
    }
    let (o, t) = (&r["ours"], &r["theirs"]);
    let delta = max_abs(&r);
    eprintln!(
        "{variant}: max|Δ| {delta:e} {}, nodes {} vs Ultralytics {}, initializers {}",
        r["parts"], o["nodes"], t["nodes"], o["initializers"]
    );
    assert_eq!(r["checker"], "ok", "{variant}: onnx.checker");
    assert!(delta <= 1e-3, "{variant}: max |Δ| {delta}");
    let parts = r["parts"].as_object().expect("per-part |Δ|");
    for (part, d) in parts {
        let limit = if matches!(part.as_str(), "box" | "kpt_xy") {
            1e-3
        } else {
            1e-4
        };
        let d = d.as_f64().unwrap();
        assert!(d <= limit, "{variant}: {part} max |Δ| {d} > {limit}");
    }
    assert_same_structure(variant, o, t, !opts.dynamic);
}

#[test]
fn default_640() {
    check("default", ExportOptions::default(), "1,3,640,640");
}

#[test]
fn imgsz_320() {
    let opts = ExportOptions {
        imgsz: (320, 320),
        ..Default::default()
    };
    check("imgsz320", opts, "1,3,320,320");
}

#[test]
fn imgsz_384x640() {
    let opts = ExportOptions {
        imgsz: (384, 640),
        ..Default::default()
    };
    check("imgsz384x640", opts, "1,3,384,640");
}

#[test]
fn dynamic_run_at_batch_2() {
    let opts = ExportOptions {
        dynamic: true,
        ..Default::default()
    };
    check("dynamic", opts, "2,3,96,160");
}

#[test]
fn static_batch_4() {
    let opts = ExportOptions {
        batch: 4,
        ..Default::default()
    };
    check("batch4", opts, "4,3,640,640");
}

#[test]
fn opset_11() {
    let opts = ExportOptions {
        opset: Some(11),
        ..Default::default()
    };
    check("opset11", opts, "1,3,640,640");
}

#[test]
fn opset_13() {
    let opts = ExportOptions {
        opset: Some(13),
        ..Default::default()
    };
    check("opset13", opts, "1,3,640,640");
}

#[test]
fn opset_17() {
    let opts = ExportOptions {
        opset: Some(17),
        ..Default::default()
    };
    check("opset17", opts, "1,3,640,640");
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

#[test]
fn segment_default_640() {
    check_task(
        "segment",
        "default",
        ExportOptions::default(),
        "1,3,640,640",
    );
}

#[test]
fn segment_dynamic_run_at_batch_2() {
    let opts = ExportOptions {
        dynamic: true,
        ..Default::default()
    };
    check_task("segment", "dynamic", opts, "2,3,96,160");
}

#[test]
fn pose_default_640() {
    check_task("pose", "default", ExportOptions::default(), "1,3,640,640");
}

#[test]
fn pose_dynamic_run_at_batch_2() {
    let opts = ExportOptions {
        dynamic: true,
        ..Default::default()
    };
    check_task("pose", "dynamic", opts, "2,3,96,160");
}

#[test]
fn obb_default_640() {
    check_task("obb", "default", ExportOptions::default(), "1,3,640,640");
}

#[test]
fn obb_dynamic_run_at_batch_2() {
    let opts = ExportOptions {
        dynamic: true,
        ..Default::default()
    };
    check_task("obb", "dynamic", opts, "2,3,96,160");
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
    for (part, d) in r["parts"].as_object().expect("per-part |Δ|") {
        let limit = if matches!(part.as_str(), "box" | "kpt_xy") {
            1e-3
        } else {
            1e-4
        };
        let d = d.as_f64().unwrap();
        assert!(d <= limit, "{what}: {part} max |Δ| {d} > {limit}");
    }
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

fn nms_opts() -> ExportOptions {
    ExportOptions {
        nms: Some(true),
        ..Default::default()
    }
}

#[test]
fn nms_detect() {
    check_task("detect", "nms", nms_opts(), "1,3,640,640");
}

#[test]
fn nms_segment() {
    check_task("segment", "nms", nms_opts(), "1,3,640,640");
}

#[test]
fn nms_pose() {
    check_task("pose", "nms", nms_opts(), "1,3,640,640");
}

#[test]
fn nms_obb() {
    check_task("obb", "nms", nms_opts(), "1,3,640,640");
}

/// `nms=True, dynamic=True, batch=2` (Ultralytics' `fixtures/exports/<task>/nms_dynamic.onnx`):
/// the image side from the input shape, a smaller input batch padded to 2 and sliced back; run
/// at two sizes and at batch 2.
fn check_nms_dynamic(task: &str) {
    let opts = ExportOptions {
        nms: Some(true),
        dynamic: true,
        batch: 2,
        ..Default::default()
    };
    for shape in ["1,3,640,640", "1,3,480,640", "2,3,640,640"] {
        check_task(task, "nms_dynamic", opts.clone(), shape);
    }
}

#[test]
fn nms_dynamic_detect() {
    check_nms_dynamic("detect");
}

#[test]
fn nms_dynamic_segment() {
    check_nms_dynamic("segment");
}

#[test]
fn nms_dynamic_pose() {
    check_nms_dynamic("pose");
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

/// The two real photos of `fixtures/images`, letterboxed to 640 (`*_640.npy`, made by
/// `xtask/fixtures/letterbox_images.py`): many more candidates above conf, so NonMaxSuppression
/// has real work and ties.
#[test]
fn nms_on_photos() {
    for photo in ["bus", "zidane"] {
        let path = fixture(&format!("fixtures/images/{photo}_640.npy"));
        for task in ["detect", "segment", "pose", "obb"] {
            check_task_on(task, "nms", nms_opts(), "1,3,640,640", path.to_str());
        }
    }
}
