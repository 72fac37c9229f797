//! Shared support for onnxide's test suites: fixture paths, the Python oracle (onnx +
//! onnxruntime, see `tests/requirements.txt`) and numeric comparison.

use onnxide_ir::Tensor;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `fixtures/<rel>`, failing loudly when the fixture is missing (a missing fixture is never a skip).
pub fn fixture(rel: &str) -> PathBuf {
    let p = repo_root().join("fixtures").join(rel);
    assert!(
        p.exists(),
        "missing fixture {} — run `cargo xtask fixtures` on a developer machine",
        p.display()
    );
    p
}

/// Every `.onnx` under `fixtures/exports`, sorted.
pub fn fixture_exports() -> Vec<PathBuf> {
    let root = fixture("exports");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "onnx") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no exports under fixtures/exports");
    out
}

/// The Python interpreter for oracle scripts (`PYTHON`, default `python3`).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `python3 tests/oracle/<script> args...` and returns its stdout; panics with its stderr on failure.
pub fn oracle(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/oracle").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python()));
    assert!(
        out.status.success(),
        "oracle {script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a seeded uniform [0,1) float32 input with numpy's `default_rng(seed)`.
pub fn make_input(shape: &[usize], seed: u64, out: &Path) {
    let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    oracle(
        "make_input.py",
        &[
            "--shape",
            &shape.join(","),
            "--seed",
            &seed.to_string(),
            "--out",
            &out.to_string_lossy(),
        ],
    );
}

/// onnxruntime's outputs for `model` on the given `.npy` inputs, in graph order.
pub fn ort_run(model: &Path, inputs: &[(&str, &Path)], out_dir: &Path) -> Vec<(String, Tensor)> {
    let specs: Vec<String> = inputs
        .iter()
        .map(|(n, p)| format!("{n}={}", p.display()))
        .collect();
    let mut args: Vec<&str> = vec![model.to_str().expect("utf-8 path")];
    for s in &specs {
        args.extend(["--input", s]);
    }
    let dir = out_dir.to_string_lossy().into_owned();
    args.extend(["--output-dir", &dir]);
    oracle("ort_run.py", &args);
    let model = onnxide_ir::load(model).expect("the oracle just ran this model");
    model
        .graph
        .outputs
        .iter()
        .map(|o| {
            let path = out_dir.join(format!("{}.npy", o.name.replace(['/', '\\'], "_")));
            let t = onnxide_ir::npy::read(&path).unwrap_or_else(|e| panic!("{e}"));
            (o.name.clone(), t)
        })
        .collect()
}

/// Largest absolute difference between two tensors of the same shape (as f64).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let (x, y) = (
        a.to_f64_vec().expect("numeric"),
        b.to_f64_vec().expect("numeric"),
    );
    x.iter()
        .zip(&y)
        .map(|(p, q)| if p == q { 0.0 } else { (p - q).abs() })
        .fold(0.0, f64::max)
}

/// True when both tensors have the same dtype, shape and bit patterns.
pub fn bit_identical(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_raw_bytes() == b.to_raw_bytes()
}
