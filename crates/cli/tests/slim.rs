//! `onnxide slim`: default output name, the input left untouched, the summary (text and JSON),
//! and one-line errors that leave nothing behind.

use onnxide_tests::fixture;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn onnxide(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .arg("slim")
        .args(args)
        .output()
        .expect("run onnxide")
}

/// mobilenet-like classify export, saved inline into `dir` as `m.onnx`.
fn model_in(dir: &Path) -> std::path::PathBuf {
    let m = onnxide_ir::load(fixture("exports/classify/default.onnx")).unwrap();
    let path = dir.join("m.onnx");
    onnxide_ir::save(&m, &path, &Default::default()).unwrap();
    path
}

#[test]
fn writes_in_stem_slim_next_to_the_input_and_leaves_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let input = model_in(dir.path());
    let before = std::fs::read(&input).unwrap();
    let out = onnxide(&[&input]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "original",
        "slimmed",
        "Conv",
        "nodes",
        "dead-code",
        "fold-constants",
    ] {
        assert!(text.contains(word), "summary lacks {word}:\n{text}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input changed");
    let slimmed = onnxide_ir::load(dir.path().join("m_slim.onnx")).unwrap();
    let original = onnxide_ir::decode(&before).unwrap();
    assert_eq!(slimmed.graph.outputs, original.graph.outputs);
    assert!(slimmed.graph.nodes.len() <= original.graph.nodes.len());
}

#[test]
fn json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input = model_in(dir.path());
    let output = dir.path().join("out.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .args(["slim", "--json"])
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (before, after) = (
        v["nodes"]["before"].as_u64().unwrap(),
        v["nodes"]["after"].as_u64().unwrap(),
    );
    assert!(after <= before && before > 0, "{v}");
    assert_eq!(v["converged"], true);
    let names: Vec<&str> = v["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, onnxide_slim::PASSES);
    assert!(output.exists());
}

#[test]
fn a_bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.onnx");
    std::fs::write(&input, b"not a model").unwrap();
    let out = onnxide(&[&input]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("bad.onnx"), "{err}");
    assert!(!dir.path().join("bad_slim.onnx").exists());
}

#[test]
fn a_key_value_setting_is_refused_not_written_to() {
    let dir = tempfile::tempdir().unwrap();
    let input = model_in(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .current_dir(dir.path())
        .args(["slim", "m.onnx", "imgsz=640"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imgsz") && err.contains("size-threshold"),
        "{err}"
    );
    assert!(!dir.path().join("imgsz=640").exists() && input.exists());
}

fn slim_args(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .current_dir(dir)
        .arg("slim")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn skip_and_only_take_pass_names_with_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    model_in(dir.path());
    let out = slim_args(dir.path(), &["m.onnx", "--skip", "fold-constant"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean 'fold-constants'"), "{err}");
    assert!(!dir.path().join("m_slim.onnx").exists());
    let out = slim_args(
        dir.path(),
        &[
            "m.onnx",
            "o.onnx",
            "--only",
            "dead-code,cse",
            "--json",
            "size-threshold=1024",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = v["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cse", "dead-code"]);
    let out = slim_args(
        dir.path(),
        &[
            "m.onnx",
            "o2.onnx",
            "--skip",
            "fold-shapes",
            "--no-shape-infer",
            "--json",
        ],
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = v["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), onnxide_slim::PASSES.len() - 1);
    assert!(!names.contains(&"fold-shapes"));
    let out = slim_args(dir.path(), &["m.onnx", "size-threshold=lots"]);
    assert!(!out.status.success());
}

#[test]
fn check_compares_on_the_executor_and_fp16_keeps_float32_io() {
    let dir = tempfile::tempdir().unwrap();
    model_in(dir.path());
    let out = slim_args(
        dir.path(),
        &["m.onnx", "h.onnx", "--check", "--fp16", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let diffs = v["check"]["max_rel_diff"]
        .as_object()
        .expect("check results");
    assert!(!diffs.is_empty());
    for (name, d) in diffs {
        let d = d.as_f64().unwrap();
        println!("fp16 {name}: {d:e}");
        assert!(d <= 1e-2, "{name}: {d}");
    }
    let original = onnxide_ir::load(dir.path().join("m.onnx")).unwrap();
    let half = onnxide_ir::load(dir.path().join("h.onnx")).unwrap();
    assert_eq!(half.graph.inputs, original.graph.inputs);
    assert_eq!(half.graph.outputs, original.graph.outputs);
    assert!(half
        .graph
        .initializers
        .iter()
        .any(|t| t.tensor.dtype() == onnxide_ir::DType::F16));
    let out = slim_args(dir.path(), &["m.onnx", "c.onnx", "--check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("check output0: max"), "{text}");
}

#[test]
fn external_data_in_and_out() {
    // The fixture export keeps its weights in weights.bin next to it (external data in).
    let input = fixture("exports/classify/default.onnx");
    let dir = tempfile::tempdir().unwrap();
    let (ext, inline) = (dir.path().join("e.onnx"), dir.path().join("i.onnx"));
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .arg("slim")
        .arg(&input)
        .arg(&ext)
        .args(["--external-data", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["external_data"], "e.onnx.data");
    let data = dir.path().join("e.onnx.data");
    assert!(
        data.metadata().unwrap().len() > 1_000_000,
        "weights are in e.onnx.data"
    );
    assert!(
        ext.metadata().unwrap().len() < 200_000,
        "e.onnx holds the graph only"
    );
    let out = onnxide(&[&input, &inline]);
    assert!(out.status.success());
    let (a, b) = (
        onnxide_ir::load(&ext).unwrap(),
        onnxide_ir::load(&inline).unwrap(),
    );
    assert_eq!(a.graph.nodes, b.graph.nodes);
    assert_eq!(a.graph.initializers.len(), b.graph.initializers.len());
    for (x, y) in a.graph.initializers.iter().zip(&b.graph.initializers) {
        assert_eq!((&x.name, &x.tensor), (&y.name, &y.tensor));
    }
}
