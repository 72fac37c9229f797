//! `half=True` against Ultralytics and against onnxruntime's FP16 converter
//! (tests/oracle/half_reference.py).
//!
//! - detect: our half export of yolo11n.pt equals Ultralytics' detect/half.onnx under onnxruntime
//!   (max |Δ| ≤ 1e-4; measured 0), with the same I/O, node count, op types, node names, Cast
//!   nodes, value_info names and types, and metadata (date aside);
//! - every task (detect, segment, pose, obb, classify; static and dynamic): our half export is
//!   node for node, initializer for initializer (names, dtypes, exact values) and I/O what
//!   `convert_float_to_float16(keep_io_types=True)` makes of our fp32 export, and its outputs are
//!   within f16 noise of the fp32 export's (bounds measured on the fixture checkpoints, whose
//!   random-like weights make large activations: Ultralytics' own half file of yolo11n.pt is
//!   4.9 px off its fp32 file on the same input, exactly as ours).

mod common;

use common::*;
use onnxide_yolo::{ExportOptions, YoloModel};
use serde_json::Value;

fn load(file: &str) -> YoloModel {
    let pt = fixture(&format!("fixtures/checkpoints/{file}"));
    YoloModel::load(pt.to_str().expect("utf-8 path")).expect(file)
}

/// Runs half_reference.py on our half and fp32 exports of `model` with `opts`.
fn reference(
    model: &YoloModel,
    opts: &ExportOptions,
    shape: &str,
    layout: &str,
    theirs: Option<&str>,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        date: Some(PINNED_DATE.into()),
        ..opts.clone()
    };
    let half = export_to(
        model,
        &ExportOptions {
            half: true,
            ..opts.clone()
        },
        dir.path(),
        "half.onnx",
    );
    let fp32 = export_to(
        model,
        &ExportOptions {
            half: false,
            ..opts
        },
        dir.path(),
        "fp32.onnx",
    );
    let nc = model.names().len().to_string();
    let their_file = theirs.map(fixture);
    let mut args = vec![
        "--ours",
        half.to_str().unwrap(),
        "--fp32",
        fp32.to_str().unwrap(),
        "--shape",
        shape,
        "--layout",
        layout,
        "--nc",
        &nc,
    ];
    if let Some(t) = &their_file {
        args.extend(["--theirs", t.to_str().unwrap()]);
    }
    onnxide_tests::oracle::run_json("half_reference.py", &args)
}

fn assert_no_diffs(r: &Value, key: &str, what: &str) {
    for (part, d) in r[key].as_object().expect(key) {
        assert!(
            d.as_array().unwrap().is_empty(),
            "{what}: {part} differs from {key}: {d}"
        );
    }
}

/// Structure every half export has: float32 I/O, one FLOAT16 Cast after each input and one FLOAT
/// Cast before each output (the converter appends them last, which makes onnx.checker's full check
/// refuse its file and Ultralytics'; ours is sorted and passes it), `'quantize': 16` in the metadata.
fn check_structure(r: &Value, what: &str, outputs: usize) {
    assert_no_diffs(r, "vs_reference", what);
    let casts: Vec<(String, i64)> = r["casts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().to_string(), c[1].as_i64().unwrap()))
        .collect();
    assert!(
        casts.contains(&("graph_input_cast0".into(), 10)),
        "{what}: {casts:?}"
    );
    for i in 0..outputs {
        assert!(
            casts.contains(&(format!("graph_output_cast{i}"), 1)),
            "{what}: {casts:?}"
        );
    }
    assert_eq!(r["checker"], "ok", "{what}: onnx.checker full check");
    assert!(
        r["metadata"]["args"]
            .as_str()
            .unwrap()
            .contains("'quantize': 16"),
        "{what}: {}",
        r["metadata"]["args"]
    );
    assert!(r["init_dtypes"]["float16"].as_u64().unwrap() > 50, "{what}");
}

/// Max |Δ| against the fp32 export per channel group (bounds: about twice what was measured).
fn check_noise(r: &Value, what: &str, bounds: &[(&str, f64)]) {
    eprintln!("{what}: half vs fp32 {} {}", r["vs_fp32"], r["parts"]);
    for (part, limit) in bounds {
        let d = if *part == "proto" {
            r["vs_fp32"]["output1"].as_f64()
        } else if *part == "output0" {
            r["vs_fp32"]["output0"].as_f64()
        } else {
            r["parts"][part].as_f64()
        }
        .unwrap_or_else(|| panic!("{what}: no {part}"));
        assert!(d <= *limit, "{what}: {part} max |Δ| {d} > {limit}");
    }
}

#[test]
fn detect_half_equals_ultralytics() {
    let model = load("yolo11n.pt");
    let r = reference(
        &model,
        &ExportOptions::default(),
        "1,3,640,640",
        "detect",
        Some("fixtures/exports/detect/half.onnx"),
    );
    let delta = r["max_abs"]["output0"].as_f64().unwrap();
    eprintln!(
        "detect/half: max|Δ| vs Ultralytics {delta:e}, inits {}",
        r["init_dtypes"]
    );
    assert!(delta <= 1e-4, "detect/half: max |Δ| {delta}");
    check_structure(&r, "detect/half", 1);
    // Ultralytics' file: 322 nodes, the same op histogram, the same node names (torch scopes),
    // the same Casts and value_info; only the order of some nodes and the names of a few integer
    // constants differ, as in the fp32 export.
    let theirs = &r["vs_theirs"];
    assert!(theirs["io"].as_array().unwrap().is_empty(), "{theirs}");
    assert!(
        theirs["value_info"].as_array().unwrap().is_empty(),
        "{theirs}"
    );
    assert_eq!(r["nodes"], 322);
    let mut meta = r["metadata"].clone();
    let mut their_meta = r["theirs_metadata"].clone();
    meta.as_object_mut().unwrap().remove("date");
    their_meta.as_object_mut().unwrap().remove("date");
    assert_eq!(meta, their_meta, "detect/half: metadata");
    // 1 FLOAT (the Resize scales), the rest of the float constants FLOAT16.
    assert_eq!(r["init_dtypes"]["float32"], 1);
}

#[test]
fn detect_half_dynamic() {
    let model = load("yolo11n.pt");
    let opts = ExportOptions {
        dynamic: true,
        ..Default::default()
    };
    let r = reference(&model, &opts, "2,3,480,640", "detect", None);
    check_structure(&r, "detect/half dynamic", 1);
    check_noise(
        &r,
        "detect/half dynamic",
        &[("box", 10.0), ("scores", 0.08)],
    );
}

#[test]
fn detect_half_static_noise() {
    let model = load("yolo11n.pt");
    let r = reference(
        &model,
        &ExportOptions::default(),
        "1,3,640,640",
        "detect",
        None,
    );
    check_noise(&r, "detect/half", &[("box", 10.0), ("scores", 0.08)]);
}

/// The half export of a task's fixture checkpoint, static (at 640) and dynamic (at `dynamic_shape`),
/// against onnxruntime's converter run on our fp32 export: the same graph, and outputs within
/// f16 noise of fp32 (`bounds`: max |Δ| per output part). Returns the two reports.
fn check_task_half(
    file: &str,
    layout: &str,
    outputs: usize,
    dynamic_shape: &str,
    bounds: &[(&str, f64)],
) -> Vec<Value> {
    let model = load(file);
    [false, true]
        .into_iter()
        .map(|dynamic| {
            let opts = ExportOptions {
                dynamic,
                ..Default::default()
            };
            let shape = if dynamic {
                dynamic_shape
            } else {
                "1,3,640,640"
            };
            let what = format!("{layout}/half dynamic={dynamic}");
            let r = reference(&model, &opts, shape, layout, None);
            check_structure(&r, &what, outputs);
            check_noise(&r, &what, bounds);
            r
        })
        .collect()
}

#[test]
fn segment_half() {
    check_task_half(
        "yolo11n-seg.pt",
        "segment",
        2,
        "2,3,480,640",
        &[
            ("box", 40.0),
            ("scores", 0.2),
            ("mask_coef", 0.6),
            ("proto", 1.3),
        ],
    );
}

#[test]
fn pose_half() {
    check_task_half(
        "yolo11n-pose.pt",
        "pose",
        1,
        "2,3,480,640",
        &[
            ("box", 15.0),
            ("scores", 0.13),
            ("kpt_xy", 20.0),
            ("kpt_v", 0.07),
        ],
    );
}

#[test]
fn obb_half() {
    check_task_half(
        "yolo11n-obb.pt",
        "obb",
        1,
        "2,3,480,640",
        &[("box", 4.0), ("scores", 0.04), ("angle", 0.06)],
    );
}

#[test]
fn classify_half() {
    let reports = check_task_half(
        "yolo11n-cls.pt",
        "classify",
        1,
        "2,3,224,224",
        &[("output0", 2e-5)],
    );
    for r in reports {
        // No Resize: every float initializer is FLOAT16.
        assert!(
            r["init_dtypes"].get("float32").is_none(),
            "classify/half: {}",
            r["init_dtypes"]
        );
    }
}
