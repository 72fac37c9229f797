//! [`Pass`] and [`PassManager`]: rewrites run to a fixed point, each saying what it changed.

use crate::{IrError, Model};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// One rewrite of a model.
pub trait Pass {
    /// A short stable name for reports (`fuse-conv-silu`, `fold-constants`, ...).
    fn name(&self) -> &'static str;

    /// Rewrites `model` and reports what changed; an empty report means "nothing to do", which
    /// is how the manager knows it reached a fixed point.
    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError>;
}

/// What one run of a pass changed: counts by kind (`("conv_silu", 12)`), in first-seen order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    counts: Vec<(&'static str, usize)>,
}

impl PassReport {
    pub fn new() -> PassReport {
        PassReport::default()
    }

    /// Adds `n` to the count of `what` (a zero `n` records nothing).
    pub fn add(&mut self, what: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        match self.counts.iter_mut().find(|(w, _)| *w == what) {
            Some((_, c)) => *c += n,
            None => self.counts.push((what, n)),
        }
    }

    /// Builder form of [`PassReport::add`].
    pub fn with(mut self, what: &'static str, n: usize) -> PassReport {
        self.add(what, n);
        self
    }

    pub fn get(&self, what: &str) -> usize {
        self.counts
            .iter()
            .find(|(w, _)| *w == what)
            .map_or(0, |(_, c)| *c)
    }

    pub fn counts(&self) -> &[(&'static str, usize)] {
        &self.counts
    }

    /// Something changed.
    pub fn changed(&self) -> bool {
        !self.counts.is_empty()
    }

    fn merge(&mut self, other: &PassReport) {
        for &(what, n) in &other.counts {
            self.add(what, n);
        }
    }
}

/// One pass's totals over a manager run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassStats {
    pub name: &'static str,
    /// How many times it ran.
    pub runs: usize,
    /// Its reports, summed.
    pub report: PassReport,
    pub time: Duration,
}

/// What a [`PassManager::run`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Rounds over the pass list (the last one changed nothing, unless `converged` is false).
    pub iterations: usize,
    /// A round changed nothing before the iteration limit.
    pub converged: bool,
    /// One entry per pass, in list order.
    pub passes: Vec<PassStats>,
}

impl RunReport {
    /// The summed count of `what` reported by the pass named `pass`.
    pub fn count(&self, pass: &str, what: &str) -> usize {
        self.passes
            .iter()
            .filter(|p| p.name == pass)
            .map(|p| p.report.get(what))
            .sum()
    }

    /// Something changed.
    pub fn changed(&self) -> bool {
        self.passes.iter().any(|p| p.report.changed())
    }
}

/// Runs a list of passes, in order, round after round until a round changes nothing.
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
    max_iterations: usize,
    verify: bool,
}

impl Default for PassManager {
    fn default() -> Self {
        PassManager::new()
    }
}

impl PassManager {
    /// No passes; at most 16 rounds; the graph is verified after each pass in debug builds.
    pub fn new() -> PassManager {
        PassManager {
            passes: Vec::new(),
            max_iterations: 16,
            verify: cfg!(debug_assertions),
        }
    }

    pub fn with(mut self, pass: impl Pass + 'static) -> PassManager {
        self.passes.push(Box::new(pass));
        self
    }

    pub fn push(&mut self, pass: Box<dyn Pass>) {
        self.passes.push(pass);
    }

    /// Stops after `n` rounds even if the last one still changed something.
    pub fn max_iterations(mut self, n: usize) -> PassManager {
        self.max_iterations = n.max(1);
        self
    }

    /// After each pass that changed something, check the graph's structure
    /// ([`crate::rewrite::structural_problems`]: node order aside) and fail if the pass
    /// introduced a problem that was not there before it.
    pub fn verify(mut self, on: bool) -> PassManager {
        self.verify = on;
        self
    }

    pub fn run(&mut self, model: &mut Model) -> Result<RunReport, IrError> {
        let mut report = RunReport {
            passes: self
                .passes
                .iter()
                .map(|p| PassStats {
                    name: p.name(),
                    runs: 0,
                    report: PassReport::default(),
                    time: Duration::ZERO,
                })
                .collect(),
            ..RunReport::default()
        };
        let mut problems = if self.verify {
            structural_problems(model)
        } else {
            HashSet::new()
        };
        while report.iterations < self.max_iterations {
            report.iterations += 1;
            let mut changed = false;
            for (pass, stats) in self.passes.iter_mut().zip(&mut report.passes) {
                let start = Instant::now();
                let r = pass.run(model)?;
                stats.time += start.elapsed();
                stats.runs += 1;
                if !r.changed() {
                    continue;
                }
                changed = true;
                stats.report.merge(&r);
                if self.verify {
                    let after = structural_problems(model);
                    let new: Vec<String> = after.difference(&problems).cloned().collect();
                    if !new.is_empty() {
                        return Err(IrError::Pass {
                            pass: pass.name().to_string(),
                            problems: new,
                        });
                    }
                    problems = after;
                }
            }
            if !changed {
                report.converged = true;
                break;
            }
        }
        Ok(report)
    }
}

fn structural_problems(model: &Model) -> HashSet<String> {
    super::verify::structural_problems(model)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::{node, GraphIndex, Patch};
    use crate::{DType, Graph, OpsetImport, ValueInfo};

    /// x -> Neg -> Neg -> ... -> y
    fn negs(n: usize) -> Model {
        let mut nodes = Vec::new();
        for i in 0..n {
            let input = if i == 0 {
                "x".to_string()
            } else {
                format!("v{i}")
            };
            let output = if i + 1 == n {
                "y".to_string()
            } else {
                format!("v{}", i + 1)
            };
            nodes.push(
                node("Neg")
                    .name(format!("n{i}"))
                    .input(input)
                    .output(output)
                    .build(),
            );
        }
        Model {
            ir_version: 8,
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

    /// Removes one `Neg(Neg(v))` pair per run (the first found), so it needs several rounds.
    struct CancelOneNegPair;

    impl Pass for CancelOneNegPair {
        fn name(&self) -> &'static str {
            "cancel-neg-pair"
        }
        fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
            let g = &model.graph;
            let ix = GraphIndex::new(g);
            for (i, n) in g.nodes.iter().enumerate() {
                let Some(p) = ix.producer(&n.inputs[0]) else {
                    continue;
                };
                if g.nodes[p].op_type == "Neg" && n.op_type == "Neg" {
                    let mut patch = Patch::new();
                    let source = g.nodes[p].inputs[0].clone();
                    if ix.is_graph_output(&n.outputs[0]) {
                        // Keep the output name: the second Neg becomes an Identity.
                        patch.replace_node(
                            i,
                            node("Identity")
                                .input(source)
                                .output(n.outputs[0].clone())
                                .build(),
                        );
                    } else {
                        patch.rewire(n.outputs[0].clone(), source);
                    }
                    let s = patch.apply(&mut model.graph);
                    return Ok(PassReport::new()
                        .with("pairs", 1)
                        .with("dead", s.nodes_dead));
                }
            }
            Ok(PassReport::new())
        }
    }

    /// Writes a value nobody defines: the verifier must catch it.
    struct Breaks;

    impl Pass for Breaks {
        fn name(&self) -> &'static str {
            "breaks"
        }
        fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
            model.graph.nodes[0].inputs[0] = "nowhere".into();
            Ok(PassReport::new().with("broken", 1))
        }
    }

    #[test]
    fn runs_to_a_fixed_point_and_counts() {
        let mut m = negs(5);
        let report = PassManager::new()
            .with(CancelOneNegPair)
            .verify(true)
            .run(&mut m)
            .unwrap();
        // 5 Negs: two pairs cancel, then one more round finds nothing.
        assert!(report.converged);
        assert_eq!(report.iterations, 3);
        assert_eq!(report.count("cancel-neg-pair", "pairs"), 2);
        assert_eq!(report.passes[0].runs, 3);
        // Each cancelled pair leaves both Negs without readers: the patch drops them.
        assert_eq!(m.graph.nodes.len(), 1, "{:?}", m.graph.nodes);
        assert_eq!(report.count("cancel-neg-pair", "dead"), 4);
        assert!(crate::rewrite::structural_problems(&m).is_empty());
    }

    #[test]
    fn iteration_limit_is_reported() {
        let mut m = negs(9);
        let report = PassManager::new()
            .with(CancelOneNegPair)
            .max_iterations(2)
            .run(&mut m)
            .unwrap();
        assert!(!report.converged);
        assert_eq!(report.iterations, 2);
        assert!(report.changed());
    }

    #[test]
    fn verification_names_the_pass_that_broke_the_graph() {
        let mut m = negs(2);
        let err = PassManager::new()
            .with(Breaks)
            .verify(true)
            .run(&mut m)
            .unwrap_err()
            .to_string();
        assert!(err.contains("breaks") && err.contains("nowhere"), "{err}");
    }

    #[test]
    fn reports_merge_counts() {
        let mut r = PassReport::new().with("a", 1).with("b", 0);
        r.add("a", 2);
        assert_eq!(r.counts(), &[("a", 3)]);
        assert!(r.changed() && !PassReport::new().changed());
    }
}
