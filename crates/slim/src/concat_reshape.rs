//! `concat-reshape`: a Reshape whose shape is a Concat of constants and one computed
//! one-element value gets a constant shape with `-1` in that value's place.

use crate::util::{constant_ints, default_domain};
use onnxide_ir::infer::infer;
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{IrError, Model, NamedTensor, Tensor};

/// `Reshape(x, Concat(c1, v, c2, ...))` ⇒ `Reshape(x, [c1, -1, c2, ...])` (onnxslim's
/// FusionConcatReshape). Conditions: exactly one Concat input is not a constant and it has
/// static shape `[1]` (inferred); every constant input has one element, not `-1`, and not `0`
/// when `allowzero` is 1. The reshape then has one unknown dim, which it infers as exactly the
/// value `v` had (the element count fixes it), so the result is the same. The Concat goes when
/// nothing else reads it.
pub struct ConcatReshape;

impl Pass for ConcatReshape {
    fn name(&self) -> &'static str {
        "concat-reshape"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let Ok(facts) = infer(model) else {
            return Ok(PassReport::new());
        };
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut names = UniqueNames::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (r, reshape) in g.nodes.iter().enumerate() {
            if reshape.op_type != "Reshape" || !default_domain(reshape) || reshape.inputs.len() != 2
            {
                continue;
            }
            let Some(c) = ix.producer(&reshape.inputs[1]) else {
                continue;
            };
            let concat = &g.nodes[c];
            if concat.op_type != "Concat" || !default_domain(concat) || concat.outputs.len() != 1 {
                continue;
            }
            let allowzero = reshape.attr_int("allowzero").unwrap_or(0) != 0;
            let mut shape = Vec::with_capacity(concat.inputs.len());
            let mut variables = 0;
            let mut ok = true;
            for v in &concat.inputs {
                match constant_ints(g, &ix, v) {
                    Some(vals)
                        if vals.len() == 1 && vals[0] != -1 && !(allowzero && vals[0] == 0) =>
                    {
                        shape.push(vals[0])
                    }
                    Some(_) => ok = false,
                    None if facts.static_shape(v).as_deref() == Some(&[1][..]) => {
                        variables += 1;
                        shape.push(-1);
                    }
                    None => ok = false,
                }
            }
            if !ok || variables != 1 {
                continue;
            }
            let Ok(t) = Tensor::from_vec(vec![shape.len()], shape) else {
                continue;
            };
            let name = names.fresh(&format!("{}_const", reshape.inputs[1]));
            patch.add_initializer(NamedTensor::new(name.clone(), t));
            let mut fused = reshape.clone();
            fused.inputs[1] = name;
            patch.replace_node(r, fused);
            report.add("Reshape", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
