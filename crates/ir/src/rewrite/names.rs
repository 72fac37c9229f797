//! Fresh value and node names.

use crate::Graph;
use std::collections::HashSet;

/// Names not used anywhere in a graph (inputs, outputs, initializers, node inputs and outputs,
/// node names, and everything inside subgraphs), handed out once each.
#[derive(Clone, Debug, Default)]
pub struct UniqueNames(HashSet<String>);

impl UniqueNames {
    pub fn new(graph: &Graph) -> UniqueNames {
        let mut names = UniqueNames::default();
        names.add_graph(graph);
        names
    }

    fn add_graph(&mut self, g: &Graph) {
        let io = g.inputs.iter().chain(&g.outputs).chain(&g.value_info);
        self.0.extend(io.map(|v| v.name.clone()));
        self.0.extend(g.initializers.iter().map(|t| t.name.clone()));
        for n in &g.nodes {
            self.0.extend(n.inputs.iter().chain(&n.outputs).cloned());
            if !n.name.is_empty() {
                self.0.insert(n.name.clone());
            }
            for a in &n.attributes {
                match &a.value {
                    crate::AttrValue::Graph(sg) => self.add_graph(sg),
                    crate::AttrValue::Graphs(sgs) => sgs.iter().for_each(|sg| self.add_graph(sg)),
                    _ => {}
                }
            }
        }
    }

    /// Marks `name` as taken.
    pub fn reserve(&mut self, name: &str) {
        self.0.insert(name.to_string());
    }

    /// `base` if it is free, else `base_token_0`, `base_token_1`, ... (onnxruntime's scheme).
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 0;
        while self.0.contains(&name) {
            name = format!("{base}_token_{k}");
            k += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::node;

    #[test]
    fn fresh_names_avoid_every_used_name() {
        let g = Graph {
            nodes: vec![node("Relu").name("n").inputs(["x"]).outputs(["y"]).build()],
            ..Graph::default()
        };
        let mut names = UniqueNames::new(&g);
        assert_eq!(names.fresh("z"), "z");
        assert_eq!(names.fresh("z"), "z_token_0");
        assert_eq!(names.fresh("y"), "y_token_0");
        assert_eq!(names.fresh("n"), "n_token_0");
        names.reserve("q");
        assert_eq!(names.fresh("q"), "q_token_0");
    }
}
