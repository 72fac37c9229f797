//! onnxide's export of the classify fixture checkpoint (`yolo11n-cls.pt`) against Ultralytics'
//! own ONNX exports of it, beyond the manifest's exports (`classify/default` and
//! `classify/dynamic` are cases of `vs_ultralytics.rs`'s table): a size Ultralytics has no static
//! fixture for, against its dynamic export (same probabilities under onnxruntime, max |Δ| ≤ 1e-6,
//! a clean `onnx.checker` full_check), and the fused weights bit for bit.

mod common;

use common::*;
use onnxide_yolo::{ExportOptions, YoloModel};
use std::sync::OnceLock;

fn model() -> &'static YoloModel {
    static MODEL: OnceLock<YoloModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let pt = fixture("fixtures/checkpoints/yolo11n-cls.pt");
        YoloModel::load(pt.to_str().expect("utf-8 path")).expect("load yolo11n-cls.pt")
    })
}

/// Probabilities are in [0, 1]: 1e-6 is far below anything a class ranking could notice.
const TOLERANCE: f64 = 1e-6;

fn compare(
    opts: &ExportOptions,
    theirs_variant: &str,
    input_shape: &str,
) -> (serde_json::Value, f64) {
    let theirs = fixture(&format!("fixtures/exports/classify/{theirs_variant}.onnx"));
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        date: Some(PINNED_DATE.into()),
        ..opts.clone()
    };
    let ours = export_to(model(), &opts, dir.path(), "ours.onnx");
    let r = compare_exports(&[
        "--ours",
        ours.to_str().unwrap(),
        "--theirs",
        theirs.to_str().unwrap(),
        "--shape",
        input_shape,
    ]);
    let delta = max_abs(&r);
    (r, delta)
}

/// Classification models have stride 1, so Ultralytics keeps imgsz=300 as it is (no rounding
/// to 32). Ultralytics' dynamic export run at 300×300 is the reference for our static one.
#[test]
fn imgsz_300_matches_the_dynamic_export_at_300() {
    let opts = ExportOptions {
        imgsz: (300, 300),
        ..Default::default()
    };
    let (r, delta) = compare(&opts, "dynamic", "1,3,300,300");
    eprintln!("classify imgsz 300: max|Δ| {delta:e} vs Ultralytics' dynamic export at 300×300");
    assert_eq!(r["checker"], "ok");
    assert_eq!(r["outputs"]["output0"], serde_json::json!([1, 1000]));
    assert!(delta <= TOLERANCE, "max |Δ| {delta}");
    let meta = &r["ours"]["metadata"];
    assert_eq!(meta["imgsz"], "[300, 300]");
    assert_eq!(meta["stride"], "1");
}

/// Ultralytics fuses Conv+BN in float32 after upcasting the float16 weights (with the
/// classification model's BatchNorm eps 1e-5); so does onnxide, so every weight must be
/// bit-identical to the initializers of Ultralytics' file.
#[test]
fn fused_weights_are_bit_identical() {
    let theirs = onnxide_ir::load(fixture("fixtures/exports/classify/default.onnx")).unwrap();
    let ours = onnxide_yolo::export(model(), &ExportOptions::default()).unwrap();
    let compared = assert_weights_bit_identical("classify", &ours, &theirs);
    assert_eq!(
        compared, 80,
        "39 conv weights + 39 biases + the linear weight and bias"
    );
    assert_eq!(
        ours.graph.initializers.len(),
        theirs.graph.initializers.len()
    );
}
