//! `cse`: common-subexpression elimination keyed on [`NodeKey`], and `shared-initializers`:
//! identical initializers stored once ([`TensorKey`]).

use onnxide_ir::rewrite::{has_subgraph, GraphIndex, NodeKey, Pass, PassReport, Patch, TensorKey};
use onnxide_ir::{IrError, Model};
use std::collections::HashMap;

/// Merges nodes with the same op, domain, inputs and attributes (bit-exact) into the first one.
/// Only deterministic ops ([`onnxide_runtime::is_deterministic`]) without subgraphs; a
/// duplicate whose output is a graph output is kept (its name must stay).
pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut seen: HashMap<NodeKey, usize> = HashMap::new();
        let mut patch = Patch::new();
        let mut merged = 0;
        for (i, n) in g.nodes.iter().enumerate() {
            if !onnxide_runtime::is_deterministic(&n.op_type) || has_subgraph(n) {
                continue;
            }
            let Some(key) = NodeKey::new(n) else { continue };
            let Some(&first) = seen.get(&key) else {
                seen.insert(key, i);
                continue;
            };
            let f = &g.nodes[first];
            let outputs_ok = n.outputs.len() == f.outputs.len()
                && n.outputs.iter().zip(&f.outputs).all(|(a, b)| {
                    (a.is_empty() || !ix.is_graph_output(a)) && (a.is_empty() || !b.is_empty())
                });
            if !outputs_ok {
                continue;
            }
            for (a, b) in n.outputs.iter().zip(&f.outputs) {
                if !a.is_empty() {
                    patch.rewire(a.clone(), b.clone());
                }
            }
            patch.remove_node(i);
            merged += 1;
        }
        if patch.is_empty() {
            return Ok(PassReport::new());
        }
        let s = patch.apply(&mut model.graph);
        Ok(PassReport::new()
            .with("nodes", merged)
            .with("dead", s.nodes_dead))
    }
}

/// Stores identical initializers (same type, shape and bytes) once: readers of a duplicate read
/// the first. Initializers that are graph inputs or outputs are left alone.
pub struct SharedInitializers;

impl Pass for SharedInitializers {
    fn name(&self) -> &'static str {
        "shared-initializers"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let eligible = |name: &str| !ix.is_graph_input(name) && !ix.is_graph_output(name);
        // Only tensors sharing a type and shape with another one are hashed by their bytes.
        let mut by_shape: HashMap<(i32, Vec<usize>), usize> = HashMap::new();
        for t in g.initializers.iter().filter(|t| eligible(&t.name)) {
            *by_shape
                .entry((t.tensor.dtype().onnx_code(), t.tensor.shape().to_vec()))
                .or_default() += 1;
        }
        let mut first: HashMap<TensorKey, &str> = HashMap::new();
        let mut patch = Patch::new();
        let mut merged = 0;
        for t in &g.initializers {
            let shape_key = (t.tensor.dtype().onnx_code(), t.tensor.shape().to_vec());
            if !eligible(&t.name) || by_shape.get(&shape_key).is_none_or(|&c| c < 2) {
                continue;
            }
            match first.entry(TensorKey::new(&t.tensor)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(&t.name);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    patch.rewire(t.name.clone(), o.get().to_string());
                    patch.remove_initializer(t.name.clone());
                    merged += 1;
                }
            }
        }
        if patch.is_empty() {
            return Ok(PassReport::new());
        }
        patch.apply(&mut model.graph);
        Ok(PassReport::new().with("initializers", merged))
    }
}
