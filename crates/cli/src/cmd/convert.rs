//! `onnxide convert IN OUT opset=N [--json]`: the default-domain opset converted up or down.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use onnxide_convert::opset::{convert_opset, MAX_OPSET, MIN_OPSET};
use serde_json::json;
use std::path::PathBuf;

/// Convert a model's default-domain (ai.onnx) opset, up or down, between opsets 7 and 22,
/// subgraphs (If/Loop/Scan bodies) included.
///
/// Settings are Ultralytics-style key=value pairs:
///   opset=N   the target opset, 7..=22 (required)
///
/// Adapters: Split (13, 18), Squeeze/Unsqueeze/ReduceSum (13), the other Reduce* ops (18),
/// Resize (11, 13, 18, 19), Softmax/LogSoftmax/Hardmax (13), Pad (11, 18, 19), Clip and Gemm
/// (11), TopK and Slice (10), Upsample (9), MaxPool (8), BatchNormalization (9, 14; inference
/// form), Dropout (12), GridSample (20), Upsample <-> Resize (10), Scatter <-> ScatterElements
/// (11), HardSwish -> x * HardSigmoid(x) below 14, negative axes made non-negative below 11;
/// ops whose schema only gained types or attributes (Reshape allowzero, ArgMax
/// select_last_index, ...) cross as they are, going down only when the node's types and
/// attributes exist in the target opset. Anything else fails,
/// naming every node that cannot convert and why; nothing is written then. The IR version
/// becomes the lowest the target opset allows, at least 4 (kept when opset=N is the model's own).
///
/// Not done yet: opsets outside 7..=22; model-local functions (refused); other domains are
/// kept as they are.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The .onnx file to read.
    input: PathBuf,
    /// The .onnx file to write.
    output: PathBuf,
    /// key=value settings: opset.
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Print a JSON report of what was rewritten.
    #[arg(long)]
    json: bool,
}

const KEYS: [&str; 1] = ["opset"];

pub fn main(args: Args) -> Result<()> {
    let mut target = None;
    for (key, value) in keyvalue::parse(&args.settings, &KEYS, &[])? {
        if key == "opset" {
            let v = keyvalue::parse_int(key, value)?;
            if !(MIN_OPSET..=MAX_OPSET).contains(&v) {
                return Err(keyvalue::invalid(
                    key,
                    value,
                    format!("expected an opset from {MIN_OPSET} to {MAX_OPSET}"),
                ));
            }
            target = Some(v);
        }
    }
    let Some(target) = target else {
        bail!("missing opset=N (the target opset, {MIN_OPSET}..={MAX_OPSET})");
    };
    // load and save name the file in their errors.
    let mut model = onnxide_ir::load(&args.input)?;
    let report =
        convert_opset(&mut model, target).with_context(|| format!("{}", args.input.display()))?;
    onnxide_ir::save(&model, &args.output, &Default::default())?;
    if args.json {
        let rewritten: Vec<_> = report
            .rewritten
            .iter()
            .map(|r| json!({"node": r.node, "op": r.op, "what": r.what}))
            .collect();
        let out = json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "opset_from": report.from,
            "opset_to": report.to,
            "ir_version_from": report.ir_from,
            "ir_version_to": report.ir_to,
            "rewritten": rewritten,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} -> {}: opset {} -> {}, IR {} -> {}, {} nodes rewritten",
            args.input.display(),
            args.output.display(),
            report.from,
            report.to,
            report.ir_from,
            report.ir_to,
            report.rewritten.len()
        );
    }
    Ok(())
}
