//! `half=True`: Ultralytics' CPU FP16 export, which traces in fp32 and then runs
//! `onnxruntime.transformers.float16.convert_float_to_float16(model, keep_io_types=True)`.
//!
//! [`to_float16`] reproduces that converter on onnxide's fp32 graph, step by step and in the same
//! order, so the file matches Ultralytics' structurally:
//! - every float graph input `x` (index i) gets a `Cast` `graph_input_cast{i}` (to=FLOAT16) whose
//!   output `graph_input_cast_{i}` replaces `x` in the graph; every float graph output (index i)
//!   is produced by a `Cast` `graph_output_cast{i}` (to=FLOAT) from `graph_output_cast_{i}`. The
//!   graph I/O stays float32. These Casts are appended at the **end** of the node list, as the
//!   converter does (so the node list is not topologically sorted: onnxruntime and onnxide load
//!   it, `onnx.checker` with `full_check` refuses it, exactly as it refuses Ultralytics' file);
//! - a float initializer becomes FLOAT16 if any non-blocked node reads it at an input that may be
//!   float16 (Resize `scales`, input 2, must stay FLOAT; a Resize-only initializer stays FLOAT);
//!   values below 5.96e-8 in magnitude are raised to it and values beyond ±65504 clamped, then
//!   rounded to nearest-even;
//! - `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)`; float tensor attributes become FLOAT16;
//!   a `ConstantOfShape` without `value` gets a FLOAT16 zero;
//! - nodes of the converter's block list (here only `Range`, in dynamic graphs) keep computing in
//!   float32: their float16 inputs go through `{x}_cast_to_fp32` Casts and their outputs come back
//!   through `{y}_cast_to_fp16` Casts, appended after the I/O casts;
//! - `value_info` lists every intermediate value with its inferred type, float ones as FLOAT16
//!   (graph outputs keep FLOAT), then the I/O cast values.

use crate::error::{Result, YoloError};
use half::f16;
use onnxide_ir::{
    AttrValue, Attribute, DType, Model, NamedTensor, Node, Tensor, ValueInfo, ValueType,
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
        .map_err(|e| YoloError::Graph(format!("float16 conversion: {e}")))
}

fn cast(name: String, input: String, output: String, to: DType) -> Node {
    Node {
        name,
        op_type: "Cast".into(),
        inputs: vec![input],
        outputs: vec![output],
        attributes: vec![Attribute {
            name: "to".into(),
            value: AttrValue::Int(to as i64),
            doc_string: String::new(),
            ref_attr_name: String::new(),
        }],
        ..Node::default()
    }
}

fn fact_value_info(name: &str, f: &onnxide_ir::infer::Fact) -> ValueInfo {
    ValueInfo {
        name: name.to_string(),
        ty: ValueType::Tensor {
            elem: f.elem,
            shape: f.shape.clone(),
        },
        doc_string: String::new(),
        metadata_props: Vec::new(),
    }
}

fn with_elem(v: &ValueInfo, name: String, elem: DType) -> ValueInfo {
    let mut v = v.clone();
    v.name = name;
    if let ValueType::Tensor { elem: e, .. } = &mut v.ty {
        *e = Some(elem);
    }
    v
}

/// Converts an fp32 model in place the way `convert_float_to_float16(model, keep_io_types=True)`
/// does (see the module docs).
pub fn to_float16(model: &mut Model) -> Result<()> {
    let opset = model.default_opset().unwrap_or(1);
    // What onnx.shape_inference gives the converter: the type of every value.
    let inferred = onnxide_ir::infer::infer(model)?;
    let g = &mut model.graph;
    let n_orig = g.nodes.len();

    // value_info: every node output with an inferred type, in node order.
    let mut value_info: Vec<ValueInfo> = Vec::new();
    {
        let mut seen: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
        seen.extend(g.initializers.iter().map(|t| t.name.as_str()));
        for n in &g.nodes {
            for o in &n.outputs {
                if o.is_empty() || !seen.insert(o.as_str()) {
                    continue;
                }
                if let Some(f) = inferred.fact(o) {
                    if !f.is_empty() {
                        value_info.push(fact_value_info(o, f));
                    }
                }
            }
        }
    }

    let mut name_mapping: HashMap<String, String> = HashMap::new();
    let mut io_skip: HashSet<String> = HashSet::new();
    // Names of float16 values (the converter's `value_info_list`).
    let mut fp16: HashSet<String> = HashSet::new();
    let mut extra_vi: Vec<ValueInfo> = Vec::new();
    let mut new_nodes: Vec<Node> = Vec::new();
    for (i, v) in g.inputs.iter().enumerate() {
        if v.elem_type() == Some(DType::F32) {
            let out = format!("graph_input_cast_{i}");
            name_mapping.insert(v.name.clone(), out.clone());
            io_skip.insert(v.name.clone());
            extra_vi.push(with_elem(v, out.clone(), DType::F16));
            new_nodes.push(cast(
                format!("graph_input_cast{i}"),
                v.name.clone(),
                out.clone(),
                DType::F16,
            ));
            fp16.insert(out);
        }
    }
    for (i, v) in g.outputs.iter().enumerate() {
        if v.elem_type() == Some(DType::F32) {
            let inp = format!("graph_output_cast_{i}");
            name_mapping.insert(v.name.clone(), inp.clone());
            io_skip.insert(v.name.clone());
            extra_vi.push(with_elem(v, inp.clone(), DType::F16));
            new_nodes.push(cast(
                format!("graph_output_cast{i}"),
                inp.clone(),
                v.name.clone(),
                DType::F32,
            ));
            fp16.insert(inp);
        }
    }

    // Float initializers: (used by a float16 node, used by a float32 node).
    let mut float_inits: BTreeMap<String, (bool, bool)> = g
        .initializers
        .iter()
        .filter(|t| t.tensor.dtype() == DType::F32)
        .map(|t| (t.name.clone(), (false, false)))
        .collect();
    let mut blocked: Vec<usize> = Vec::new();
    let mut mixed: Vec<usize> = Vec::new();
    for (idx, n) in g.nodes.iter_mut().enumerate() {
        for x in n.inputs.iter_mut().chain(n.outputs.iter_mut()) {
            if let Some(m) = name_mapping.get(x.as_str()) {
                *x = m.clone();
            }
        }
        let is_blocked = OP_BLOCK_LIST.contains(&n.op_type.as_str());
        let always = always_float_inputs(&n.op_type, opset);
        for (i, x) in n.inputs.iter().enumerate() {
            if let Some(use_) = float_inits.get_mut(x.as_str()) {
                if is_blocked || always.is_some_and(|a| a.contains(&i)) {
                    use_.1 = true;
                } else {
                    use_.0 = true;
                }
            }
        }
        if is_blocked {
            blocked.push(idx);
            continue;
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
                .map_err(|e| YoloError::Graph(format!("float16 conversion: {e}")))?;
            n.attributes.push(Attribute {
                name: "value".into(),
                value: AttrValue::Tensor(NamedTensor {
                    name: "value".into(),
                    doc_string: String::new(),
                    tensor: zero,
                }),
                doc_string: String::new(),
                ref_attr_name: String::new(),
            });
        }
        if always.is_none() {
            for a in n.attributes.iter_mut() {
                match &mut a.value {
                    AttrValue::Tensor(t) => {
                        if let Some(h) = tensor_to_f16(&t.tensor)? {
                            t.tensor = h;
                        }
                    }
                    AttrValue::Tensors(ts) => {
                        for t in ts {
                            if let Some(h) = tensor_to_f16(&t.tensor)? {
                                t.tensor = h;
                            }
                        }
                    }
                    AttrValue::Graph(_) | AttrValue::Graphs(_) => {
                        return Err(YoloError::Graph(format!(
                            "float16 conversion of subgraphs ({}) is not supported",
                            n.label()
                        )))
                    }
                    _ => {}
                }
            }
        } else {
            mixed.push(idx);
        }
    }

    // Value types: float intermediates become float16 (graph I/O keeps float32).
    for v in value_info.iter_mut() {
        if v.elem_type() == Some(DType::F32) && !io_skip.contains(&v.name) {
            if let ValueType::Tensor { elem, .. } = &mut v.ty {
                *elem = Some(DType::F16);
            }
            fp16.insert(v.name.clone());
        }
    }
    value_info.extend(extra_vi);

    for t in g.initializers.iter_mut() {
        if let Some(&(true, _)) = float_inits.get(&t.name) {
            if let Some(h) = tensor_to_f16(&t.tensor)? {
                t.tensor = h;
                fp16.insert(t.name.clone());
            }
        }
    }

    // Inputs that must stay float32, then blocked nodes: Casts around them.
    let fact_vi = |name: &str| -> Option<ValueInfo> {
        value_info
            .iter()
            .find(|v| v.name == name)
            .cloned()
            .or_else(|| inferred.fact(name).map(|f| fact_value_info(name, f)))
    };
    let mut cast_outputs: HashMap<String, String> = HashMap::new();
    let mut more_vi: Vec<ValueInfo> = Vec::new();
    let mut to_fp32 = |x: &str, new_nodes: &mut Vec<Node>, more_vi: &mut Vec<ValueInfo>| {
        cast_outputs
            .entry(x.to_string())
            .or_insert_with(|| {
                let out = format!("{x}_cast_to_fp32");
                if let Some(v) = fact_vi(x) {
                    more_vi.push(with_elem(&v, out.clone(), DType::F32));
                }
                new_nodes.push(cast(
                    format!("{x}_cast_to_fp32_node"),
                    x.to_string(),
                    out.clone(),
                    DType::F32,
                ));
                out
            })
            .clone()
    };
    for &idx in &mixed {
        let op = g.nodes[idx].op_type.clone();
        let always = always_float_inputs(&op, opset).unwrap_or(&[]);
        for i in 0..g.nodes[idx].inputs.len() {
            let x = g.nodes[idx].inputs[i].clone();
            if always.contains(&i) && fp16.contains(&x) {
                g.nodes[idx].inputs[i] = to_fp32(&x, &mut new_nodes, &mut more_vi);
            }
        }
    }
    for &idx in &blocked {
        for i in 0..g.nodes[idx].inputs.len() {
            let x = g.nodes[idx].inputs[i].clone();
            if fp16.contains(&x) {
                g.nodes[idx].inputs[i] = to_fp32(&x, &mut new_nodes, &mut more_vi);
            }
        }
        for i in 0..g.nodes[idx].outputs.len() {
            let y = g.nodes[idx].outputs[i].clone();
            if fp16.contains(&y) {
                let renamed = format!("{y}_cast_to_fp16");
                if let Some(v) = fact_vi(&y) {
                    more_vi.push(with_elem(&v, renamed.clone(), DType::F32));
                }
                new_nodes.push(cast(
                    format!("{y}_cast_to_fp16_node"),
                    renamed.clone(),
                    y,
                    DType::F16,
                ));
                g.nodes[idx].outputs[i] = renamed;
            }
        }
    }
    value_info.extend(more_vi);
    debug_assert_eq!(g.nodes.len(), n_orig);
    g.nodes.extend(new_nodes);
    g.value_info = value_info;
    Ok(())
}
