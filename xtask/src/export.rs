//! `cargo xtask export key=value ...`: `onnxide export` itself, built and run by cargo, for use
//! without installing the CLI (the `key=value` arguments are read by the CLI alone).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    // The workspace's manifest, so that the current folder (where relative model paths and the
    // output of a config-name export are) may be anywhere.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--quiet", "--release", "--manifest-path"])
        .arg(&manifest)
        .args(["--package", "onnxide", "--", "export"])
        .args(args)
        .status()
        .context("running `cargo run --package onnxide -- export`")?;
    if !status.success() {
        // onnxide has printed its one-line error already.
        bail!("onnxide export failed ({status})");
    }
    Ok(())
}
