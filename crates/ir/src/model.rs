//! The model, graph and node types every onnxide tool works on.
//!
//! Values are connected by name, as in ONNX: a node input names a graph input, an initializer or
//! another node's output; the empty string marks an omitted optional input.

use crate::{DType, NamedTensor};
use onnxide_proto as proto;

/// A whole ONNX model.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Model {
    pub ir_version: i64,
    pub opset_imports: Vec<OpsetImport>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc_string: String,
    pub graph: Graph,
    /// `metadata_props` in file order (Ultralytics' loader reads these).
    pub metadata_props: Vec<(String, String)>,
    /// Kept as read: onnxide does not interpret these, it only preserves them.
    pub functions: Vec<proto::FunctionProto>,
    pub training_info: Vec<proto::TrainingInfoProto>,
    pub configuration: Vec<proto::DeviceConfigurationProto>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpsetImport {
    /// `""` (or `"ai.onnx"`) is the default operator set.
    pub domain: String,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub doc_string: String,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub value_info: Vec<ValueInfo>,
    pub initializers: Vec<NamedTensor>,
    pub nodes: Vec<Node>,
    pub metadata_props: Vec<(String, String)>,
    pub sparse_initializers: Vec<proto::SparseTensorProto>,
    pub quantization_annotation: Vec<proto::TensorAnnotation>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub overload: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub doc_string: String,
    pub metadata_props: Vec<(String, String)>,
    pub device_configurations: Vec<proto::NodeDeviceConfigurationProto>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
    pub doc_string: String,
    /// Set inside function bodies: the attribute takes the caller's attribute of this name.
    pub ref_attr_name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(NamedTensor),
    Graph(Box<Graph>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<NamedTensor>),
    Graphs(Vec<Graph>),
    /// Sparse tensors and type protos: preserved, not interpreted.
    Other(Box<proto::AttributeProto>),
}

/// A named, typed value: a graph input or output, or a `value_info` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub ty: ValueType,
    pub doc_string: String,
    pub metadata_props: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// A dense tensor; `shape` is `None` when the rank is unknown.
    Tensor {
        elem: Option<DType>,
        shape: Option<Vec<Dim>>,
    },
    /// Sequences, maps, optionals, sparse tensors and anything carrying denotations: kept as read.
    Other(proto::TypeProto),
    /// No type given (allowed for graph outputs of nested graphs).
    Unknown,
}

/// One dimension of a tensor shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Fixed(u64),
    /// A named dimension such as `batch`: the same name means the same size.
    Param(String),
    Unknown,
}

impl Model {
    /// The version of the default (`ai.onnx`) operator set, if imported.
    pub fn default_opset(&self) -> Option<i64> {
        self.opset_version("")
    }

    pub fn opset_version(&self, domain: &str) -> Option<i64> {
        let wanted = normalize_domain(domain);
        self.opset_imports
            .iter()
            .find(|o| normalize_domain(&o.domain) == wanted)
            .map(|o| o.version)
    }

    /// `metadata_props[key]`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata_props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `ai.onnx` and `""` name the same operator set.
pub fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" {
        ""
    } else {
        domain
    }
}

impl Graph {
    pub fn initializer(&self, name: &str) -> Option<&NamedTensor> {
        self.initializers.iter().find(|t| t.name == name)
    }

    /// Graph inputs that are not also initializers (what a caller must feed).
    pub fn real_inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.inputs
            .iter()
            .filter(|i| !self.initializers.iter().any(|t| t.name == i.name))
    }
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    pub fn attr_int(&self, name: &str) -> Option<i64> {
        match self.attr(name) {
            Some(AttrValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn attr_float(&self, name: &str) -> Option<f32> {
        match self.attr(name) {
            Some(AttrValue::Float(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        match self.attr(name) {
            Some(AttrValue::Ints(v)) => Some(v),
            _ => None,
        }
    }

    pub fn attr_string(&self, name: &str) -> Option<&str> {
        match self.attr(name) {
            Some(AttrValue::String(s)) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    pub fn attr_tensor(&self, name: &str) -> Option<&NamedTensor> {
        match self.attr(name) {
            Some(AttrValue::Tensor(t)) => Some(t),
            _ => None,
        }
    }

    /// A short label for messages: `Conv '/model.0/conv/Conv'` (or the first output if unnamed).
    pub fn label(&self) -> String {
        let name = if self.name.is_empty() {
            self.outputs.first().map(String::as_str).unwrap_or("")
        } else {
            &self.name
        };
        format!("{} '{}'", self.op_type, name)
    }
}

impl ValueInfo {
    /// A tensor value with a known element type and shape.
    pub fn tensor(name: impl Into<String>, elem: DType, shape: Vec<Dim>) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            ty: ValueType::Tensor {
                elem: Some(elem),
                shape: Some(shape),
            },
            doc_string: String::new(),
            metadata_props: Vec::new(),
        }
    }

    pub fn elem_type(&self) -> Option<DType> {
        match &self.ty {
            ValueType::Tensor { elem, .. } => *elem,
            _ => None,
        }
    }

    pub fn shape(&self) -> Option<&[Dim]> {
        match &self.ty {
            ValueType::Tensor { shape, .. } => shape.as_deref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Param(p) => f.write_str(p),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// `[1, 3, 640, 640]` / `[batch, 3, height, width]`.
pub fn format_shape(shape: Option<&[Dim]>) -> String {
    match shape {
        None => "(unknown rank)".to_string(),
        Some(dims) => {
            let parts: Vec<String> = dims.iter().map(Dim::to_string).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}
