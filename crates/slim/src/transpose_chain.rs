//! `transpose-chains`: Transpose → Transpose becomes one Transpose with the composed
//! permutation (an identity result is then removed by `no-ops`).

use crate::util::{default_domain, only_read_by, set_attr};
use onnxide_ir::infer::{infer, Inferred};
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{IrError, Model, Node};

/// `Transpose(Transpose(x, p1), p2)` ⇒ `Transpose(x, p)` with `p[i] = p1[p2[i]]`, when the
/// first Transpose's output is read by the second only. A missing `perm` (reverse the dims)
/// needs the rank from inference.
pub struct TransposeChains;

fn perm(facts: Option<&Inferred>, n: &Node) -> Option<Vec<usize>> {
    let p: Vec<usize> = match n.attr_ints("perm") {
        Some(p) => p
            .iter()
            .map(|&k| usize::try_from(k).ok())
            .collect::<Option<_>>()?,
        None => {
            let r = facts?.fact(n.inputs.first()?)?.rank()?;
            (0..r).rev().collect()
        }
    };
    let mut seen = vec![false; p.len()];
    for &k in &p {
        if k >= p.len() || std::mem::replace(&mut seen[k], true) {
            return None;
        }
    }
    Some(p)
}

impl Pass for TransposeChains {
    fn name(&self) -> &'static str {
        "transpose-chains"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (j, second) in g.nodes.iter().enumerate() {
            if second.op_type != "Transpose" || !default_domain(second) || second.inputs.len() != 1
            {
                continue;
            }
            let Some(i) = ix.producer(&second.inputs[0]) else {
                continue;
            };
            let first = &g.nodes[i];
            if first.op_type != "Transpose"
                || !default_domain(first)
                || first.inputs.len() != 1
                || patch.touches_node(i)
                || patch.touches_node(j)
                || !only_read_by(&ix, &second.inputs[0], j)
            {
                continue;
            }
            let (Some(p1), Some(p2)) = (perm(facts.as_ref(), first), perm(facts.as_ref(), second))
            else {
                continue;
            };
            if p1.len() != p2.len() {
                continue;
            }
            let p: Vec<i64> = p2.iter().map(|&k| p1[k] as i64).collect();
            let mut fused = second.clone();
            fused.inputs[0] = first.inputs[0].clone();
            set_attr(&mut fused, "perm", p);
            patch.replace_node(j, fused);
            patch.remove_node(i);
            report.add("Transpose", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
