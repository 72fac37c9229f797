//! Every Ultralytics export in fixtures/exports (all tasks; default, dynamic, nms, half, batch,
//! image sizes, opsets) and the zoo models (weights materialised by
//! `tests/oracle/materialize_weights.py`) converted to every opset 11..=22 and back to their
//! own: onnxruntime's outputs equal the original's on a seeded input (relative 1e-5; `half`: two float16 ulps, see HALF_REL_TOL) and
//! `onnx.checker.check_model(full_check=True)` passes on every conversion ("ok"; also for
//! `half`, whose original the full check refuses because Ultralytics appends its float16 I/O Casts
//! after the nodes that read them: the converter writes nodes in topological order). One Python
//! call per model. A round trip that gives back the original exactly is
//! checked by equality instead of a second onnxruntime run. The conversions that cannot be exact
//! (Trilu below 14, ...) must fail naming the node.

use onnxide_convert::opset::{convert_opset, MAX_OPSET};
use onnxide_ir::{Dim, Model};
use onnxide_tests::{fixture, fixture_exports, oracle};
use std::path::{Path, PathBuf};

/// The lowest target checked here (the range; 7..=10 are covered by the node tests).
const MIN_TARGET: i64 = 11;

/// Relative tolerance: max |converted - original| / max |original| over each output.
const REL_TOL: f64 = 1e-5;

/// For the float16 (`half`) export: two float16 ulps of the largest output (2 · 2⁻¹⁰). Below
/// opset 13 its DFL Softmax (axis 1) runs as Transpose → Softmax → Transpose, and onnxruntime's
/// float16 Softmax over the last axis rounds differently: the same rewrite at the export's own
/// opset already moves the boxes by 1.9e-4 of the largest coordinate (measured), one float16
/// ulp at 7.7e-4 at opset 11.
const HALF_REL_TOL: f64 = 2.0 * 9.765625e-4;

/// The conversions that must be refused, and the node and reason their error must name.
const REFUSED: &[(&str, i64, &str)] = &[
    (
        "obb/nms.onnx",
        11,
        "Trilu '/Trilu': Trilu exists only from opset 14",
    ),
    (
        "obb/nms.onnx",
        11,
        "LessOrEqual '/LessOrEqual': LessOrEqual exists only from opset 12",
    ),
    (
        "obb/nms.onnx",
        12,
        "Trilu '/Trilu': Trilu exists only from opset 14",
    ),
    (
        "obb/nms.onnx",
        13,
        "Trilu '/Trilu': Trilu exists only from opset 14",
    ),
    (
        "detect/nms_dynamic.onnx",
        11,
        "Clip '/Clip': '/Sub_1_output_0' is INT64, allowed for Clip only from opset 12",
    ),
    (
        "pose/nms_dynamic.onnx",
        11,
        "Clip '/Clip': '/Sub_1_output_0' is INT64, allowed for Clip only from opset 12",
    ),
    (
        "segment/nms_dynamic.onnx",
        11,
        "Clip '/Clip': '/Sub_1_output_0' is INT64, allowed for Clip only from opset 12",
    ),
];

/// The input shape: fixed dims as they are, a symbolic batch 2, symbolic sides 320.
fn input_shape(m: &Model) -> String {
    let Some(shape) = m.graph.real_inputs().next().and_then(|i| i.shape()) else {
        panic!("model without a shaped input");
    };
    shape
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Fixed(n) => n.to_string(),
            _ if i == 0 => "2".to_string(),
            _ => "320".to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn check_path(rel: &str, path: &Path) {
    let path = path.to_path_buf();
    let original = onnxide_ir::load(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let own = original.default_opset().unwrap_or(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut variants: Vec<PathBuf> = Vec::new();
    let mut refused = 0;
    let mut identical = 0;
    for target in MIN_TARGET..=MAX_OPSET {
        let mut m = original.clone();
        let expected: Vec<&str> = REFUSED
            .iter()
            .filter(|(r, t, _)| *r == rel && *t == target)
            .map(|(_, _, why)| *why)
            .collect();
        match convert_opset(&mut m, target) {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !expected.is_empty(),
                    "{rel} -> opset {target} failed: {msg}"
                );
                for why in &expected {
                    assert!(
                        msg.contains(why),
                        "{rel} -> {target}: '{msg}' lacks '{why}'"
                    );
                }
                assert_eq!(m, original, "{rel}: a failed conversion changed the model");
                refused += 1;
                continue;
            }
            Ok(r) => {
                assert!(expected.is_empty(), "{rel} -> opset {target} should fail");
                assert_eq!((r.from, r.to), (own, target));
            }
        }
        assert_eq!(m.default_opset(), Some(target));
        if target == own {
            // Nothing to convert: the model comes back as it was (no onnxruntime run needed).
            assert_eq!(m, original, "{rel}: converting to its own opset changed it");
            continue;
        }
        assert_eq!(m.metadata_props, original.metadata_props, "{rel}: metadata");
        assert_eq!(m.graph.inputs, original.graph.inputs, "{rel}: inputs");
        assert_eq!(m.graph.outputs, original.graph.outputs, "{rel}: outputs");
        assert_eq!(
            m.graph.value_info, original.graph.value_info,
            "{rel}: value_info"
        );
        let p = dir.path().join(format!("to{target}.onnx"));
        save(&m, &p);
        variants.push(p);
        // And back to its own opset.
        convert_opset(&mut m, own).unwrap_or_else(|e| panic!("{rel}: {target} -> {own}: {e}"));
        assert_eq!(m.default_opset(), Some(own));
        assert_eq!(
            m.ir_version, original.ir_version,
            "{rel}: IR version after the round trip"
        );
        if m == original {
            identical += 1;
            continue;
        }
        let p = dir.path().join(format!("to{target}_back.onnx"));
        save(&m, &p);
        variants.push(p);
    }
    let mut args = vec![
        "--shape".to_string(),
        input_shape(&original),
        path.display().to_string(),
    ];
    args.extend(variants.iter().map(|p| p.display().to_string()));
    let report = oracle::run_json("opset_check.py", &args);
    let results = report["variants"].as_array().expect("variants");
    let original_checker = &report["original"]["checker"];
    if !rel.ends_with("half.onnx") {
        assert_eq!(
            original_checker, "ok",
            "{rel}: the original fails onnx.checker"
        );
    }
    assert_eq!(results.len(), variants.len());
    let mut worst = 0.0f64;
    let tol = if rel.ends_with("half.onnx") {
        HALF_REL_TOL
    } else {
        REL_TOL
    };
    for v in results {
        let name = v["path"].as_str().unwrap_or("?");
        // Every conversion passes the full check, also of `half`, whose original does not: the
        // converter writes nodes in topological order.
        assert_eq!(
            &v["checker"], "ok",
            "{rel}: {name}: onnx.checker: {} (original: {original_checker})",
            v["checker"]
        );
        assert_eq!(
            v["shapes_equal"], true,
            "{rel}: {name}: output names or shapes differ"
        );
        let rel_err = v["max_rel"].as_f64().expect("max_rel");
        assert!(
            rel_err <= tol,
            "{rel}: {name}: max relative difference {rel_err:e} > {tol:e}"
        );
        worst = worst.max(rel_err);
    }
    println!(
        "{rel}: {} variants equal to the original in onnxruntime (worst relative difference {worst:e}), \
         {identical} round trips identical to the original, {refused} targets refused as expected; \
         checker: {original_checker}",
        variants.len()
    );
}

fn save(m: &Model, p: &Path) {
    onnxide_ir::save(m, p, &Default::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Every export under `fixtures/exports/<task>/`.
fn check_task(task: &str) {
    let root = fixture("exports");
    let models: Vec<PathBuf> = fixture_exports()
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d == task)
        })
        .collect();
    assert!(!models.is_empty(), "no {task} exports");
    for p in models {
        let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
        check_path(&rel, &p);
    }
}

#[test]
fn classify() {
    check_task("classify");
}

#[test]
fn detect() {
    check_task("detect");
}

#[test]
fn obb() {
    check_task("obb");
}

#[test]
fn pose() {
    check_task("pose");
}

#[test]
fn segment() {
    check_task("segment");
}

#[test]
fn zoo() {
    for name in [
        "resnet18",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "yolov8n",
        "yolo12n",
    ] {
        let recipe = fixture(&format!("zoo/{name}.weights.json"));
        oracle::run(
            "materialize_weights.py",
            &[recipe.to_str().expect("utf-8 path")],
        );
        check_path(
            &format!("zoo/{name}.onnx"),
            &fixture(&format!("zoo/{name}.onnx")),
        );
    }
}
