//! `onnxide slim IN.onnx [OUT.onnx] [--json]`: simplify a model with onnxide-slim's passes.

use anyhow::{bail, Context, Result};
use onnxide_ir::rewrite::RunReport;
use onnxide_ir::{Model, SaveOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Simplify an ONNX model (onnxslim-like), first cut.
///
/// Passes, run round after round until nothing changes: shape folding (Shape/Size of static
/// dims and shape arithmetic on them), constant folding with onnxide's reference kernels (a
/// result larger than its inputs stays unfolded: the file never grows), no-op removal
/// (Identity, Dropout, same-type Cast, Reshape/Expand/Slice that change nothing, identity
/// Transpose, one-input Concat), common-subexpression elimination, identical initializers
/// stored once, dead nodes/initializers. Graph inputs and outputs keep their names, types and
/// dims.
///
/// Not done yet: fusions (Conv+BatchNormalization, MatMul+Add, ...), rewriting inside
/// If/Loop/Scan bodies, external-data output (models over 2 GB), per-op onnxslim options.
#[derive(clap::Args)]
pub struct Args {
    /// The .onnx file to simplify (never overwritten unless OUT names it).
    input: PathBuf,
    /// Where to write the result (default: IN's stem + `_slim.onnx`, next to IN).
    output: Option<PathBuf>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

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

pub fn main(args: Args) -> Result<()> {
    if let Some(o) = &args.output {
        let text = o.to_string_lossy();
        if text.contains('=') && o.extension().is_none_or(|e| e != "onnx") {
            bail!("unknown argument '{text}': slim takes no key=value settings yet (usage: onnxide slim IN.onnx [OUT.onnx] [--json])");
        }
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let mut model = onnxide_ir::load(&args.input)?;
    let before = op_counts(&model);
    let (nodes_before, bytes_before) = (model.graph.nodes.len(), initializer_bytes(&model));
    let start = Instant::now();
    let report = onnxide_slim::slim(&mut model)
        .with_context(|| format!("{}: simplifying failed", args.input.display()))?;
    let elapsed = start.elapsed().as_secs_f64();
    onnxide_ir::save(&model, &output, &SaveOptions::default())
        .with_context(|| format!("{}: writing the result failed", output.display()))?;
    let after = op_counts(&model);
    let summary = json!({
        "input": args.input.display().to_string(),
        "output": output.display().to_string(),
        "nodes": {"before": nodes_before, "after": model.graph.nodes.len()},
        "initializer_bytes": {"before": bytes_before, "after": initializer_bytes(&model)},
        "ops": ops_json(&before, &after),
        "passes": passes_json(&report),
        "iterations": report.iterations,
        "converged": report.converged,
        "seconds": elapsed,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary, &before, &after, &report);
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
