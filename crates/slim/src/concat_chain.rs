//! `concat-chains`: a Concat read only by a Concat on the same axis is spliced into it.

use crate::util::{default_domain, only_read_by};
use onnxide_ir::infer::infer;
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{IrError, Model};

/// `Concat(a, Concat(b, c), d)` ⇒ `Concat(a, b, c, d)` when both have the same axis
/// (negative axes compared after normalising with the inferred rank) and the inner Concat's
/// output is read by the outer one only.
pub struct ConcatChains;

impl Pass for ConcatChains {
    fn name(&self) -> &'static str {
        "concat-chains"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        let axis_of = |n: &onnxide_ir::Node| -> Option<i64> {
            let a = n.attr_int("axis")?;
            if a >= 0 {
                return Some(a);
            }
            let r = facts.as_ref()?.fact(n.outputs.first()?)?.rank()?;
            Some(a + i64::try_from(r).ok()?)
        };
        for (j, outer) in g.nodes.iter().enumerate() {
            if outer.op_type != "Concat" || !default_domain(outer) || patch.touches_node(j) {
                continue;
            }
            let Some(axis) = axis_of(outer) else { continue };
            let mut inputs = Vec::with_capacity(outer.inputs.len());
            let mut spliced = Vec::new();
            for v in &outer.inputs {
                let inner = ix.producer(v).filter(|&i| {
                    let n = &g.nodes[i];
                    n.op_type == "Concat"
                        && default_domain(n)
                        && n.outputs.len() == 1
                        && !patch.touches_node(i)
                        && only_read_by(&ix, v, j)
                        && axis_of(n) == Some(axis)
                });
                match inner {
                    Some(i) => {
                        inputs.extend(g.nodes[i].inputs.iter().cloned());
                        if !spliced.contains(&i) {
                            spliced.push(i);
                        }
                    }
                    None => inputs.push(v.clone()),
                }
            }
            if spliced.is_empty() {
                continue;
            }
            let mut fused = outer.clone();
            fused.inputs = inputs;
            patch.replace_node(j, fused);
            for &i in &spliced {
                patch.remove_node(i);
            }
            report.add("Concat", spliced.len());
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
