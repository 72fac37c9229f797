//! `onnxide slim IN.onnx [OUT.onnx] [key=value ...] [--skip P] [--only P] [--no-shape-infer]
//! [--check] [--fp16] [--json]`: simplify a model with onnxide-slim's passes.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use onnxide_ir::rewrite::RunReport;
use onnxide_ir::{DType, Dim, Model, SaveOptions, Tensor};
use onnxide_slim::{Options, PASSES};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Simplify an ONNX model (onnxslim-like).
///
/// Passes, run in this order round after round until nothing changes (names for --skip/--only):
///   fold-shapes          Shape/Size of static dims and integer shape arithmetic on them; empty values
///   fold-constants       nodes on constant inputs, evaluated with onnxide's reference kernels
///                        (a result larger than its inputs stays unfolded unless size-threshold allows it)
///   fuse-conv-bn         Conv/ConvTranspose + BatchNormalization (inference mode)
///   fuse-conv-add        Conv + Add of a per-output-channel constant (into the bias)
///   fuse-conv-mul        Conv + Mul by a per-output-channel constant (into weight and bias)
///   fuse-gemm            MatMul + Add -> Gemm (2-D A, constant 2-D B, constant broadcastable C)
///   fuse-pad-conv        constant zero Pad of spatial dims -> Conv pads
///   transpose-chains     Transpose -> Transpose composed (identity removed); a Transpose next to a
///                        Reshape that moves only size-1 dims becomes a Reshape
///   reshape-chains       Reshape -> Reshape: the last one kept
///   squeeze-pairs        Unsqueeze/Squeeze pairs on the same axes cancel; Unsqueeze -> Unsqueeze merged
///   slice-chains         Slice -> Slice merged (distinct axes) or composed (same axis, step 1)
///   concat-chains        Concat -> Concat on the same axis spliced
///   concat-reshape       Reshape(x, Concat(constants, one computed value)) -> constant shape with -1
///   no-ops               Identity, Dropout, same-type Cast, Reshape/Expand/Slice/Transpose/Concat that
///                        change nothing, rank-1 to rank-1 Reshape; empty Concat inputs dropped
///   cse                  common-subexpression elimination
///   shared-initializers  identical initializers stored once
///   dead-code            unused nodes, initializers and value_info
/// Fused weights are computed in f64 and rounded once to the weights' type.
/// Graph inputs and outputs keep their names, types and dims (dim_params too).
///
/// Settings are Ultralytics-style key=value pairs:
///   size-threshold=BYTES  constant folding may write results larger than its inputs, up to
///                         BYTES per node (default 0: the file never grows)
///
/// --check runs the original and the result on onnxide's executor (reference kernels) on seeded
/// inputs (uniform [0, 1) floats, zero integers; symbolic dims of size 1), prints the largest
/// |Δ| / max(1, |original|) per output and exits non-zero (writing nothing) when one exceeds
/// 1e-4 (1e-2 with --fp16).
///
/// Models with external data are read (relative to IN's folder); the result is written inline
/// unless --external-data is given or its initializers exceed 2 GB (then OUT + `.data`).
///
/// Not done yet: rewriting inside If/Loop/Scan bodies; folding ops outside the default domain;
/// onnxslim's input-shape/dtype/output-cutting options.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The .onnx file to simplify (never overwritten unless OUT names it).
    input: PathBuf,
    /// OUT.onnx (default: IN's stem + `_slim.onnx`, next to IN), then key=value settings
    /// (size-threshold).
    #[arg(value_name = "OUT | KEY=VALUE")]
    rest: Vec<String>,
    /// Do not run PASS (repeatable, or comma-separated).
    #[arg(long, value_name = "PASS", value_delimiter = ',')]
    skip: Vec<String>,
    /// Run only PASS (repeatable, or comma-separated).
    #[arg(long, value_name = "PASS", value_delimiter = ',')]
    only: Vec<String>,
    /// Do not run fold-shapes (values known only from shape inference stay computed).
    #[arg(long)]
    no_shape_infer: bool,
    /// Compare the result with the original on onnxide's executor; fail on a mismatch.
    #[arg(long)]
    check: bool,
    /// Convert the result to float16 (onnxruntime's converter, float32 inputs and outputs kept).
    #[arg(long)]
    fp16: bool,
    /// Write initializers of 1 KiB or more to OUT + `.data` next to OUT (ONNX external data);
    /// automatic when the initializers exceed 2 GB, protobuf's limit.
    #[arg(long)]
    external_data: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Above this many initializer bytes the result is written with external data (protobuf files
/// cannot exceed 2 GiB; the graph itself needs some room).
const INLINE_LIMIT: usize = 2_000_000_000;

const KEYS: [&str; 1] = ["size-threshold"];

/// `dir/model.onnx` -> `dir/model_slim.onnx`.
fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    input.with_file_name(format!("{stem}_slim.onnx"))
}

fn op_counts(model: &Model) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for n in &model.graph.nodes {
        let key = if n.domain.is_empty() || n.domain == "ai.onnx" {
            n.op_type.clone()
        } else {
            format!("{}:{}", n.domain, n.op_type)
        };
        *ops.entry(key).or_insert(0) += 1;
    }
    ops
}

fn initializer_bytes(model: &Model) -> usize {
    model
        .graph
        .initializers
        .iter()
        .map(|t| t.tensor.byte_size())
        .sum()
}

/// A pass name, or an error with the closest one.
fn pass_name(flag: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if PASSES.contains(&name) {
        return Ok(name.to_string());
    }
    match keyvalue::closest(name, &PASSES) {
        Some(known) => bail!("--{flag} {name}: unknown pass; did you mean '{known}'?"),
        None => bail!(
            "--{flag} {name}: unknown pass; passes: {}",
            PASSES.join(", ")
        ),
    }
}

/// Seeded inputs for `--check`: floats uniform in [0, 1), integers and booleans zero;
/// symbolic dims of size 1.
fn check_inputs(model: &Model) -> Result<Vec<(String, Tensor)>> {
    let mut feeds = Vec::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let graph_inits: std::collections::HashSet<&str> = model
        .graph
        .initializers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    for v in model
        .graph
        .inputs
        .iter()
        .filter(|v| !graph_inits.contains(v.name.as_str()))
    {
        let (Some(elem), Some(dims)) = (v.elem_type(), v.shape()) else {
            bail!("--check: input '{}' has no tensor type and shape", v.name);
        };
        let shape: Vec<usize> = dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => usize::try_from(*n).unwrap_or(usize::MAX),
                _ => 1,
            })
            .collect();
        let n = onnxide_ir::element_count(&shape)
            .filter(|&n| n <= 1 << 28)
            .with_context(|| format!("--check: input '{}' is too large ({shape:?})", v.name))?;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let t = match elem {
            DType::F32 => Tensor::from_vec(shape, (0..n).map(|_| next() as f32).collect()),
            DType::F64 => Tensor::from_vec(shape, (0..n).map(|_| next()).collect()),
            DType::F16 => {
                Tensor::from_vec(shape, (0..n).map(|_| half::f16::from_f64(next())).collect())
            }
            other => Tensor::zeros(other, shape),
        }
        .map_err(|e| anyhow::anyhow!("--check: input '{}': {e}", v.name))?;
        feeds.push((v.name.clone(), t));
    }
    Ok(feeds)
}

/// Runs both models on the reference kernels; per output, the largest |Δ| / max(1, |a|).
fn compare(original: &Model, slimmed: &Model, input: &Path) -> Result<Vec<(String, f64)>> {
    let feeds = check_inputs(original)?;
    let opts = onnxide_runtime::SessionOptions {
        threads: None,
        optimize: false,
        exact: true,
        ..Default::default()
    };
    let run = |m: &Model, what: &str| -> Result<Vec<(String, Tensor)>> {
        let s = onnxide_runtime::Session::new(m, &opts)
            .with_context(|| format!("{}: --check: {what}", input.display()))?;
        s.run(feeds.clone())
            .with_context(|| format!("{}: --check: running the {what}", input.display()))
    };
    let a = run(original, "original")?;
    let b = run(slimmed, "result")?;
    let mut diffs = Vec::new();
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let d = match (x.to_f64_vec(), y.to_f64_vec()) {
            (Some(p), Some(q)) if x.shape() == y.shape() => p
                .iter()
                .zip(&q)
                .map(|(p, q)| {
                    let d = (p - q).abs() / p.abs().max(1.0);
                    if d.is_nan() && !(p.is_nan() && q.is_nan()) {
                        f64::INFINITY
                    } else if d.is_nan() {
                        0.0
                    } else {
                        d
                    }
                })
                .fold(0.0, f64::max),
            _ => f64::INFINITY,
        };
        diffs.push((name.clone(), d));
    }
    Ok(diffs)
}

pub fn main(args: Args) -> Result<()> {
    let mut output = None;
    let mut settings = Vec::new();
    for r in &args.rest {
        if r.contains('=') && !r.ends_with(".onnx") {
            settings.push(r.as_str());
        } else if output.is_none() {
            output = Some(PathBuf::from(r));
        } else {
            bail!("unexpected argument '{r}' (usage: onnxide slim IN.onnx [OUT.onnx] [key=value ...])");
        }
    }
    let mut opts = Options {
        no_shape_infer: args.no_shape_infer,
        ..Options::default()
    };
    for (key, value) in keyvalue::parse(&settings, &KEYS, &[])? {
        if key == "size-threshold" {
            opts.size_threshold = keyvalue::parse_count(key, value, 0)?;
        }
    }
    opts.skip = args
        .skip
        .iter()
        .map(|p| pass_name("skip", p))
        .collect::<Result<_>>()?;
    opts.only = args
        .only
        .iter()
        .map(|p| pass_name("only", p))
        .collect::<Result<_>>()?;
    let output = output.unwrap_or_else(|| default_output(&args.input));
    let mut model = onnxide_ir::load(&args.input)?;
    let original = args.check.then(|| model.clone());
    let before = op_counts(&model);
    let (nodes_before, bytes_before) = (model.graph.nodes.len(), initializer_bytes(&model));
    let start = Instant::now();
    let report = onnxide_slim::slim_with(&mut model, &opts)
        .with_context(|| format!("{}: simplifying failed", args.input.display()))?;
    if args.fp16 {
        onnxide_convert::float16::to_float16(&mut model)
            .with_context(|| format!("{}: --fp16 failed", args.input.display()))?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let check = match &original {
        Some(o) => Some(compare(o, &model, &args.input)?),
        None => None,
    };
    let tol = if args.fp16 { 1e-2 } else { 1e-4 };
    let failed: Vec<String> = check
        .iter()
        .flatten()
        .filter(|(_, d)| d.is_nan() || *d > tol)
        .map(|(n, d)| format!("{n} {d:e}"))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{}: --check failed: the result differs from the original beyond {tol:e} (output, largest |Δ|/max(1,|original|)): {}; nothing written",
            args.input.display(),
            failed.join(", ")
        );
    }
    let external = args.external_data || initializer_bytes(&model) > INLINE_LIMIT;
    let save = SaveOptions {
        external_data: external.then(|| onnxide_ir::ExternalData {
            location: format!(
                "{}.data",
                output
                    .file_name()
                    .map_or("model.onnx".into(), |n| n.to_string_lossy().into_owned())
            ),
            threshold_bytes: 1024,
        }),
    };
    onnxide_ir::save(&model, &output, &save)
        .with_context(|| format!("{}: writing the result failed", output.display()))?;
    let after = op_counts(&model);
    let mut summary = json!({
        "input": args.input.display().to_string(),
        "output": output.display().to_string(),
        "nodes": {"before": nodes_before, "after": model.graph.nodes.len()},
        "initializer_bytes": {"before": bytes_before, "after": initializer_bytes(&model)},
        "ops": ops_json(&before, &after),
        "passes": passes_json(&report),
        "iterations": report.iterations,
        "converged": report.converged,
        "fp16": args.fp16,
        "external_data": save.external_data.as_ref().map(|e| e.location.clone()),
        "seconds": elapsed,
    });
    if let Some(c) = &check {
        let m: serde_json::Map<String, Value> =
            c.iter().map(|(n, d)| (n.clone(), json!(d))).collect();
        summary["check"] = json!({"tolerance": tol, "max_rel_diff": m});
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary, &before, &after, &report);
        for (n, d) in check.iter().flatten() {
            println!("check {n}: max |Δ|/max(1,|original|) {d:e} (tolerance {tol:e})");
        }
    }
    Ok(())
}

fn ops_json(before: &BTreeMap<String, usize>, after: &BTreeMap<String, usize>) -> Value {
    let mut ops = serde_json::Map::new();
    for op in before.keys().chain(after.keys()) {
        ops.insert(
            op.clone(),
            json!({
                "before": before.get(op).copied().unwrap_or(0),
                "after": after.get(op).copied().unwrap_or(0),
            }),
        );
    }
    Value::Object(ops)
}

fn passes_json(report: &RunReport) -> Value {
    report
        .passes
        .iter()
        .map(|p| {
            let counts: serde_json::Map<String, Value> = p
                .report
                .counts()
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({"name": p.name, "runs": p.runs, "changes": counts, "seconds": p.time.as_secs_f64()})
        })
        .collect()
}

fn print_table(
    summary: &Value,
    before: &BTreeMap<String, usize>,
    after: &BTreeMap<String, usize>,
    report: &RunReport,
) {
    let line =
        "+".to_string() + &"-".repeat(26) + "+" + &"-".repeat(14) + "+" + &"-".repeat(14) + "+";
    println!("{line}");
    println!("| {:<24} | {:>12} | {:>12} |", "op", "original", "slimmed");
    println!("{line}");
    let mut ops: Vec<&String> = before.keys().chain(after.keys()).collect();
    ops.sort();
    ops.dedup();
    for op in ops {
        let (b, a) = (
            before.get(op).copied().unwrap_or(0),
            after.get(op).copied().unwrap_or(0),
        );
        println!("| {op:<24} | {b:>12} | {a:>12} |");
    }
    println!("{line}");
    let n = &summary["nodes"];
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    println!(
        "| {:<24} | {:>12} | {:>12} |",
        "nodes",
        num(&n["before"]),
        num(&n["after"])
    );
    let w = &summary["initializer_bytes"];
    println!(
        "| {:<24} | {:>12} | {:>12} |",
        "initializer bytes",
        num(&w["before"]),
        num(&w["after"])
    );
    println!("{line}");
    for p in &report.passes {
        let counts: Vec<String> = p
            .report
            .counts()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let changes = if counts.is_empty() {
            "-".to_string()
        } else {
            counts.join(", ")
        };
        println!(
            "{:<20} {:>7.1} ms  {changes}",
            p.name,
            p.time.as_secs_f64() * 1e3
        );
    }
    println!(
        "{} rounds{}; {:.3} s; wrote {}",
        report.iterations,
        if report.converged {
            ""
        } else {
            " (round limit reached)"
        },
        summary["seconds"].as_f64().unwrap_or(0.0),
        summary["output"].as_str().unwrap_or("")
    );
}
