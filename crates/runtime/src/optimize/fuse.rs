//! `Conv → Sigmoid → Mul(conv, sigmoid)` ⇒ `ai.onnxide::FusedConv` (SiLU epilogue), and a
//! following `Add(silu, r)` ⇒ the same node with `r` as residual input 3.
//!
//! Legal only when the intermediate values have no other reader (node, subgraph capture or
//! graph output) and the conv is 2-D with f32 initializer weights (and bias). A residual
//! whose shape inference proves different from the conv output is left as an `Add`; one of
//! unknown shape is fused and checked at run time (broadcast-added after the conv if needed).

use super::OptimizeReport;
use crate::fast::DOMAIN;
use onnxide_ir::{AttrValue, Attribute, DType, Dim, Model, Node};
use std::collections::{HashMap, HashSet};

fn is_onnx(node: &Node, op: &str) -> bool {
    node.op_type == op && onnxide_ir::normalize_domain(&node.domain).is_empty()
}

/// Node indices of one fusion: conv, sigmoid, mul, and the residual add with its other operand.
type Fusion = (usize, usize, usize, Option<(usize, String)>);

pub(super) fn fuse_conv_silu(model: &mut Model) -> OptimizeReport {
    let mut report = OptimizeReport::default();
    let inferred = onnxide_ir::infer::infer(model).ok();
    let static_shape = |name: &str| -> Option<Vec<u64>> {
        inferred
            .as_ref()?
            .shape(name)?
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => Some(*v),
                _ => None,
            })
            .collect()
    };
    let graph = &mut model.graph;
    // Initializers that are constant for the plan (not overridable graph inputs).
    let inputs: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
    let f32_init: HashMap<&str, usize> = graph
        .initializers
        .iter()
        .filter(|i| i.tensor.dtype() == DType::F32 && !inputs.contains(i.name.as_str()))
        .map(|i| (i.name.as_str(), i.tensor.rank()))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            producer.insert(o, i);
        }
        for r in onnxide_ir::topo::node_reads(n) {
            let v = readers.entry(r).or_default();
            if !v.contains(&i) {
                v.push(i);
            }
        }
    }
    let outputs: HashSet<&str> = graph.outputs.iter().map(|v| v.name.as_str()).collect();
    let only_reader = |name: &str, node: usize| -> bool {
        !outputs.contains(name) && readers.get(name).is_some_and(|r| r == &[node])
    };

    // (conv, sigmoid, mul, add?) index tuples, then the rewrite.
    let mut fusions: Vec<Fusion> = Vec::new();
    let mut used: HashSet<usize> = HashSet::new();
    for (si, sig) in graph.nodes.iter().enumerate() {
        if !is_onnx(sig, "Sigmoid") || sig.inputs.len() != 1 || sig.outputs.len() != 1 {
            continue;
        }
        let c_out = sig.inputs[0].as_str();
        let Some(&ci) = producer.get(c_out) else {
            continue;
        };
        let conv = &graph.nodes[ci];
        if !is_onnx(conv, "Conv") || conv.outputs.len() != 1 || used.contains(&ci) {
            continue;
        }
        let w_ok = conv.inputs.get(1).and_then(|w| f32_init.get(w.as_str())) == Some(&4);
        let b_ok = match conv.inputs.get(2).map(String::as_str) {
            None | Some("") => true,
            Some(b) => f32_init.get(b) == Some(&1),
        };
        if !w_ok || !b_ok || conv.inputs.len() > 3 {
            continue;
        }
        let s_out = sig.outputs[0].as_str();
        let Some(mi) = readers
            .get(s_out)
            .and_then(|r| (r.len() == 1).then(|| r[0]))
        else {
            continue;
        };
        let mul = &graph.nodes[mi];
        let pair_ok = is_onnx(mul, "Mul")
            && mul.inputs.len() == 2
            && mul.outputs.len() == 1
            && ((mul.inputs[0] == c_out && mul.inputs[1] == s_out)
                || (mul.inputs[0] == s_out && mul.inputs[1] == c_out));
        if !pair_ok || outputs.contains(s_out) || outputs.contains(c_out) {
            continue;
        }
        let mut conv_readers = readers.get(c_out).cloned().unwrap_or_default();
        conv_readers.sort_unstable();
        let mut want = vec![si, mi];
        want.sort_unstable();
        if conv_readers != want || !only_reader(s_out, mi) {
            continue;
        }
        // A following residual Add, when its other operand has exactly this shape.
        let m_out = mul.outputs[0].as_str();
        let mut add = None;
        if let Some(&[ai]) = readers.get(m_out).map(Vec::as_slice) {
            let a = &graph.nodes[ai];
            if is_onnx(a, "Add")
                && a.inputs.len() == 2
                && a.outputs.len() == 1
                && !outputs.contains(m_out)
                && a.inputs[0] != a.inputs[1]
                && !used.contains(&ai)
            {
                let other = if a.inputs[0] == m_out {
                    &a.inputs[1]
                } else {
                    &a.inputs[0]
                };
                // Equal static shapes fuse into the epilogue; when either is dynamic the
                // kernel checks at run time and broadcast-adds after the conv if they differ.
                let (ys, rs) = (static_shape(m_out), static_shape(other));
                if ys.is_none() || rs.is_none() || ys == rs {
                    add = Some((ai, other.clone()));
                }
            }
        }
        used.extend([ci, si, mi]);
        if let Some((ai, _)) = &add {
            used.insert(*ai);
        }
        fusions.push((ci, si, mi, add));
    }

    let mut remove: HashSet<usize> = HashSet::new();
    for (ci, si, mi, add) in fusions {
        let out = match &add {
            Some((ai, _)) => graph.nodes[*ai].outputs[0].clone(),
            None => graph.nodes[mi].outputs[0].clone(),
        };
        let conv = &mut graph.nodes[ci];
        conv.domain = DOMAIN.to_string();
        conv.op_type = "FusedConv".to_string();
        conv.attributes.push(Attribute {
            name: "activation".into(),
            value: AttrValue::String(b"Silu".to_vec()),
            doc_string: String::new(),
            ref_attr_name: String::new(),
        });
        conv.outputs = vec![out];
        report.conv_silu += 1;
        if let Some((ai, r)) = add {
            conv.inputs.resize(3, String::new());
            conv.inputs.push(r);
            remove.insert(ai);
            report.residual_add += 1;
        }
        remove.extend([si, mi]);
    }
    if !remove.is_empty() {
        let mut i = 0;
        graph.nodes.retain(|_| {
            i += 1;
            !remove.contains(&(i - 1))
        });
        if !model.opset_imports.iter().any(|o| o.domain == DOMAIN) {
            model.opset_imports.push(onnxide_ir::OpsetImport {
                domain: DOMAIN.to_string(),
                version: 1,
            });
        }
    }
    report
}
