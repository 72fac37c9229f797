//! `onnxide triton model=M.onnx repo=DIR`: repositories for static and dynamic exports of every task
//! (and nms, half) parsed against Triton's own `ModelConfig` schema (tests/oracle/triton_check.py,
//! tritonclient's model_config_pb2), with inputs, outputs, batching and metadata checked against
//! the model and the model loaded by onnxruntime from the repository.

use onnxide_tests::{fixture, oracle};
use std::process::{Command, Output};

fn onnxide(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .args(args)
        .output()
        .expect("run onnxide")
}

/// (fixture export, expected max_batch_size): dynamic exports batch (4, Triton's default; an nms
/// export the batch it was unrolled for, 2 in the fixture), static ones do not.
const CASES: [(&str, u64); 13] = [
    ("detect/default", 0),
    ("detect/dynamic", 4),
    ("detect/half", 0),
    ("detect/nms", 0),
    ("detect/nms_dynamic", 2),
    ("segment/default", 0),
    ("segment/dynamic", 4),
    ("pose/default", 0),
    ("pose/dynamic", 4),
    ("obb/default", 0),
    ("obb/dynamic", 4),
    ("classify/default", 0),
    ("classify/dynamic", 4),
];

#[test]
fn repositories_pass_tritons_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("models");
    let mut names = Vec::new();
    for (case, _) in CASES {
        let name = case.replace('/', "-");
        let src = fixture(&format!("exports/{case}.onnx"));
        let o = onnxide(&[
            "triton",
            &format!("model={}", src.display()),
            &format!("repo={}", repo.display()),
            &format!("name={name}"),
            "--json",
        ]);
        assert!(
            o.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        names.push(name);
    }
    let mut args = vec![repo.display().to_string()];
    args.extend(names.iter().cloned());
    let report = oracle::run_json("triton_check.py", &args);
    for ((case, batch), name) in CASES.iter().zip(&names) {
        let r = &report[name.as_str()];
        println!(
            "{case}: max_batch_size {} inputs {} outputs {}",
            r["max_batch_size"], r["inputs"], r["outputs"]
        );
        assert_eq!(r["problems"], serde_json::json!([]), "{case}: {r}");
        assert_eq!(r["max_batch_size"], *batch, "{case}");
        assert!(
            r["metadata_keys"]
                .as_array()
                .expect("keys")
                .iter()
                .any(|k| k == "names"),
            "{case}: {r}"
        );
    }
}

#[test]
fn max_batch_and_version_are_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture("exports/detect/dynamic.onnx");
    let o = onnxide(&[
        "triton",
        &format!("model={}", src.display()),
        &format!("repo={}", dir.path().display()),
        "max_batch=16",
        "version=3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The name defaults to the file's stem.
    let config = std::fs::read_to_string(dir.path().join("dynamic/config.pbtxt")).expect("config");
    assert!(config.contains("max_batch_size: 16"), "{config}");
    assert!(config.contains("dims: [ 3, -1, -1 ]"), "{config}");
    assert!(dir.path().join("dynamic/3/model.onnx").is_file());
}

#[test]
fn bad_settings_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture("exports/detect/default.onnx");
    for (args, expect) in [
        (vec!["repo=x".to_string()], "missing model="),
        (vec![format!("model={}", src.display())], "missing repo="),
        (
            vec![
                format!("model={}", src.display()),
                format!("repo={}", dir.path().display()),
                "name=../up".into(),
            ],
            "model name '../up'",
        ),
        (
            vec![format!("model={}", src.display()), "rep=x".into()],
            "did you mean 'repo'",
        ),
    ] {
        let mut all = vec!["triton"];
        all.extend(args.iter().map(String::as_str));
        let o = onnxide(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}
