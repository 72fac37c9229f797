//! float32 → float16 as `onnxruntime.transformers.float16.convert_float_to_float16(model,
//! keep_io_types=True)` does it (Ultralytics' CPU `half=True` export traces in fp32 and then runs
//! that converter).
//!
//! [`to_float16`] reproduces the converter on any fp32 graph without subgraphs, step by step and
//! in the same order, so the file matches the converter's node for node:
//! - every float graph input `x` (index i) gets a `Cast` `graph_input_cast{i}` (to=FLOAT16) whose
//!   output `graph_input_cast_{i}` replaces `x` in the graph; every float graph output (index i)
//!   is produced by a `Cast` `graph_output_cast{i}` (to=FLOAT) from `graph_output_cast_{i}`. The
//!   graph I/O stays float32. The converter appends these Casts at the **end** of the node list
//!   (so its file, and Ultralytics', is not topologically sorted and `onnx.checker` with
//!   `full_check` refuses it); ours ends with a stable topological sort, which moves each Cast
//!   before its first reader and keeps every other node in the converter's order;
//! - a float initializer becomes FLOAT16 if any non-blocked node reads it at an input that may be
//!   float16 (Resize `scales`, input 2, must stay FLOAT; a Resize-only initializer stays FLOAT);
//!   values below 5.96e-8 in magnitude are raised to it and values beyond ±65504 clamped, then
//!   rounded to nearest-even;
//! - `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)`; float tensor attributes become FLOAT16;
//!   a `ConstantOfShape` without `value` gets a FLOAT16 zero;
//! - nodes of the converter's block list (here only `Range`, in dynamic graphs) keep computing in
//!   float32: their float16 inputs go through `{x}_cast_to_fp32` Casts and their outputs come back
//!   through `{y}_cast_to_fp16` Casts, appended after the I/O casts (before the final sort);
//! - `value_info` lists every intermediate value with its inferred type, float ones as FLOAT16
//!   (graph outputs keep FLOAT), then the I/O cast values.

use crate::{ConvertError, Result};
use half::f16;
use onnxide_ir::rewrite::{attr, cast, Pass, PassReport, Patch};
use onnxide_ir::{
    AttrValue, DType, IrError, Model, NamedTensor, Node, Tensor, ValueInfo, ValueType,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// `float16.DEFAULT_OP_BLOCK_LIST` (onnxruntime 1.32): ops left in float32.
const OP_BLOCK_LIST: &[&str] = &[
    "ArrayFeatureExtractor",
    "Binarizer",
    "CastMap",
    "CategoryMapper",
    "DictVectorizer",
    "FeatureVectorizer",
    "Imputer",
    "LabelEncoder",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "OneHotEncoder",
    "RandomUniformLike",
    "SVMClassifier",
    "SVMRegressor",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "TreeEnsemble",
    "ZipMap",
    "NonMaxSuppression",
    "TopK",
    "RoiAlign",
    "Range",
    "CumSum",
    "Min",
    "Max",
    "Upsample",
];

/// `float16.ALWAYS_FLOAT_INPUTS`: inputs that must stay float32 (Resize `scales` from opset 11).
fn always_float_inputs(op: &str, opset: i64) -> Option<&'static [usize]> {
    match op {
        "Resize" if opset <= 10 => Some(&[1]),
        "Resize" => Some(&[2]),
        "GroupNorm" | "SkipGroupNorm" => Some(&[1, 2]),
        _ => None,
    }
}

/// The converter's default `min_positive_val` / `max_finite_val`.
const MIN_POSITIVE: f32 = 5.96e-08;
const MAX_FINITE: f32 = 65504.0;

/// `convert_np_to_float16`: clamp tiny and huge magnitudes, then round to nearest-even.
fn to_f16(x: f32) -> f16 {
    let y = if 0.0 < x && x < MIN_POSITIVE {
        MIN_POSITIVE
    } else if -MIN_POSITIVE < x && x < 0.0 {
        -MIN_POSITIVE
    } else if MAX_FINITE < x && x < f32::INFINITY {
        MAX_FINITE
    } else if f32::NEG_INFINITY < x && x < -MAX_FINITE {
        -MAX_FINITE
    } else {
        x
    };
    f16::from_f32(y)
}

/// A FLOAT tensor as FLOAT16 (`convert_tensor_float_to_float16`); other dtypes unchanged.
fn tensor_to_f16(t: &Tensor) -> Result<Option<Tensor>> {
    let Some(v) = t.as_slice::<f32>() else {
        return Ok(None);
    };
    let data: Vec<f16> = v.iter().map(|&x| to_f16(x)).collect();
    Tensor::from_vec(t.shape().to_vec(), data)
        .map(Some)
        .map_err(|e| ConvertError::Tensor(e.to_string()))
}

fn with_elem(v: &ValueInfo, name: String, elem: DType) -> ValueInfo {
    let mut v = v.clone();
    v.name = name;
    if let ValueType::Tensor { elem: e, .. } = &mut v.ty {
        *e = Some(elem);
    }
    v
}

/// The converter as a pass (for a [`onnxide_ir::rewrite::PassManager`]). Converting twice
/// would wrap the I/O in Casts twice, so the pass converts on its first run only.
#[derive(Debug, Default)]
pub struct Float16 {
    done: bool,
}

impl Pass for Float16 {
    fn name(&self) -> &'static str {
        "float16"
    }

    fn run(&mut self, model: &mut Model) -> std::result::Result<PassReport, IrError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(PassReport::new());
        }
        let before = model.graph.nodes.len();
        to_float16(model).map_err(|e| IrError::Pass {
            pass: self.name().into(),
            problems: vec![e.to_string()],
        })?;
        Ok(PassReport::new().with("casts_added", model.graph.nodes.len() - before))
    }
}

/// Converts an fp32 model in place the way `convert_float_to_float16(model, keep_io_types=True)`
/// does (see the module docs).
pub fn to_float16(model: &mut Model) -> Result<()> {
    let opset = model.default_opset().unwrap_or(1);
    // What onnx.shape_inference gives the converter: the type of every value.
    let inferred = onnxide_ir::infer::infer(model)?;
    let g = &model.graph;
    let mut value_info = inferred_value_info(g, &inferred);
    let mut state = Conversion::default();
    state.cast_graph_io(g);

    // Node by node: I/O renames, Cast targets, float attributes; which float initializers a
    // float16 node reads.
    let mut nodes = g.nodes.clone();
    let mut float_inits: BTreeMap<String, InitializerUse> = g
        .initializers
        .iter()
        .filter(|t| t.tensor.dtype() == DType::F32)
        .map(|t| (t.name.clone(), InitializerUse::default()))
        .collect();
    let (mut blocked, mut mixed) = (Vec::new(), Vec::new());
    for (idx, n) in nodes.iter_mut().enumerate() {
        match state.convert_node(n, opset, &mut float_inits)? {
            NodeKind::Blocked => blocked.push(idx),
            NodeKind::Mixed => mixed.push(idx),
            NodeKind::Float16 => {}
        }
    }

    // Value types: float intermediates become float16 (graph I/O keeps float32).
    for v in value_info.iter_mut() {
        if v.elem_type() == Some(DType::F32) && !state.io_skip.contains(&v.name) {
            if let ValueType::Tensor { elem, .. } = &mut v.ty {
                *elem = Some(DType::F16);
            }
            state.fp16.insert(v.name.clone());
        }
    }
    value_info.append(&mut state.value_info);

    let mut patch = Patch::new();
    for t in &g.initializers {
        if float_inits.get(&t.name).is_some_and(|u| u.by_float16) {
            if let Some(h) = tensor_to_f16(&t.tensor)? {
                patch.replace_initializer(t.name.clone(), h);
                state.fp16.insert(t.name.clone());
            }
        }
    }

    // Inputs that must stay float32, then blocked nodes: Casts around them.
    let fact_vi = |name: &str| -> Option<ValueInfo> {
        value_info
            .iter()
            .find(|v| v.name == name)
            .cloned()
            .or_else(|| inferred.fact(name).map(|f| f.to_value_info(name)))
    };
    let mut around = CastsAround::default();
    for &idx in &mixed {
        let always = always_float_inputs(&nodes[idx].op_type, opset).unwrap_or(&[]);
        for (i, x) in nodes[idx].inputs.iter_mut().enumerate() {
            if always.contains(&i) && state.fp16.contains(x.as_str()) {
                *x = around.widen(x, &fact_vi, &mut state.new_nodes);
            }
        }
    }
    for &idx in &blocked {
        for x in nodes[idx].inputs.iter_mut() {
            if state.fp16.contains(x.as_str()) {
                *x = around.widen(x, &fact_vi, &mut state.new_nodes);
            }
        }
        for y in nodes[idx].outputs.iter_mut() {
            if state.fp16.contains(y.as_str()) {
                *y = around.narrow(y, &fact_vi, &mut state.new_nodes);
            }
        }
    }
    value_info.append(&mut around.value_info);

    for (idx, (new, old)) in nodes.into_iter().zip(&g.nodes).enumerate() {
        if &new != old {
            patch.replace_node(idx, new);
        }
    }
    state.new_nodes.into_iter().for_each(|n| patch.add_node(n));
    patch.keep_orphans();
    patch.apply(&mut model.graph);
    model.graph.value_info = value_info;
    // The converter appends its Casts last; a stable topological sort moves each one just before
    // its first reader and leaves every other node where it was, so the file passes
    // `onnx.checker`'s full check and is otherwise the converter's, node for node.
    onnxide_ir::topo::sort(&mut model.graph)?;
    Ok(())
}

/// value_info: every node output with an inferred type, in node order.
fn inferred_value_info(
    g: &onnxide_ir::Graph,
    inferred: &onnxide_ir::infer::Inferred,
) -> Vec<ValueInfo> {
    let mut seen: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    seen.extend(g.initializers.iter().map(|t| t.name.as_str()));
    let mut value_info = Vec::new();
    for o in g.nodes.iter().flat_map(|n| &n.outputs) {
        if o.is_empty() || !seen.insert(o.as_str()) {
            continue;
        }
        if let Some(f) = inferred.fact(o).filter(|f| !f.is_empty()) {
            value_info.push(f.to_value_info(o));
        }
    }
    value_info
}

/// Who reads a float initializer.
#[derive(Clone, Copy, Default)]
struct InitializerUse {
    by_float16: bool,
    by_float32: bool,
}

/// How a node computes after conversion.
enum NodeKind {
    Float16,
    /// On the block list: stays float32 between Casts.
    Blocked,
    /// Float16 but for some inputs that must stay float32 (Resize scales).
    Mixed,
}

/// The converter's running state.
#[derive(Default)]
struct Conversion {
    /// Graph I/O names -> the cast values that replace them inside the graph.
    name_mapping: HashMap<String, String>,
    io_skip: HashSet<String>,
    /// Names of float16 values (the converter's `value_info_list`).
    fp16: HashSet<String>,
    value_info: Vec<ValueInfo>,
    new_nodes: Vec<Node>,
}

impl Conversion {
    /// Every float32 graph input gets a Cast to float16, every float32 graph output a Cast from
    /// float16 (the I/O stays float32).
    fn cast_graph_io(&mut self, g: &onnxide_ir::Graph) {
        for (i, v) in g.inputs.iter().enumerate() {
            if v.elem_type() == Some(DType::F32) {
                let out = format!("graph_input_cast_{i}");
                self.io_value(v, &out);
                let name = format!("graph_input_cast{i}");
                self.new_nodes.push(cast(&name, &v.name, &out, DType::F16));
            }
        }
        for (i, v) in g.outputs.iter().enumerate() {
            if v.elem_type() == Some(DType::F32) {
                let inp = format!("graph_output_cast_{i}");
                self.io_value(v, &inp);
                let name = format!("graph_output_cast{i}");
                self.new_nodes.push(cast(&name, &inp, &v.name, DType::F32));
            }
        }
    }

    fn io_value(&mut self, v: &ValueInfo, inner: &str) {
        self.name_mapping.insert(v.name.clone(), inner.to_string());
        self.io_skip.insert(v.name.clone());
        self.value_info
            .push(with_elem(v, inner.to_string(), DType::F16));
        self.fp16.insert(inner.to_string());
    }

    /// Renames graph I/O, retargets `Cast(to=FLOAT)`, gives `ConstantOfShape` a float16 zero,
    /// converts float tensor attributes, and records which float initializers the node reads.
    fn convert_node(
        &self,
        n: &mut Node,
        opset: i64,
        float_inits: &mut BTreeMap<String, InitializerUse>,
    ) -> Result<NodeKind> {
        for x in n.inputs.iter_mut().chain(n.outputs.iter_mut()) {
            if let Some(m) = self.name_mapping.get(x.as_str()) {
                x.clone_from(m);
            }
        }
        let is_blocked = OP_BLOCK_LIST.contains(&n.op_type.as_str());
        let always = always_float_inputs(&n.op_type, opset);
        for (i, x) in n.inputs.iter().enumerate() {
            if let Some(use_) = float_inits.get_mut(x.as_str()) {
                if is_blocked || always.is_some_and(|a| a.contains(&i)) {
                    use_.by_float32 = true;
                } else {
                    use_.by_float16 = true;
                }
            }
        }
        if is_blocked {
            return Ok(NodeKind::Blocked);
        }
        if n.op_type == "Cast" {
            if let Some(a) = n.attributes.iter_mut().find(|a| a.name == "to") {
                if a.value == AttrValue::Int(DType::F32 as i64) {
                    a.value = AttrValue::Int(DType::F16 as i64);
                }
            }
        }
        if n.op_type == "ConstantOfShape" && n.domain.is_empty() && n.attr("value").is_none() {
            let zero = Tensor::from_vec(vec![1], vec![f16::ZERO])
                .map_err(|e| ConvertError::Tensor(e.to_string()))?;
            n.attributes.push(attr("value", zero));
        }
        if always.is_some() {
            return Ok(NodeKind::Mixed);
        }
        for a in n.attributes.iter_mut() {
            match &mut a.value {
                AttrValue::Tensor(t) => convert_named(t)?,
                AttrValue::Tensors(ts) => ts.iter_mut().try_for_each(convert_named)?,
                AttrValue::Graph(_) | AttrValue::Graphs(_) => {
                    return Err(ConvertError::Unsupported {
                        node: n.label(),
                        reason: "float16 conversion of subgraphs is not supported".into(),
                    })
                }
                _ => {}
            }
        }
        Ok(NodeKind::Float16)
    }
}

fn convert_named(t: &mut NamedTensor) -> Result<()> {
    if let Some(h) = tensor_to_f16(&t.tensor)? {
        t.tensor = h;
    }
    Ok(())
}

/// The Casts around float32 inputs and blocked nodes: one `{x}_cast_to_fp32` per value read
/// in float32, one `{y}_cast_to_fp16` per float16 output of a blocked node.
#[derive(Default)]
struct CastsAround {
    cast_outputs: HashMap<String, String>,
    value_info: Vec<ValueInfo>,
}

impl CastsAround {
    fn widen(
        &mut self,
        x: &str,
        fact_vi: &dyn Fn(&str) -> Option<ValueInfo>,
        new_nodes: &mut Vec<Node>,
    ) -> String {
        if let Some(out) = self.cast_outputs.get(x) {
            return out.clone();
        }
        let out = format!("{x}_cast_to_fp32");
        if let Some(v) = fact_vi(x) {
            self.value_info.push(with_elem(&v, out.clone(), DType::F32));
        }
        new_nodes.push(cast(&format!("{x}_cast_to_fp32_node"), x, &out, DType::F32));
        self.cast_outputs.insert(x.to_string(), out.clone());
        out
    }

    fn narrow(
        &mut self,
        y: &str,
        fact_vi: &dyn Fn(&str) -> Option<ValueInfo>,
        new_nodes: &mut Vec<Node>,
    ) -> String {
        let renamed = format!("{y}_cast_to_fp16");
        if let Some(v) = fact_vi(y) {
            self.value_info
                .push(with_elem(&v, renamed.clone(), DType::F32));
        }
        new_nodes.push(cast(
            &format!("{y}_cast_to_fp16_node"),
            &renamed,
            y,
            DType::F16,
        ));
        renamed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onnxide_ir::rewrite::node;
    use onnxide_ir::{Dim, Graph, OpsetImport};

    /// images -> Mul(w) -> Resize(scales) -> output0.
    fn model() -> Model {
        let f = |n: &str, d: Vec<u64>| {
            ValueInfo::tensor(n, DType::F32, d.into_iter().map(Dim::Fixed).collect())
        };
        let t =
            |n: &str, v: Vec<f32>| NamedTensor::new(n, Tensor::from_vec(vec![v.len()], v).unwrap());
        Model {
            ir_version: 8,
            opset_imports: vec![OpsetImport {
                domain: String::new(),
                version: 18,
            }],
            graph: Graph {
                inputs: vec![f("images", vec![1, 1, 2, 2])],
                outputs: vec![f("output0", vec![1, 1, 4, 4])],
                initializers: vec![t("w", vec![1e-9]), t("scales", vec![1.0, 1.0, 2.0, 2.0])],
                nodes: vec![
                    node("Mul")
                        .name("mul")
                        .inputs(["images", "w"])
                        .output("m")
                        .build(),
                    node("Resize")
                        .name("resize")
                        .inputs(["m", "", "scales"])
                        .output("output0")
                        .attr("mode", "nearest")
                        .build(),
                ],
                ..Graph::default()
            },
            ..Model::default()
        }
    }

    #[test]
    fn io_stays_float32_behind_casts_in_topological_order() {
        let mut m = model();
        to_float16(&mut m).unwrap();
        let names: Vec<&str> = m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
        // The scales initializer stays float32, so Resize needs no Cast in front of it; the
        // Casts the converter appends last are sorted before their readers.
        assert_eq!(
            names,
            ["graph_input_cast0", "mul", "resize", "graph_output_cast0"]
        );
        assert_eq!(m.graph.nodes[1].inputs, ["graph_input_cast_0", "w"]);
        assert_eq!(m.graph.nodes[2].outputs, ["graph_output_cast_0"]);
        assert_eq!(m.graph.inputs[0].elem_type(), Some(DType::F32));
        assert_eq!(m.graph.outputs[0].elem_type(), Some(DType::F32));
    }

    #[test]
    fn weights_become_float16_but_resize_scales_stay_float32() {
        let mut m = model();
        to_float16(&mut m).unwrap();
        let w = m.graph.initializer("w").unwrap();
        // Below float16's smallest subnormal: raised to it, as the converter does.
        assert_eq!(
            w.tensor.as_slice::<f16>().unwrap(),
            &[f16::from_f32(MIN_POSITIVE)]
        );
        assert_eq!(
            m.graph.initializer("scales").unwrap().tensor.dtype(),
            DType::F32
        );
    }

    #[test]
    fn the_pass_converts_once() {
        let mut m = model();
        let mut pass = Float16::default();
        assert!(pass.run(&mut m).unwrap().get("casts_added") == 2);
        let once = m.clone();
        assert!(!pass.run(&mut m).unwrap().changed());
        assert_eq!(m, once);
    }

    #[test]
    fn subgraphs_are_refused_with_the_node() {
        let mut m = model();
        m.graph.nodes.push(
            node("If")
                .name("branch")
                .input("images")
                .output("o")
                .attr("then_branch", Graph::default())
                .build(),
        );
        let err = to_float16(&mut m).unwrap_err().to_string();
        assert!(
            err.contains("If 'branch'") && err.contains("subgraphs"),
            "{err}"
        );
    }
}
