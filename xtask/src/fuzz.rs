//! `cargo xtask fuzz [SECS] [TARGET...]`: runs every cargo-fuzz target in `fuzz/` (or the ones
//! named) for SECS seconds each (default 60) on its corpus, seeding the corpora first
//! (`fuzz/seed.sh`). Needs `cargo install cargo-fuzz`; the stable toolchain takes the
//! sanitizer flags with `RUSTC_BOOTSTRAP=1`. Stops at the first target that finds a crash.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Every target in `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: [&str; 6] = [
    "pickle",
    "pt_zip",
    "safetensors",
    "onnx_session",
    "npy",
    "keyvalue",
];

pub fn run(args: &[String]) -> Result<()> {
    let mut secs = 60u64;
    let mut only: Vec<&str> = Vec::new();
    for a in args {
        if let Ok(n) = a.parse::<u64>() {
            secs = n;
        } else if TARGETS.contains(&a.as_str()) {
            only.push(a);
        } else {
            bail!(
                "unknown fuzz target '{a}' (targets: {})",
                TARGETS.join(", ")
            );
        }
    }
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        only
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fuzz = root.join("fuzz");
    let status = Command::new("bash")
        .arg(fuzz.join("seed.sh"))
        .status()
        .context("running fuzz/seed.sh")?;
    if !status.success() {
        bail!("fuzz/seed.sh failed");
    }
    for t in &targets {
        let corpus = format!("corpus/{t}");
        std::fs::create_dir_all(fuzz.join(&corpus))?;
        println!("fuzz: {t} for {secs} s");
        let status = Command::new("cargo")
            .current_dir(&fuzz)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "-O", t, &corpus, "--"])
            .arg(format!("-max_total_time={secs}"))
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            .status()
            .context("running cargo fuzz (cargo install cargo-fuzz)")?;
        if !status.success() {
            bail!("fuzz target {t} failed: see fuzz/artifacts/{t}/");
        }
    }
    Ok(())
}
