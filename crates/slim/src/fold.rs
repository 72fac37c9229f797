//! `fold-constants`: nodes whose inputs are all constant are evaluated with the runtime's
//! reference kernels ([`onnxide_runtime::eval_node`]) and become initializers; `fold-shapes`:
//! integer values inference knows exactly (`Shape`/`Size` of static dims, and what is computed
//! from them, partly symbolic shapes included where the used dims are static) become
//! initializers, after which constant folding continues downstream.

use crate::util::{byte_size, default_domain};
use onnxide_ir::infer::{infer, Inferred, Sym};
use onnxide_ir::rewrite::{has_subgraph, GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{DType, IrError, Model, NamedTensor, Tensor};
use std::collections::HashMap;

/// Folds nodes on constant inputs. Rules: default-domain, deterministic ops without subgraphs;
/// no graph output is folded (it keeps its producer); every output's type and static shape must
/// be known from inference *before* evaluating, and the outputs together may not be larger
/// than the inputs together (the file never grows; a huge `ConstantOfShape` is never
/// evaluated, so never allocated). `Constant` nodes become initializers (same bytes).
/// `size_threshold`: outputs larger than the inputs are folded too when together they are at
/// most this many bytes (0, the default: never).
#[derive(Clone, Copy, Debug, Default)]
pub struct FoldConstants {
    pub size_threshold: usize,
}

impl Pass for FoldConstants {
    fn name(&self) -> &'static str {
        "fold-constants"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let opset = model.default_opset().unwrap_or(1);
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        // Values folded by this run, usable by later nodes of the same run.
        let mut folded: HashMap<String, Tensor> = HashMap::new();
        let mut patch = Patch::new();
        let (mut constants, mut nodes) = (0, 0);
        for (i, n) in g.nodes.iter().enumerate() {
            if !default_domain(n)
                || !onnxide_runtime::is_deterministic(&n.op_type)
                || has_subgraph(n)
                || n.outputs
                    .iter()
                    .any(|o| ix.is_graph_output(o) || ix.is_captured(o))
                || n.outputs.iter().all(|o| o.is_empty())
            {
                continue;
            }
            let is_constant_node = n.op_type == "Constant";
            if !is_constant_node && n.inputs.iter().all(|s| s.is_empty()) {
                continue;
            }
            let mut inputs: Vec<Option<&Tensor>> = Vec::with_capacity(n.inputs.len());
            let mut all_constant = true;
            for s in &n.inputs {
                if s.is_empty() {
                    inputs.push(None);
                } else if let Some(t) = folded.get(s) {
                    inputs.push(Some(t));
                } else if let Some(t) = ix.is_constant(s).then(|| g.initializer(s)).flatten() {
                    inputs.push(Some(&t.tensor));
                } else {
                    all_constant = false;
                    break;
                }
            }
            if !all_constant {
                continue;
            }
            if !is_constant_node {
                // The size rule, checked on inferred shapes before anything is evaluated.
                let Some(f) = facts.as_ref() else { continue };
                let in_bytes: usize = inputs.iter().flatten().map(|t| t.byte_size()).sum();
                let mut out_bytes = Some(0usize);
                for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                    out_bytes = match (out_bytes, f.elem(o), f.static_shape(o)) {
                        (Some(acc), Some(e), Some(s)) => {
                            byte_size(e, &s).and_then(|b| acc.checked_add(b))
                        }
                        _ => None,
                    };
                }
                match out_bytes {
                    Some(b) if b <= in_bytes.max(self.size_threshold) => {}
                    _ => continue,
                }
            }
            let Ok(outputs) = onnxide_runtime::eval_node(n, opset, &inputs) else {
                continue;
            };
            if !is_constant_node {
                // Inference and the kernel disagreeing on a size must not let the file grow.
                let in_bytes: usize = inputs.iter().flatten().map(|t| t.byte_size()).sum();
                let out_bytes: usize = outputs.iter().map(Tensor::byte_size).sum();
                if out_bytes > in_bytes.max(self.size_threshold) {
                    continue;
                }
            }
            for (name, t) in n.outputs.iter().zip(outputs) {
                if !name.is_empty() {
                    patch.add_initializer(NamedTensor::new(name.clone(), t.clone()));
                    folded.insert(name.clone(), t);
                }
            }
            patch.remove_node(i);
            if is_constant_node {
                constants += 1;
            } else {
                nodes += 1;
            }
        }
        if patch.is_empty() {
            return Ok(PassReport::new());
        }
        let s = patch.apply(&mut model.graph);
        Ok(PassReport::new()
            .with("constants", constants)
            .with("nodes", nodes)
            .with("dead", s.nodes_dead))
    }
}

/// Replaces integer values that inference knows exactly (every element a number, static
/// shape, int64 or int32) and that depend on a non-constant input (`Shape`, `Size`, and
/// shape arithmetic on them) by initializers, and so any value with a static shape of zero
/// elements (an empty Slice, of any type). Graph outputs are left alone.
pub struct FoldShapes;

fn known_value(facts: &Inferred, name: &str) -> Option<Tensor> {
    let elem = facts.elem(name)?;
    let shape: Vec<usize> = facts
        .static_shape(name)?
        .into_iter()
        .map(usize::try_from)
        .collect::<Result<_, _>>()
        .ok()?;
    if shape.contains(&0) {
        // No elements: the value is known whatever its type.
        return Tensor::zeros(elem, shape).ok();
    }
    let values: Vec<i64> = facts
        .value(name)?
        .iter()
        .map(|s| match s {
            Sym::Int(v) => Some(*v),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if onnxide_ir::element_count(&shape)? != values.len() {
        return None;
    }
    match elem {
        DType::I64 => Tensor::from_vec(shape, values).ok(),
        DType::I32 => {
            let v: Vec<i32> = values
                .into_iter()
                .map(i32::try_from)
                .collect::<Result<_, _>>()
                .ok()?;
            Tensor::from_vec(shape, v).ok()
        }
        _ => None,
    }
}

impl Pass for FoldShapes {
    fn name(&self) -> &'static str {
        "fold-shapes"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let Ok(facts) = infer(model) else {
            return Ok(PassReport::new());
        };
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (i, n) in g.nodes.iter().enumerate() {
            if !default_domain(n)
                || !onnxide_runtime::is_deterministic(&n.op_type)
                || has_subgraph(n)
                || n.outputs.len() != 1
                || n.inputs.iter().all(|s| s.is_empty() || ix.is_constant(s))
            {
                continue;
            }
            let o = &n.outputs[0];
            if o.is_empty() || ix.is_graph_output(o) || ix.is_captured(o) {
                continue;
            }
            let Some(t) = known_value(&facts, o) else {
                continue;
            };
            patch.add_initializer(NamedTensor::new(o.clone(), t));
            patch.remove_node(i);
            report.add(
                match n.op_type.as_str() {
                    "Shape" => "Shape",
                    "Size" => "Size",
                    _ => "other",
                },
                1,
            );
        }
        if patch.is_empty() {
            return Ok(report);
        }
        let s = patch.apply(&mut model.graph);
        report.add("dead", s.nodes_dead);
        Ok(report)
    }
}
