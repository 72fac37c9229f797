//! Issue 2: `onnxide info --json` reads what the onnx Python package reads.

use onnxide_tests::{fixture, oracle};
use serde_json::Value;
use std::process::Command;

fn onnxide_info_json(model: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .args(["info", "--json"])
        .arg(model)
        .output()
        .expect("run onnxide");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn info_json_matches_the_onnx_package() {
    for rel in [
        "exports/detect/default.onnx",
        "exports/detect/dynamic.onnx",
        "exports/segment/default.onnx",
    ] {
        let model = fixture(rel);
        let ours = onnxide_info_json(&model);
        let theirs: Value =
            serde_json::from_str(&oracle::run("onnx_info.py", &[model.to_str().unwrap()])).unwrap();
        for key in [
            "inputs",
            "outputs",
            "metadata",
            "op_histogram",
            "ir_version",
            "opset_imports",
            "nodes",
            "initializers",
        ] {
            assert_eq!(ours[key], theirs[key], "{rel}: '{key}' differs");
        }
        // Key order of metadata matters to readers that keep it (Ultralytics writes a fixed order).
        let keys = |v: &Value| {
            v["metadata"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(keys(&ours), keys(&theirs), "{rel}: metadata order");
        println!(
            "{rel}: info --json agrees with onnx ({} nodes)",
            ours["nodes"]
        );
    }
}
