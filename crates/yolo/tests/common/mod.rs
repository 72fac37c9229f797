//! Shared helpers: export to a temp file and ask the Python oracle (onnx + onnxruntime) about it.

#![allow(dead_code)]

use onnxide_yolo::{export, ExportOptions, YoloModel};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The date Ultralytics' fixtures were pinned to (so metadata compares equal).
pub const PINNED_DATE: &str = "2026-01-01T00:00:00+00:00";

pub fn fixture(rel: &str) -> PathBuf {
    let p = repo().join(rel);
    assert!(
        p.exists(),
        "fixture {} is missing: regenerate with `cargo xtask fixtures`",
        p.display()
    );
    p
}

/// Exports `model` with `opts` into `dir/name` and returns the path.
pub fn export_to(model: &YoloModel, opts: &ExportOptions, dir: &Path, name: &str) -> PathBuf {
    let onnx = export(model, opts).expect("export");
    let path = dir.join(name);
    onnxide_ir::save(&onnx, &path, &Default::default()).expect("save");
    path
}

/// Runs tests/oracle/compare_exports.py and parses its JSON report.
pub fn oracle(args: &[&str]) -> Value {
    let script = repo().join("tests/oracle/compare_exports.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect(
            "python3 must be installed (with onnx, onnxruntime, numpy: tests/requirements.txt)",
        );
    assert!(
        out.status.success(),
        "compare_exports.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

pub fn max_abs(report: &Value) -> f64 {
    report["max_abs"]
        .as_object()
        .expect("max_abs")
        .values()
        .map(|v| v.as_f64().expect("outputs have the same shape"))
        .fold(0.0, f64::max)
}
