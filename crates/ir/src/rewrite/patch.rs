//! [`Patch`]: a pass's edits, collected while it looks at an unchanged graph and then applied
//! at once.

use super::index::{node_reads, subgraph_captures};
use crate::{AttrValue, Graph, NamedTensor, Node, Tensor};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Edits to one graph, addressed by the node indices of the graph as it was when the patch was
/// planned (so a pass can use one [`crate::rewrite::GraphIndex`] throughout).
///
/// [`Patch::apply`] does, in this order: replace nodes in place; remove nodes; rewire readers;
/// append the added nodes (in the order added); remove, replace and add initializers; then drop
/// the nodes and initializers that the patch left without readers (a value that had a reader
/// or was a graph output before, and has neither now). Nodes and initializers that had no
/// readers before the patch are left alone: removing dead code is a pass of its own.
#[derive(Clone, Debug, Default)]
pub struct Patch {
    replaced: BTreeMap<usize, Vec<Node>>,
    removed: BTreeSet<usize>,
    added: Vec<Node>,
    rewired: Vec<(String, String)>,
    initializers_added: Vec<NamedTensor>,
    initializers_replaced: BTreeMap<String, Tensor>,
    initializers_removed: BTreeSet<String>,
    keep_orphans: bool,
}

/// What [`Patch::apply`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatchSummary {
    pub nodes_added: usize,
    pub nodes_replaced: usize,
    pub nodes_removed: usize,
    /// Nodes dropped because the patch left their outputs without readers.
    pub nodes_dead: usize,
    pub rewired: usize,
    pub initializers_added: usize,
    pub initializers_replaced: usize,
    pub initializers_removed: usize,
}

impl PatchSummary {
    pub fn changed(&self) -> bool {
        *self != PatchSummary::default()
    }
}

impl Patch {
    pub fn new() -> Patch {
        Patch::default()
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.replaced.is_empty()
            && self.removed.is_empty()
            && self.added.is_empty()
            && self.rewired.is_empty()
            && self.initializers_added.is_empty()
            && self.initializers_replaced.is_empty()
            && self.initializers_removed.is_empty()
    }

    /// Leaves nodes and initializers the patch orphans in place, for passes that must mirror
    /// another tool's result exactly (onnxruntime keeps them).
    pub fn keep_orphans(&mut self) {
        self.keep_orphans = true;
    }

    /// Appends `node` after the existing nodes (callers sort afterwards if order matters).
    pub fn add_node(&mut self, node: Node) {
        self.added.push(node);
    }

    /// Puts `node` at position `index` instead of the node there.
    pub fn replace_node(&mut self, index: usize, node: Node) {
        self.replaced.insert(index, vec![node]);
    }

    /// Puts `nodes`, in order, at position `index` instead of the node there (an op expanded
    /// into several, such as an adapter wrapping it in Reshapes).
    pub fn replace_node_with(&mut self, index: usize, nodes: Vec<Node>) {
        self.replaced.insert(index, nodes);
    }

    pub fn remove_node(&mut self, index: usize) {
        self.removed.insert(index);
    }

    /// The node at `index` is already being removed or replaced by this patch.
    pub fn touches_node(&self, index: usize) -> bool {
        self.removed.contains(&index) || self.replaced.contains_key(&index)
    }

    /// Every reader of `from` (node inputs, and subgraphs that capture it without defining it
    /// themselves) reads `to` instead. Graph outputs keep their names: a graph output `from`
    /// stays produced by its node.
    pub fn rewire(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.rewired.push((from.into(), to.into()));
    }

    pub fn add_initializer(&mut self, tensor: NamedTensor) {
        self.initializers_added.push(tensor);
    }

    /// Gives the initializer `name` new contents, keeping its place and name.
    pub fn replace_initializer(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.initializers_replaced.insert(name.into(), tensor);
    }

    pub fn remove_initializer(&mut self, name: impl Into<String>) {
        self.initializers_removed.insert(name.into());
    }

    /// Applies the edits to `graph` (see the type's docs).
    pub fn apply(self, graph: &mut Graph) -> PatchSummary {
        let used_before = used_values(graph.nodes.iter(), graph);
        let mut summary = PatchSummary {
            nodes_added: self.added.len(),
            nodes_replaced: self.replaced.len(),
            nodes_removed: self.removed.len(),
            rewired: self.rewired.len(),
            initializers_added: self.initializers_added.len(),
            initializers_replaced: self.initializers_replaced.len(),
            initializers_removed: self.initializers_removed.len(),
            ..PatchSummary::default()
        };
        let mut nodes: Vec<Node> = Vec::with_capacity(graph.nodes.len() + self.added.len());
        let mut replaced = self.replaced;
        for (i, n) in std::mem::take(&mut graph.nodes).into_iter().enumerate() {
            if !self.removed.contains(&i) {
                match replaced.remove(&i) {
                    Some(instead) => nodes.extend(instead),
                    None => nodes.push(n),
                }
            }
        }
        let renames = resolve_chains(&self.rewired);
        if !renames.is_empty() {
            for n in &mut nodes {
                rename_reads(n, &renames);
            }
        }
        nodes.extend(self.added);
        graph.nodes = nodes;

        let removed_inits = self.initializers_removed;
        graph
            .initializers
            .retain(|t| !removed_inits.contains(&t.name));
        let mut new_contents = self.initializers_replaced;
        for t in &mut graph.initializers {
            if let Some(tensor) = new_contents.remove(&t.name) {
                t.tensor = tensor;
            }
        }
        graph.initializers.extend(self.initializers_added);
        if !self.keep_orphans {
            summary.nodes_dead = drop_orphans(graph, &used_before);
        }
        summary
    }
}

/// Follows rewire chains (`a -> b`, `b -> c` gives `a -> c`); a cycle stops where it closes.
fn resolve_chains(rewired: &[(String, String)]) -> HashMap<String, String> {
    let direct: HashMap<&str, &str> = rewired
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let mut out = HashMap::new();
    for (&from, &first) in &direct {
        let mut to = first;
        let mut seen: HashSet<&str> = HashSet::from([from]);
        while let Some(&next) = direct.get(to) {
            if !seen.insert(to) {
                break;
            }
            to = next;
        }
        out.insert(from.to_string(), to.to_string());
    }
    out
}

fn rename_reads(node: &mut Node, renames: &HashMap<String, String>) {
    for v in node.inputs.iter_mut() {
        if let Some(to) = renames.get(v.as_str()) {
            v.clone_from(to);
        }
    }
    for a in node.attributes.iter_mut() {
        match &mut a.value {
            AttrValue::Graph(g) => rename_captures(g, renames),
            AttrValue::Graphs(gs) => gs.iter_mut().for_each(|g| rename_captures(g, renames)),
            _ => {}
        }
    }
}

/// Renames the outer values a subgraph reads, except those it defines itself (shadowing).
fn rename_captures(g: &mut Graph, renames: &HashMap<String, String>) {
    let captured: HashSet<String> = subgraph_captures(g).into_iter().map(String::from).collect();
    let local: HashMap<String, String> = renames
        .iter()
        .filter(|(from, _)| captured.contains(*from))
        .map(|(f, t)| (f.clone(), t.clone()))
        .collect();
    if local.is_empty() {
        return;
    }
    for n in &mut g.nodes {
        rename_reads(n, &local);
    }
    // A subgraph output that passes an outer value straight through is a capture too; it is
    // read through an Identity-free name, so it keeps its name (outputs are the subgraph's API).
}

/// Values read by `nodes` (inputs and subgraph captures) or by the graph's outputs.
fn used_values<'a>(nodes: impl Iterator<Item = &'a Node>, graph: &Graph) -> HashSet<String> {
    let mut used: HashSet<String> = graph.outputs.iter().map(|v| v.name.clone()).collect();
    for n in nodes {
        used.extend(node_reads(n).map(String::from));
    }
    used
}

/// Drops, until nothing changes, nodes whose outputs were read before the patch and are read by
/// nothing now, and initializers in the same situation (graph inputs excepted).
fn drop_orphans(graph: &mut Graph, used_before: &HashSet<String>) -> usize {
    let mut dropped = 0;
    loop {
        let used = used_values(graph.nodes.iter(), graph);
        let orphaned = |n: &Node| {
            let outputs = || n.outputs.iter().filter(|o| !o.is_empty());
            outputs().any(|o| used_before.contains(o)) && !outputs().any(|o| used.contains(o))
        };
        let before = graph.nodes.len();
        graph.nodes.retain(|n| !orphaned(n));
        dropped += before - graph.nodes.len();
        if graph.nodes.len() == before {
            let inputs: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
            graph.initializers.retain(|t| {
                used.contains(&t.name)
                    || !used_before.contains(&t.name)
                    || inputs.contains(t.name.as_str())
            });
            return dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::node;
    use crate::{DType, ValueInfo};

    fn names(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// x -> a(Relu) -> y -> b(Neg) -> z -> c(Abs) -> out, with initializer k read by b.
    fn chain() -> Graph {
        Graph {
            inputs: vec![ValueInfo::tensor("x", DType::F32, vec![])],
            outputs: vec![ValueInfo::tensor("out", DType::F32, vec![])],
            initializers: vec![NamedTensor::new("k", Tensor::scalar(1.0f32))],
            nodes: vec![
                node("Relu").name("a").input("x").output("y").build(),
                node("Add").name("b").inputs(["y", "k"]).output("z").build(),
                node("Abs").name("c").input("z").output("out").build(),
            ],
            ..Graph::default()
        }
    }

    #[test]
    fn empty_patch_changes_nothing() {
        let mut g = chain();
        let p = Patch::new();
        assert!(p.is_empty());
        assert!(!p.apply(&mut g).changed());
        assert_eq!(g, chain());
    }

    #[test]
    fn rewiring_around_a_node_drops_it_and_its_orphans() {
        let mut g = chain();
        let mut p = Patch::new();
        // c reads y directly: b becomes unread, so b goes, and with it initializer k.
        p.rewire("z", "y");
        let s = p.apply(&mut g);
        assert_eq!(names(&g), ["a", "c"]);
        assert_eq!(g.nodes[1].inputs, ["y"]);
        assert_eq!(s.nodes_dead, 1);
        assert!(g.initializers.is_empty());
    }

    #[test]
    fn replace_remove_and_add_keep_positions() {
        let mut g = chain();
        let mut p = Patch::new();
        p.replace_node(0, node("Sigmoid").name("a2").input("x").output("y").build());
        p.remove_node(2);
        p.add_node(node("Exp").name("d").input("z").output("out").build());
        assert!(p.touches_node(0) && p.touches_node(2) && !p.touches_node(1));
        let s = p.apply(&mut g);
        assert_eq!(names(&g), ["a2", "b", "d"]);
        assert_eq!(
            (s.nodes_replaced, s.nodes_removed, s.nodes_added),
            (1, 1, 1)
        );
        assert_eq!(s.nodes_dead, 0);
    }

    #[test]
    fn a_node_can_become_several_in_place() {
        let mut g = chain();
        let mut p = Patch::new();
        p.replace_node_with(
            1,
            vec![
                node("Add")
                    .name("b1")
                    .inputs(["y", "k"])
                    .output("z0")
                    .build(),
                node("Neg").name("b2").input("z0").output("z").build(),
            ],
        );
        assert_eq!(p.apply(&mut g).nodes_replaced, 1);
        assert_eq!(names(&g), ["a", "b1", "b2", "c"]);
    }

    #[test]
    fn orphans_can_be_kept() {
        let mut g = chain();
        let mut p = Patch::new();
        p.rewire("z", "y");
        p.keep_orphans();
        assert_eq!(p.apply(&mut g).nodes_dead, 0);
        assert_eq!(names(&g), ["a", "b", "c"]);
        assert_eq!(g.initializers.len(), 1);
    }

    #[test]
    fn nodes_dead_before_the_patch_stay() {
        let mut g = chain();
        g.nodes
            .push(node("Neg").name("unread").input("x").output("u").build());
        let mut p = Patch::new();
        p.rewire("z", "y");
        p.apply(&mut g);
        assert_eq!(names(&g), ["a", "c", "unread"]);
    }

    #[test]
    fn graph_outputs_keep_their_producer() {
        let mut g = chain();
        let mut p = Patch::new();
        p.rewire("out", "z");
        p.apply(&mut g);
        assert_eq!(names(&g), ["a", "b", "c"]);
    }

    #[test]
    fn rewire_chains_resolve_and_reach_subgraphs() {
        let body = Graph {
            nodes: vec![node("Neg").name("inner").input("z").output("q").build()],
            outputs: vec![ValueInfo::tensor("q", DType::F32, vec![])],
            ..Graph::default()
        };
        let mut g = chain();
        g.nodes.push(
            node("If")
                .name("if")
                .input("x")
                .output("o")
                .attr("then_branch", body)
                .build(),
        );
        g.outputs.push(ValueInfo::tensor("o", DType::F32, vec![]));
        let mut p = Patch::new();
        p.rewire("z", "w");
        p.rewire("w", "y");
        p.apply(&mut g);
        assert_eq!(
            g.nodes.iter().find(|n| n.name == "c").unwrap().inputs,
            ["y"]
        );
        let AttrValue::Graph(body) = &g.nodes.last().unwrap().attributes[0].value else {
            panic!("subgraph")
        };
        assert_eq!(body.nodes[0].inputs, ["y"]);
    }

    #[test]
    fn shadowed_names_in_subgraphs_are_not_renamed() {
        let body = Graph {
            nodes: vec![
                node("Neg").name("def").input("x").output("z").build(),
                node("Abs").name("use").input("z").output("q").build(),
            ],
            outputs: vec![ValueInfo::tensor("q", DType::F32, vec![])],
            ..Graph::default()
        };
        let mut g = chain();
        g.nodes.push(
            node("If")
                .name("if")
                .input("x")
                .output("o")
                .attr("then_branch", body)
                .build(),
        );
        let mut p = Patch::new();
        p.rewire("z", "y");
        p.apply(&mut g);
        let AttrValue::Graph(body) = &g.nodes.last().unwrap().attributes[0].value else {
            panic!("subgraph")
        };
        assert_eq!(body.nodes[1].inputs, ["z"]);
    }

    #[test]
    fn initializers_are_added_replaced_and_removed() {
        let mut g = chain();
        g.initializers
            .push(NamedTensor::new("unused", Tensor::scalar(0.0f32)));
        let mut p = Patch::new();
        p.replace_initializer("k", Tensor::scalar(2.0f32));
        p.add_initializer(NamedTensor::new("k2", Tensor::scalar(3.0f32)));
        p.remove_initializer("unused");
        let s = p.apply(&mut g);
        let names: Vec<&str> = g.initializers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["k", "k2"]);
        assert_eq!(g.initializers[0].tensor, Tensor::scalar(2.0f32));
        assert_eq!(
            (
                s.initializers_added,
                s.initializers_replaced,
                s.initializers_removed
            ),
            (1, 1, 1)
        );
    }
}
