//! The Python oracle: the one way every test runs a script of `tests/oracle/`.
//!
//! The interpreter is `$ONNXIDE_PYTHON`, else `$PYTHON` (the name the suite used before), else
//! `python3`; it needs numpy, onnx and onnxruntime (`tests/requirements.txt`). Scripts run from
//! the repository root with their stdout captured; a script that cannot start or exits non-zero
//! becomes one panic message naming the script, its arguments, the exit code and the tail of its
//! stderr. A missing oracle is a failure, never a skip.

use crate::repo_root;
use onnxide_ir::Tensor;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// How many trailing lines of a failed script's stderr the panic message shows.
const STDERR_TAIL_LINES: usize = 40;

/// The Python interpreter for oracle scripts: `$ONNXIDE_PYTHON`, else `$PYTHON`, else `python3`.
pub fn interpreter() -> String {
    ["ONNXIDE_PYTHON", "PYTHON"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "python3".to_string())
}

/// `tests/oracle/<script>`.
pub fn script_path(script: &str) -> PathBuf {
    repo_root().join("tests/oracle").join(script)
}

/// Why an oracle script gave no answer.
#[derive(Debug)]
pub struct OracleError {
    /// The script and its arguments, as run.
    pub command: String,
    /// What went wrong: the interpreter could not start, or the script's exit code and stderr tail.
    pub reason: String,
}

impl fmt::Display for OracleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oracle `{}` {}", self.command, self.reason)
    }
}

impl std::error::Error for OracleError {}

/// Runs `tests/oracle/<script> args...` and returns its stdout, or why it failed.
pub fn try_run<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Result<String, OracleError> {
    let python = interpreter();
    let command = std::iter::once(script.to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(&python)
        .arg(script_path(script))
        .args(args)
        .current_dir(repo_root())
        .output()
        .map_err(|e| OracleError {
            command: command.clone(),
            reason: format!(
                "could not start `{python}`: {e} (the tests need Python with numpy, onnx and \
                 onnxruntime, tests/requirements.txt; set ONNXIDE_PYTHON to the interpreter to use)"
            ),
        })?;
    if !out.status.success() {
        let code = out
            .status
            .code()
            .map_or_else(|| "a signal".to_string(), |c| c.to_string());
        return Err(OracleError {
            command,
            reason: format!(
                "failed (exit code {code}, interpreter `{python}`); stderr ends with:\n{}",
                tail(&String::from_utf8_lossy(&out.stderr), STDERR_TAIL_LINES)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `tests/oracle/<script> args...` and returns its stdout; panics with [`OracleError`]'s
/// message when the script cannot start or fails.
pub fn run<S: AsRef<OsStr>>(script: &str, args: &[S]) -> String {
    try_run(script, args).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`run`], for scripts that print one JSON document.
pub fn run_json<S: AsRef<OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let out = run(script, args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("oracle `{script}` printed no JSON ({e}):\n{out}"))
}

/// The last `lines` lines of `text` (all of it when shorter).
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let start = all.len().saturating_sub(lines);
    let skipped = if start > 0 {
        format!("[{start} earlier lines]\n")
    } else {
        String::new()
    };
    format!("{skipped}{}", all[start..].join("\n"))
}

/// Writes a seeded uniform [0,1) float32 input with numpy's `default_rng(seed)`.
pub fn make_input(shape: &[usize], seed: u64, out: &Path) {
    let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    run(
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
    run("ort_run.py", &args);
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

/// One export's golden io (`fixtures/manifest.json` → `golden_io`), generated into the cache.
#[derive(Clone, Debug)]
pub struct GoldenIo {
    /// The manifest key, `<task>/<variant>`.
    pub export: String,
    /// The export's `.onnx` file.
    pub model: PathBuf,
    /// `(input name, .npy)`, as the manifest lists them.
    pub inputs: Vec<(String, PathBuf)>,
    /// `(output name, .npy with onnxruntime's output)`, as the manifest lists them.
    pub outputs: Vec<(String, PathBuf)>,
}

/// Every golden io case of the manifest, its files made by `tests/oracle/golden_io.py` in
/// `fixtures/.cache/io/` (once; later calls and later runs reuse them).
pub fn golden_io() -> Vec<GoldenIo> {
    static GENERATED: OnceLock<String> = OnceLock::new();
    let log = GENERATED.get_or_init(|| run::<&str>("golden_io.py", &[]));
    let manifest_path = crate::fixture("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let exports = manifest["exports"]
        .as_object()
        .expect("manifest.json has exports");
    let files = |io: &serde_json::Value, key: &str| -> Vec<(String, PathBuf)> {
        let map = io[key]
            .as_object()
            .expect("golden_io lists inputs and outputs");
        map.iter()
            .map(|(name, f)| {
                let rel = f["path"].as_str().expect("golden_io file path");
                let path = repo_root().join(rel);
                assert!(path.is_file(), "golden_io.py did not write {rel}:\n{log}");
                (name.clone(), path)
            })
            .collect()
    };
    exports
        .iter()
        .filter(|(_, e)| e["golden_io"].is_object())
        .map(|(key, e)| GoldenIo {
            export: key.clone(),
            model: repo_root().join(e["path"].as_str().expect("export path")),
            inputs: files(&e["golden_io"], "inputs"),
            outputs: files(&e["golden_io"], "outputs"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_script_names_itself_its_exit_code_and_its_stderr() {
        let err = try_run("no_such_oracle_script.py", &["--flag"]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("no_such_oracle_script.py --flag"),
            "{message}"
        );
        assert!(message.contains("exit code 2"), "{message}");
        assert!(message.contains("No such file"), "{message}");
    }

    #[test]
    fn a_script_answers_on_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.npy");
        make_input(&[2, 3], 0, &out);
        let x = onnxide_ir::npy::read(&out).unwrap();
        assert_eq!(x.shape(), &[2, 3]);
        let listed = run("golden_io.py", &["--only", "classify/dynamic"]);
        assert!(listed.contains("classify/dynamic"), "{listed}");
    }

    #[test]
    fn the_stderr_tail_keeps_the_last_lines() {
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text, 3);
        assert_eq!(t, "[47 earlier lines]\nline 47\nline 48\nline 49");
        assert_eq!(tail("one\ntwo\n", 40), "one\ntwo");
    }
}
