//! [`GraphIndex`]: producers and consumers of every value of one graph.

use crate::{AttrValue, Graph, Node};
use std::collections::{HashMap, HashSet};

/// Who produces and who reads each value of a graph. A snapshot: rebuild it after changing the
/// graph (a [`crate::rewrite::Patch`] is applied after the index has been used to plan it).
#[derive(Clone, Debug, Default)]
pub struct GraphIndex {
    /// Value -> (node index, output position). The first producer wins if a (malformed) graph
    /// writes a name twice.
    producers: HashMap<String, (usize, usize)>,
    /// Value -> the nodes reading it, ascending and without repeats; a node whose subgraph
    /// captures the value counts as a reader.
    consumers: HashMap<String, Vec<usize>>,
    /// Values read by some node's subgraph from this graph's scope.
    captured: HashSet<String>,
    graph_inputs: HashSet<String>,
    graph_outputs: HashSet<String>,
    /// Initializer name -> position in `graph.initializers`.
    initializers: HashMap<String, usize>,
}

impl GraphIndex {
    pub fn new(graph: &Graph) -> GraphIndex {
        let mut index = GraphIndex {
            graph_inputs: graph.inputs.iter().map(|v| v.name.clone()).collect(),
            graph_outputs: graph.outputs.iter().map(|v| v.name.clone()).collect(),
            ..GraphIndex::default()
        };
        for (i, t) in graph.initializers.iter().enumerate() {
            index.initializers.entry(t.name.clone()).or_insert(i);
        }
        for (i, n) in graph.nodes.iter().enumerate() {
            for (slot, o) in n.outputs.iter().enumerate() {
                if !o.is_empty() {
                    index.producers.entry(o.clone()).or_insert((i, slot));
                }
            }
            for r in n.inputs.iter().filter(|r| !r.is_empty()) {
                index.add_reader(r, i);
            }
            for r in subgraph_reads(n) {
                index.captured.insert(r.to_string());
                index.add_reader(r, i);
            }
        }
        index
    }

    fn add_reader(&mut self, value: &str, node: usize) {
        let readers = self.consumers.entry(value.to_string()).or_default();
        if readers.last() != Some(&node) {
            readers.push(node);
        }
    }

    /// The node writing `value`.
    pub fn producer(&self, value: &str) -> Option<usize> {
        self.producers.get(value).map(|&(n, _)| n)
    }

    /// The node writing `value` and the output position it writes it at.
    pub fn producer_slot(&self, value: &str) -> Option<(usize, usize)> {
        self.producers.get(value).copied()
    }

    /// The nodes reading `value` (inputs or subgraph captures), ascending.
    pub fn consumers(&self, value: &str) -> &[usize] {
        self.consumers.get(value).map_or(&[], Vec::as_slice)
    }

    /// The one node reading `value`, when it has exactly one reader and is no graph output.
    pub fn sole_consumer(&self, value: &str) -> Option<usize> {
        match self.consumers(value) {
            [only] if !self.is_graph_output(value) => Some(*only),
            _ => None,
        }
    }

    /// `value` is read by a node, a subgraph or the graph's outputs.
    pub fn is_used(&self, value: &str) -> bool {
        !self.consumers(value).is_empty() || self.is_graph_output(value)
    }

    pub fn is_graph_input(&self, value: &str) -> bool {
        self.graph_inputs.contains(value)
    }

    pub fn is_graph_output(&self, value: &str) -> bool {
        self.graph_outputs.contains(value)
    }

    /// Some node's subgraph reads `value` from this graph's scope.
    pub fn is_captured(&self, value: &str) -> bool {
        self.captured.contains(value)
    }

    /// Position of the initializer named `value`.
    pub fn initializer(&self, value: &str) -> Option<usize> {
        self.initializers.get(value).copied()
    }

    /// An initializer that no graph input of the same name can override: a true constant.
    pub fn is_constant(&self, value: &str) -> bool {
        self.initializers.contains_key(value) && !self.graph_inputs.contains(value)
    }
}

/// Every value a node reads, including values its subgraphs capture from the outer scope.
pub fn node_reads(node: &Node) -> impl Iterator<Item = &str> {
    let direct = node
        .inputs
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    direct.chain(subgraph_reads(node))
}

/// Values `node`'s subgraphs read from the enclosing scope.
fn subgraph_reads(node: &Node) -> std::vec::IntoIter<&str> {
    let mut names = Vec::new();
    for a in &node.attributes {
        match &a.value {
            AttrValue::Graph(g) => names.extend(subgraph_captures(g)),
            AttrValue::Graphs(gs) => gs.iter().for_each(|g| names.extend(subgraph_captures(g))),
            _ => {}
        }
    }
    names.into_iter()
}

/// Names a subgraph reads that it does not define itself.
pub(crate) fn subgraph_captures(g: &Graph) -> Vec<&str> {
    let mut defined: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    defined.extend(g.initializers.iter().map(|t| t.name.as_str()));
    for n in &g.nodes {
        defined.extend(n.outputs.iter().map(String::as_str));
    }
    let mut out = Vec::new();
    for n in &g.nodes {
        out.extend(node_reads(n).filter(|r| !defined.contains(r)));
    }
    out.extend(
        g.outputs
            .iter()
            .map(|o| o.name.as_str())
            .filter(|o| !defined.contains(o)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::node;
    use crate::{DType, NamedTensor, Tensor, ValueInfo};

    fn graph() -> Graph {
        let body = Graph {
            nodes: vec![node("Add").inputs(["x", "w"]).outputs(["s"]).build()],
            outputs: vec![ValueInfo::tensor("s", DType::F32, vec![])],
            ..Graph::default()
        };
        Graph {
            inputs: vec![
                ValueInfo::tensor("x", DType::F32, vec![]),
                ValueInfo::tensor("w", DType::F32, vec![]),
            ],
            outputs: vec![ValueInfo::tensor("z", DType::F32, vec![])],
            initializers: vec![
                NamedTensor::new("w", Tensor::scalar(1.0f32)),
                NamedTensor::new("k", Tensor::scalar(2.0f32)),
            ],
            nodes: vec![
                node("Relu").inputs(["x"]).outputs(["y"]).build(),
                node("Mul").inputs(["y", "y"]).outputs(["m"]).build(),
                node("Add").inputs(["m", "k"]).outputs(["z"]).build(),
                node("If")
                    .inputs(["c"])
                    .outputs(["o"])
                    .attr("then_branch", AttrValue::Graph(Box::new(body)))
                    .build(),
            ],
            ..Graph::default()
        }
    }

    #[test]
    fn producers_and_consumers() {
        let g = graph();
        let ix = GraphIndex::new(&g);
        assert_eq!(ix.producer("y"), Some(0));
        assert_eq!(ix.producer_slot("z"), Some((2, 0)));
        assert_eq!(ix.producer("x"), None);
        // A node reading a value twice is listed once.
        assert_eq!(ix.consumers("y"), &[1]);
        assert_eq!(ix.sole_consumer("y"), Some(1));
        // A graph output has no sole consumer even with one reader.
        assert_eq!(ix.sole_consumer("z"), None);
        assert!(ix.is_used("z") && !ix.is_used("o"));
    }

    #[test]
    fn subgraph_captures_are_readers() {
        let ix = GraphIndex::new(&graph());
        assert_eq!(ix.consumers("x"), &[0, 3]);
        assert!(ix.is_captured("x") && ix.is_captured("w"));
        assert!(!ix.is_captured("s"), "defined inside the subgraph");
        let g = graph();
        let reads: Vec<&str> = node_reads(&g.nodes[3]).collect();
        assert_eq!(reads, ["c", "x", "w"]);
    }

    #[test]
    fn constants_are_initializers_no_input_overrides() {
        let ix = GraphIndex::new(&graph());
        assert_eq!(ix.initializer("k"), Some(1));
        assert!(ix.is_constant("k"));
        assert!(!ix.is_constant("w"), "w is also a graph input");
        assert!(ix.is_graph_input("w") && ix.is_graph_output("z"));
    }
}
