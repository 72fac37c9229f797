//! `fuse-conv-bn`: Conv → BatchNormalization and ConvTranspose → BatchNormalization (inference
//! mode, constant parameters) become one convolution: with `s = γ / √(var + ε)`,
//! `W'[o] = W[o] · s[o]` and `b'[o] = (b[o] − mean[o]) · s[o] + β[o]` (f64, rounded once; see the `conv` module).

use crate::conv::{fold_affine, out_channels};
use crate::util::{constant, default_domain, float_values, only_read_by};
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{IrError, Model};

/// Folds a BatchNormalization into the Conv/ConvTranspose before it. Conditions: the
/// convolution's output is read by the BatchNormalization only; its weight and bias and the
/// four BatchNormalization parameters are float constants; `training_mode` is 0 and only the
/// first BatchNormalization output is used.
pub struct FuseConvBn;

impl Pass for FuseConvBn {
    fn name(&self) -> &'static str {
        "fuse-conv-bn"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut names = UniqueNames::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (b, bn) in g.nodes.iter().enumerate() {
            if bn.op_type != "BatchNormalization"
                || !default_domain(bn)
                || bn.inputs.len() != 5
                || bn.attr_int("training_mode").unwrap_or(0) != 0
                || bn.outputs.is_empty()
                || bn.outputs[1..]
                    .iter()
                    .any(|o| !o.is_empty() && ix.is_used(o))
            {
                continue;
            }
            let Some(c) = ix.producer(&bn.inputs[0]) else {
                continue;
            };
            let conv = &g.nodes[c];
            let kind = match conv.op_type.as_str() {
                "Conv" => "Conv",
                "ConvTranspose" => "ConvTranspose",
                _ => continue,
            };
            if !default_domain(conv)
                || patch.touches_node(c)
                || patch.touches_node(b)
                || !only_read_by(&ix, &bn.inputs[0], b)
            {
                continue;
            }
            let Some(m) = out_channels(g, &ix, conv) else {
                continue;
            };
            let params: Option<Vec<Vec<f64>>> = bn.inputs[1..]
                .iter()
                .map(|p| constant(g, &ix, p).and_then(float_values))
                .collect();
            let Some(p) = params.filter(|p| p.iter().all(|v| v.len() == m)) else {
                continue;
            };
            let eps = f64::from(bn.attr_float("epsilon").unwrap_or(1e-5));
            let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
            let scale: Vec<f64> = (0..m).map(|o| gamma[o] / (var[o] + eps).sqrt()).collect();
            let shift: Vec<f64> = (0..m).map(|o| beta[o] - mean[o] * scale[o]).collect();
            let Some(fused) = fold_affine(
                g,
                &ix,
                conv,
                (Some(&scale), &shift),
                &bn.outputs[0],
                &mut names,
                &mut patch,
            ) else {
                continue;
            };
            patch.replace_node(c, fused);
            patch.remove_node(b);
            report.add(kind, 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
