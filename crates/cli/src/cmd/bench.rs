//! `onnxide bench MODEL threads=N runs=N warmup=N batch=N exact=False [--json]`: latency of one model on onnxide's executor.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use onnxide_ir::{DType, Dim, Tensor};
use std::path::PathBuf;
use std::time::Instant;

/// Time a model on onnxide's CPU executor (seeded uniform [0,1) inputs).
///
/// Settings are Ultralytics-style key=value pairs:
///   threads=N  worker threads (default: all cores)
///   runs=N     timed runs (default 50)
///   warmup=N   untimed runs first (default 5)
///   batch=N    size of a symbolic batch dimension (default 1); height/width dims take imgsz
///   imgsz=N    size of symbolic height/width dimensions (default 640)
///   exact=True bit-identical to onnxruntime's arithmetic (no Winograd); default False
///   memory=SIZE  memory budget for the model's tensors, as bytes or with K, M, G
///              (default: half of the physical memory)
#[derive(clap::Args)]
// Verbatim: the settings table keeps its lines in --help.
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The .onnx file.
    model: PathBuf,
    /// key=value settings: threads, runs, warmup, batch, imgsz, exact, memory.
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Print JSON (median_ms, min_ms, mean_ms, p90_ms, runs, threads, batch, exact, session_ms (load +
    /// session creation), peak_rss_mb, rss_growth_mb, samples_ms).
    #[arg(long)]
    json: bool,
}

struct Settings {
    threads: Option<usize>,
    runs: usize,
    warmup: usize,
    batch: usize,
    imgsz: usize,
    exact: bool,
    memory: Option<u64>,
}

/// The keys `bench` takes.
const KEYS: [&str; 7] = [
    "threads", "runs", "warmup", "batch", "imgsz", "exact", "memory",
];

fn parse(settings: &[String]) -> Result<Settings> {
    let mut s = Settings {
        threads: None,
        runs: 50,
        warmup: 5,
        batch: 1,
        imgsz: 640,
        exact: false,
        memory: None,
    };
    for (key, value) in keyvalue::parse(settings, &KEYS, &[])? {
        match key {
            "threads" => s.threads = Some(keyvalue::parse_count(key, value, 1)?),
            "runs" => s.runs = keyvalue::parse_count(key, value, 1)?,
            "warmup" => s.warmup = keyvalue::parse_count(key, value, 0)?,
            "batch" => s.batch = keyvalue::parse_count(key, value, 1)?,
            "imgsz" => s.imgsz = keyvalue::parse_count(key, value, 1)?,
            "exact" => s.exact = keyvalue::parse_bool(key, value)?,
            "memory" => s.memory = Some(keyvalue::parse_bytes(key, value)?),
            other => bail!("unknown argument '{other}'"),
        }
    }
    Ok(s)
}

/// Resident-set figures from /proc/self/status, in MB (`VmRSS`, `VmHWM`); zero where unavailable.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A seeded uniform [0,1) tensor (xorshift; the values don't matter for timing, only that they are fixed).
fn input_for(shape: &[usize], dtype: DType, seed: u64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    Ok(match dtype {
        DType::F32 => Tensor::from_vec(shape.to_vec(), (0..n).map(|_| next()).collect())?,
        DType::F16 => Tensor::from_vec(
            shape.to_vec(),
            (0..n).map(|_| half::f16::from_f32(next())).collect(),
        )?,
        other => Tensor::zeros(other, shape.to_vec())?,
    })
}

pub fn main(args: Args) -> Result<()> {
    let s = parse(&args.settings)?;
    let (rss_before, _) = rss_mb();
    let created = Instant::now();
    let model = onnxide_ir::load(&args.model)?;
    let session = onnxide_runtime::Session::new(
        &model,
        &onnxide_runtime::SessionOptions {
            threads: s.threads,
            exact: s.exact,
            memory: s.memory,
            ..Default::default()
        },
    )
    .with_context(|| args.model.display().to_string())?;
    let session_ms = created.elapsed().as_secs_f64() * 1e3;
    let mut feeds = Vec::new();
    for (i, input) in session.inputs().iter().enumerate() {
        let dims = input
            .shape()
            .with_context(|| format!("input '{}' has no known rank", input.name))?;
        let shape: Vec<usize> = dims
            .iter()
            .enumerate()
            .map(|(axis, d)| match d {
                Dim::Fixed(v) => *v as usize,
                _ if axis == 0 => s.batch,
                _ => s.imgsz,
            })
            .collect();
        let dtype = input.elem_type().unwrap_or(DType::F32);
        feeds.push((input.name.clone(), input_for(&shape, dtype, i as u64)?));
    }
    for _ in 0..s.warmup {
        session.run(feeds.clone())?;
    }
    let mut times = Vec::with_capacity(s.runs);
    for _ in 0..s.runs {
        let inputs = feeds.clone();
        let start = Instant::now();
        session.run(inputs)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (_, peak) = rss_mb();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let min = sorted[0];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let p90 = sorted[((sorted.len() as f64 * 0.9).ceil() as usize).clamp(1, sorted.len()) - 1];
    if args.json {
        let report = serde_json::json!({
            "model": args.model.display().to_string(),
            "median_ms": median, "min_ms": min, "mean_ms": mean, "p90_ms": p90,
            "runs": s.runs, "warmup": s.warmup, "threads": session.threads(), "batch": s.batch,
            "exact": s.exact,
            "session_ms": session_ms, "peak_rss_mb": peak, "rss_growth_mb": peak - rss_before,
            "samples_ms": times,
        });
        println!("{report}");
    } else {
        println!(
            "{}: median {median:.2} ms, min {min:.2} ms, mean {mean:.2} ms, p90 {p90:.2} ms ({} runs after {} warm-up, {} threads, batch {}{}); session {session_ms:.0} ms; peak RSS {peak:.0} MB (+{:.0} MB)",
            args.model.display(),
            s.runs,
            s.warmup,
            session.threads(),
            s.batch,
            if s.exact { ", exact" } else { "" },
            peak - rss_before
        );
    }
    Ok(())
}
