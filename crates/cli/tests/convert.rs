//! `onnxide convert IN OUT opset=N [--json]`: the report, the refusals, nothing written on error.

use onnxide_tests::fixture;
use std::process::{Command, Output};

fn onnxide(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .args(args)
        .output()
        .expect("run onnxide")
}

#[test]
fn converts_with_a_json_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture("exports/detect/default.onnx");
    let out = dir.path().join("op13.onnx");
    let o = onnxide(&[
        "convert",
        src.to_str().expect("path"),
        out.to_str().expect("path"),
        "opset=13",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["opset_from"], 18);
    assert_eq!(report["opset_to"], 13);
    assert_eq!(report["ir_version_to"], 7);
    let rewritten = report["rewritten"].as_array().expect("rewritten");
    // Ultralytics' opset-18 Splits carry sizes as inputs, which opset 13 keeps; the Resizes
    // and Softmax lose nothing; what changes is reported per node.
    assert!(rewritten
        .iter()
        .all(|r| r["node"].is_string() && r["what"].is_string()));
    let m = onnxide_ir::load(&out).expect("load");
    assert_eq!(m.default_opset(), Some(13));
    println!("{} nodes rewritten", rewritten.len());
}

#[test]
fn refuses_naming_the_node_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture("exports/obb/nms.onnx");
    let out = dir.path().join("op13.onnx");
    let o = onnxide(&[
        "convert",
        src.to_str().expect("path"),
        out.to_str().expect("path"),
        "opset=13",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("obb/nms.onnx"), "{err}");
    assert!(
        err.contains("Trilu '/Trilu': Trilu exists only from opset 14"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "a refused conversion wrote {}",
        out.display()
    );
}

#[test]
fn bad_settings() {
    let o = onnxide(&["convert", "a.onnx", "b.onnx", "opst=13"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean 'opset'"));
    let o = onnxide(&["convert", "a.onnx", "b.onnx", "opset=6"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected an opset from 7 to 22"));
    let o = onnxide(&["convert", "a.onnx", "b.onnx"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing opset=N"));
}
