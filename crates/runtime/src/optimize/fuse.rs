//! `Conv → Sigmoid → Mul(conv, sigmoid)` ⇒ `ai.onnxide::FusedConv` (SiLU epilogue), and a
//! following `Add(silu, r)` ⇒ the same node with `r` as residual input 3.
//!
//! Legal only when the intermediate values have no other reader (node, subgraph capture or
//! graph output) and the conv is 2-D with f32 initializer weights (and bias). A residual
//! whose shape inference proves different from the conv output is left as an `Add`; one of
//! unknown shape is fused and checked at run time (broadcast-added after the conv if needed).

use crate::fast::DOMAIN;
use onnxide_ir::rewrite::{attr, is_onnx_op, GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{DType, Graph, IrError, Model, Node};
use std::collections::HashSet;

/// The pass (see the module docs). Reports `conv_silu` and `residual_add`.
pub(super) struct FuseConvSilu;

impl Pass for FuseConvSilu {
    fn name(&self) -> &'static str {
        "fuse-conv-silu"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        Ok(fuse_conv_silu(model))
    }
}

/// One fusion: conv, sigmoid, mul, and the residual add with its other operand.
struct Fusion {
    conv: usize,
    sigmoid: usize,
    mul: usize,
    residual: Option<(usize, String)>,
}

fn fuse_conv_silu(model: &mut Model) -> PassReport {
    let inferred = onnxide_ir::infer::infer(model).ok();
    let static_shape = |name: &str| inferred.as_ref()?.static_shape(name);
    let graph = &model.graph;
    let index = GraphIndex::new(graph);
    let mut fusions: Vec<Fusion> = Vec::new();
    let mut used: HashSet<usize> = HashSet::new();
    for (si, sig) in graph.nodes.iter().enumerate() {
        if let Some(f) = find_fusion(graph, &index, si, sig, &used, &static_shape) {
            used.extend([f.conv, f.sigmoid, f.mul]);
            used.extend(f.residual.as_ref().map(|(ai, _)| *ai));
            fusions.push(f);
        }
    }
    let mut report = PassReport::new();
    if fusions.is_empty() {
        return report;
    }
    let mut patch = Patch::new();
    for f in fusions {
        let last = f.residual.as_ref().map_or(f.mul, |(ai, _)| *ai);
        let mut conv = graph.nodes[f.conv].clone();
        conv.domain = DOMAIN.to_string();
        conv.op_type = "FusedConv".to_string();
        conv.attributes.push(attr("activation", "Silu"));
        conv.outputs = vec![graph.nodes[last].outputs[0].clone()];
        report.add("conv_silu", 1);
        if let Some((ai, r)) = f.residual {
            conv.inputs.resize(3, String::new());
            conv.inputs.push(r);
            patch.remove_node(ai);
            report.add("residual_add", 1);
        }
        patch.replace_node(f.conv, conv);
        patch.remove_node(f.sigmoid);
        patch.remove_node(f.mul);
    }
    patch.apply(&mut model.graph);
    if !model.opset_imports.iter().any(|o| o.domain == DOMAIN) {
        model.opset_imports.push(onnxide_ir::OpsetImport {
            domain: DOMAIN.to_string(),
            version: 1,
        });
    }
    report
}

/// The fusion whose Sigmoid is node `si`, if every condition holds.
fn find_fusion(
    graph: &Graph,
    index: &GraphIndex,
    si: usize,
    sig: &Node,
    used: &HashSet<usize>,
    static_shape: &dyn Fn(&str) -> Option<Vec<u64>>,
) -> Option<Fusion> {
    if !is_onnx_op(sig, "Sigmoid") || sig.inputs.len() != 1 || sig.outputs.len() != 1 {
        return None;
    }
    let c_out = sig.inputs[0].as_str();
    let ci = index.producer(c_out)?;
    let conv = &graph.nodes[ci];
    if !is_onnx_op(conv, "Conv") || conv.outputs.len() != 1 || used.contains(&ci) {
        return None;
    }
    // Constant f32 weights (rank 4) and bias (rank 1): not overridable graph inputs.
    let f32_const_rank = |name: &str| {
        let t = &graph.initializers[index.initializer(name)?].tensor;
        (index.is_constant(name) && t.dtype() == DType::F32).then(|| t.rank())
    };
    let w_ok = conv.inputs.get(1).and_then(|w| f32_const_rank(w)) == Some(4);
    let b_ok = match conv.inputs.get(2).map(String::as_str) {
        None | Some("") => true,
        Some(b) => f32_const_rank(b) == Some(1),
    };
    if !w_ok || !b_ok || conv.inputs.len() > 3 {
        return None;
    }
    let s_out = sig.outputs[0].as_str();
    let mi = index.sole_consumer(s_out)?;
    let mul = &graph.nodes[mi];
    let pair_ok = is_onnx_op(mul, "Mul")
        && mul.inputs.len() == 2
        && mul.outputs.len() == 1
        && ((mul.inputs[0] == c_out && mul.inputs[1] == s_out)
            || (mul.inputs[0] == s_out && mul.inputs[1] == c_out));
    let mut want = [si, mi];
    want.sort_unstable();
    if !pair_ok || index.is_graph_output(c_out) || index.consumers(c_out) != want {
        return None;
    }
    let residual = find_residual(graph, index, &mul.outputs[0], used, static_shape);
    Some(Fusion {
        conv: ci,
        sigmoid: si,
        mul: mi,
        residual,
    })
}

/// A residual `Add` reading the SiLU output `m_out`, when its other operand has the same shape
/// (or either shape is only known at run time, where the kernel checks it).
fn find_residual(
    graph: &Graph,
    index: &GraphIndex,
    m_out: &str,
    used: &HashSet<usize>,
    static_shape: &dyn Fn(&str) -> Option<Vec<u64>>,
) -> Option<(usize, String)> {
    let ai = index.sole_consumer(m_out)?;
    let a = &graph.nodes[ai];
    if !is_onnx_op(a, "Add")
        || a.inputs.len() != 2
        || a.outputs.len() != 1
        || a.inputs[0] == a.inputs[1]
        || used.contains(&ai)
    {
        return None;
    }
    let other = if a.inputs[0] == m_out {
        &a.inputs[1]
    } else {
        &a.inputs[0]
    };
    let (ys, rs) = (static_shape(m_out), static_shape(other));
    (ys.is_none() || rs.is_none() || ys == rs).then(|| (ai, other.clone()))
}
