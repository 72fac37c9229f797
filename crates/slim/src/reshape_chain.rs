//! `reshape-chains`: Reshape → Reshape becomes the last Reshape applied to the first one's input.

use crate::util::{constant_ints, default_domain, only_read_by};
use onnxide_ir::infer::infer;
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{IrError, Model, NamedTensor, Tensor};

/// `Reshape(Reshape(x, s1), s2)` ⇒ `Reshape(x, s2)`, when the intermediate value is read by the
/// second Reshape only and `s2` is a constant. A `0` in `s2` (copy the intermediate's dim, with
/// `allowzero` 0) is replaced by that dim, which must be known from inference.
pub struct ReshapeChains;

impl Pass for ReshapeChains {
    fn name(&self) -> &'static str {
        "reshape-chains"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut names = UniqueNames::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (j, second) in g.nodes.iter().enumerate() {
            if second.op_type != "Reshape" || !default_domain(second) || second.inputs.len() != 2 {
                continue;
            }
            let mid = &second.inputs[0];
            let Some(i) = ix.producer(mid) else { continue };
            let first = &g.nodes[i];
            if first.op_type != "Reshape"
                || !default_domain(first)
                || first.inputs.is_empty()
                || patch.touches_node(i)
                || patch.touches_node(j)
                || !only_read_by(&ix, mid, j)
            {
                continue;
            }
            let Some(shape) = constant_ints(g, &ix, &second.inputs[1]) else {
                continue;
            };
            let mut fused = second.clone();
            fused.inputs[0] = first.inputs[0].clone();
            if second.attr_int("allowzero").unwrap_or(0) == 0 && shape.contains(&0) {
                let Some(dims) = facts.as_ref().and_then(|f| f.static_shape(mid)) else {
                    continue;
                };
                let resolved: Option<Vec<i64>> = shape
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| match d {
                        0 => dims
                            .get(k)
                            .and_then(|&v| i64::try_from(v).ok())
                            .filter(|&v| v != 0),
                        d => Some(d),
                    })
                    .collect();
                let Some(resolved) = resolved else { continue };
                let Ok(t) = Tensor::from_vec(vec![resolved.len()], resolved) else {
                    continue;
                };
                let name = names.fresh(&format!("{}_resolved", second.inputs[1]));
                patch.add_initializer(NamedTensor::new(name.clone(), t));
                fused.inputs[1] = name;
            }
            patch.replace_node(j, fused);
            patch.remove_node(i);
            report.add("Reshape", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
