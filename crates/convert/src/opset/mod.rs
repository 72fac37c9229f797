//! Default-domain opset conversion, up or down, between opsets 7 and 22 ([`convert_opset`],
//! or [`OpsetPass`] in a pass list).
//!
//! Every default-domain node, in the main graph and in every subgraph (If/Loop/Scan bodies,
//! typed by inference with the outer values they read), is checked against a table of every
//! `ai.onnx` op's schema versions (`table.rs`, generated from onnx's schemas by
//! `gen_table.py`). For each schema version boundary the conversion crosses:
//! - an op with an adapter for that boundary is rewritten by it (one file per op family):
//!   Split (13, 18), Squeeze/Unsqueeze/ReduceSum (13) and the other Reduce* ops (18)
//!   (`axes.rs`), Resize (11, 13, 18, 19), Softmax/LogSoftmax/Hardmax (13), Pad (11, 18, 19),
//!   Clip and Gemm (11), TopK and Slice (10), Upsample (9), MaxPool (8), BatchNormalization
//!   (9, 14), Dropout (12), GridSample (20); Upsample 9 ↔ Resize 10 and Scatter 10 ↔
//!   ScatterElements 11 are renamed; HardSwish becomes `x * HardSigmoid(x)` below 14;
//! - a boundary that only added types is crossed as is going up; going down the node's
//!   inferred input and output types must not be among the added ones (unknown types refuse);
//! - a boundary that only added attributes is crossed as is going up; going down an attribute
//!   at its default is dropped, any other value refuses;
//! - going below 11, negative `axis`/`axes` attributes are made non-negative (`negaxes.rs`);
//! - any other change (inputs, outputs or meaning; the op absent or deprecated at the target)
//!   refuses.
//!
//! Every refusal is collected and the conversion fails naming each node, op and reason; the
//! model is only changed when all nodes convert. The IR version becomes the lowest the target
//! opset allows, at least 4 (a conversion to the model's own opset keeps it); names, metadata,
//! value_info and dim_params are kept.
//!
//! Not done yet: model-local functions are refused; opsets outside 7..=22; other domains than
//! the default one are left as they are.

mod axes;
mod batchnorm;
mod common;
mod dropout;
mod gridsample;
mod inputs;
mod misc;
mod negaxes;
mod pad;
mod resize;
mod schema;
mod softmax;
mod split;
mod table;
mod version;

use crate::{ConvertError, Result};
use common::{Ctx, Rewrite};
use onnxide_ir::infer::Inferred;
use onnxide_ir::rewrite::{has_subgraph, GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{normalize_domain, AttrValue, Graph, IrError, Model, Node, OpsetImport};
use schema::{change, is_default, remove_attr, type_str, Change};
use std::collections::HashSet;

/// The lowest and highest opsets the conversion handles.
pub const MIN_OPSET: i64 = 7;
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

/// The default-domain op `op` exists (and is not deprecated) at `opset`, by the schema table.
pub fn op_available(op: &str, opset: i64) -> bool {
    schema::versions(op)
        .and_then(|vs| vs.iter().rev().find(|v| v.since <= opset))
        .is_some_and(|v| !v.deprecated)
}

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
    let mut conv = Conversion {
        from,
        to: target,
        imports: model.opset_imports.clone(),
        names: UniqueNames::new(&model.graph),
        problems: Vec::new(),
        rewritten: Vec::new(),
    };
    let patch = conv.graph(&model.graph, &inferred, "");
    if !conv.problems.is_empty() {
        return Err(fail(conv.problems));
    }
    let rewritten = conv.rewritten;
    // Constants that only fed a moved input (axes, split sizes) lose their last reader: the
    // patch drops them.
    patch.apply(&mut model.graph);
    // A converted model is written in topological order (stable: a sorted graph keeps its order),
    // so that a file whose nodes were not sorted — Ultralytics' half export appends its I/O Casts
    // last — comes out one that onnx.checker's full check accepts. Converting to the model's own
    // opset changes nothing; a cyclic graph (invalid anyway) keeps its order.
    if from != target {
        let _ = onnxide_ir::topo::sort(&mut model.graph);
    }
    for o in &mut model.opset_imports {
        if normalize_domain(&o.domain).is_empty() {
            o.version = target;
        }
    }
    let ir_from = model.ir_version;
    if from != target {
        // IR 3 (opsets 7 and 8) needs every initializer listed as a graph input: 4 at least.
        model.ir_version = min_ir_for_opset(target).max(4);
    }
    Ok(OpsetReport {
        from,
        to: target,
        ir_from,
        ir_to: model.ir_version,
        rewritten,
    })
}

/// One conversion's state across the main graph and its subgraphs.
struct Conversion {
    from: i64,
    to: i64,
    imports: Vec<OpsetImport>,
    /// Fresh names, unique across the whole model (subgraphs included).
    names: UniqueNames,
    problems: Vec<String>,
    rewritten: Vec<Rewritten>,
}

impl Conversion {
    /// The patch converting graph `g` (whose values `inferred` describes); nodes with subgraphs
    /// get their subgraphs converted. `scope` prefixes the labels of nodes in subgraphs.
    fn graph(&mut self, g: &Graph, inferred: &Inferred, scope: &str) -> Patch {
        let index = GraphIndex::new(g);
        let mut ctx = Ctx {
            graph: g,
            index: &index,
            inferred,
            names: std::mem::take(&mut self.names),
            new_initializers: Vec::new(),
        };
        let mut patch = Patch::new();
        for (i, n) in g.nodes.iter().enumerate() {
            let label = format!("{scope}{}", n.label());
            let (mut nodes, what) = if normalize_domain(&n.domain).is_empty() {
                match convert_node(&mut ctx, n, self.from, self.to) {
                    Ok(None) => (vec![n.clone()], None),
                    // An adapter that had nothing to change: not reported.
                    Ok(Some(r)) if r.nodes.len() == 1 && r.nodes[0] == *n => (r.nodes, None),
                    Ok(Some(r)) => (r.nodes, Some(r.what)),
                    Err(why) => {
                        self.problems.push(format!("{label}: {why}"));
                        continue;
                    }
                }
            } else {
                (vec![n.clone()], None)
            };
            let mut sub_changed = false;
            if nodes.iter().any(has_subgraph) {
                self.names = std::mem::take(&mut ctx.names);
                for m in &mut nodes {
                    let sub_scope = format!("{label} > ");
                    for a in &mut m.attributes {
                        match &mut a.value {
                            AttrValue::Graph(sg) => {
                                sub_changed |= self.subgraph(sg, &ctx, &sub_scope);
                            }
                            AttrValue::Graphs(sgs) => {
                                for sg in sgs {
                                    sub_changed |= self.subgraph(sg, &ctx, &sub_scope);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ctx.names = std::mem::take(&mut self.names);
            }
            if let Some(what) = what {
                self.rewritten.push(Rewritten {
                    node: label,
                    op: n.op_type.clone(),
                    what,
                });
                patch.replace_node_with(i, nodes);
            } else if sub_changed {
                patch.replace_node_with(i, nodes);
            }
        }
        self.names = std::mem::take(&mut ctx.names);
        for t in ctx.new_initializers {
            patch.add_initializer(t);
        }
        patch
    }

    /// Converts subgraph `sg` in place (when every node converts); `outer` is the enclosing
    /// graph's context. Returns whether it changed.
    fn subgraph(&mut self, sg: &mut Graph, outer: &Ctx, scope: &str) -> bool {
        // The subgraph as a model of its own for inference and the adapters: the outer
        // constants it reads as initializers, the other outer values as extra inputs.
        let defined: HashSet<&str> = sg
            .inputs
            .iter()
            .map(|v| v.name.as_str())
            .chain(sg.initializers.iter().map(|t| t.name.as_str()))
            .chain(
                sg.nodes
                    .iter()
                    .flat_map(|n| n.outputs.iter().map(String::as_str)),
            )
            .collect();
        let mut captured: Vec<String> = Vec::new();
        collect_reads(sg, &mut |v| {
            if !v.is_empty() && !defined.contains(v) && !captured.iter().any(|c| c == v) {
                captured.push(v.to_string());
            }
        });
        let mut pseudo = Model {
            ir_version: min_ir_for_opset(self.from),
            opset_imports: self.imports.clone(),
            graph: sg.clone(),
            ..Model::default()
        };
        let mut borrowed = HashSet::new();
        let mut extra = Vec::new();
        for c in &captured {
            if let Some(t) = outer.const_tensor(c) {
                pseudo
                    .graph
                    .initializers
                    .push(onnxide_ir::NamedTensor::new(c.clone(), t));
                borrowed.insert(c.clone());
            } else if let Some(f) = outer.inferred.fact(c) {
                extra.push(f.to_value_info(c));
            }
        }
        let n_extra = extra.len();
        pseudo.graph.inputs.extend(extra);
        let inferred = match onnxide_ir::infer::infer(&pseudo) {
            Ok(i) => i,
            Err(e) => {
                self.problems
                    .push(format!("{scope}subgraph '{}': {e}", sg.name));
                return false;
            }
        };
        let before = self.rewritten.len();
        let patch = self.graph(&pseudo.graph, &inferred, scope);
        let summary = patch.apply(&mut pseudo.graph);
        let k = pseudo.graph.inputs.len() - n_extra;
        pseudo.graph.inputs.truncate(k);
        pseudo
            .graph
            .initializers
            .retain(|t| !borrowed.contains(&t.name));
        let changed = summary.changed() || self.rewritten.len() > before;
        if changed {
            *sg = pseudo.graph;
        }
        changed
    }
}

/// Every value read by the nodes of `g` and of its subgraphs.
fn collect_reads(g: &Graph, f: &mut impl FnMut(&str)) {
    for n in &g.nodes {
        n.inputs.iter().for_each(|v| f(v));
        for a in &n.attributes {
            match &a.value {
                AttrValue::Graph(sg) => collect_reads(sg, f),
                AttrValue::Graphs(sgs) => sgs.iter().for_each(|sg| collect_reads(sg, f)),
                _ => {}
            }
        }
    }
}

/// The adapter boundaries of `op`.
fn adapted(op: &str) -> Vec<i64> {
    if let Some(b) = axes::boundary(op) {
        return vec![b];
    }
    match op {
        "Split" => vec![13, 18],
        "Softmax" | "LogSoftmax" | "Hardmax" => vec![13],
        "GridSample" => vec![20],
        "Dropout" => vec![12],
        "BatchNormalization" => batchnorm::BOUNDARIES.to_vec(),
        "Resize" => resize::BOUNDARIES.to_vec(),
        "Pad" => [&[11], pad::BOUNDARIES].concat(),
        "Clip" | "Gemm" => vec![11],
        "TopK" | "Slice" => vec![10],
        "Upsample" => vec![9],
        "MaxPool" => vec![8],
        _ => Vec::new(),
    }
}

/// Converts one default-domain node: `None` when it stays as it is. Renamed ops are converted
/// in two steps ([`rename`]); going below 11, negative axes are made non-negative.
fn convert_node(
    ctx: &mut Ctx,
    n: &Node,
    from: i64,
    to: i64,
) -> std::result::Result<Option<Rewrite>, String> {
    if let Some(r) = rename(ctx, n, from, to)? {
        return Ok(Some(r));
    }
    if n.op_type == "HardSwish" && to < 14 {
        return misc::hardswish(ctx, n).map(Some);
    }
    let r = convert_one(ctx, n, from, to)?;
    if !(to < 11 && 11 <= from) {
        return Ok(r);
    }
    let Some(mut r) = r else {
        return Ok(
            negaxes::normalize(ctx, n)?.map(|m| Rewrite::one(m, "negative axes made non-negative"))
        );
    };
    for i in 0..r.nodes.len() {
        if let Some(m) = negaxes::normalize(ctx, &r.nodes[i])? {
            r.nodes[i] = m;
        }
    }
    Ok(Some(r))
}

/// Ops that were replaced by another: (old, new, the opset of the new one).
const RENAMED: &[(&str, &str, i64)] = &[
    ("Upsample", "Resize", 10),
    ("Scatter", "ScatterElements", 11),
];

/// A node whose op was renamed between `from` and `to`: converted to the last opset of its
/// name, renamed, and converted on from the first opset of the other name.
fn rename(
    ctx: &mut Ctx,
    n: &Node,
    from: i64,
    to: i64,
) -> std::result::Result<Option<Rewrite>, String> {
    let op = n.op_type.as_str();
    let Some(&(old, new, at)) = RENAMED.iter().find(|(o, nw, at)| {
        (*o == op && from < *at && *at <= to) || (*nw == op && to < *at && *at <= from)
    }) else {
        return Ok(None);
    };
    let (first_to, renamed, second_from) = if op == old {
        (at - 1, new, at)
    } else {
        (at, old, at - 1)
    };
    let mut what = Vec::new();
    let mut node = match convert_node(ctx, n, from, first_to)? {
        None => n.clone(),
        Some(r) if r.nodes.len() == 1 => {
            what.push(r.what);
            r.nodes.into_iter().next().unwrap_or_else(|| n.clone())
        }
        Some(_) => {
            return Err(format!(
                "{op} became several nodes before its rename to {renamed}"
            ))
        }
    };
    node.op_type = renamed.to_string();
    what.push(format!("{op} -> {renamed}"));
    match convert_node(ctx, &node, second_from, to)? {
        None => Ok(Some(Rewrite::one(node, what.join(", ")))),
        Some(r) => {
            what.push(r.what);
            Ok(Some(Rewrite {
                nodes: r.nodes,
                what: what.join(", "),
            }))
        }
    }
}

/// Converts one node whose op keeps its name.
fn convert_one(
    ctx: &mut Ctx,
    n: &Node,
    from: i64,
    to: i64,
) -> std::result::Result<Option<Rewrite>, String> {
    let op = n.op_type.as_str();
    let versions = schema::versions(op)
        .ok_or_else(|| format!("{op} is not an ai.onnx op up to opset {MAX_OPSET}"))?;
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
        "Softmax" | "LogSoftmax" | "Hardmax" => softmax::adapt(ctx, &node, up)?,
        "GridSample" => gridsample::adapt(ctx, &node, up)?,
        "Dropout" => dropout::adapt(ctx, &node, up, to)?,
        "BatchNormalization" => batchnorm::adapt(ctx, &node, from, to)?,
        "Resize" => resize::adapt(ctx, &node, from, to)?,
        "Pad" => {
            let r = pad::adapt(&node, from, to)?;
            match (r.nodes.as_slice(), lo < 11 && 11 <= hi) {
                ([p], true) => inputs::pad(ctx, p, up)?,
                _ => r,
            }
        }
        "Clip" => inputs::clip(ctx, &node, up)?,
        "TopK" => inputs::topk(ctx, &node, up)?,
        "Slice" => inputs::slice(ctx, &node, up)?,
        "Upsample" => inputs::upsample(ctx, &node, up)?,
        "MaxPool" => misc::maxpool(&node, up)?,
        "Gemm" => misc::gemm(ctx, &node, up)?,
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
