//! What every `cargo xtask bench ...` needs: a release build of the onnxide binary, a
//! whole-process timer and the median.

use crate::python::repo_root;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Builds `target/release/onnxide` (quietly) and returns its path.
pub fn build_onnxide() -> Result<PathBuf> {
    let root = repo_root();
    let status = Command::new("cargo")
        .args(["build", "--quiet", "--release", "-p", "onnxide"])
        .current_dir(&root)
        .status()
        .context("start cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p onnxide failed");
    }
    Ok(root.join("target/release/onnxide"))
}

/// Wall time of `cmd` as a whole process, in seconds; an error if it fails.
pub fn timed(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("start {cmd:?}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(secs)
}

/// The median (mean of the middle two for an even count); NaN for no samples.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
