//! Bit-exact, hashable forms of attribute values and nodes, for common-subexpression
//! elimination and weight tying.
//!
//! Floats compare by their bits: `0.0` and `-0.0` are different keys (they can give different
//! results, e.g. under `Div`), and a NaN equals the same NaN. Graph-valued attributes, sparse and
//! type attributes and attribute references have no key: nodes carrying them are never merged.

use crate::{AttrValue, Node, Tensor, TensorData};

/// A tensor's type, shape and bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorKey {
    dtype: i32,
    shape: Vec<usize>,
    bytes: Vec<u8>,
    strings: Vec<Vec<u8>>,
}

impl TensorKey {
    pub fn new(t: &Tensor) -> TensorKey {
        let strings = match t.data() {
            TensorData::String(s) => s.clone(),
            _ => Vec::new(),
        };
        TensorKey {
            dtype: t.dtype().onnx_code(),
            shape: t.shape().to_vec(),
            bytes: t.to_raw_bytes().unwrap_or_default(),
            strings,
        }
    }
}

/// An attribute value with bit-exact equality.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttrKey {
    Float(u32),
    Int(i64),
    String(Vec<u8>),
    Tensor(TensorKey),
    Floats(Vec<u32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<TensorKey>),
}

impl AttrKey {
    /// `None` for values that are never compared (graphs, sparse tensors, type protos).
    pub fn new(value: &AttrValue) -> Option<AttrKey> {
        Some(match value {
            AttrValue::Float(f) => AttrKey::Float(f.to_bits()),
            AttrValue::Int(i) => AttrKey::Int(*i),
            AttrValue::String(s) => AttrKey::String(s.clone()),
            AttrValue::Tensor(t) => AttrKey::Tensor(TensorKey::new(&t.tensor)),
            AttrValue::Floats(v) => AttrKey::Floats(v.iter().map(|f| f.to_bits()).collect()),
            AttrValue::Ints(v) => AttrKey::Ints(v.clone()),
            AttrValue::Strings(v) => AttrKey::Strings(v.clone()),
            AttrValue::Tensors(v) => {
                AttrKey::Tensors(v.iter().map(|t| TensorKey::new(&t.tensor)).collect())
            }
            AttrValue::Graph(_) | AttrValue::Graphs(_) | AttrValue::Other(_) => return None,
        })
    }
}

/// What makes two nodes compute the same values: op, domain, inputs and attributes (sorted by
/// name). Names, doc strings and metadata do not count.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeKey {
    op_type: String,
    domain: String,
    inputs: Vec<String>,
    output_count: usize,
    attributes: Vec<(String, AttrKey)>,
}

impl NodeKey {
    /// `None` when the node carries an attribute without a key (see the module docs).
    pub fn new(node: &Node) -> Option<NodeKey> {
        let mut attributes = Vec::with_capacity(node.attributes.len());
        for a in &node.attributes {
            if !a.ref_attr_name.is_empty() {
                return None;
            }
            attributes.push((a.name.clone(), AttrKey::new(&a.value)?));
        }
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        Some(NodeKey {
            op_type: node.op_type.clone(),
            domain: crate::normalize_domain(&node.domain).to_string(),
            inputs: node.inputs.clone(),
            output_count: node.outputs.len(),
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::node;
    use crate::{Graph, NamedTensor};
    use std::collections::HashSet;

    fn key(n: &Node) -> NodeKey {
        NodeKey::new(n).expect("keyed")
    }

    #[test]
    fn equal_nodes_hash_alike_whatever_their_names() {
        let a = node("Conv")
            .name("a")
            .inputs(["x", "w"])
            .output("y1")
            .attr("strides", [1i64, 1])
            .attr("group", 1i64)
            .build();
        // Same computation, other names and attribute order.
        let b = node("Conv")
            .name("b")
            .domain("ai.onnx")
            .inputs(["x", "w"])
            .output("y2")
            .attr("group", 1i64)
            .attr("strides", [1i64, 1])
            .build();
        let set: HashSet<NodeKey> = [key(&a), key(&b)].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn inputs_attributes_and_outputs_count() {
        let base = node("Split")
            .input("x")
            .outputs(["a", "b"])
            .attr("axis", 0i64);
        let k = key(&base.clone().build());
        assert_ne!(k, key(&base.clone().attr("x", 1i64).build()));
        assert_ne!(
            k,
            key(&node("Split")
                .input("y")
                .outputs(["a", "b"])
                .attr("axis", 0i64)
                .build())
        );
        assert_ne!(
            k,
            key(&node("Split")
                .input("x")
                .output("a")
                .attr("axis", 0i64)
                .build())
        );
        assert_ne!(
            k,
            key(&node("Split")
                .input("x")
                .outputs(["a", "b"])
                .attr("axis", 1i64)
                .build())
        );
    }

    #[test]
    fn floats_compare_by_bits() {
        let f = |v: f32| AttrKey::new(&AttrValue::Float(v)).unwrap();
        assert_ne!(f(0.0), f(-0.0));
        assert_eq!(f(f32::NAN), f(f32::NAN));
        assert_eq!(f(1.5), f(1.5));
    }

    #[test]
    fn tensors_compare_by_type_shape_and_bytes() {
        let t = |shape: Vec<usize>, v: Vec<f32>| {
            AttrKey::new(&AttrValue::Tensor(NamedTensor::new(
                "value",
                Tensor::from_vec(shape, v).unwrap(),
            )))
            .unwrap()
        };
        assert_eq!(t(vec![2], vec![1.0, 2.0]), t(vec![2], vec![1.0, 2.0]));
        assert_ne!(t(vec![2], vec![1.0, 2.0]), t(vec![1, 2], vec![1.0, 2.0]));
        assert_ne!(t(vec![2], vec![1.0, 2.0]), t(vec![2], vec![1.0, 3.0]));
        let i = AttrKey::new(&AttrValue::Tensor(NamedTensor::new(
            "value",
            Tensor::from_vec(vec![2], vec![1i32, 2]).unwrap(),
        )));
        assert_ne!(Some(t(vec![2], vec![1.0, 2.0])), i);
    }

    #[test]
    fn subgraphs_are_never_keyed() {
        let n = node("If")
            .input("c")
            .output("y")
            .attr("then_branch", Graph::default())
            .build();
        assert_eq!(NodeKey::new(&n), None);
    }
}
