//! `cargo xtask bench [rounds=N] [runs=N] [warmup=N] [cache=DIR] [exact=True]`: onnxide against onnxruntime and OpenVINO on
//! YOLO11 models exported by onnxide itself, the three engines alternating in rounds so that machine noise hits
//! them alike. Every measurement is a separate process (`onnxide bench --json`, `xtask/bench/ort_bench.py`,
//! `xtask/bench/ov_bench.py`): load, session creation, warm-up and timed runs; its RSS high-water mark is the
//! engine's peak memory.

use crate::measure::{build_onnxide, median};
use crate::python::{interpreter, repo_root};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const HELP: &str = "\
cargo xtask bench [rounds=N] [runs=N] [warmup=N] [cache=DIR] [exact=True]

onnxide against onnxruntime (Python, CPUExecutionProvider, ORT_ENABLE_ALL) and OpenVINO (Python `openvino`,
CPU, INFERENCE_PRECISION_HINT=f32, PERFORMANCE_HINT=LATENCY), each with the row's thread count
(onnxruntime: intra_op_num_threads; OpenVINO: INFERENCE_NUM_THREADS). Rows:
  YOLO11n 640 batch 1 at 1 and 2 threads, batch 8 at 1 and 2 threads,
  YOLO11s 640 batch 1 at 1 thread, YOLO11n 320 batch 1 at 1 thread.
The models are onnxide's own export of the built-in yolo11n.yaml / yolo11s.yaml (seeded random weights, static
batch), written once into the cache dir (not committed). Each round runs every engine once per row, in
turn, as a separate process (load + session creation + warm-up + `runs` timed runs on a seeded random input).

Prints the CPU (from /proc/cpuinfo), the load average before and after, then two markdown tables:
  speed: median ms per engine over all rounds' runs (min in brackets), onnxide/onnxruntime and
         onnxide/OpenVINO ratios;
  session creation (median over rounds: load + create, for OpenVINO read + compile) and peak memory
         (the process's RSS high-water mark, the most over rounds; in brackets its growth over the RSS
         before loading, which leaves out each process's own baseline: Python, numpy, the libraries).
Without the `openvino` Python module its columns say `not installed`.

settings:
  rounds=N   alternating rounds per row (default 3)
  runs=N     timed runs per engine and round (default 10)
  warmup=N   untimed runs before them (default 2)
  cache=DIR  where the exported models go (default fixtures/.cache/bench)
  exact=True run onnxide in exact mode (onnxruntime's arithmetic bit for bit; default False)
";

struct Config {
    rounds: usize,
    runs: usize,
    warmup: usize,
    cache: PathBuf,
    /// Run onnxide with `exact=True` (onnxruntime's arithmetic, no Winograd).
    exact: bool,
}

fn parse(args: &[String]) -> Result<Config> {
    let mut c = Config {
        rounds: 3,
        runs: 10,
        warmup: 2,
        cache: repo_root().join("fixtures/.cache/bench"),
        exact: false,
    };
    for a in args {
        let count = |v: &str, key: &str| -> Result<usize> {
            let n: usize = v
                .parse()
                .with_context(|| format!("{key}={v}: not a count"))?;
            if n == 0 && key != "warmup" {
                bail!("{key}=0: at least 1");
            }
            Ok(n)
        };
        match a.split_once('=') {
            Some(("rounds", v)) => c.rounds = count(v, "rounds")?,
            Some(("runs", v)) => c.runs = count(v, "runs")?,
            Some(("warmup", v)) => c.warmup = count(v, "warmup")?,
            Some(("cache", v)) => c.cache = PathBuf::from(v),
            Some(("exact", v)) => c.exact = v.eq_ignore_ascii_case("true"),
            _ if a == "--help" || a == "-h" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            _ => {
                bail!("bench: unknown argument '{a}' (rounds=, runs=, warmup=, cache=, exact=; see --help)")
            }
        }
    }
    Ok(c)
}

/// One benchmark row.
struct Row {
    scale: char,
    imgsz: usize,
    batch: usize,
    threads: usize,
}

const ROWS: [Row; 6] = [
    Row {
        scale: 'n',
        imgsz: 640,
        batch: 1,
        threads: 1,
    },
    Row {
        scale: 'n',
        imgsz: 640,
        batch: 1,
        threads: 2,
    },
    Row {
        scale: 'n',
        imgsz: 640,
        batch: 8,
        threads: 1,
    },
    Row {
        scale: 'n',
        imgsz: 640,
        batch: 8,
        threads: 2,
    },
    Row {
        scale: 's',
        imgsz: 640,
        batch: 1,
        threads: 1,
    },
    Row {
        scale: 'n',
        imgsz: 320,
        batch: 1,
        threads: 1,
    },
];

/// The three engines, in the order each round runs them.
#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Onnxide,
    OnnxRuntime,
    OpenVino,
}

const ENGINES: [Engine; 3] = [Engine::Onnxide, Engine::OnnxRuntime, Engine::OpenVino];

/// What one engine measured on one row, over the rounds.
#[derive(Default)]
struct Tally {
    samples: Vec<f64>,
    session_ms: Vec<f64>,
    peak_mb: f64,
    growth_mb: f64,
    version: Option<String>,
    missing: Option<String>,
}

fn json_of(cmd: &mut Command) -> Result<Value> {
    let out = cmd
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("bad JSON from {cmd:?}: {line}"))
}
/// `yolo11{scale}-{imgsz}-b{batch}.onnx` in the cache dir, exported by `onnxide export` when missing.
fn model_for(
    onnxide: &Path,
    cache: &Path,
    scale: char,
    imgsz: usize,
    batch: usize,
) -> Result<PathBuf> {
    let path = cache.join(format!("yolo11{scale}-{imgsz}-b{batch}.onnx"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(cache).with_context(|| format!("create {}", cache.display()))?;
    // A yaml exports next to the working directory: a scratch dir, then renamed into place.
    let scratch = cache.join(format!("export-{scale}-{imgsz}-{batch}"));
    std::fs::create_dir_all(&scratch)?;
    let out = Command::new(onnxide)
        .args([
            "export".to_string(),
            format!("model=yolo11{scale}.yaml"),
            format!("imgsz={imgsz}"),
            format!("batch={batch}"),
        ])
        .current_dir(&scratch)
        .output()
        .context("start onnxide export")?;
    if !out.status.success() {
        bail!(
            "onnxide export model=yolo11{scale}.yaml imgsz={imgsz} batch={batch} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::rename(scratch.join(format!("yolo11{scale}.onnx")), &path)
        .with_context(|| format!("move the export to {}", path.display()))?;
    std::fs::remove_dir_all(&scratch).ok();
    Ok(path)
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let name = s
                .lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())?;
            let cpus = s.lines().filter(|l| l.starts_with("processor")).count();
            let flags = s.lines().find(|l| l.starts_with("flags")).unwrap_or("");
            let isa: Vec<&str> = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]
                .into_iter()
                .filter(|f| flags.split_whitespace().any(|x| x == *f))
                .collect();
            Some(format!("{name}, {cpus} logical CPUs ({})", isa.join(", ")))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One measurement: `engine` on `model` as a separate process.
fn measure(
    engine: Engine,
    onnxide: &Path,
    python: &str,
    model: &Path,
    row: &Row,
    c: &Config,
) -> Result<Value> {
    let model = model.display().to_string();
    match engine {
        Engine::Onnxide => json_of(Command::new(onnxide).args([
            "bench".to_string(),
            model,
            format!("threads={}", row.threads),
            format!("runs={}", c.runs),
            format!("warmup={}", c.warmup),
            format!("batch={}", row.batch),
            format!("imgsz={}", row.imgsz),
            format!("exact={}", if c.exact { "True" } else { "False" }),
            "--json".to_string(),
        ])),
        Engine::OnnxRuntime | Engine::OpenVino => {
            let script = if engine == Engine::OnnxRuntime {
                "xtask/bench/ort_bench.py"
            } else {
                "xtask/bench/ov_bench.py"
            };
            json_of(Command::new(python).args([
                script.to_string(),
                model,
                "--threads".into(),
                row.threads.to_string(),
                "--runs".into(),
                c.runs.to_string(),
                "--warmup".into(),
                c.warmup.to_string(),
                "--batch".into(),
                row.batch.to_string(),
                "--imgsz".into(),
                row.imgsz.to_string(),
            ]))
        }
    }
}

fn time_cell(t: &Tally) -> String {
    match &t.missing {
        Some(_) => "not installed".into(),
        None => {
            let min = t.samples.iter().copied().fold(f64::INFINITY, f64::min);
            format!("{:.1} ({min:.1})", median(&t.samples))
        }
    }
}

fn ratio_cell(ours: &Tally, theirs: &Tally) -> String {
    match &theirs.missing {
        Some(_) => "—".into(),
        None => format!("{:.2}", median(&ours.samples) / median(&theirs.samples)),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let c = parse(args)?;
    let onnxide = build_onnxide()?;
    let python = interpreter();
    let load_before = load_average();
    let mut results: Vec<(String, [Tally; 3])> = Vec::new();
    for row in &ROWS {
        let model = model_for(&onnxide, &c.cache, row.scale, row.imgsz, row.batch)?;
        let label = format!(
            "YOLO11{} {} | {} | {}",
            row.scale, row.imgsz, row.batch, row.threads
        );
        eprintln!("bench: {label} ...");
        let mut tallies: [Tally; 3] = Default::default();
        for _ in 0..c.rounds {
            for (engine, tally) in ENGINES.iter().zip(tallies.iter_mut()) {
                if tally.missing.is_some() {
                    continue;
                }
                let v = measure(*engine, &onnxide, &python, &model, row, &c)?;
                if let Some(m) = v["missing"].as_str() {
                    eprintln!("bench: {m}");
                    tally.missing = Some(m.to_string());
                    continue;
                }
                tally.samples.extend(
                    v["samples_ms"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64),
                );
                tally.session_ms.extend(v["session_ms"].as_f64());
                tally.peak_mb = tally.peak_mb.max(v["peak_rss_mb"].as_f64().unwrap_or(0.0));
                tally.growth_mb = tally
                    .growth_mb
                    .max(v["rss_growth_mb"].as_f64().unwrap_or(0.0));
                tally.version = v["version"].as_str().map(str::to_string);
            }
        }
        results.push((label, tallies));
    }
    let version = |i: usize| {
        results
            .iter()
            .find_map(|(_, t)| t[i].version.clone())
            .unwrap_or_else(|| "not installed".into())
    };
    println!(
        "onnxide vs onnxruntime {} vs OpenVINO {} (f32) — {}; load average {} before, {} after; \
         {} alternating rounds × {} runs (after {} warm-up) per engine and row; onnxide in {} mode",
        version(1),
        version(2),
        cpu_name(),
        load_before,
        load_average(),
        c.rounds,
        c.runs,
        c.warmup,
        if c.exact { "exact" } else { "default" }
    );
    println!();
    println!("| model | batch | threads | onnxide median (min) ms | onnxruntime median (min) ms | OpenVINO median (min) ms | onnxide / onnxruntime | onnxide / OpenVINO |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, t) in &results {
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            time_cell(&t[0]),
            time_cell(&t[1]),
            time_cell(&t[2]),
            ratio_cell(&t[0], &t[1]),
            ratio_cell(&t[0], &t[2])
        );
    }
    println!();
    println!("| model | batch | threads | session creation ms: onnxide / onnxruntime / OpenVINO | peak RSS MB (growth): onnxide / onnxruntime / OpenVINO |");
    println!("|---|---|---|---|---|");
    for (label, t) in &results {
        let session = t
            .iter()
            .map(|t| match t.missing {
                Some(_) => "not installed".to_string(),
                None => format!("{:.0}", median(&t.session_ms)),
            })
            .collect::<Vec<_>>()
            .join(" / ");
        let memory = t
            .iter()
            .map(|t| match t.missing {
                Some(_) => "not installed".to_string(),
                None => format!("{:.0} (+{:.0})", t.peak_mb, t.growth_mb),
            })
            .collect::<Vec<_>>()
            .join(" / ");
        println!("| {label} | {session} | {memory} |");
    }
    Ok(())
}
