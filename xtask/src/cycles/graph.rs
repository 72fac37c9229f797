//! The sibling graphs of one module tree and the cycles in them.

use super::tree::{ModPath, ModuleTree, Reference};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `from -> to` between two children of one parent, and the references that make it.
pub type SiblingEdges = BTreeMap<(String, String), Vec<Reference>>;

/// Children of `parent` that reach each other, with every edge among them.
#[derive(Debug)]
pub struct Cycle {
    pub parent: ModPath,
    /// One concrete round trip through the members, first member repeated at the end.
    pub example: Vec<String>,
    pub edges: SiblingEdges,
}

/// For each module with children: which child refers into which other child's subtree.
/// A reference from `from` to `target` is an edge only at the level where their paths part; a
/// reference to an item of the parent itself (`super::helper`) points into no child and is none.
pub fn sibling_edges(tree: &ModuleTree) -> BTreeMap<ModPath, SiblingEdges> {
    let mut levels: BTreeMap<ModPath, SiblingEdges> = BTreeMap::new();
    for reference in &tree.references {
        let target = tree.module_of(&reference.target);
        let from = &reference.from;
        let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        if common < from.len() && common < target.len() {
            let key = (from[common].clone(), target[common].clone());
            levels
                .entry(from[..common].to_vec())
                .or_default()
                .entry(key)
                .or_default()
                .push(reference.clone());
        }
    }
    levels
}

/// Every group of sibling modules that reach each other (strongly connected, more than one member).
pub fn find_cycles(tree: &ModuleTree) -> Vec<Cycle> {
    let mut cycles = Vec::new();
    for (parent, edges) in sibling_edges(tree) {
        let mut successors: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (from, to) in edges.keys() {
            successors.entry(from).or_default().insert(to);
        }
        let reach: BTreeMap<&str, BTreeSet<&str>> = successors
            .keys()
            .map(|&node| (node, reachable(&successors, node)))
            .collect();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (&node, reached) in &reach {
            if seen.contains(node) || !reached.contains(node) {
                continue;
            }
            let members: BTreeSet<&str> = reached
                .iter()
                .copied()
                .filter(|other| reach.get(other).is_some_and(|r| r.contains(node)))
                .collect();
            seen.extend(&members);
            let in_cycle: SiblingEdges = edges
                .iter()
                .filter(|((from, to), _)| {
                    members.contains(from.as_str()) && members.contains(to.as_str())
                })
                .map(|(key, refs)| (key.clone(), refs.clone()))
                .collect();
            let example = round_trip(&successors, &members, node);
            cycles.push(Cycle {
                parent: parent.clone(),
                example,
                edges: in_cycle,
            });
        }
    }
    cycles
}

/// Nodes reachable from `start` by one or more edges (so `start` is in it only on a cycle).
fn reachable<'a>(
    successors: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    start: &'a str,
) -> BTreeSet<&'a str> {
    let mut reached = BTreeSet::new();
    let mut stack: Vec<&str> = successors
        .get(start)
        .into_iter()
        .flatten()
        .copied()
        .collect();
    while let Some(node) = stack.pop() {
        if reached.insert(node) {
            stack.extend(successors.get(node).into_iter().flatten().copied());
        }
    }
    reached
}

/// A shortest path from `start` back to itself inside `members` (breadth first), as names.
fn round_trip(
    successors: &BTreeMap<&str, BTreeSet<&str>>,
    members: &BTreeSet<&str>,
    start: &str,
) -> Vec<String> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in successors.get(node).into_iter().flatten() {
            if !members.contains(next) || came_from.contains_key(next) {
                continue;
            }
            came_from.insert(next, node);
            if next == start {
                queue.clear();
                break;
            }
            queue.push_back(next);
        }
    }
    let mut path = vec![start.to_string()];
    let mut node = *came_from.get(start).unwrap_or(&start);
    while node != start {
        path.push(node.to_string());
        node = came_from.get(node).copied().unwrap_or(start);
    }
    path.push(start.to_string());
    path.reverse();
    path
}
