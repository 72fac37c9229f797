//! `onnxide info MODEL [--json]`: what a model takes, gives and contains.

use anyhow::Result;
use onnxide_ir::{Dim, Model, ValueInfo};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Show a model's inputs, outputs, opsets, metadata, op histogram and parameter count.
#[derive(clap::Args)]
pub struct Args {
    /// The .onnx file.
    model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn main(args: Args) -> Result<()> {
    let model = onnxide_ir::load(&args.model)?;
    let report = report(&model, &args.model);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn dims_json(v: &ValueInfo) -> Value {
    match v.shape() {
        None => Value::Null,
        Some(dims) => dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => json!(n),
                Dim::Param(p) => json!(p),
                Dim::Unknown => Value::Null,
            })
            .collect(),
    }
}

fn value_json(v: &ValueInfo) -> Value {
    json!({
        "name": v.name,
        "dtype": v.elem_type().map(|d| d.short_name()),
        "shape": dims_json(v),
    })
}

fn report(model: &Model, path: &std::path::Path) -> Value {
    let g = &model.graph;
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for n in &g.nodes {
        let key = if n.domain.is_empty() || n.domain == "ai.onnx" {
            n.op_type.clone()
        } else {
            format!("{}:{}", n.domain, n.op_type)
        };
        *ops.entry(key).or_default() += 1;
    }
    let parameters: usize = g.initializers.iter().map(|t| t.tensor.len()).sum();
    let parameter_bytes: usize = g.initializers.iter().map(|t| t.tensor.byte_size()).sum();
    let metadata: Map<String, Value> = model
        .metadata_props
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "path": path.display().to_string(),
        "ir_version": model.ir_version,
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "opset_imports": model.opset_imports.iter().map(|o| json!({"domain": o.domain, "version": o.version})).collect::<Vec<_>>(),
        "graph_name": g.name,
        "inputs": g.real_inputs().map(value_json).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(value_json).collect::<Vec<_>>(),
        "metadata": metadata,
        "nodes": g.nodes.len(),
        "op_histogram": ops,
        "initializers": g.initializers.len(),
        "parameters": parameters,
        "parameter_bytes": parameter_bytes,
    })
}

fn shape_text(v: &Value) -> String {
    match v {
        Value::Array(dims) => {
            let parts: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => "?".into(),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        _ => "(unknown rank)".into(),
    }
}

fn print_text(r: &Value) {
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    println!("{}", s("path"));
    let opsets: Vec<String> = r["opset_imports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let d = o["domain"].as_str().unwrap_or("");
            format!(
                "{}:{}",
                if d.is_empty() { "ai.onnx" } else { d },
                o["version"]
            )
        })
        .collect();
    println!(
        "  ir_version {}   opsets {}   producer {} {}",
        r["ir_version"],
        opsets.join(", "),
        s("producer_name"),
        s("producer_version")
    );
    for (title, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
        println!("{title}:");
        for v in r[key].as_array().into_iter().flatten() {
            println!(
                "  {:<24} {:<9} {}",
                v["name"].as_str().unwrap_or(""),
                v["dtype"].as_str().unwrap_or("?"),
                shape_text(&v["shape"])
            );
        }
    }
    if let Some(meta) = r["metadata"].as_object().filter(|m| !m.is_empty()) {
        println!("metadata:");
        for (k, v) in meta {
            println!("  {k:<12} {}", clip(v.as_str().unwrap_or(""), 100));
        }
    }
    println!(
        "graph: {} nodes, {} initializers, {} parameters ({:.2} MB)",
        r["nodes"],
        r["initializers"],
        r["parameters"],
        r["parameter_bytes"].as_f64().unwrap_or(0.0) / 1e6
    );
    let hist: Vec<String> = r["op_histogram"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("ops: {}", hist.join(", "));
}

/// `text`, cut to `max` characters with an ellipsis (long `names` dicts would flood the terminal; `--json` has them whole).
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max).collect();
        format!("{head}… ({} chars, see --json)", text.chars().count())
    }
}
