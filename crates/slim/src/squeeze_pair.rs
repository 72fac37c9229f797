//! `squeeze-pairs`: Unsqueeze → Squeeze and Squeeze → Unsqueeze on the same axes cancel;
//! Unsqueeze → Unsqueeze becomes one Unsqueeze.

use crate::util::{constant_ints, default_domain, only_read_by, set_attr};
use onnxide_ir::infer::{infer, Inferred};
use onnxide_ir::rewrite::{node, GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{Graph, IrError, Model, NamedTensor, Node, Tensor};

/// `Squeeze(Unsqueeze(x, a), a)` ⇒ `x` and `Unsqueeze(Squeeze(x, a), a)` ⇒ `x` (axes as an
/// attribute before opset 13, a constant input from 13; negative axes need the rank from
/// inference; a Squeeze without axes is left alone). Readers of the pair's output read `x`; a
/// graph output keeps its name through an Identity. The first node goes when nothing else
/// reads it. Also `Unsqueeze(Unsqueeze(x, a1), a2)` ⇒ one `Unsqueeze(x, a)` (a1's axes placed
/// among the final dims a2 did not insert), when the intermediate is read by the second only.
pub struct SqueezePairs;

fn axes(g: &Graph, ix: &GraphIndex, n: &Node) -> Option<Vec<i64>> {
    match n.inputs.get(1).filter(|s| !s.is_empty()) {
        Some(a) => constant_ints(g, ix, a),
        None => n.attr_ints("axes").map(<[i64]>::to_vec),
    }
}

/// `axes` normalised against `rank` (computed only when some axis is negative), sorted.
fn normalized(axes: &[i64], rank: impl FnOnce() -> Option<usize>) -> Option<Vec<i64>> {
    let mut v = axes.to_vec();
    if v.iter().any(|&a| a < 0) {
        let r = i64::try_from(rank()?).ok()?;
        for a in &mut v {
            if *a < 0 {
                *a += r;
            }
        }
    }
    v.sort_unstable();
    let unique = v.windows(2).all(|w| w[0] != w[1]);
    (unique && v.iter().all(|&a| a >= 0)).then_some(v)
}

fn rank(facts: Option<&Inferred>, value: &str) -> Option<usize> {
    facts?.fact(value)?.rank()
}

impl Pass for SqueezePairs {
    fn name(&self) -> &'static str {
        "squeeze-pairs"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (j, second) in g.nodes.iter().enumerate() {
            let want = match second.op_type.as_str() {
                "Squeeze" => "Unsqueeze",
                "Unsqueeze" => "Squeeze",
                _ => continue,
            };
            if !default_domain(second) || second.inputs.is_empty() || second.outputs.len() != 1 {
                continue;
            }
            let Some(i) = ix.producer(&second.inputs[0]) else {
                continue;
            };
            let first = &g.nodes[i];
            if first.op_type != want
                || !default_domain(first)
                || first.inputs.is_empty()
                || patch.touches_node(j)
                || patch.touches_node(i)
            {
                continue;
            }
            let x = &first.inputs[0];
            let (Some(a1), Some(a2)) = (axes(g, &ix, first), axes(g, &ix, second)) else {
                continue;
            };
            // Both axis lists index the higher-rank side: Unsqueeze's output = Squeeze's input.
            let big_rank = || {
                let r = rank(facts.as_ref(), x)?;
                Some(if want == "Unsqueeze" { r + a1.len() } else { r })
            };
            let (Some(n1), Some(n2)) = (normalized(&a1, big_rank), normalized(&a2, big_rank))
            else {
                continue;
            };
            if n1 != n2 {
                continue;
            }
            let y = &second.outputs[0];
            if ix.is_graph_output(y) {
                let id = node("Identity")
                    .name(second.name.clone())
                    .input(x.clone())
                    .output(y.clone())
                    .build();
                patch.replace_node(j, id);
            } else {
                patch.rewire(y.clone(), x.clone());
                patch.remove_node(j);
            }
            report.add(
                if want == "Unsqueeze" {
                    "Unsqueeze+Squeeze"
                } else {
                    "Squeeze+Unsqueeze"
                },
                1,
            );
        }
        let opset = model.default_opset().unwrap_or(1);
        let mut names = UniqueNames::new(g);
        for (j, second) in g.nodes.iter().enumerate() {
            if second.op_type != "Unsqueeze"
                || !default_domain(second)
                || second.inputs.is_empty()
                || second.outputs.len() != 1
                || patch.touches_node(j)
            {
                continue;
            }
            let mid = &second.inputs[0];
            let Some(i) = ix.producer(mid) else { continue };
            let first = &g.nodes[i];
            if first.op_type != "Unsqueeze"
                || !default_domain(first)
                || first.inputs.is_empty()
                || patch.touches_node(i)
                || !only_read_by(&ix, mid, j)
            {
                continue;
            }
            let x = &first.inputs[0];
            let (Some(a1), Some(a2)) = (axes(g, &ix, first), axes(g, &ix, second)) else {
                continue;
            };
            let r = || rank(facts.as_ref(), x);
            let (Some(n1), Some(n2)) = (
                normalized(&a1, || Some(r()? + a1.len())),
                normalized(&a2, || Some(r()? + a1.len() + a2.len())),
            ) else {
                continue;
            };
            // The intermediate's dims are the final dims not inserted by the second Unsqueeze.
            let total =
                (n1.len() + n2.len()) as i64 + n1.iter().chain(&n2).copied().max().unwrap_or(0) + 1;
            let kept: Vec<i64> = (0..total).filter(|k| !n2.contains(k)).collect();
            let mapped: Option<Vec<i64>> = n1
                .iter()
                .map(|&p| kept.get(usize::try_from(p).ok()?).copied())
                .collect();
            let Some(mut all) = mapped else { continue };
            all.extend(&n2);
            all.sort_unstable();
            let mut merged = second.clone();
            merged.inputs = vec![x.clone()];
            if opset >= 13 {
                let Ok(t) = Tensor::from_vec(vec![all.len()], all) else {
                    continue;
                };
                let name = names.fresh(&format!("{}_axes", second.outputs[0]));
                patch.add_initializer(NamedTensor::new(name.clone(), t));
                merged.inputs.push(name);
            } else {
                set_attr(&mut merged, "axes", all);
            }
            patch.replace_node(j, merged);
            patch.remove_node(i);
            report.add("Unsqueeze+Unsqueeze", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
