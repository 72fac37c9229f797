//! The model checker: structural problems that make a model invalid ONNX, all collected into
//! one `IrError::Check` list so a tool can show every problem at once.
//!
//! Rules: every node input is defined before use (graph input, initializer, earlier node output,
//! or for subgraphs an outer-scope value); every value is defined once; graph outputs are
//! produced; each node's domain has an opset import; op types are not empty; the nodes are in
//! topological order (reported once, at the first offending node: [`crate::topo::sort`] fixes
//! it); `ir_version` is new enough for the imported opsets; initializers are graph inputs
//! below IR 4; the main graph's inputs and outputs are named and typed.

use crate::rewrite::GraphIndex;
use crate::{normalize_domain, AttrValue, Graph, IrError, Model, ValueType};
use std::collections::HashSet;

/// Checks `model` and returns every problem found.
pub fn check(model: &Model) -> Result<(), IrError> {
    let mut problems = Vec::new();
    check_versions(model, &mut problems);
    let domains: HashSet<&str> = model
        .opset_imports
        .iter()
        .map(|o| normalize_domain(&o.domain))
        .collect();
    let ctx = Ctx {
        domains: &domains,
        ir_version: model.ir_version,
    };
    check_io_types(&model.graph, &mut problems);
    check_graph(&model.graph, &HashSet::new(), &ctx, "", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(IrError::Check(problems))
    }
}

struct Ctx<'a> {
    domains: &'a HashSet<&'a str>,
    ir_version: i64,
}

/// The lowest IR version that may import `ai.onnx` opset `v` (ONNX's release table).
pub fn min_ir_for_opset(v: i64) -> i64 {
    match v {
        ..=8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        _ => 11,
    }
}

fn check_versions(model: &Model, problems: &mut Vec<String>) {
    if model.ir_version < 1 {
        problems.push(format!("ir_version {} is not set", model.ir_version));
    }
    let mut seen = HashSet::new();
    for o in &model.opset_imports {
        let d = normalize_domain(&o.domain);
        if !seen.insert(d) {
            problems.push(format!(
                "opset import of domain '{d}' appears more than once"
            ));
        }
        if d.is_empty() {
            let need = min_ir_for_opset(o.version);
            if model.ir_version < need {
                problems.push(format!(
                    "ir_version {} is too old for ai.onnx opset {} (needs ir_version >= {need})",
                    model.ir_version, o.version
                ));
            }
        } else if model.ir_version < 3 {
            problems.push(format!(
                "ir_version {} cannot import opset domain '{d}' (needs ir_version >= 3)",
                model.ir_version
            ));
        }
    }
}

/// The main graph's inputs and outputs must say what they are (onnx's checker requires a type
/// with an element type; subgraph outputs may leave it out).
fn check_io_types(g: &Graph, problems: &mut Vec<String>) {
    let io = g.inputs.iter().map(|v| ("input", v));
    for (kind, v) in io.chain(g.outputs.iter().map(|v| ("output", v))) {
        match &v.ty {
            ValueType::Unknown => problems.push(format!("graph {kind} '{}' has no type", v.name)),
            ValueType::Tensor { elem: None, .. } => {
                problems.push(format!("graph {kind} '{}' has no element type", v.name))
            }
            _ => {}
        }
        if v.name.is_empty() {
            problems.push(format!("a graph {kind} has an empty name"));
        }
    }
}

fn check_graph(
    g: &Graph,
    outer: &HashSet<String>,
    ctx: &Ctx,
    scope: &str,
    problems: &mut Vec<String>,
) {
    let at = if scope.is_empty() {
        String::new()
    } else {
        format!("in subgraph {scope}: ")
    };
    // Who defines what: graph inputs, initializers, then node outputs in file order.
    let mut defined: HashSet<String> = outer.clone();
    let mut local: HashSet<&str> = HashSet::new();
    for i in &g.inputs {
        if !local.insert(&i.name) {
            problems.push(format!("{at}graph input '{}' is declared twice", i.name));
        }
    }
    let mut inits = HashSet::new();
    for t in &g.initializers {
        if !inits.insert(t.name.as_str()) {
            problems.push(format!("{at}initializer '{}' is defined twice", t.name));
        }
        if ctx.ir_version < 4 && !g.inputs.iter().any(|i| i.name == t.name) {
            problems.push(format!(
                "{at}initializer '{}' is not a graph input (required below ir_version 4)",
                t.name
            ));
        }
        local.insert(&t.name);
    }
    defined.extend(local.iter().map(|s| s.to_string()));
    let index = GraphIndex::new(g);
    let mut unsorted_reported = false;
    for (idx, node) in g.nodes.iter().enumerate() {
        let label = node.label();
        if node.op_type.is_empty() {
            problems.push(format!(
                "{at}node #{idx} '{}' has an empty op_type",
                node.name
            ));
        }
        let d = normalize_domain(&node.domain);
        if !ctx.domains.contains(d) {
            let dn = if d.is_empty() { "ai.onnx" } else { d };
            problems.push(format!(
                "{at}node {label}: domain '{dn}' has no opset import"
            ));
        }
        for input in node.inputs.iter().filter(|s| !s.is_empty()) {
            if defined.contains(input) {
                continue;
            }
            match index.producer(input) {
                Some(p) if p >= idx => {
                    if !unsorted_reported {
                        unsorted_reported = true;
                        problems.push(format!(
                            "{at}nodes are not topologically sorted: node {label} reads '{input}' \
                             before node {} produces it",
                            g.nodes[p].label()
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{at}node {label} reads '{input}', which no graph input, initializer or \
                     earlier node defines"
                )),
            }
        }
        for a in &node.attributes {
            let graphs: Vec<&Graph> = match &a.value {
                AttrValue::Graph(sg) => vec![sg],
                AttrValue::Graphs(sgs) => sgs.iter().collect(),
                _ => continue,
            };
            for sg in graphs {
                let inner = format!("{scope}{label}.{}", a.name);
                check_graph(sg, &defined, ctx, &inner, problems);
            }
        }
        for o in node.outputs.iter().filter(|s| !s.is_empty()) {
            if local.contains(o.as_str()) || (defined.contains(o) && !outer.contains(o)) {
                problems.push(format!(
                    "{at}node {label} defines '{o}', which is already defined"
                ));
            }
            defined.insert(o.clone());
            local.insert(o);
        }
    }
    for o in &g.outputs {
        if !defined.contains(&o.name) && index.producer(&o.name).is_none() {
            problems.push(format!(
                "{at}graph output '{}' is not produced by any node, input or initializer",
                o.name
            ));
        }
    }
}
