//! `dead-code`: nodes whose outputs nothing reads, initializers nothing reads, and `value_info`
//! entries of values that no longer exist.

use onnxide_ir::rewrite::{node_reads, Pass, PassReport};
use onnxide_ir::{IrError, Model};
use std::collections::HashSet;

/// Removes nodes no graph output depends on, unused initializers (those that are not also graph
/// inputs) and stale `value_info` entries. Graph inputs and outputs are never touched.
pub struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dead-code"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let g = &mut model.graph;
        // Walk backwards: nodes are in topological order, so a node's readers come after it.
        let mut live: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
        let mut keep = vec![false; g.nodes.len()];
        for (i, n) in g.nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| !o.is_empty() && live.contains(o)) {
                keep[i] = true;
                live.extend(node_reads(n).map(str::to_string));
            }
        }
        // A graph out of topological order could read a value produced later; keep such nodes'
        // producers alive by a second sweep to a fixed point.
        loop {
            let mut grew = false;
            for (i, n) in g.nodes.iter().enumerate() {
                if !keep[i] && n.outputs.iter().any(|o| !o.is_empty() && live.contains(o)) {
                    keep[i] = true;
                    live.extend(node_reads(n).map(str::to_string));
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let before = g.nodes.len();
        let mut k = keep.into_iter();
        g.nodes.retain(|_| k.next().unwrap_or(true));
        let nodes = before - g.nodes.len();

        let inputs: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
        let before = g.initializers.len();
        g.initializers
            .retain(|t| live.contains(&t.name) || inputs.contains(t.name.as_str()));
        let initializers = before - g.initializers.len();

        let defined: HashSet<&str> = g
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str))
            .chain(g.initializers.iter().map(|t| t.name.as_str()))
            .chain(g.inputs.iter().map(|v| v.name.as_str()))
            .collect();
        let before = g.value_info.len();
        let mut kept = Vec::with_capacity(g.value_info.len());
        for v in std::mem::take(&mut g.value_info) {
            if defined.contains(v.name.as_str()) {
                kept.push(v);
            }
        }
        g.value_info = kept;
        let value_info = before - g.value_info.len();
        Ok(PassReport::new()
            .with("nodes", nodes)
            .with("initializers", initializers)
            .with("value_info", value_info))
    }
}
