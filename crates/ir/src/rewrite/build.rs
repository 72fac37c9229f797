//! The one set of node and attribute constructors.

use crate::{AttrValue, Attribute, DType, Graph, NamedTensor, Node, Tensor};

/// Starts a node of `op_type` in the default domain:
/// `node("Cast").name("c").inputs(["x"]).outputs(["y"]).attr("to", 1i64).build()`.
pub fn node(op_type: &str) -> NodeBuilder {
    NodeBuilder(Node {
        op_type: op_type.to_string(),
        ..Node::default()
    })
}

/// A node under construction (see [`node`]).
#[derive(Clone, Debug)]
#[must_use = "call .build() to get the node"]
pub struct NodeBuilder(Node);

impl NodeBuilder {
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.0.name = name.into();
        self
    }

    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.0.domain = domain.into();
        self
    }

    pub fn input(mut self, value: impl Into<String>) -> Self {
        self.0.inputs.push(value.into());
        self
    }

    pub fn inputs<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.0.inputs.extend(values.into_iter().map(Into::into));
        self
    }

    pub fn output(mut self, value: impl Into<String>) -> Self {
        self.0.outputs.push(value.into());
        self
    }

    pub fn outputs<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.0.outputs.extend(values.into_iter().map(Into::into));
        self
    }

    pub fn attr(mut self, name: &str, value: impl Into<AttrValue>) -> Self {
        self.0.attributes.push(attr(name, value));
        self
    }

    /// Appends already built attributes (in order).
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = Attribute>) -> Self {
        self.0.attributes.extend(attributes);
        self
    }

    pub fn build(self) -> Node {
        self.0
    }
}

/// An attribute with no doc string and no reference to a caller's attribute.
pub fn attr(name: &str, value: impl Into<AttrValue>) -> Attribute {
    Attribute {
        name: name.to_string(),
        value: value.into(),
        doc_string: String::new(),
        ref_attr_name: String::new(),
    }
}

/// `Cast(input) -> output` to `to`, named `name`.
pub fn cast(name: &str, input: &str, output: &str, to: DType) -> Node {
    node("Cast")
        .name(name)
        .input(input)
        .output(output)
        .attr("to", i64::from(to.onnx_code()))
        .build()
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> AttrValue {
        AttrValue::Int(v)
    }
}

impl From<f32> for AttrValue {
    fn from(v: f32) -> AttrValue {
        AttrValue::Float(v)
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> AttrValue {
        AttrValue::String(v.as_bytes().to_vec())
    }
}

impl From<String> for AttrValue {
    fn from(v: String) -> AttrValue {
        AttrValue::String(v.into_bytes())
    }
}

impl From<Vec<i64>> for AttrValue {
    fn from(v: Vec<i64>) -> AttrValue {
        AttrValue::Ints(v)
    }
}

impl From<&[i64]> for AttrValue {
    fn from(v: &[i64]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }
}

impl<const N: usize> From<[i64; N]> for AttrValue {
    fn from(v: [i64; N]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }
}

impl From<Vec<f32>> for AttrValue {
    fn from(v: Vec<f32>) -> AttrValue {
        AttrValue::Floats(v)
    }
}

impl From<&[f32]> for AttrValue {
    fn from(v: &[f32]) -> AttrValue {
        AttrValue::Floats(v.to_vec())
    }
}

impl From<NamedTensor> for AttrValue {
    fn from(v: NamedTensor) -> AttrValue {
        AttrValue::Tensor(v)
    }
}

/// A tensor attribute named `value`, as Constant and ConstantOfShape carry it.
impl From<Tensor> for AttrValue {
    fn from(v: Tensor) -> AttrValue {
        AttrValue::Tensor(NamedTensor::new("value", v))
    }
}

impl From<Graph> for AttrValue {
    fn from(v: Graph) -> AttrValue {
        AttrValue::Graph(Box::new(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nodes_and_attributes() {
        let n = node("Conv")
            .name("c")
            .domain("ai.onnxide")
            .inputs(["x", "w"])
            .input("")
            .output("y")
            .attr("strides", [2i64, 2])
            .attr("group", 1i64)
            .attr("alpha", 0.5f32)
            .attr("auto_pad", "NOTSET")
            .build();
        assert_eq!(n.name, "c");
        assert_eq!(n.domain, "ai.onnxide");
        assert_eq!(n.inputs, ["x", "w", ""]);
        assert_eq!(n.outputs, ["y"]);
        assert_eq!(n.attr_ints("strides"), Some(&[2i64, 2][..]));
        assert_eq!(n.attr_int("group"), Some(1));
        assert_eq!(n.attr_float("alpha"), Some(0.5));
        assert_eq!(n.attr_string("auto_pad"), Some("NOTSET"));
        assert!(n.attributes.iter().all(|a| a.doc_string.is_empty()));
    }

    #[test]
    fn cast_sets_the_onnx_type_code() {
        let c = cast("c", "x", "y", DType::F16);
        assert_eq!(c.op_type, "Cast");
        assert_eq!(c.attr_int("to"), Some(10));
        assert_eq!((c.inputs[0].as_str(), c.outputs[0].as_str()), ("x", "y"));
    }

    #[test]
    fn tensor_attribute_is_named_value() {
        let a = attr("value", Tensor::scalar(3i64));
        match a.value {
            AttrValue::Tensor(t) => assert_eq!(t.name, "value"),
            other => panic!("{other:?}"),
        }
    }
}
