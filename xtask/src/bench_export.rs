//! `cargo xtask bench export [model=yolo11n.pt] [runs=5]`: whole-process time of
//! `onnxide export` against `yolo export format=onnx` (Ultralytics' CLI), median of `runs`,
//! alternating the two, each in a fresh temporary folder with its own copy of the model.

use crate::measure::{build_onnxide, median, timed};
use crate::python::repo_root;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    let root = repo_root();
    let mut model = root.join("fixtures/checkpoints/yolo11n.pt");
    let mut runs = 5usize;
    for a in args {
        match a.split_once('=') {
            Some(("model", v)) => model = v.into(),
            Some(("runs", v)) => runs = v.parse().context("runs")?,
            _ => bail!("bench export: unknown argument '{a}' (model=, runs=)"),
        }
    }
    let onnxide = build_onnxide()?;
    let file = model
        .file_name()
        .context("model has no file name")?
        .to_owned();
    let fresh = |dir: &Path| -> Result<()> {
        std::fs::copy(&model, dir.join(&file))?;
        Ok(())
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let d = tempfile::tempdir()?;
        fresh(d.path())?;
        let arg = format!("model={}", file.to_string_lossy());
        ours.push(timed(
            Command::new(&onnxide)
                .args(["export", &arg])
                .current_dir(d.path()),
        )?);
        let d = tempfile::tempdir()?;
        fresh(d.path())?;
        theirs.push(timed(
            Command::new("yolo")
                .args(["export", &arg, "format=onnx"])
                .current_dir(d.path()),
        )?);
        eprintln!(
            "run {}/{runs}: onnxide {:.3} s, yolo {:.3} s",
            i + 1,
            ours[i],
            theirs[i]
        );
    }
    let (mo, mt) = (median(&ours), median(&theirs));
    println!(
        "\nwhole-process export of {} (median of {runs})",
        model.display()
    );
    println!("| tool                          | median s | min s  |");
    println!("|-------------------------------|----------|--------|");
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "| onnxide export                | {mo:8.3} | {:6.3} |",
        min(&ours)
    );
    println!(
        "| yolo export format=onnx       | {mt:8.3} | {:6.3} |",
        min(&theirs)
    );
    println!("\nonnxide is {:.1}x faster (median/median)", mt / mo);
    Ok(())
}
