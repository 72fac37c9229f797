//! What the pass manager checks after each pass: the graph still means something, whatever its
//! node order (a pass may leave sorting to the end).

use crate::{normalize_domain, AttrValue, Graph, Model};
use std::collections::HashSet;

/// Problems that make `model` meaningless: a value read but never defined, a value defined
/// twice, a graph output nobody defines, a node domain without an opset import. Node order is
/// not checked. One message per problem, naming the node and value.
pub fn structural_problems(model: &Model) -> Vec<String> {
    let domains: HashSet<&str> = model
        .opset_imports
        .iter()
        .map(|o| normalize_domain(&o.domain))
        .collect();
    let mut problems = Vec::new();
    check_graph(&model.graph, &HashSet::new(), &domains, &mut problems);
    problems
}

fn check_graph(
    g: &Graph,
    outer: &HashSet<String>,
    domains: &HashSet<&str>,
    problems: &mut Vec<String>,
) {
    // Graph inputs and initializers may share a name (an overridable initializer).
    let mut defined: HashSet<String> = g.inputs.iter().map(|v| v.name.clone()).collect();
    defined.extend(g.initializers.iter().map(|t| t.name.clone()));
    for n in &g.nodes {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if !defined.insert(o.clone()) {
                problems.push(format!(
                    "node {} defines '{o}', which is already defined",
                    n.label()
                ));
            }
        }
    }
    let mut visible = defined.clone();
    visible.extend(outer.iter().cloned());
    for n in &g.nodes {
        if !domains.contains(normalize_domain(&n.domain)) {
            problems.push(format!(
                "node {}: domain '{}' has no opset import",
                n.label(),
                n.domain
            ));
        }
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            if !visible.contains(i) {
                problems.push(format!(
                    "node {} reads '{i}', which nothing defines",
                    n.label()
                ));
            }
        }
        for a in &n.attributes {
            match &a.value {
                AttrValue::Graph(sg) => check_graph(sg, &visible, domains, problems),
                AttrValue::Graphs(sgs) => sgs
                    .iter()
                    .for_each(|sg| check_graph(sg, &visible, domains, problems)),
                _ => {}
            }
        }
    }
    for o in g.outputs.iter().filter(|o| !visible.contains(&o.name)) {
        problems.push(format!("graph output '{}' is not defined", o.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::node;
    use crate::{DType, OpsetImport, ValueInfo};

    fn model(nodes: Vec<crate::Node>) -> Model {
        Model {
            opset_imports: vec![OpsetImport {
                domain: String::new(),
                version: 18,
            }],
            graph: Graph {
                inputs: vec![ValueInfo::tensor("x", DType::F32, vec![])],
                outputs: vec![ValueInfo::tensor("y", DType::F32, vec![])],
                nodes,
                ..Graph::default()
            },
            ..Model::default()
        }
    }

    #[test]
    fn order_does_not_matter_but_definitions_do() {
        // Out of order, still meaningful.
        let ok = model(vec![
            node("Neg").input("t").output("y").build(),
            node("Neg").input("x").output("t").build(),
        ]);
        assert!(structural_problems(&ok).is_empty());
        let bad = model(vec![
            node("Neg").name("a").input("nowhere").output("t").build(),
            node("Neg").name("b").input("x").output("t").build(),
            node("Relu")
                .name("c")
                .domain("ai.onnxide")
                .input("t")
                .output("u")
                .build(),
        ]);
        let p = structural_problems(&bad);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().any(|m| m.contains("'nowhere'")));
        assert!(p.iter().any(|m| m.contains("already defined")));
        assert!(p.iter().any(|m| m.contains("ai.onnxide")));
        assert!(p.iter().any(|m| m.contains("graph output 'y'")));
    }

    #[test]
    fn subgraphs_see_outer_values() {
        let body = Graph {
            nodes: vec![node("Neg").input("x").output("q").build()],
            outputs: vec![ValueInfo::tensor("q", DType::F32, vec![])],
            ..Graph::default()
        };
        let m = model(vec![node("If")
            .input("x")
            .output("y")
            .attr("then_branch", body)
            .build()]);
        assert!(structural_problems(&m).is_empty());
    }
}
