//! Shape and type inference.
//!
//! [`infer`] walks the graph in topological order and derives, for every value it can, the
//! element type and the shape (`Dim::Fixed`, `Dim::Param` for named dims such as `batch`, or
//! `Dim::Unknown`). Sizes computed from named dims are written as exact formulas in the same
//! `Param` form (a dynamic YOLO11 detect export's `output0` is
//! `[batch, 84, 21*(floor((height - 1)/32) + 1)*(floor((width - 1)/32) + 1)]`; see `expr`).
//! Small integer tensors (shapes built in-graph by dynamic exports:
//! `Shape -> Gather -> Unsqueeze -> Concat -> Reshape`) also carry their known values, symbolic
//! dims included, so shape-consuming ops downstream still get a shape.
//!
//! Ops without a rule leave their outputs untyped and are listed in [`Inferred::not_inferred`];
//! real contradictions (mismatched fixed dims, wrong ranks, element count mismatches) are
//! `IrError::Inference` errors naming the node. [`infer_shapes`] writes the result into
//! `graph.value_info`.

mod conv;
mod dims;
mod elementwise;
mod expr;
mod index;
mod linalg;
mod shape_ops;
mod slicing;
mod values;

use crate::{AttrValue, DType, Dim, Graph, IrError, Model, Node, Tensor, ValueInfo, ValueType};
use std::collections::{BTreeSet, HashMap};

pub(crate) use dims::Reason;

/// One element of a known integer tensor: a number, a named dimension, or unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sym {
    Int(i64),
    Param(String),
    Unknown,
}

/// What inference knows about one value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fact {
    pub elem: Option<DType>,
    /// `None`: rank unknown.
    pub shape: Option<Vec<Dim>>,
    /// Row-major values of a small integer (or integer-valued) tensor, when known.
    pub value: Option<Vec<Sym>>,
}

impl Fact {
    pub fn new(elem: Option<DType>, shape: Option<Vec<Dim>>) -> Fact {
        Fact {
            elem,
            shape,
            value: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.elem.is_none() && self.shape.is_none()
    }

    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }

    fn from_value_info(v: &ValueInfo) -> Fact {
        match &v.ty {
            ValueType::Tensor { elem, shape } => Fact::new(*elem, shape.clone()),
            _ => Fact::default(),
        }
    }

    /// The fact as the `ValueInfo` of `name` (a tensor of this element type and shape).
    pub fn to_value_info(&self, name: &str) -> ValueInfo {
        ValueInfo {
            name: name.to_string(),
            ty: ValueType::Tensor {
                elem: self.elem,
                shape: self.shape.clone(),
            },
            doc_string: String::new(),
            metadata_props: Vec::new(),
        }
    }
}

/// A node inference could not type because it has no rule for the op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotInferred {
    /// `node.label()`.
    pub node: String,
    pub op_type: String,
    pub domain: String,
}

/// The result of [`infer`]: a fact for every value of the top-level graph that inference reached.
#[derive(Clone, Debug, Default)]
pub struct Inferred {
    facts: HashMap<String, Fact>,
    /// Value names in the order they were defined (inputs, initializers, node outputs).
    order: Vec<String>,
    pub not_inferred: Vec<NotInferred>,
}

impl Inferred {
    pub fn fact(&self, name: &str) -> Option<&Fact> {
        self.facts.get(name)
    }

    pub fn shape(&self, name: &str) -> Option<&[Dim]> {
        self.facts.get(name)?.shape.as_deref()
    }

    /// The shape of `name` when every dim is a known number.
    pub fn static_shape(&self, name: &str) -> Option<Vec<u64>> {
        self.shape(name)?
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                _ => None,
            })
            .collect()
    }

    pub fn elem(&self, name: &str) -> Option<DType> {
        self.facts.get(name)?.elem
    }

    /// Known values of a small integer tensor.
    pub fn value(&self, name: &str) -> Option<&[Sym]> {
        self.facts.get(name)?.value.as_deref()
    }

    /// The value as a `ValueInfo` (for values with at least a type or a rank).
    pub fn value_info(&self, name: &str) -> Option<ValueInfo> {
        let f = self.facts.get(name)?;
        (!f.is_empty()).then(|| f.to_value_info(name))
    }

    /// Every typed value, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Fact)> {
        self.order
            .iter()
            .filter_map(|n| self.facts.get(n).map(|f| (n.as_str(), f)))
    }

    /// The op types that have no inference rule (each once).
    pub fn unsupported_ops(&self) -> BTreeSet<&str> {
        self.not_inferred
            .iter()
            .map(|n| n.op_type.as_str())
            .collect()
    }
}

/// Infers types and shapes of every value of `model.graph` from its inputs, initializers and
/// node semantics. Declared `value_info` is used only for outputs of nodes without a rule.
pub fn infer(model: &Model) -> Result<Inferred, IrError> {
    let opset = model.default_opset().unwrap_or(1);
    let graph = &model.graph;
    let mut st = State::new(graph);
    let mut out = Inferred::default();
    let define = |out: &mut Inferred, name: &str, f: Fact| {
        if !name.is_empty() && out.facts.insert(name.to_string(), f).is_none() {
            out.order.push(name.to_string());
        }
    };
    for i in &graph.inputs {
        let f = Fact::from_value_info(i);
        st.facts.insert(i.name.clone(), f.clone());
        define(&mut out, &i.name, f);
    }
    for t in &graph.initializers {
        let f = values::fact_of_tensor(&t.tensor);
        st.facts.insert(t.name.clone(), f.clone());
        define(&mut out, &t.name, f);
    }
    for idx in crate::topo::order(graph)? {
        let node = &graph.nodes[idx];
        let facts = match infer_node(&st, node, opset) {
            Ok(Some(facts)) => facts,
            Ok(None) => {
                out.not_inferred.push(NotInferred {
                    node: node.label(),
                    op_type: node.op_type.clone(),
                    domain: node.domain.clone(),
                });
                node.outputs
                    .iter()
                    .map(|o| st.declared(o).unwrap_or_default())
                    .collect()
            }
            Err(reason) => {
                return Err(IrError::Inference {
                    node: node.label(),
                    reason,
                })
            }
        };
        for (name, mut f) in node.outputs.iter().zip(facts) {
            if name.is_empty() {
                continue;
            }
            values::trim(&mut f);
            st.facts.insert(name.clone(), f.clone());
            define(&mut out, name, f);
        }
    }
    Ok(out)
}

/// Runs [`infer`] and writes the result into `model.graph.value_info`: every intermediate value
/// with a known type or rank gets an entry. Existing entries (and declared graph outputs) are
/// merged with what was inferred: the more specific dim wins, contradictions are errors.
pub fn infer_shapes(model: &mut Model) -> Result<Inferred, IrError> {
    let inferred = infer(model)?;
    let graph = &mut model.graph;
    let mut seen: std::collections::HashSet<String> = graph
        .inputs
        .iter()
        .map(|v| v.name.clone())
        .chain(graph.initializers.iter().map(|t| t.name.clone()))
        .collect();
    for o in graph.outputs.iter_mut() {
        seen.insert(o.name.clone());
        if let Some(f) = inferred.fact(&o.name) {
            merge_into(o, f)?;
        }
    }
    for v in graph.value_info.iter_mut() {
        seen.insert(v.name.clone());
        if let Some(f) = inferred.fact(&v.name) {
            merge_into(v, f)?;
        }
    }
    for (name, f) in inferred.iter() {
        if !f.is_empty() && seen.insert(name.to_string()) {
            graph.value_info.push(f.to_value_info(name));
        }
    }
    Ok(inferred)
}

fn merge_into(v: &mut ValueInfo, f: &Fact) -> Result<(), IrError> {
    let err = |reason: String| IrError::Inference {
        node: format!("value '{}'", v.name),
        reason,
    };
    let (elem, shape) = match &v.ty {
        ValueType::Tensor { elem, shape } => (*elem, shape.clone()),
        ValueType::Unknown => (None, None),
        ValueType::Other(_) => return Ok(()),
    };
    let elem = match (elem, f.elem) {
        (Some(a), Some(b)) if a != b => {
            return Err(err(format!("declared {a} but inferred {b}")));
        }
        (a, b) => a.or(b),
    };
    let shape = match (shape, &f.shape) {
        (Some(a), Some(b)) if a.len() != b.len() => {
            return Err(err(format!(
                "declared {} but inferred {}",
                crate::format_shape(Some(&a)),
                crate::format_shape(Some(b))
            )));
        }
        (Some(a), Some(b)) => Some(
            a.iter()
                .zip(b)
                .map(|(x, y)| match (x, y) {
                    // A declared name is kept over an inferred one.
                    (Dim::Param(_), Dim::Param(_)) => Ok(x.clone()),
                    _ => dims::merge_dim(x, y),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    err(format!(
                        "declared {} but inferred {}: {e}",
                        crate::format_shape(Some(&a)),
                        crate::format_shape(Some(b))
                    ))
                })?,
        ),
        (a, b) => a.or_else(|| b.clone()),
    };
    v.ty = ValueType::Tensor { elem, shape };
    Ok(())
}

/// What the rules read: facts so far, constant tensors, declarations.
pub(crate) struct State<'g> {
    facts: HashMap<String, Fact>,
    consts: HashMap<&'g str, &'g Tensor>,
    declared: HashMap<&'g str, &'g ValueInfo>,
}

impl<'g> State<'g> {
    fn new(graph: &'g Graph) -> State<'g> {
        let mut consts: HashMap<&str, &Tensor> = graph
            .initializers
            .iter()
            .map(|t| (t.name.as_str(), &t.tensor))
            .collect();
        for n in &graph.nodes {
            if n.op_type == "Constant" && n.domain.is_empty() {
                if let (Some(AttrValue::Tensor(t)), Some(o)) = (n.attr("value"), n.outputs.first())
                {
                    consts.insert(o.as_str(), &t.tensor);
                }
            }
        }
        let declared = graph
            .value_info
            .iter()
            .chain(&graph.outputs)
            .map(|v| (v.name.as_str(), v))
            .collect();
        State {
            facts: HashMap::new(),
            consts,
            declared,
        }
    }

    fn declared(&self, name: &str) -> Option<Fact> {
        self.declared.get(name).map(|v| Fact::from_value_info(v))
    }

    /// The fact of input `i` (default for omitted or unknown inputs).
    pub fn input(&self, node: &Node, i: usize) -> Fact {
        node.inputs
            .get(i)
            .and_then(|n| self.facts.get(n))
            .cloned()
            .unwrap_or_default()
    }

    pub fn has_input(&self, node: &Node, i: usize) -> bool {
        node.inputs.get(i).is_some_and(|n| !n.is_empty())
    }

    /// Known integer values of input `i`.
    pub fn ints(&self, node: &Node, i: usize) -> Option<Vec<Sym>> {
        let name = node.inputs.get(i).filter(|n| !n.is_empty())?;
        self.facts.get(name)?.value.clone()
    }

    /// Known plain integers of input `i`.
    pub fn known_ints(&self, node: &Node, i: usize) -> Option<Vec<i64>> {
        dims::ints(&self.ints(node, i)?)
    }

    /// Numeric values of input `i` if it is a constant (initializer or `Constant`), or known
    /// integers.
    pub fn floats(&self, node: &Node, i: usize) -> Option<Vec<f64>> {
        let name = node.inputs.get(i).filter(|n| !n.is_empty())?;
        if let Some(t) = self.consts.get(name.as_str()) {
            return t.to_f64_vec();
        }
        self.known_ints(node, i)
            .map(|v| v.into_iter().map(|x| x as f64).collect())
    }
}

/// Integer list from an attribute, or from input `i` (the form after the attr→input move).
pub(crate) fn attr_or_input(st: &State, node: &Node, attr: &str, i: usize) -> Option<Vec<i64>> {
    match node.attr_ints(attr) {
        Some(v) => Some(v.to_vec()),
        None => st.known_ints(node, i),
    }
}

/// `None`: no rule for this op. `Some(facts)`: one fact per node output.
fn infer_node(st: &State, node: &Node, opset: i64) -> Result<Option<Vec<Fact>>, Reason> {
    if !node.domain.is_empty() && node.domain != "ai.onnx" {
        return Ok(None);
    }
    let op = node.op_type.as_str();
    let mut outs = if let Some(f) = elementwise::infer(st, node, op)? {
        f
    } else if let Some(f) = conv::infer(st, node, op)? {
        f
    } else if let Some(f) = shape_ops::infer(st, node, op, opset)? {
        f
    } else if let Some(f) = linalg::infer(st, node, op, opset)? {
        f
    } else if let Some(f) = index::infer(st, node, op)? {
        f
    } else {
        return Ok(None);
    };
    outs.resize(node.outputs.len(), Fact::default());
    values::propagate(st, node, op, &mut outs);
    Ok(Some(outs))
}
