//! Topological order of a graph's nodes.

use crate::{Graph, IrError, Node};
use std::collections::HashMap;

/// Node indices in an order where every node comes after the producers of its inputs.
/// Ties keep file order, so an already sorted graph is left as it is.
pub fn order(graph: &Graph) -> Result<Vec<usize>, IrError> {
    let producer: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.outputs
                .iter()
                .filter(|o| !o.is_empty())
                .map(move |o| (o.as_str(), i))
        })
        .collect();
    let deps: Vec<Vec<usize>> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut d: Vec<usize> = node_reads(n)
                .filter_map(|name| producer.get(name).copied())
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

/// Every value a node reads, including values its subgraphs capture from the outer scope.
pub fn node_reads(node: &Node) -> impl Iterator<Item = &str> {
    let mut names: Vec<&str> = node
        .inputs
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    for a in &node.attributes {
        match &a.value {
            crate::AttrValue::Graph(g) => names.extend(subgraph_captures(g)),
            crate::AttrValue::Graphs(gs) => {
                gs.iter().for_each(|g| names.extend(subgraph_captures(g)))
            }
            _ => {}
        }
    }
    names.into_iter()
}

/// Names a subgraph reads that it does not define itself.
fn subgraph_captures(g: &Graph) -> Vec<&str> {
    let mut defined: std::collections::HashSet<&str> =
        g.inputs.iter().map(|v| v.name.as_str()).collect();
    defined.extend(g.initializers.iter().map(|t| t.name.as_str()));
    for n in &g.nodes {
        defined.extend(n.outputs.iter().map(String::as_str));
    }
    let mut out = Vec::new();
    for n in &g.nodes {
        for r in node_reads(n) {
            if !defined.contains(r) {
                out.push(r);
            }
        }
    }
    for o in &g.outputs {
        if !defined.contains(o.name.as_str()) {
            out.push(o.name.as_str());
        }
    }
    out
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
