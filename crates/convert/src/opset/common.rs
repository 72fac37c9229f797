//! What the adapters share: the graph they read, fresh names, new initializers, constants.

use onnxide_ir::infer::Inferred;
use onnxide_ir::rewrite::{GraphIndex, UniqueNames};
use onnxide_ir::{DType, Graph, NamedTensor, Node, Tensor};

/// What an adapter sees and adds to.
pub(crate) struct Ctx<'a> {
    pub graph: &'a Graph,
    pub index: &'a GraphIndex,
    pub inferred: &'a Inferred,
    pub names: UniqueNames,
    /// Initializers the adapters add.
    pub new_initializers: Vec<NamedTensor>,
}

/// A node's replacement: the nodes (in order) that take its place and what was done.
pub(crate) struct Rewrite {
    pub nodes: Vec<Node>,
    pub what: String,
}

impl Rewrite {
    pub fn one(node: Node, what: impl Into<String>) -> Rewrite {
        Rewrite {
            nodes: vec![node],
            what: what.into(),
        }
    }
}

impl Ctx<'_> {
    /// The int64 values of a constant value (initializer or `Constant` node output).
    /// An initializer that is also a graph input can be overridden: not a constant.
    pub fn const_ints(&self, name: &str) -> Option<Vec<i64>> {
        self.const_tensor(name)?.to_i64_vec()
    }

    /// The float values of a constant value (any numeric type, as f64).
    pub fn const_floats(&self, name: &str) -> Option<Vec<f64>> {
        self.const_tensor(name)?.to_f64_vec()
    }

    /// A constant value (initializer or `Constant` node output); an initializer that is also a
    /// graph input can be overridden: not a constant.
    pub fn const_tensor(&self, name: &str) -> Option<Tensor> {
        if self.index.is_graph_input(name) {
            return None;
        }
        if let Some(t) = self.graph.initializer(name) {
            return Some(t.tensor.clone());
        }
        // An initializer an adapter added earlier in the same node's conversion.
        if let Some(t) = self.new_initializers.iter().find(|t| t.name == name) {
            return Some(t.tensor.clone());
        }
        let p = self.index.producer(name)?;
        let n = self.graph.nodes.get(p)?;
        if n.op_type != "Constant" {
            return None;
        }
        if let Some(v) = n.attr_ints("value_ints") {
            return Tensor::from_vec(vec![v.len()], v.to_vec()).ok();
        }
        if let Some(v) = n.attr_int("value_int") {
            return Some(Tensor::scalar(v));
        }
        if let Some(v) = n.attr_float("value_float") {
            return Some(Tensor::scalar(v));
        }
        Some(n.attr_tensor("value")?.tensor.clone())
    }

    /// A new initializer holding `t`; returns its name.
    pub fn initializer(&mut self, base: &str, t: Tensor) -> String {
        let name = self.names.fresh(base);
        self.new_initializers
            .push(NamedTensor::new(name.clone(), t));
        name
    }

    /// A new 1-D int64 initializer holding `values`; returns its name.
    pub fn int64_initializer(&mut self, base: &str, values: &[i64]) -> Result<String, String> {
        let name = self.names.fresh(base);
        let t = Tensor::from_vec(vec![values.len()], values.to_vec()).map_err(|e| e.to_string())?;
        self.new_initializers
            .push(NamedTensor::new(name.clone(), t));
        Ok(name)
    }

    /// A new empty float initializer (Resize's roi/scales placeholders before opset 13).
    pub fn empty_float(&mut self, base: &str) -> Result<String, String> {
        let name = self.names.fresh(base);
        let t = Tensor::from_vec::<f32>(vec![0], Vec::new()).map_err(|e| e.to_string())?;
        self.new_initializers
            .push(NamedTensor::new(name.clone(), t));
        Ok(name)
    }

    /// The rank of a value, if inferred.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.inferred.shape(name).map(<[_]>::len)
    }
}

/// A scalar of a float type holding `v` (the types Clip and Pad took before opset 11).
pub(crate) fn float_scalar(
    dtype: Option<DType>,
    v: f64,
    shape: Vec<usize>,
) -> Result<Tensor, String> {
    let t = match dtype {
        Some(DType::F32) => Tensor::from_vec(shape, vec![v as f32]),
        Some(DType::F64) => Tensor::from_vec(shape, vec![v]),
        Some(DType::F16) => Tensor::from_vec(shape, vec![half::f16::from_f64(v)]),
        Some(d) => return Err(format!("type {} has no float value", d.onnx_name())),
        None => return Err("the input's type is not known".into()),
    };
    t.map_err(|e| e.to_string())
}

/// The node's base for fresh names: its name, else its first output.
pub(crate) fn base(n: &Node) -> String {
    if n.name.is_empty() {
        n.outputs.first().cloned().unwrap_or_default()
    } else {
        n.name.clone()
    }
}

/// The node's first output (else its name): the base of names derived from its value.
pub(crate) fn out_base(n: &Node) -> String {
    n.outputs
        .first()
        .filter(|o| !o.is_empty())
        .cloned()
        .unwrap_or_else(|| n.name.clone())
}

/// The node's input `i`, if present and not empty.
pub(crate) fn input(node: &Node, i: usize) -> Option<&str> {
    node.inputs
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Drops trailing empty inputs.
pub(crate) fn trim_inputs(node: &mut Node) {
    while node.inputs.last().is_some_and(String::is_empty) {
        node.inputs.pop();
    }
}
