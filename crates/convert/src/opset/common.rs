//! What the adapters share: the graph they read, fresh names, new initializers, constants.

use onnxide_ir::infer::Inferred;
use onnxide_ir::rewrite::{GraphIndex, UniqueNames};
use onnxide_ir::{Graph, NamedTensor, Node, Tensor};

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
        if self.index.is_graph_input(name) {
            return None;
        }
        if let Some(t) = self.graph.initializer(name) {
            return t.tensor.to_i64_vec();
        }
        let p = self.index.producer(name)?;
        let n = self.graph.nodes.get(p)?;
        if n.op_type != "Constant" {
            return None;
        }
        if let Some(v) = n.attr_ints("value_ints") {
            return Some(v.to_vec());
        }
        if let Some(v) = n.attr_int("value_int") {
            return Some(vec![v]);
        }
        n.attr_tensor("value")?.tensor.to_i64_vec()
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
