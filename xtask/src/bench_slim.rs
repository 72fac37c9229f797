//! `cargo xtask bench slim [model=F] [runs=5]`: whole-process time of `onnxide slim` against
//! `onnxslim` and `onnxsim` (their CLIs) on one model, default the unslimmed YOLO11n detect
//! export `fixtures/slim/yolo11n_detect.onnx` (its weights materialised first); median of `runs`,
//! alternating the tools, each writing to a fresh temporary folder.

use crate::measure::{build_onnxide, median, timed};
use crate::python::{self, repo_root};
use anyhow::{bail, Context, Result};
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    let root = repo_root();
    let mut model = root.join("fixtures/slim/yolo11n_detect.onnx");
    let mut runs = 5usize;
    for a in args {
        match a.split_once('=') {
            Some(("model", v)) => model = v.into(),
            Some(("runs", v)) => runs = v.parse().context("runs")?,
            _ => bail!("bench slim: unknown argument '{a}' (model=, runs=)"),
        }
    }
    if runs == 0 {
        bail!("bench slim: runs must be at least 1");
    }
    let recipe = model.with_extension("weights.json");
    if recipe.exists() {
        python::script(
            "tests/oracle/materialize_weights.py",
            &[recipe.display().to_string()],
        )?;
    }
    let onnxide = build_onnxide()?;
    let tools: [(&str, Vec<String>); 3] = [
        (
            "onnxide slim",
            vec![onnxide.display().to_string(), "slim".into()],
        ),
        ("onnxslim", vec!["onnxslim".into()]),
        ("onnxsim", vec!["onnxsim".into()]),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); tools.len()];
    for i in 0..runs {
        let mut line = format!("run {}/{runs}:", i + 1);
        for (k, (name, cmd)) in tools.iter().enumerate() {
            let d = tempfile::tempdir()?;
            let out = d.path().join("out.onnx");
            let t = timed(
                Command::new(&cmd[0])
                    .args(&cmd[1..])
                    .arg(&model)
                    .arg(&out)
                    .current_dir(d.path()),
            )?;
            line += &format!(" {name} {t:.3} s;");
            times[k].push(t);
        }
        eprintln!("{line}");
    }
    println!(
        "\nwhole-process simplification of {} (median of {runs}, alternating)",
        model.display()
    );
    println!("| tool           | median s | min s  | / onnxide |");
    println!("|----------------|----------|--------|-----------|");
    let ours = median(&times[0]);
    for ((name, _), t) in tools.iter().zip(&times) {
        let m = median(t);
        let min = t.iter().copied().fold(f64::INFINITY, f64::min);
        println!("| {name:<14} | {m:8.3} | {min:6.3} | {:9.1} |", m / ours);
    }
    Ok(())
}
