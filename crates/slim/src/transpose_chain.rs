//! `transpose-chains`: Transpose → Transpose becomes one Transpose with the composed
//! permutation (an identity result is then removed by `no-ops`).

use crate::util::{default_domain, only_read_by, set_attr};
use onnxide_ir::infer::{infer, Inferred};
use onnxide_ir::rewrite::{node, GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{IrError, Model, NamedTensor, Node, Tensor};

/// `Transpose(Transpose(x, p1), p2)` ⇒ `Transpose(x, p)` with `p[i] = p1[p2[i]]`, when the
/// first Transpose's output is read by the second only. A missing `perm` (reverse the dims)
/// needs the rank from inference.
///
/// Also, as onnxslim's EliminationTransposeAsReshape: a Transpose next to a Reshape (its input
/// written by a Reshape read only by it, or its output read only by a Reshape) that moves only
/// size-1 dims of a static shape (the other dims keep their order) becomes a Reshape to the
/// static output shape, which `reshape-chains` then merges.
pub struct TransposeChains;

/// The output shape when Transpose `perm` of static `shape` only moves size-1 dims.
fn as_reshape(shape: &[u64], perm: &[usize]) -> Option<Vec<i64>> {
    if shape.len() != perm.len() {
        return None;
    }
    let moved: Vec<usize> = perm.iter().copied().filter(|&k| shape[k] != 1).collect();
    if moved.windows(2).any(|w| w[0] > w[1]) {
        return None;
    }
    perm.iter().map(|&k| i64::try_from(shape[k]).ok()).collect()
}

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
        let mut names = UniqueNames::new(g);
        for (j, t) in g.nodes.iter().enumerate() {
            if t.op_type != "Transpose"
                || !default_domain(t)
                || t.inputs.len() != 1
                || t.outputs.len() != 1
                || patch.touches_node(j)
            {
                continue;
            }
            let (x, y) = (&t.inputs[0], &t.outputs[0]);
            let after_reshape = ix.producer(x).is_some_and(|p| {
                g.nodes[p].op_type == "Reshape"
                    && default_domain(&g.nodes[p])
                    && only_read_by(&ix, x, j)
            });
            let before_reshape = ix.sole_consumer(y).is_some_and(|c| {
                g.nodes[c].op_type == "Reshape"
                    && g.nodes[c].inputs.first() == Some(y)
                    && !ix.is_captured(y)
            });
            if !after_reshape && !before_reshape {
                continue;
            }
            let (Some(f), Some(p)) = (facts.as_ref(), perm(facts.as_ref(), t)) else {
                continue;
            };
            let Some(shape) = f.static_shape(x) else {
                continue;
            };
            let Some(out) = as_reshape(&shape, &p) else {
                continue;
            };
            let Ok(tensor) = Tensor::from_vec(vec![out.len()], out) else {
                continue;
            };
            let name = names.fresh(&format!("{y}_shape"));
            patch.add_initializer(NamedTensor::new(name.clone(), tensor));
            let reshape = node("Reshape")
                .name(t.name.clone())
                .inputs([x.clone(), name])
                .output(y.clone())
                .build();
            patch.replace_node(j, reshape);
            report.add("Transpose as Reshape", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
