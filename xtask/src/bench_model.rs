//! `cargo xtask bench [MODEL] [rounds=N] [runs=N] [exact=True]`: onnxide against onnxruntime on the same model, input
//! shape and thread count, alternating between the two so that machine noise hits both alike.

use crate::python::{interpreter, repo_root};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::process::Command;

struct Config {
    model_b1: String,
    model_b8: String,
    rounds: usize,
    runs: usize,
    /// Run onnxide with `exact=True` (onnxruntime's arithmetic, no Winograd).
    exact: bool,
}

fn parse(args: &[String]) -> Result<Config> {
    let mut c = Config {
        model_b1: "fixtures/exports/detect/default.onnx".into(),
        model_b8: "fixtures/exports/detect/dynamic.onnx".into(),
        rounds: 3,
        runs: 10,
        exact: false,
    };
    for a in args {
        match a.split_once('=') {
            Some(("rounds", v)) => c.rounds = v.parse().context("rounds")?,
            Some(("runs", v)) => c.runs = v.parse().context("runs")?,
            Some(("model", v)) => c.model_b1 = v.into(),
            Some(("model8", v)) => c.model_b8 = v.into(),
            Some(("exact", v)) => c.exact = v.eq_ignore_ascii_case("true"),
            _ => bail!("bench: unknown argument '{a}' (model=, model8=, rounds=, runs=, exact=)"),
        }
    }
    Ok(c)
}

fn json_of(cmd: &mut Command) -> Result<Value> {
    let out = cmd
        .current_dir(repo_root())
        .output()
        .context("start benchmark process")?;
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("bad JSON from {cmd:?}: {line}"))
}

fn median(v: &mut [f64]) -> f64 {
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

pub fn run(args: &[String]) -> Result<()> {
    let c = parse(args)?;
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet", "-p", "onnxide"])
        .current_dir(repo_root())
        .status()?;
    if !status.success() {
        bail!("building onnxide failed");
    }
    let onnxide = repo_root().join("target/release/onnxide");
    let python = interpreter();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "onnxide{} vs onnxruntime — {cpu}, {} rounds × {} runs, alternating",
        if c.exact { " (exact=True)" } else { "" },
        c.rounds,
        c.runs
    );
    println!("| model | batch | threads | onnxide median (min) ms | onnxruntime median (min) ms | ratio | onnxide peak RSS +MB | ORT peak RSS +MB |");
    println!("|---|---|---|---|---|---|---|---|");
    for (batch, model) in [(1usize, &c.model_b1), (8, &c.model_b8)] {
        for threads in [1usize, 2] {
            if batch == 8 && threads == 2 {
                continue;
            }
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            let (mut our_mem, mut their_mem) = (0.0f64, 0.0f64);
            for _ in 0..c.rounds {
                let o = json_of(Command::new(&onnxide).args([
                    "bench",
                    model,
                    &format!("threads={threads}"),
                    &format!("runs={}", c.runs),
                    "warmup=2",
                    &format!("batch={batch}"),
                    &format!("exact={}", if c.exact { "True" } else { "False" }),
                    "--json",
                ]))?;
                let t = json_of(Command::new(&python).args([
                    "xtask/bench/ort_bench.py",
                    model,
                    "--threads",
                    &threads.to_string(),
                    "--runs",
                    &c.runs.to_string(),
                    "--warmup",
                    "2",
                    "--batch",
                    &batch.to_string(),
                ]))?;
                for (samples, v) in [(&mut ours, &o), (&mut theirs, &t)] {
                    samples.extend(
                        v["samples_ms"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_f64),
                    );
                }
                our_mem = our_mem.max(o["rss_growth_mb"].as_f64().unwrap_or(0.0));
                their_mem = their_mem.max(t["rss_growth_mb"].as_f64().unwrap_or(0.0));
            }
            let (om, tm) = (median(&mut ours), median(&mut theirs));
            println!(
                "| {model} | {batch} | {threads} | {om:.1} ({:.1}) | {tm:.1} ({:.1}) | {:.2} | {our_mem:.0} | {their_mem:.0} |",
                ours[0], theirs[0], om / tm
            );
        }
    }
    Ok(())
}
