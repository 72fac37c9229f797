//! Shared helpers: export to a temp file and ask the Python oracle (onnx + onnxruntime) about it.

#![allow(dead_code)]

use onnxide_yolo::{export, ExportOptions, YoloModel};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// Runs tests/oracle/compare_exports.py (through the shared Python-oracle runner) and parses its
/// JSON report.
pub fn compare_exports(args: &[&str]) -> Value {
    onnxide_tests::oracle::run_json("compare_exports.py", args)
}

/// `fixtures/manifest.json`: every fixture export with its task, variant and export arguments.
pub fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let path = fixture("fixtures/manifest.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

pub fn max_abs(report: &Value) -> f64 {
    report["max_abs"]
        .as_object()
        .expect("max_abs")
        .values()
        .map(|v| v.as_f64().expect("outputs have the same shape"))
        .fold(0.0, f64::max)
}

/// The structural half of "the same export as Ultralytics'": the oracle's reports of ours (`o`)
/// and theirs (`t`) have the same I/O, opset, IR version and metadata; ours has no more nodes
/// and no op type theirs lacks; and, for static exports (`same_names`), the same node names.
pub fn assert_same_structure(variant: &str, o: &Value, t: &Value, same_names: bool) {
    assert_eq!(o["inputs"], t["inputs"], "{variant}: inputs");
    assert_eq!(o["outputs"], t["outputs"], "{variant}: outputs");
    assert!(
        o["nodes"].as_u64() <= t["nodes"].as_u64(),
        "{variant}: node count"
    );
    let their_ops = t["ops"].as_object().expect("oracle report has ops");
    for op in o["ops"].as_object().expect("oracle report has ops").keys() {
        assert!(
            their_ops.contains_key(op),
            "{variant}: op {op} not in Ultralytics' export"
        );
    }
    assert_eq!(o["opset"], t["opset"], "{variant}: opset");
    assert_eq!(o["ir_version"], t["ir_version"], "{variant}: ir_version");
    assert_eq!(o["metadata"], t["metadata"], "{variant}: metadata_props");
    if same_names {
        // Node names follow torch's scopes and counters: identical to Ultralytics' file.
        assert_eq!(o["node_names"], t["node_names"], "{variant}: node names");
    }
}

/// Every `model.*` initializer of `ours` (the fused weights) is in `theirs` with the same shape
/// and the same f32 bits; returns how many were compared.
pub fn assert_weights_bit_identical(
    what: &str,
    ours: &onnxide_ir::Model,
    theirs: &onnxide_ir::Model,
) -> usize {
    let mut compared = 0;
    for t in ours
        .graph
        .initializers
        .iter()
        .filter(|t| t.name.starts_with("model."))
    {
        let Some(u) = theirs.graph.initializer(&t.name) else {
            panic!("{what}: Ultralytics' export has no initializer {}", t.name)
        };
        assert_eq!(t.tensor.shape(), u.tensor.shape(), "{what}: {}", t.name);
        let (a, b) = (
            t.tensor.as_slice::<f32>().expect("f32 weights"),
            u.tensor.as_slice::<f32>().expect("f32 weights"),
        );
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{what}: {} differs", t.name);
        compared += 1;
    }
    compared
}
