//! The Ultralytics exports in fixtures/exports converted to every opset 11..=22 and back to
//! their own: onnxruntime's outputs equal the original's on a seeded input (relative 1e-5) and
//! `onnx.checker.check_model(full_check=True)` passes, one Python call per model. The
//! conversions that cannot be exact (Trilu below 14, ...) must fail naming the node.

use onnxide_convert::opset::{convert_opset, MAX_OPSET, MIN_OPSET};
use onnxide_ir::{Dim, Model};
use onnxide_tests::{fixture, oracle};
use std::path::{Path, PathBuf};

/// Relative tolerance: max |converted - original| / max |original| over each output.
const REL_TOL: f64 = 1e-5;

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

fn check_model(rel: &str) {
    let path = fixture(&format!("exports/{rel}"));
    let original = onnxide_ir::load(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let own = original.default_opset().unwrap_or(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut variants: Vec<PathBuf> = Vec::new();
    let mut refused = 0;
    for target in MIN_OPSET..=MAX_OPSET {
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
    assert_eq!(results.len(), variants.len());
    let mut worst = 0.0f64;
    for v in results {
        let name = v["path"].as_str().unwrap_or("?");
        assert_eq!(
            v["checker"], "ok",
            "{rel}: {name}: onnx.checker: {}",
            v["checker"]
        );
        assert_eq!(
            v["shapes_equal"], true,
            "{rel}: {name}: output names or shapes differ"
        );
        let rel_err = v["max_rel"].as_f64().expect("max_rel");
        assert!(
            rel_err <= REL_TOL,
            "{rel}: {name}: max relative difference {rel_err:e} > {REL_TOL:e}"
        );
        worst = worst.max(rel_err);
    }
    println!(
        "{rel}: {} variants equal to the original (worst relative difference {worst:e}), {refused} targets refused as expected",
        variants.len()
    );
}

fn save(m: &Model, p: &Path) {
    onnxide_ir::save(m, p, &Default::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

#[test]
fn half_is_skipped() {
    // Printed, not silent: the one export left out, and why.
    println!(
        "skipped 1 export: detect/half.onnx (its float16 I/O Casts are appended after the nodes \
         that read them, as Ultralytics writes it, so onnx.checker's full check refuses the \
         original already)"
    );
}

#[test]
fn classify() {
    check_model("classify/default.onnx");
    check_model("classify/dynamic.onnx");
}

#[test]
fn detect() {
    for m in [
        "default",
        "dynamic",
        "nms",
        "nms_dynamic",
        "opset11",
        "opset13",
    ] {
        check_model(&format!("detect/{m}.onnx"));
    }
}

#[test]
fn obb() {
    for m in ["default", "dynamic", "nms"] {
        check_model(&format!("obb/{m}.onnx"));
    }
}

#[test]
fn pose() {
    for m in ["default", "dynamic", "nms", "nms_dynamic"] {
        check_model(&format!("pose/{m}.onnx"));
    }
}

#[test]
fn segment() {
    for m in ["default", "dynamic", "nms", "nms_dynamic"] {
        check_model(&format!("segment/{m}.onnx"));
    }
}
