//! Every scale built from its config name: the fused parameter counts Ultralytics prints at
//! export, and (m, l, x) a graph that onnxruntime runs with the right output shape.

mod common;

use common::*;
use onnxide_yolo::{count_parameters, export, random_checkpoint, ExportOptions, YoloModel};

/// Ultralytics' fused parameter counts (`yolo export` summary), reference §1.
const FUSED_PARAMS: [(&str, usize); 5] = [
    ("yolo11n.yaml", 2_616_248),
    ("yolo11s.yaml", 9_443_760),
    ("yolo11m.yaml", 20_091_712),
    ("yolo11l.yaml", 25_340_992),
    ("yolo11x.yaml", 56_919_424),
];

fn opts_320() -> ExportOptions {
    ExportOptions {
        imgsz: (320, 320),
        ..Default::default()
    }
}

#[test]
fn fused_parameter_counts_match_ultralytics() {
    for (name, expected) in FUSED_PARAMS {
        let model = YoloModel::from_builtin(name, 0).unwrap();
        let onnx = export(&model, &opts_320()).unwrap();
        assert_eq!(count_parameters(&onnx), expected, "{name}");
    }
}

fn runs_in_onnxruntime(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = YoloModel::from_builtin(name, 0).unwrap();
    let path = export_to(&model, &opts_320(), dir.path(), "model.onnx");
    let r = compare_exports(&["--ours", path.to_str().unwrap(), "--shape", "1,3,320,320"]);
    assert_eq!(r["checker"], "ok", "{name}");
    assert_eq!(
        r["outputs"]["output0"],
        serde_json::json!([1, 84, 2100]),
        "{name}"
    );
    assert_eq!(r["finite"], true, "{name}: non-finite outputs");
}

#[test]
fn m_runs_in_onnxruntime() {
    runs_in_onnxruntime("yolo11m.yaml");
}

#[test]
fn l_runs_in_onnxruntime() {
    runs_in_onnxruntime("yolo11l.yaml");
}

#[test]
fn x_runs_in_onnxruntime() {
    runs_in_onnxruntime("yolo11x.yaml");
}

/// yolo11s at 320: Ultralytics' checkpoint+export would be ~57 MB of fixtures, so the reference
/// is Ultralytics' own export of onnxide's seeded random weights for `yolo11s.yaml`, run by
/// onnxruntime on the fixtures' input recipe, committed as output only (700 kB;
/// `cargo xtask interop reference` regenerates it). onnxide builds the same model from the
/// bare config name, with no file at all, and must reproduce that output.
#[test]
fn s_at_320_matches_ultralytics_on_the_same_weights() {
    let reference = repo().join("crates/yolo/tests/data/yolo11s-320.output0.npy");
    let dir = tempfile::tempdir().unwrap();
    let model = YoloModel::from_builtin("yolo11s.yaml", 0).unwrap();
    let path = export_to(&model, &opts_320(), dir.path(), "yolo11s.onnx");
    let r = compare_exports(&[
        "--ours",
        path.to_str().unwrap(),
        "--shape",
        "1,3,320,320",
        "--reference-npy",
        reference.to_str().unwrap(),
    ]);
    let delta = max_abs(&r);
    eprintln!("yolo11s@320: max|Δ| {delta:e}");
    assert_eq!(r["checker"], "ok");
    assert!(delta <= 1e-3, "max |Δ| {delta}");
}

/// Pose and obb heads built from config names at other scales: checker-clean, onnxruntime runs
/// them (one oracle process) with the Ultralytics output layout, and the outputs are finite.
#[test]
fn pose_and_obb_scales_run_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("yolo11s-pose.yaml", 135),
        ("yolo11m-obb.yaml", 85),
        ("yolo11l-pose.yaml", 135),
    ];
    let mut args = vec!["--shape".to_string(), "1,3,320,320".into(), "--ours".into()];
    for (name, _) in cases {
        let model = YoloModel::from_builtin(name, 0).unwrap();
        let path = export_to(&model, &opts_320(), dir.path(), &format!("{name}.onnx"));
        args.push(path.to_str().unwrap().into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = compare_exports(&refs);
    for ((name, no), m) in cases.iter().zip(r["models"].as_array().unwrap()) {
        assert_eq!(m["checker"], "ok", "{name}");
        assert_eq!(
            m["outputs"]["output0"],
            serde_json::json!([1, no, 2100]),
            "{name}"
        );
        assert_eq!(m["finite"], true, "{name}: non-finite outputs");
    }
}

/// Ultralytics' parameter counts of the `-seg` configs (the `YOLO('*.yaml')` summary, unfused,
/// reference §1).
const SEG_PARAMS: [(&str, usize); 5] = [
    ("yolo11n-seg.yaml", 2_876_848),
    ("yolo11s-seg.yaml", 10_113_248),
    ("yolo11m-seg.yaml", 22_420_896),
    ("yolo11l-seg.yaml", 27_678_368),
    ("yolo11x-seg.yaml", 62_142_656),
];

/// The segment configs at every scale: the unfused parameters onnxide asks for (BatchNorm
/// buffers aside) add up to Ultralytics' parameter count, and each export passes the checker and runs in onnxruntime
/// (one oracle process) with `output0 [1, 116, 2100]` and prototypes `output1 [1, 32, 80, 80]`,
/// all finite.
#[test]
fn segment_scales_match_ultralytics_and_run_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--shape".to_string(), "1,3,320,320".into(), "--ours".into()];
    for (name, expected) in SEG_PARAMS {
        let ck = random_checkpoint(name, 0).unwrap();
        let params: usize = ck
            .tensors
            .iter()
            // Parameters, not BatchNorm buffers (running stats, batch counter).
            .filter(|(n, _)| !n.contains(".bn.running_") && !n.ends_with("num_batches_tracked"))
            .map(|(_, t)| t.numel())
            .sum();
        assert_eq!(params, expected, "{name}: parameters");
        let model = YoloModel::from_builtin(name, 0).unwrap();
        let path = export_to(&model, &opts_320(), dir.path(), &format!("{name}.onnx"));
        args.push(path.to_str().unwrap().into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = compare_exports(&refs);
    let models = r["models"].as_array().unwrap();
    assert_eq!(models.len(), SEG_PARAMS.len());
    for ((name, _), m) in SEG_PARAMS.iter().zip(models) {
        assert_eq!(m["checker"], "ok", "{name}");
        assert_eq!(
            m["outputs"]["output0"],
            serde_json::json!([1, 116, 2100]),
            "{name}"
        );
        assert_eq!(
            m["outputs"]["output1"],
            serde_json::json!([1, 32, 80, 80]),
            "{name}"
        );
        assert_eq!(m["finite"], true, "{name}: non-finite outputs");
    }
}

/// The classify configs at every scale, and the fixture checkpoint at every supported opset
/// (even ones dynamic), at a size that is not a multiple of 32 (classify has stride 1): each
/// passes the checker and runs in onnxruntime with `[1, 1000]` probabilities, in one oracle
/// process.
#[test]
fn classify_scales_and_opsets_run_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        imgsz: (200, 200),
        ..Default::default()
    };
    let mut args = vec!["--shape".to_string(), "1,3,200,200".into(), "--ours".into()];
    for scale in ["n", "s", "m", "l", "x"] {
        let name = format!("yolo11{scale}-cls.yaml");
        let model = YoloModel::from_builtin(&name, 0).unwrap();
        let path = export_to(&model, &opts, dir.path(), &format!("{scale}.onnx"));
        args.push(path.display().to_string());
    }
    let pt = fixture("fixtures/checkpoints/yolo11n-cls.pt");
    let model = YoloModel::load(pt.to_str().unwrap()).unwrap();
    for opset in onnxide_yolo::MIN_OPSET..=onnxide_yolo::MAX_OPSET {
        let opts = ExportOptions {
            opset: Some(opset),
            dynamic: opset % 2 == 0,
            ..opts.clone()
        };
        let path = export_to(&model, &opts, dir.path(), &format!("op{opset}.onnx"));
        args.push(path.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = compare_exports(&refs);
    let models = r["models"].as_array().unwrap();
    assert_eq!(models.len(), 5 + 12);
    for m in models {
        assert_eq!(m["checker"], "ok", "{}", m["path"]);
        assert_eq!(
            m["outputs"]["output0"],
            serde_json::json!([1, 1000]),
            "{}",
            m["path"]
        );
        assert_eq!(m["finite"], true, "{}", m["path"]);
    }
}
