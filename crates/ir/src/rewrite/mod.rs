//! The graph-rewrite layer every onnxide tool stands on: the runtime's fusions, the float16
//! converters, the simplifier and the opset adapters are all passes over it.
//!
//! - [`GraphIndex`]: who produces and who reads each value (subgraph captures included), which
//!   values are graph inputs, outputs and initializers. Built once per pass; cheap.
//! - [`Patch`]: the edits a pass wants (add, replace, remove and rewire nodes; add, replace and
//!   remove initializers), applied at once; nodes the patch leaves without readers are dropped.
//! - [`Pass`] and [`PassManager`]: a pass rewrites a model and says what it changed; the manager
//!   runs a list of passes to a fixed point, checks the graph after each pass in debug builds and
//!   records per-pass counts and time; [`structural_problems`] is that check.
//! - [`NodeBuilder`], [`attr`] and [`cast`]: the one set of node and attribute constructors.
//! - [`NodeKey`] / [`AttrKey`]: bit-exact, hashable forms of nodes and attribute values, so that
//!   common-subexpression elimination can key on (op, domain, inputs, attributes).
//! - [`UniqueNames`]: fresh value names that collide with nothing in the graph.
//!
//! Layering: `rewrite` uses only the model types; `topo` and `check` are built on it.

mod build;
mod index;
mod key;
mod manager;
mod names;
mod patch;
mod verify;

pub use build::{attr, cast, node, NodeBuilder};
pub use index::{node_reads, GraphIndex};
pub use key::{AttrKey, NodeKey, TensorKey};
pub use manager::{Pass, PassManager, PassReport, PassStats, RunReport};
pub use names::UniqueNames;
pub use patch::{Patch, PatchSummary};
pub use verify::structural_problems;

/// `node` is `op` in the default ONNX domain.
pub fn is_onnx_op(node: &crate::Node, op: &str) -> bool {
    node.op_type == op && crate::normalize_domain(&node.domain).is_empty()
}

/// The node has a graph-valued attribute (If, Loop, Scan, ...).
pub fn has_subgraph(node: &crate::Node) -> bool {
    node.attributes.iter().any(|a| {
        matches!(
            a.value,
            crate::AttrValue::Graph(_) | crate::AttrValue::Graphs(_)
        )
    })
}
