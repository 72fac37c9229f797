//! Strict checks of a model before planning (a leaf): every rule a malformed or hostile
//! file could break to make the executor do something other than what the graph says.
//! Each failure is a [`RuntimeError::Invalid`] naming the node (or graph) and the field.

use crate::error::RuntimeError;
use onnxide_ir::{AttrValue, DType, Graph, Model, ValueType};
use std::collections::HashSet;

/// Lowest and highest ai.onnx opset the executor accepts (onnx 1.23 defines up to 28).
pub const OPSETS: (i64, i64) = (1, 28);
/// Highest IR version the executor accepts (onnx 1.23 writes 14).
pub const MAX_IR_VERSION: i64 = 14;

fn invalid(where_: impl Into<String>, field: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Invalid {
        where_: where_.into(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Checks the whole model, subgraphs included (nested at most `max_nesting` deep).
pub(crate) fn model(model: &Model, max_nesting: usize) -> Result<(), RuntimeError> {
    if model.ir_version < 1 || model.ir_version > MAX_IR_VERSION {
        return Err(invalid(
            "model",
            "ir_version",
            format!(
                "{} is outside the supported range 1..={MAX_IR_VERSION}",
                model.ir_version
            ),
        ));
    }
    for op in &model.opset_imports {
        if op.version < 1 {
            return Err(invalid(
                "model",
                "opset_import",
                format!("domain '{}' has version {}", op.domain, op.version),
            ));
        }
        let default = op.domain.is_empty() || op.domain == "ai.onnx";
        if default && (op.version < OPSETS.0 || op.version > OPSETS.1) {
            return Err(invalid(
                "model",
                "opset_import",
                format!(
                    "ai.onnx opset {} is outside the supported range {}..={}",
                    op.version, OPSETS.0, OPSETS.1
                ),
            ));
        }
    }
    graph(&model.graph, 0, max_nesting, &HashSet::new())
}

fn graph(
    g: &Graph,
    depth: usize,
    max_nesting: usize,
    outer: &HashSet<String>,
) -> Result<(), RuntimeError> {
    let scope = if depth == 0 {
        "graph".to_string()
    } else {
        format!("subgraph '{}'", g.name)
    };
    if depth > max_nesting {
        return Err(invalid(
            scope,
            "nesting",
            format!("subgraphs nest more than {max_nesting} deep (SessionOptions::max_nesting)"),
        ));
    }
    for vi in g.inputs.iter().chain(&g.outputs).chain(&g.value_info) {
        value_type(&scope, &vi.name, &vi.ty)?;
    }
    let mut outputs = HashSet::new();
    for o in &g.outputs {
        if !outputs.insert(o.name.as_str()) {
            return Err(invalid(
                &scope,
                "output",
                format!("'{}' is listed twice as a graph output", o.name),
            ));
        }
    }
    // Names defined in this scope: inputs, initializers, then node outputs, each once.
    let inputs: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    let mut defined: HashSet<&str> = HashSet::new();
    for i in &g.inputs {
        if !defined.insert(&i.name) {
            return Err(invalid(
                &scope,
                "input",
                format!("'{}' is listed twice as an input", i.name),
            ));
        }
    }
    for init in &g.initializers {
        let shadows_input = inputs.contains(init.name.as_str());
        if !shadows_input && !defined.insert(&init.name) {
            return Err(invalid(
                &scope,
                "initializer",
                format!("'{}' is defined twice", init.name),
            ));
        }
    }
    let mut inner_outer: HashSet<String> = outer.clone();
    inner_outer.extend(defined.iter().map(|s| s.to_string()));
    for node in &g.nodes {
        let label = if node.name.is_empty() {
            format!(
                "node with output '{}'",
                node.outputs.first().map_or("", |s| s)
            )
        } else {
            format!("node '{}'", node.name)
        };
        let label = format!("{label} ({})", node.op_type);
        for o in node.outputs.iter().filter(|o| !o.is_empty()) {
            if inputs.contains(o.as_str()) {
                return Err(invalid(
                    &label,
                    "output",
                    format!("writes '{o}', which is a graph input"),
                ));
            }
            if !defined.insert(o) {
                return Err(invalid(
                    &label,
                    "output",
                    format!("'{o}' is assigned more than once"),
                ));
            }
            inner_outer.insert(o.clone());
        }
        if node.op_type == "Split" && (node.domain.is_empty() || node.domain == "ai.onnx") {
            if let Some(n) = node.attr_int("num_outputs") {
                if n < 1 {
                    return Err(invalid(&label, "num_outputs", format!("{n} is below 1")));
                }
            }
        }
        for a in &node.attributes {
            let subgraphs: Vec<&Graph> = match &a.value {
                AttrValue::Graph(sg) => vec![sg],
                AttrValue::Graphs(v) => v.iter().collect(),
                _ => Vec::new(),
            };
            for sg in subgraphs {
                graph(sg, depth + 1, max_nesting, &inner_outer).map_err(|e| match e {
                    RuntimeError::Invalid {
                        where_,
                        field,
                        message,
                    } => invalid(
                        format!("{label}, attribute '{}': {where_}", a.name),
                        &field,
                        message,
                    ),
                    other => other,
                })?;
            }
        }
    }
    Ok(())
}

fn value_type(scope: &str, name: &str, ty: &ValueType) -> Result<(), RuntimeError> {
    use onnxide_proto::tensor_shape_proto::dimension::Value as DimValue;
    use onnxide_proto::type_proto::Value;
    // Well-formed tensor types are read as `Tensor`; the rest is kept as the proto.
    let ValueType::Other(tp) = ty else {
        return Ok(());
    };
    let Some(Value::TensorType(tt)) = &tp.value else {
        return Ok(());
    };
    if let Some(code) = tt.elem_type {
        if code != 0 && DType::from_onnx_code(code).is_none() {
            return Err(invalid(
                scope,
                "elem_type",
                format!("'{name}' has unknown element type {code}"),
            ));
        }
    }
    if let Some(shape) = &tt.shape {
        for d in &shape.dim {
            if let Some(DimValue::DimValue(v)) = d.value {
                if v < 0 {
                    return Err(invalid(
                        scope,
                        "shape",
                        format!("'{name}' has a negative dimension {v}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
