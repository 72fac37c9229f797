//! `no-ops`: nodes whose output equals their first input: Identity, Dropout in inference, Cast
//! to the type it already has, Reshape/Expand/Slice that leave a static shape unchanged (and a
//! Reshape from rank 1 to rank 1),
//! Transpose with the identity permutation, Concat of one input; Concat inputs of size 0 along
//! the axis are dropped.

use onnxide_ir::infer::{infer, Inferred};
use onnxide_ir::rewrite::{is_onnx_op, node, GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{Graph, IrError, Model, Node};
use std::collections::HashSet;

/// Removes no-op nodes. Readers of the no-op's output read its input instead. Graph output
/// names stay: when the output is a graph output, the producer of the input is renamed to write
/// it (when that input has no other role), else the node becomes an `Identity`.
pub struct NoOps;

/// `n` passes its first input through unchanged (given what inference knows).
fn is_noop(g: &Graph, ix: &GraphIndex, facts: Option<&Inferred>, n: &Node) -> bool {
    let (Some(x), Some(y)) = (n.inputs.first(), n.outputs.first()) else {
        return false;
    };
    if x.is_empty() || y.is_empty() || !n.domain.is_empty() && n.domain != "ai.onnx" {
        return false;
    }
    let extra_outputs_unused = n.outputs[1..]
        .iter()
        .all(|o| o.is_empty() || !ix.is_used(o));
    if !extra_outputs_unused {
        return false;
    }
    let same_static = || -> bool {
        let Some(f) = facts else { return false };
        let (Some(a), Some(b)) = (f.static_shape(x), f.static_shape(y)) else {
            return false;
        };
        a == b && f.elem(x).is_some() && f.elem(x) == f.elem(y)
    };
    match n.op_type.as_str() {
        "Identity" => n.outputs.len() == 1,
        "Dropout" => match n.inputs.get(2).filter(|s| !s.is_empty()) {
            None => true,
            Some(mode) => {
                ix.is_constant(mode)
                    && g.initializer(mode)
                        .and_then(|t| t.tensor.to_i64_vec())
                        .is_some_and(|v| v.iter().all(|&b| b == 0))
            }
        },
        "Cast" => {
            let Some(f) = facts else { return false };
            match (f.elem(x), n.attr_int("to")) {
                (Some(e), Some(to)) => i64::from(e.onnx_code()) == to && n.attributes.len() == 1,
                _ => false,
            }
        }
        "Reshape" => {
            // Same static shape, or rank 1 to rank 1 (same element count, so the same vector).
            let rank = |v: &str| facts.and_then(|f| f.fact(v).and_then(|f| f.rank()));
            same_static() || (rank(x) == Some(1) && rank(y) == Some(1))
        }
        "Expand" => same_static(),
        "Slice" => {
            let steps_positive = match n.inputs.get(4).filter(|s| !s.is_empty()) {
                None => true,
                Some(s) => {
                    ix.is_constant(s)
                        && g.initializer(s)
                            .and_then(|t| t.tensor.to_i64_vec())
                            .is_some_and(|v| v.iter().all(|&k| k > 0))
                }
            };
            n.inputs.len() >= 3 && steps_positive && same_static()
        }
        "Transpose" => match n.attr_ints("perm") {
            Some(p) => p.iter().enumerate().all(|(i, &k)| k == i as i64),
            None => facts
                .and_then(|f| f.fact(x).and_then(|f| f.rank()))
                .is_some_and(|r| r <= 1),
        },
        "Concat" => n.inputs.len() == 1,
        _ => false,
    }
}

impl Pass for NoOps {
    fn name(&self) -> &'static str {
        "no-ops"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        // Values this patch renames away or points readers at: a later edit must not build on them.
        let mut renamed_away: HashSet<String> = HashSet::new();
        let mut targets: HashSet<String> = HashSet::new();
        for (i, n) in g.nodes.iter().enumerate() {
            if let Some(kept) =
                concat_without_empty_inputs(facts.as_ref(), n).filter(|_| !patch.touches_node(i))
            {
                let mut fewer = n.clone();
                fewer.inputs = kept;
                patch.replace_node(i, fewer);
                report.add("Concat empty input", 1);
                continue;
            }
            if patch.touches_node(i) || !is_noop(g, &ix, facts.as_ref(), n) {
                continue;
            }
            let (x, y) = (&n.inputs[0], &n.outputs[0]);
            if renamed_away.contains(x) || renamed_away.contains(y) {
                continue;
            }
            if !ix.is_graph_output(y) {
                patch.rewire(y.clone(), x.clone());
                patch.remove_node(i);
                targets.insert(x.clone());
                renamed_away.insert(y.clone());
                report.add(op_count(&n.op_type), 1);
                continue;
            }
            // y must keep its name: rename the producer of x to write y.
            let producer = ix.producer_slot(x).filter(|&(p, _)| {
                !patch.touches_node(p)
                    && !ix.is_graph_output(x)
                    && !ix.is_captured(x)
                    && !targets.contains(x)
                    && !ix.is_graph_input(x)
            });
            if let Some((p, slot)) = producer {
                let mut renamed = g.nodes[p].clone();
                renamed.outputs[slot] = y.clone();
                patch.replace_node(p, renamed);
                if ix.consumers(x).len() > 1 {
                    patch.rewire(x.clone(), y.clone());
                }
                patch.remove_node(i);
                renamed_away.insert(x.clone());
                targets.insert(y.clone());
                report.add(op_count(&n.op_type), 1);
            } else if !is_onnx_op(n, "Identity") {
                patch.replace_node(
                    i,
                    node("Identity")
                        .name(n.name.clone())
                        .input(x.clone())
                        .output(y.clone())
                        .build(),
                );
                report.add(op_count(&n.op_type), 1);
            }
        }
        if patch.is_empty() {
            return Ok(report);
        }
        let s = patch.apply(&mut model.graph);
        report.add("dead", s.nodes_dead);
        Ok(report)
    }
}

/// A Concat's inputs without those that are statically empty along its axis (size 0 there),
/// when there are some and at least one input remains.
fn concat_without_empty_inputs(facts: Option<&Inferred>, n: &Node) -> Option<Vec<String>> {
    if n.op_type != "Concat"
        || !(n.domain.is_empty() || n.domain == "ai.onnx")
        || n.inputs.len() < 2
    {
        return None;
    }
    let f = facts?;
    let rank = f.fact(n.outputs.first()?)?.rank()?;
    let axis = n.attr_int("axis")?;
    let axis = usize::try_from(if axis < 0 {
        axis + i64::try_from(rank).ok()?
    } else {
        axis
    })
    .ok()?;
    let empty = |v: &String| {
        f.shape(v)
            .and_then(|s| s.get(axis))
            .is_some_and(|d| matches!(d, onnxide_ir::Dim::Fixed(0)))
    };
    let kept: Vec<String> = n.inputs.iter().filter(|v| !empty(v)).cloned().collect();
    (kept.len() < n.inputs.len() && !kept.is_empty()).then_some(kept)
}

fn op_count(op: &str) -> &'static str {
    match op {
        "Identity" => "Identity",
        "Dropout" => "Dropout",
        "Cast" => "Cast",
        "Reshape" => "Reshape",
        "Expand" => "Expand",
        "Slice" => "Slice",
        "Transpose" => "Transpose",
        "Concat" => "Concat",
        _ => "other",
    }
}
