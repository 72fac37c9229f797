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
//!    `ReduceMax, Sub, Exp, ReduceSum, Div`, and CastLike into a Cast, appended after the
//!    other nodes.
//! 2. In node order, an op with an f16 kernel becomes f32 when it reads at least one node
//!    output, writes no graph output, every producer of its first type-constrained f16
//!    input(s) runs in f32, and every reader of its first output runs in f32 (only the first
//!    input of a variadic list and the first output count). Earlier decisions count.
//! 3. Casts go around every f32 node (in topological order): each f16 input is widened by
//!    one Cast shared by all its f32 readers, each f16 output becomes an f32 value narrowed
//!    back to the original name by a Cast.
//! 4. onnxruntime's duplicate-Cast removal then runs over the file's Casts and then the
//!    inserted ones: a child Cast back to its parent's source type is dropped (its readers
//!    read the source), and a parent read only by Casts goes too, unless either writes a
//!    graph output or the pair is lossy both ways in the file itself. Net effect: f32 nodes
//!    pass values to each other unrounded, and a value is rounded to f16 only where a node
//!    that kept its f16 kernel, or a graph output, reads it.
//!
//! Initializers widened by a Cast become f32 initializers (exact), so that the fusion pass
//! sees constant f32 weights.

use onnxide_ir::rewrite::{
    cast, has_subgraph, is_onnx_op as is_onnx, node, GraphIndex, Pass, PassReport, Patch,
    UniqueNames,
};
use onnxide_ir::{DType, Graph, IrError, Model, NamedTensor, Node, Tensor};
use std::collections::{HashMap, HashSet};

/// Prefix of the values this pass creates (onnxruntime's own, for easy comparison).
const PREFIX: &str = "InsertedPrecisionFreeCast_";

/// Ops onnxruntime's CPU provider runs on f16 tensors (probed on onnxruntime 1.32, x86-64).
const F16_KERNELS: &[&str] = &[
    "Cast",
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

/// The pass (see the module docs). Reports `f16_in_f32`, the number of nodes moved to f32.
pub(super) struct F16InF32;

impl Pass for F16InF32 {
    fn name(&self) -> &'static str {
        "f16-in-f32"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        Ok(PassReport::new().with("f16_in_f32", compute_f16_in_f32(model)))
    }
}

/// Rewrites `model` (see the module docs); returns the number of nodes that run in f32.
/// All or nothing: a graph where type inference leaves some value's element type unknown is
/// left as it is (each op then computes in f32 and rounds its output to f16).
fn compute_f16_in_f32(model: &mut Model) -> usize {
    let mut rewritten = model.clone();
    let count = rewrite(&mut rewritten);
    if count > 0 {
        *model = rewritten;
    }
    count
}

fn rewrite(model: &mut Model) -> usize {
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
    let untyped = |v: &String| !v.is_empty() && !types.contains_key(v);
    if graph
        .nodes
        .iter()
        .any(|n| n.inputs.iter().chain(&n.outputs).any(untyped) || has_subgraph(n))
    {
        return 0;
    }

    expand_functions(graph, &mut types, opset);

    let graph_outputs: HashSet<String> = graph.outputs.iter().map(|v| v.name.clone()).collect();
    // Values written by a node (Constant outputs count as initializers, as onnxruntime loads them).
    let index = GraphIndex::new(graph);
    let nodes = &graph.nodes;
    let producer = |v: &str| {
        index
            .producer(v)
            .filter(|&p| !is_onnx(&nodes[p], "Constant"))
    };

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
            || !n.inputs.iter().any(|v| producer(v).is_some())
            || n.outputs.iter().any(|o| graph_outputs.contains(o))
            || has_subgraph(n)
            || is_onnx(n, "Cast")
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
        let producers_f32 = inputs
            .iter()
            .all(|v| producer(v).is_none_or(|p| needs_f32(&kernel, p, &graph.nodes)));
        let readers_f32 = index
            .consumers(output)
            .iter()
            .all(|&c| needs_f32(&kernel, c, &graph.nodes));
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
    let count = f32_nodes.len();

    // Rule 3: Casts around every f32 node, in topological order; one f16 → f32 Cast per value.
    let order = match onnxide_ir::topo::order(graph) {
        Ok(order) => order,
        Err(_) => return 0,
    };
    let in_f32: HashSet<usize> = f32_nodes.iter().copied().collect();
    let mut names = UniqueNames::new(graph);
    let mut widened: HashMap<String, String> = HashMap::new();
    let mut patch = Patch::new();
    let mut new_f32: Vec<String> = Vec::new();
    for i in order.into_iter().filter(|i| in_f32.contains(i)) {
        let mut node = graph.nodes[i].clone();
        for v in node.inputs.iter_mut().filter(|v| is_f16(&types, v)) {
            let wide = widened.entry(v.clone()).or_insert_with(|| {
                let name = names.fresh(&format!("{PREFIX}{v}"));
                patch.add_node(cast(&name, v, &name, DType::F32));
                name
            });
            new_f32.push(wide.clone());
            *v = wide.clone();
        }
        for o in node.outputs.iter_mut().filter(|o| is_f16(&types, o)) {
            let name = names.fresh(&format!("{PREFIX}{o}"));
            new_f32.push(name.clone());
            patch.add_node(cast(&name, &name, o, DType::F16));
            *o = name;
        }
        patch.replace_node(i, node);
    }
    types.extend(new_f32.into_iter().map(|v| (v, DType::F32)));
    let first_inserted = graph.nodes.len();
    patch.keep_orphans();
    patch.apply(graph);

    // Rule 4: Cast pairs that undo each other are removed, the file's Casts first, then ours.
    remove_duplicate_casts(graph, &types, first_inserted, &graph_outputs);
    fold_initializer_casts(graph, &graph_inputs_and_outputs(graph));
    if onnxide_ir::topo::sort(graph).is_err() {
        return 0;
    }
    count
}

fn graph_inputs_and_outputs(graph: &Graph) -> HashSet<String> {
    graph
        .inputs
        .iter()
        .chain(&graph.outputs)
        .map(|v| v.name.clone())
        .collect()
}

/// onnxruntime's `RemoveDuplicateCastTransformer`: for each Cast `c` (nodes before
/// `first_inserted` are the file's own; ours are exempt from the lossy test), a child Cast
/// that converts back to `c`'s source type is removed (its readers read `c`'s source), and
/// `c` itself goes when only Casts read it; a lossy pair (the file's narrowing Cast followed
/// by a lossy Cast back) is left alone.
fn remove_duplicate_casts(
    graph: &mut Graph,
    types: &HashMap<String, DType>,
    first_inserted: usize,
    graph_outputs: &HashSet<String>,
) {
    let mut removed = vec![false; graph.nodes.len()];
    let cast_types = |n: &Node| -> Option<(DType, DType)> {
        let src = *types.get(n.inputs.first()?)?;
        let to = DType::from_onnx_code(i32::try_from(n.attr_int("to")?).ok()?)?;
        Some((src, to))
    };
    for c in 0..graph.nodes.len() {
        if removed[c] || !is_onnx(&graph.nodes[c], "Cast") {
            continue;
        }
        let Some((src, dst)) = cast_types(&graph.nodes[c]) else {
            continue;
        };
        let (input, output) = (
            graph.nodes[c].inputs[0].clone(),
            graph.nodes[c].outputs[0].clone(),
        );
        let lossy = unsafe_cast(src, dst, c >= first_inserted);
        let children: Vec<usize> = (0..graph.nodes.len())
            .filter(|&d| !removed[d] && graph.nodes[d].inputs.contains(&output))
            .collect();
        let mut undo = Vec::new();
        let mut all_casts = true;
        let mut blocked = false;
        for &d in &children {
            let child = &graph.nodes[d];
            if !is_onnx(child, "Cast") {
                all_casts = false;
                continue;
            }
            let Some((s1, d1)) = cast_types(child) else {
                all_casts = false;
                continue;
            };
            if lossy && unsafe_cast(d1, s1, d >= first_inserted) {
                blocked = true;
                break;
            }
            if !graph_outputs.contains(&child.outputs[0]) && d1 == src && s1 == dst {
                undo.push(d);
            }
        }
        if blocked {
            continue;
        }
        for d in undo {
            let out = graph.nodes[d].outputs[0].clone();
            removed[d] = true;
            rename_reads(graph, &removed, &out, &input);
        }
        if !children.is_empty() && all_casts && !graph_outputs.contains(&output) {
            removed[c] = true;
            rename_reads(graph, &removed, &output, &input);
        }
    }
    let mut i = 0;
    graph.nodes.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
}

fn rename_reads(graph: &mut Graph, removed: &[bool], from: &str, to: &str) {
    for (n, _) in graph.nodes.iter_mut().zip(removed).filter(|(_, &r)| !r) {
        for v in n.inputs.iter_mut().filter(|v| *v == from) {
            *v = to.to_string();
        }
    }
}

/// onnxruntime's test for a Cast that may lose information (`UnsafeCast`); the Casts it
/// inserts itself count as safe narrowing.
fn unsafe_cast(src: DType, dst: DType, inserted: bool) -> bool {
    #[derive(PartialEq)]
    enum Kind {
        Bool,
        Signed,
        Unsigned,
        Float,
    }
    let kind = |t: DType| match t {
        DType::Bool => Some(Kind::Bool),
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => Some(Kind::Signed),
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => Some(Kind::Unsigned),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Some(Kind::Float),
        _ => None,
    };
    let (Some(a), Some(b)) = (kind(src), kind(dst)) else {
        return true;
    };
    let bits = |t: DType| t.bits().unwrap_or(0);
    if a != Kind::Bool && a != Kind::Unsigned && b == Kind::Unsigned {
        return true;
    }
    if a == Kind::Float && b != Kind::Float {
        return true;
    }
    if (a == Kind::Unsigned && b == Kind::Signed)
        || ((a == Kind::Signed || a == Kind::Unsigned) && b == Kind::Float)
    {
        return bits(dst) <= bits(src);
    }
    if matches!(
        (src, dst),
        (DType::F16, DType::BF16) | (DType::BF16, DType::F16)
    ) {
        return true;
    }
    bits(src) > bits(dst) && !inserted
}

/// `Cast(initializer → f32)` becomes an f32 initializer (the same values: widening is
/// exact), so that later passes see constant f32 weights.
fn fold_initializer_casts(graph: &mut Graph, io: &HashSet<String>) {
    let index = GraphIndex::new(graph);
    let mut patch = Patch::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let widening =
            is_onnx(n, "Cast") && n.attr_int("to") == Some(i64::from(DType::F32.onnx_code()));
        let source = n
            .inputs
            .first()
            .filter(|v| !io.contains(*v))
            .and_then(|v| index.initializer(v))
            .map(|i| &graph.initializers[i].tensor)
            .filter(|t| matches!(t.dtype(), DType::F16 | DType::BF16 | DType::F32));
        if let (true, Some(source), Some(out)) = (widening, source, n.outputs.first()) {
            if io.contains(out) {
                continue;
            }
            if let Some(tensor) = to_f32(source) {
                patch.remove_node(i);
                patch.add_initializer(NamedTensor::new(out.clone(), tensor));
            }
        }
    }
    // The f16 source initializers that only these Casts read are dropped with them.
    patch.apply(graph);
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

fn to_f32(t: &Tensor) -> Option<Tensor> {
    let values: Vec<f32> = t.to_f64_vec()?.into_iter().map(|v| v as f32).collect();
    Tensor::from_vec(t.shape().to_vec(), values).ok()
}

/// Rule 1: Softmax (opset ≥ 13) on f16 becomes its function body, CastLike a Cast; both are
/// appended after the other nodes (Softmax bodies first), as onnxruntime inlines them.
fn expand_functions(graph: &mut Graph, types: &mut HashMap<String, DType>, opset: i64) {
    let mut patch = Patch::new();
    let mut softmaxes = Vec::new();
    let mut cast_likes = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        if is_onnx(n, "Softmax")
            && opset >= 13
            && n.inputs.first().is_some_and(|x| is_f16(types, x))
        {
            softmaxes.push(i);
        }
        // CastLike has no kernel either: its body is a Cast to the second input's type, which
        // no longer reads that input (so the input no longer needs rounding for it).
        let target = n.inputs.get(1).and_then(|t| types.get(t));
        if let (true, Some(&to)) = (is_onnx(n, "CastLike"), target) {
            let mut c = cast(&n.name, &n.inputs[0], &n.outputs[0], to);
            c.attributes.extend(
                n.attributes
                    .iter()
                    .filter(|a| a.name == "saturate")
                    .cloned(),
            );
            cast_likes.push((i, c));
        }
    }
    for (k, &i) in softmaxes.iter().enumerate() {
        let (body, axes) = softmax_body(&graph.nodes[i], k, opset);
        for n in &body {
            for o in &n.outputs {
                types.insert(o.clone(), DType::F16);
            }
        }
        patch.remove_node(i);
        patch.add_initializer(axes);
        body.into_iter().for_each(|n| patch.add_node(n));
    }
    for (i, c) in cast_likes {
        patch.remove_node(i);
        patch.add_node(c);
    }
    // onnxruntime keeps a node whose only reader was a CastLike's type input.
    patch.keep_orphans();
    patch.apply(graph);
}

fn is_f16(types: &HashMap<String, DType>, v: &str) -> bool {
    types.get(v) == Some(&DType::F16)
}

/// Softmax's ONNX function body (opset 13+): ReduceMax, Sub, Exp, ReduceSum, Div, and the
/// initializer holding its axis.
fn softmax_body(sm: &Node, index: usize, opset: i64) -> (Vec<Node>, NamedTensor) {
    let axis = sm.attr_int("axis").unwrap_or(-1);
    let p = format!("{PREFIX}softmax{index}");
    let axes = format!("{p}_axes");
    let axes_tensor = NamedTensor::new(
        axes.clone(),
        Tensor::from_vec(vec![1], vec![axis]).expect("one value"),
    );
    let x = sm.inputs[0].clone();
    let (max, sub, exp, sum) = (
        format!("{p}_max"),
        format!("{p}_sub"),
        format!("{p}_exp"),
        format!("{p}_sum"),
    );
    let step = |op: &str| node(op).name(format!("{p}_{op}"));
    let reduce_max = if opset >= 18 {
        step("ReduceMax")
            .inputs([x.clone(), axes.clone()])
            .attr("keepdims", 1i64)
    } else {
        step("ReduceMax")
            .input(x.clone())
            .attr("keepdims", 1i64)
            .attr("axes", vec![axis])
    };
    let body = vec![
        reduce_max.output(max.clone()).build(),
        step("Sub").inputs([x, max]).output(sub.clone()).build(),
        step("Exp").input(sub).output(exp.clone()).build(),
        step("ReduceSum")
            .inputs([exp.clone(), axes])
            .output(sum.clone())
            .attr("keepdims", 1i64)
            .build(),
        step("Div")
            .inputs([exp, sum])
            .output(sm.outputs[0].clone())
            .build(),
    ];
    (body, axes_tensor)
}
