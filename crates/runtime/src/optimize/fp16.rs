//! Float16 graphs run in f32, rounding to f16 exactly where onnxruntime's CPU provider does.
//!
//! onnxruntime has f16 CPU kernels only for data-movement ops (Concat, Split, Reshape, ...).
//! Every other op with an f16 input runs in f32 between inserted Casts, and the Cast pairs
//! that then meet (f32→f16→f32) are removed, so chains of compute ops pass f32 values to
//! each other unrounded; values are rounded to f16 only where an op that stayed f16 (or a
//! graph output) reads them. A data-movement op whose neighbours all run in f32 is moved to
//! f32 too. This pass rewrites the graph into that final form, so that YOLO `half=True`
//! exports give onnxruntime's results bit for bit (f16 outputs have 0.5 px ulps at 600 px:
//! anything but the same roundings shows up as whole ulps).
//!
//! The rules, as onnxruntime 1.32 applies them:
//! 1. An op "has an f16 kernel" if it is in [`F16_KERNELS`] (or is Relu, whose function body
//!    is an f16 `Max`); Softmax (opset ≥ 13) has none and is expanded into its function body
//!    `ReduceMax, Sub, Exp, ReduceSum, Div`, appended after the other nodes.
//! 2. In node order, an op with an f16 kernel becomes f32 when it reads at least one node
//!    output, writes no graph output, every producer of its first type-constrained f16
//!    input(s) runs in f32, and every reader of its first output runs in f32 (only the first
//!    input of a variadic list and the first output count). Earlier decisions count.
//! 3. An f32 node reads each f16 input as: the f32 value of an f32 producer (unrounded); the
//!    f32 source of a `Cast(f32 → f16)`; otherwise the exact f32 conversion of the f16 value.
//! 4. Its f16 outputs become f32 values; a `Cast` back to f16 is kept only where an f16 node
//!    or a graph output reads the value. A `Cast(f16 → f32)` reading such a value is dropped
//!    (its readers take the f32 value) unless it writes a graph output.

use onnxide_ir::{AttrValue, Attribute, DType, Model, NamedTensor, Node, Tensor};
use std::collections::{HashMap, HashSet};

/// Prefix of the values this pass creates (onnxruntime's own, for easy comparison).
const PREFIX: &str = "InsertedPrecisionFreeCast_";

/// Ops onnxruntime's CPU provider runs on f16 tensors (probed on onnxruntime 1.32, x86-64).
const F16_KERNELS: &[&str] = &[
    "Cast",
    "CastLike",
    "Concat",
    "Split",
    "Reshape",
    "Slice",
    "Transpose",
    "Identity",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Gather",
    "Expand",
    "Clip",
    "Max",
    "Min",
    "LayerNormalization",
    "Shape",
    "Size",
];

/// Rewrites `model` (see the module docs); returns the number of nodes that run in f32.
pub(super) fn compute_f16_in_f32(model: &mut Model) -> usize {
    let Ok(inferred) = onnxide_ir::infer::infer(model) else {
        return 0;
    };
    let opset = model.default_opset().unwrap_or(1);
    let graph = &mut model.graph;
    let mut types: HashMap<String, DType> = inferred
        .iter()
        .filter_map(|(name, fact)| Some((name.to_string(), fact.elem?)))
        .collect();
    for init in &graph.initializers {
        types.insert(init.name.clone(), init.tensor.dtype());
    }
    let is_f16 = |types: &HashMap<String, DType>, v: &str| types.get(v) == Some(&DType::F16);
    let touches_f16 = |types: &HashMap<String, DType>, n: &Node| {
        n.inputs.iter().chain(&n.outputs).any(|v| is_f16(types, v))
    };
    if !graph.nodes.iter().any(|n| {
        onnxide_ir::normalize_domain(&n.domain).is_empty()
            && touches_f16(&types, n)
            && !has_f16_kernel(n, opset)
    }) {
        return 0;
    }

    // Rule 1: Softmax expansion.
    let mut expanded = Vec::new();
    graph.nodes.retain(|n| {
        let expand = is_onnx(n, "Softmax")
            && opset >= 13
            && n.inputs.first().is_some_and(|x| is_f16(&types, x));
        if expand {
            expanded.push(n.clone());
        }
        !expand
    });
    for (i, sm) in expanded.iter().enumerate() {
        let body = softmax_body(sm, i, opset, &mut graph.initializers);
        for n in &body {
            for o in &n.outputs {
                types.insert(o.clone(), DType::F16);
            }
        }
        graph.nodes.extend(body);
    }

    let graph_outputs: HashSet<String> = graph.outputs.iter().map(|v| v.name.clone()).collect();
    // Values written by a node (Constant outputs count as initializers, as onnxruntime loads them).
    let producer: HashMap<String, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !is_onnx(n, "Constant"))
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.clone(), i)))
        .collect();
    let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for v in n.inputs.iter().filter(|v| !v.is_empty()) {
            readers.entry(v.clone()).or_default().push(i);
        }
    }

    // Rule 2: which nodes have an f16 kernel, then the isolated ones lose it, in node order.
    let mut kernel: Vec<bool> = graph
        .nodes
        .iter()
        .map(|n| !touches_f16(&types, n) || has_f16_kernel(n, opset))
        .collect();
    let needs_f32 = |kernel: &[bool], i: usize, nodes: &[Node]| {
        !kernel[i] && nodes[i].inputs.iter().any(|v| is_f16(&types, v))
    };
    for i in 0..graph.nodes.len() {
        let n = &graph.nodes[i];
        if !kernel[i]
            || !touches_f16(&types, n)
            || !n.inputs.iter().any(|v| producer.contains_key(v))
            || n.outputs.iter().any(|o| graph_outputs.contains(o))
            || has_subgraph(n)
        {
            continue;
        }
        let inputs: Vec<&String> = considered_inputs(n)
            .iter()
            .filter_map(|&k| n.inputs.get(k))
            .filter(|v| is_f16(&types, v))
            .collect();
        let output = n.outputs.first().filter(|v| is_f16(&types, v));
        let (false, Some(output)) = (inputs.is_empty(), output) else {
            continue;
        };
        let producers_f32 = inputs.iter().all(|v| {
            producer
                .get(*v)
                .is_none_or(|&p| needs_f32(&kernel, p, &graph.nodes))
        });
        let readers_f32 = readers
            .get(output)
            .is_none_or(|r| r.iter().all(|&c| needs_f32(&kernel, c, &graph.nodes)));
        if producers_f32 && readers_f32 {
            kernel[i] = false;
        }
    }
    let f32_nodes: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| needs_f32(&kernel, i, &graph.nodes))
        .collect();
    if f32_nodes.is_empty() {
        return 0;
    }
    let in_f32: HashSet<usize> = f32_nodes.iter().copied().collect();

    // Rule 4 (names first): f16 outputs of f32 nodes get f32 twins.
    let mut twin: HashMap<String, String> = HashMap::new();
    for &i in &f32_nodes {
        for o in graph.nodes[i].outputs.iter().filter(|o| is_f16(&types, o)) {
            twin.insert(o.clone(), format!("{PREFIX}{o}"));
        }
    }
    // Rule 3: where each f32 node reads its f16 inputs from.
    let mut converted: HashMap<String, String> = HashMap::new();
    let mut new_inits: Vec<NamedTensor> = Vec::new();
    let mut new_casts: Vec<Node> = Vec::new();
    let init_index: HashMap<String, usize> = graph
        .initializers
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let graph_inputs: HashSet<String> = graph.inputs.iter().map(|v| v.name.clone()).collect();
    for &i in &f32_nodes {
        for k in 0..graph.nodes[i].inputs.len() {
            let v = graph.nodes[i].inputs[k].clone();
            if !is_f16(&types, &v) {
                continue;
            }
            let source = if let Some(t) = twin.get(&v) {
                t.clone()
            } else if let Some(src) = f32_source_of_cast(&graph.nodes, &producer, &types, &v) {
                src
            } else if let Some(c) = converted.get(&v) {
                c.clone()
            } else {
                let name = format!("{PREFIX}{v}");
                let init = init_index
                    .get(&v)
                    .filter(|_| !graph_inputs.contains(&v))
                    .and_then(|&ii| to_f32(&graph.initializers[ii].tensor));
                match init {
                    Some(tensor) => new_inits.push(NamedTensor {
                        name: name.clone(),
                        doc_string: String::new(),
                        tensor,
                    }),
                    None => new_casts.push(cast(&name, &v, &name, DType::F32)),
                }
                converted.insert(v.clone(), name.clone());
                name
            };
            graph.nodes[i].inputs[k] = source;
        }
        for o in graph.nodes[i].outputs.iter_mut() {
            if let Some(t) = twin.get(o) {
                *o = t.clone();
            }
        }
    }
    // Rule 4: who still reads each f16 value of an f32 node.
    let mut dropped: HashMap<String, String> = HashMap::new(); // Cast output -> f32 twin
    let mut dead: HashSet<usize> = HashSet::new();
    for (v, t) in &twin {
        let others: Vec<usize> = readers
            .get(v)
            .map(|r| r.iter().copied().filter(|c| !in_f32.contains(c)).collect())
            .unwrap_or_default();
        let (casts, plain): (Vec<usize>, Vec<usize>) = others
            .iter()
            .partition(|&&c| is_onnx(&graph.nodes[c], "Cast"));
        let keep_rounding = graph_outputs.contains(v) || !plain.is_empty();
        for c in casts {
            let d = &graph.nodes[c];
            let out = d.outputs.first().cloned().unwrap_or_default();
            if types.get(&out) == Some(&DType::F32) && !graph_outputs.contains(&out) {
                dropped.insert(out, t.clone());
                dead.insert(c);
            } else if !keep_rounding {
                graph.nodes[c].inputs[0] = t.clone();
            }
        }
        if keep_rounding {
            new_casts.push(cast(&format!("{PREFIX}{v}_f16"), t, v, DType::F16));
        }
    }
    for n in graph.nodes.iter_mut() {
        for v in n.inputs.iter_mut() {
            if let Some(t) = dropped.get(v) {
                *v = t.clone();
            }
        }
    }
    let count = f32_nodes.len();
    let mut i = 0;
    graph.nodes.retain(|_| {
        i += 1;
        !dead.contains(&(i - 1))
    });
    graph.nodes.extend(new_casts);
    graph.initializers.extend(new_inits);
    prune_unread_casts(graph, &graph_outputs);
    if onnxide_ir::topo::sort(graph).is_err() {
        return 0;
    }
    count
}

fn is_onnx(node: &Node, op: &str) -> bool {
    node.op_type == op && onnxide_ir::normalize_domain(&node.domain).is_empty()
}

fn has_f16_kernel(node: &Node, opset: i64) -> bool {
    if !onnxide_ir::normalize_domain(&node.domain).is_empty() {
        return true;
    }
    F16_KERNELS.contains(&node.op_type.as_str()) || (node.op_type == "Relu" && opset >= 14)
}

/// The inputs onnxruntime's isolation test looks at: the first of each type-constrained
/// formal parameter.
fn considered_inputs(node: &Node) -> &'static [usize] {
    match node.op_type.as_str() {
        "Clip" | "LayerNormalization" => &[0, 1, 2],
        _ => &[0],
    }
}

fn has_subgraph(node: &Node) -> bool {
    node.attributes
        .iter()
        .any(|a| matches!(a.value, AttrValue::Graph(_) | AttrValue::Graphs(_)))
}

/// `x` when `v` is written by `Cast(x: f32, to = f16)`.
fn f32_source_of_cast(
    nodes: &[Node],
    producer: &HashMap<String, usize>,
    types: &HashMap<String, DType>,
    v: &str,
) -> Option<String> {
    let n = &nodes[*producer.get(v)?];
    let x = n.inputs.first()?;
    (is_onnx(n, "Cast") && types.get(x) == Some(&DType::F32)).then(|| x.clone())
}

fn to_f32(t: &Tensor) -> Option<Tensor> {
    let values: Vec<f32> = t.to_f64_vec()?.into_iter().map(|v| v as f32).collect();
    Tensor::from_vec(t.shape().to_vec(), values).ok()
}

fn cast(name: &str, input: &str, output: &str, to: DType) -> Node {
    Node {
        name: name.to_string(),
        op_type: "Cast".into(),
        inputs: vec![input.to_string()],
        outputs: vec![output.to_string()],
        attributes: vec![Attribute {
            name: "to".into(),
            value: AttrValue::Int(i64::from(to.onnx_code())),
            doc_string: String::new(),
            ref_attr_name: String::new(),
        }],
        ..Node::default()
    }
}

/// Softmax's ONNX function body (opset 13+): ReduceMax, Sub, Exp, ReduceSum, Div.
fn softmax_body(sm: &Node, index: usize, opset: i64, inits: &mut Vec<NamedTensor>) -> Vec<Node> {
    let axis = sm.attr_int("axis").unwrap_or(-1);
    let p = format!("{PREFIX}softmax{index}");
    let axes = format!("{p}_axes");
    inits.push(NamedTensor {
        name: axes.clone(),
        doc_string: String::new(),
        tensor: Tensor::from_vec(vec![1], vec![axis]).expect("one value"),
    });
    let x = sm.inputs[0].clone();
    let (max, sub, exp, sum) = (
        format!("{p}_max"),
        format!("{p}_sub"),
        format!("{p}_exp"),
        format!("{p}_sum"),
    );
    let keepdims = || Attribute {
        name: "keepdims".into(),
        value: AttrValue::Int(1),
        doc_string: String::new(),
        ref_attr_name: String::new(),
    };
    let node = |op: &str, inputs: Vec<String>, output: &str, attributes: Vec<Attribute>| Node {
        name: format!("{p}_{op}"),
        op_type: op.into(),
        inputs,
        outputs: vec![output.to_string()],
        attributes,
        ..Node::default()
    };
    let reduce_max = if opset >= 18 {
        node(
            "ReduceMax",
            vec![x.clone(), axes.clone()],
            &max,
            vec![keepdims()],
        )
    } else {
        let axes_attr = Attribute {
            name: "axes".into(),
            value: AttrValue::Ints(vec![axis]),
            doc_string: String::new(),
            ref_attr_name: String::new(),
        };
        node(
            "ReduceMax",
            vec![x.clone()],
            &max,
            vec![keepdims(), axes_attr],
        )
    };
    vec![
        reduce_max,
        node("Sub", vec![x, max.clone()], &sub, vec![]),
        node("Exp", vec![sub], &exp, vec![]),
        node("ReduceSum", vec![exp.clone(), axes], &sum, vec![keepdims()]),
        node("Div", vec![exp, sum], &sm.outputs[0], vec![]),
    ]
}

/// Drops Casts (original or ours) whose output nobody reads any more.
fn prune_unread_casts(graph: &mut onnxide_ir::Graph, graph_outputs: &HashSet<String>) {
    loop {
        let read: HashSet<&str> = graph
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .collect();
        let before = graph.nodes.len();
        let keep: Vec<bool> = graph
            .nodes
            .iter()
            .map(|n| {
                !is_onnx(n, "Cast")
                    || n.outputs
                        .iter()
                        .any(|o| read.contains(o.as_str()) || graph_outputs.contains(o))
            })
            .collect();
        let mut it = keep.iter();
        graph.nodes.retain(|_| *it.next().unwrap_or(&true));
        if graph.nodes.len() == before {
            return;
        }
    }
}
