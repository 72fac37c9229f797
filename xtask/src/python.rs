//! Running the project's Python developer scripts from the repository root.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The Python interpreter: the test suite's rule (`$ONNXIDE_PYTHON`, else `$PYTHON`, else
/// `python3`), so developer scripts and tests run under the same Python.
pub fn interpreter() -> String {
    onnxide_tests::oracle::interpreter()
}

/// `python SCRIPT ARGS...` in the repository root; fails if the script fails.
pub fn script(script: &str, args: &[String]) -> Result<()> {
    let python = interpreter();
    let status = Command::new(&python)
        .arg(script)
        .args(args)
        .current_dir(repo_root())
        .status()
        .with_context(|| {
            format!("cannot start {python} (set ONNXIDE_PYTHON to the interpreter to use)")
        })?;
    if !status.success() {
        bail!("{script} failed ({status})");
    }
    Ok(())
}
