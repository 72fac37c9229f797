//! Default-domain opset conversion, up or down, between opsets 11 and 22 ([`convert_opset`],
//! or [`OpsetPass`] in a pass list).
//!
//! Every default-domain node is checked against a table of every `ai.onnx` op's schema
//! versions (`table.rs`, generated from onnx's schemas by `gen_table.py`). For each schema
//! version boundary the conversion crosses:
//! - an op with an adapter for that boundary is rewritten by it (one file per op family):
//!   Split (13, 18), Squeeze/Unsqueeze/ReduceSum (13) and the other Reduce* ops (18)
//!   (`axes.rs`), Resize (13, 18, 19), Softmax/LogSoftmax (13), Pad (18, 19);
//! - a boundary that only added types is crossed as is going up; going down the node's
//!   inferred input and output types must not be among the added ones (unknown types refuse);
//! - a boundary that only added attributes is crossed as is going up; going down an attribute
//!   at its default is dropped, any other value refuses;
//! - any other change (inputs, outputs or meaning; the op absent or deprecated at the target)
//!   refuses.
//!
//! Every refusal is collected and the conversion fails naming each node, op and reason; the
//! model is only changed when all nodes convert. The IR version becomes the lowest the target
//! opset allows (a conversion to the model's own opset keeps it); names, metadata, value_info and dim_params are kept.
//!
//! Not done yet: nodes with subgraphs (If, Loop, Scan) and model-local functions are refused;
//! opsets outside 11..=22; other domains than the default one are left as they are.

mod axes;
mod common;
mod pad;
mod resize;
mod schema;
mod softmax;
mod split;
mod table;
mod version;

use crate::{ConvertError, Result};
use common::{Ctx, Rewrite};
use onnxide_ir::rewrite::{has_subgraph, GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{normalize_domain, IrError, Model, Node};
use schema::{change, is_default, remove_attr, type_str, Change};

/// The lowest and highest opsets the conversion handles.
pub const MIN_OPSET: i64 = 11;
pub const MAX_OPSET: i64 = 22;

/// One node the conversion changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The node's label (`Split '/model.2/Split'`).
    pub node: String,
    pub op: String,
    /// What was done.
    pub what: String,
}

/// What [`convert_opset`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsetReport {
    pub from: i64,
    pub to: i64,
    pub ir_from: i64,
    pub ir_to: i64,
    /// The nodes changed, in graph order.
    pub rewritten: Vec<Rewritten>,
}

pub use onnxide_ir::check::min_ir_for_opset;

/// Converts the model's default-domain opset to `target` in place; on error the model is
/// unchanged.
pub fn convert_opset(model: &mut Model, target: i64) -> Result<OpsetReport> {
    let from = model.default_opset().ok_or_else(|| ConvertError::Opset {
        from: 0,
        to: target,
        problems: vec!["the model imports no default-domain opset".into()],
    })?;
    let fail = |problems: Vec<String>| ConvertError::Opset {
        from,
        to: target,
        problems,
    };
    for v in [from, target] {
        if !(MIN_OPSET..=MAX_OPSET).contains(&v) {
            return Err(fail(vec![format!(
                "opset {v} is outside the supported range {MIN_OPSET}..={MAX_OPSET}"
            )]));
        }
    }
    if !model.functions.is_empty() {
        return Err(fail(vec![
            "model-local functions are not converted yet".into()
        ]));
    }
    let inferred = onnxide_ir::infer::infer(model)?;
    let g = &model.graph;
    let index = GraphIndex::new(g);
    let mut ctx = Ctx {
        graph: g,
        index: &index,
        inferred: &inferred,
        names: UniqueNames::new(g),
        new_initializers: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut patch = Patch::new();
    let mut rewritten = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if !normalize_domain(&n.domain).is_empty() {
            continue;
        }
        match convert_node(&mut ctx, n, from, target) {
            Ok(None) => {}
            // An adapter that had nothing to change: not reported.
            Ok(Some(r)) if r.nodes.len() == 1 && r.nodes[0] == *n => {}
            Ok(Some(r)) => {
                rewritten.push(Rewritten {
                    node: n.label(),
                    op: n.op_type.clone(),
                    what: r.what,
                });
                patch.replace_node_with(i, r.nodes);
            }
            Err(why) => problems.push(format!("{}: {why}", n.label())),
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    ctx.new_initializers
        .into_iter()
        .for_each(|t| patch.add_initializer(t));
    // Constants that only fed a moved input (axes, split sizes) lose their last reader: the
    // patch drops them.
    patch.apply(&mut model.graph);
    for o in &mut model.opset_imports {
        if normalize_domain(&o.domain).is_empty() {
            o.version = target;
        }
    }
    let ir_from = model.ir_version;
    if from != target {
        model.ir_version = min_ir_for_opset(target);
    }
    Ok(OpsetReport {
        from,
        to: target,
        ir_from,
        ir_to: model.ir_version,
        rewritten,
    })
}

/// The adapter boundaries of `op`.
fn adapted(op: &str) -> Vec<i64> {
    if let Some(b) = axes::boundary(op) {
        return vec![b];
    }
    match op {
        "Split" => vec![13, 18],
        "Softmax" | "LogSoftmax" => vec![13],
        "Resize" => resize::BOUNDARIES.to_vec(),
        "Pad" => pad::BOUNDARIES.to_vec(),
        _ => Vec::new(),
    }
}

/// Converts one default-domain node: `None` when it stays as it is.
fn convert_node(
    ctx: &mut Ctx,
    n: &Node,
    from: i64,
    to: i64,
) -> std::result::Result<Option<Rewrite>, String> {
    let op = n.op_type.as_str();
    let versions = schema::versions(op)
        .ok_or_else(|| format!("{op} is not an ai.onnx op up to opset {MAX_OPSET}"))?;
    if has_subgraph(n) {
        return Err("nodes with subgraphs are not converted yet".into());
    }
    let at_target = versions.iter().rev().find(|v| v.since <= to);
    match at_target {
        None => {
            let first = versions.first().map_or(0, |v| v.since);
            return Err(format!("{op} exists only from opset {first}"));
        }
        Some(v) if v.deprecated => return Err(format!("{op} is deprecated in opset {to}")),
        Some(_) => {}
    }
    if from == to {
        return Ok(None);
    }
    let (lo, hi, up) = if from < to {
        (from, to, true)
    } else {
        (to, from, false)
    };
    let handled = adapted(op);
    let mut node = n.clone();
    let mut what = Vec::new();
    let mut crossed_handled = false;
    for v in versions.iter().filter(|v| lo < v.since && v.since <= hi) {
        if handled.contains(&v.since) {
            crossed_handled = true;
            continue;
        }
        match change(op, v) {
            Change::New | Change::Other => {
                return Err(format!(
                    "the {op} schema changed at opset {} in a way no adapter handles yet",
                    v.since
                ))
            }
            Change::Types(added) => {
                if !up {
                    check_types(ctx, &node, added, v.since)?;
                }
            }
            Change::Attrs(attrs, added) => {
                if up {
                    continue;
                }
                check_types(ctx, &node, added, v.since)?;
                for &(name, default) in attrs {
                    if let Some(a) = node.attr(name) {
                        if !is_default(a, default) {
                            return Err(format!(
                                "attribute {name} with a non-default value exists only from opset {}",
                                v.since
                            ));
                        }
                        remove_attr(&mut node, name);
                        what.push(format!("default {name} dropped"));
                    }
                }
            }
        }
    }
    if !crossed_handled {
        return Ok((!what.is_empty()).then(|| Rewrite::one(node, what.join(", "))));
    }
    let r = match op {
        "Split" => split::adapt(ctx, &node, from, to)?,
        "Softmax" | "LogSoftmax" => softmax::adapt(ctx, &node, up)?,
        "Resize" => resize::adapt(ctx, &node, from, to)?,
        "Pad" => pad::adapt(&node, from, to)?,
        _ => axes::adapt(ctx, &node, up)?,
    };
    what.push(r.what);
    Ok(Some(Rewrite {
        nodes: r.nodes,
        what: what.join(", "),
    }))
}

/// Going down across a boundary that added `added` types: the node's types must predate it.
fn check_types(ctx: &Ctx, n: &Node, added: &[&str], since: i64) -> std::result::Result<(), String> {
    if added.is_empty() {
        return Ok(());
    }
    for v in n.inputs.iter().chain(&n.outputs).filter(|v| !v.is_empty()) {
        match ctx.inferred.elem(v) {
            Some(d) if added.contains(&type_str(d).as_str()) => {
                return Err(format!(
                    "'{v}' is {}, allowed for {} only from opset {since}",
                    d.onnx_name(),
                    n.op_type
                ))
            }
            Some(_) => {}
            None => {
                return Err(format!(
                    "the type of '{v}' is not known (opset {since} added types to {})",
                    n.op_type
                ))
            }
        }
    }
    Ok(())
}

/// [`convert_opset`] as a pass: converts on its first run, then reports nothing.
#[derive(Debug)]
pub struct OpsetPass {
    target: i64,
    done: bool,
    /// The conversion's report, once run.
    pub report: Option<OpsetReport>,
}

impl OpsetPass {
    pub fn new(target: i64) -> OpsetPass {
        OpsetPass {
            target,
            done: false,
            report: None,
        }
    }
}

impl Pass for OpsetPass {
    fn name(&self) -> &'static str {
        "opset"
    }

    fn run(&mut self, model: &mut Model) -> std::result::Result<PassReport, IrError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(PassReport::new());
        }
        let r = convert_opset(model, self.target).map_err(|e| IrError::Pass {
            pass: self.name().into(),
            problems: vec![e.to_string()],
        })?;
        let changed = usize::from(r.from != r.to);
        let report = PassReport::new()
            .with("nodes_rewritten", r.rewritten.len())
            .with("opset_changed", changed);
        self.report = Some(r);
        Ok(report)
    }
}
