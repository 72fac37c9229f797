//! Topological order of a graph's nodes.

pub use crate::rewrite::node_reads;
use crate::rewrite::GraphIndex;
use crate::{Graph, IrError, Node};

/// Node indices in an order where every node comes after the producers of its inputs.
/// Ties keep file order, so an already sorted graph is left as it is.
pub fn order(graph: &Graph) -> Result<Vec<usize>, IrError> {
    let index = GraphIndex::new(graph);
    let deps: Vec<Vec<usize>> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut d: Vec<usize> = node_reads(n)
                .filter_map(|name| index.producer(name))
                .filter(|&p| p != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let mut users = vec![Vec::new(); graph.nodes.len()];
    let mut pending: Vec<usize> = deps.iter().map(Vec::len).collect();
    for (i, d) in deps.iter().enumerate() {
        for &p in d {
            users[p].push(i);
        }
    }
    // A min-heap on the index keeps the original order wherever it is already valid.
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..graph.nodes.len())
        .filter(|&i| pending[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut out = Vec::with_capacity(graph.nodes.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        out.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if out.len() != graph.nodes.len() {
        let stuck = (0..graph.nodes.len())
            .filter(|&i| pending[i] > 0)
            .map(|i| graph.nodes[i].label())
            .collect();
        return Err(IrError::Cycle(stuck));
    }
    Ok(out)
}

/// Reorders `graph.nodes` topologically (see [`order`]).
pub fn sort(graph: &mut Graph) -> Result<(), IrError> {
    let order = order(graph)?;
    let mut old: Vec<Option<Node>> = std::mem::take(&mut graph.nodes)
        .into_iter()
        .map(Some)
        .collect();
    graph.nodes = order.into_iter().filter_map(|i| old[i].take()).collect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, inputs: &[&str], outputs: &[&str]) -> Node {
        Node {
            name: name.into(),
            op_type: "Relu".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sorts_out_of_order_nodes() {
        let mut g = Graph {
            nodes: vec![node("b", &["x1"], &["y"]), node("a", &["x"], &["x1"])],
            ..Default::default()
        };
        sort(&mut g).unwrap();
        assert_eq!(g.nodes[0].name, "a");
    }

    #[test]
    fn cycle_names_its_nodes() {
        let g = Graph {
            nodes: vec![node("a", &["q"], &["p"]), node("b", &["p"], &["q"])],
            ..Default::default()
        };
        let err = order(&g).unwrap_err().to_string();
        assert!(err.contains("'a'") && err.contains("'b'"), "{err}");
    }
}
