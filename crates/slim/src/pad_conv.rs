//! `fuse-pad-conv`: a constant zero Pad of the spatial dims only, read by a Conv only, is folded
//! into the Conv's `pads`.

use crate::util::{
    constant, constant_ints, default_domain, float_values, only_read_by, remove_attr, set_attr,
};
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch};
use onnxide_ir::{Graph, IrError, Model, Node};

/// `Conv(Pad(x))` ⇒ `Conv(x)` with the pads added to its own. Conditions: Pad mode `constant`;
/// pads constant and not negative, zero on the batch and channel dims; the pad value absent or
/// a constant zero; no `axes` input; the Conv's `auto_pad` is NOTSET or VALID (VALID becomes
/// explicit pads); the Pad's output is read by the Conv only, as its data input.
pub struct FusePadConv;

/// The pads of Pad node `p` (`[begin..., end...]` over every dim), when they fold into a Conv.
fn zero_pads(g: &Graph, ix: &GraphIndex, p: &Node) -> Option<Vec<i64>> {
    if p.attr_string("mode").is_some_and(|m| m != "constant") {
        return None;
    }
    let pads = match p.inputs.get(1).filter(|s| !s.is_empty()) {
        Some(name) => {
            if p.inputs.get(3).is_some_and(|s| !s.is_empty()) {
                return None;
            }
            if let Some(v) = p.inputs.get(2).filter(|s| !s.is_empty()) {
                let t = constant(g, ix, v)?;
                let zero = match t.to_f64_vec().or_else(|| float_values(t)) {
                    Some(v) => v.iter().all(|&x| x == 0.0),
                    None => false,
                };
                if !zero {
                    return None;
                }
            }
            constant_ints(g, ix, name)?
        }
        None => {
            if p.attr_float("value").is_some_and(|v| v != 0.0) {
                return None;
            }
            p.attr_ints("pads")?.to_vec()
        }
    };
    let r = pads.len() / 2;
    if pads.len() % 2 != 0 || r < 3 || pads.iter().any(|&x| x < 0) {
        return None;
    }
    if pads[0] != 0 || pads[1] != 0 || pads[r] != 0 || pads[r + 1] != 0 {
        return None;
    }
    Some(pads)
}

impl Pass for FusePadConv {
    fn name(&self) -> &'static str {
        "fuse-pad-conv"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (c, conv) in g.nodes.iter().enumerate() {
            if conv.op_type != "Conv" || !default_domain(conv) || conv.inputs.is_empty() {
                continue;
            }
            let Some(p) = ix.producer(&conv.inputs[0]) else {
                continue;
            };
            let pad = &g.nodes[p];
            if pad.op_type != "Pad"
                || !default_domain(pad)
                || pad.outputs.len() != 1
                || patch.touches_node(p)
                || patch.touches_node(c)
                || !only_read_by(&ix, &conv.inputs[0], c)
                || conv.inputs[1..].contains(&conv.inputs[0])
            {
                continue;
            }
            match conv.attr_string("auto_pad") {
                None | Some("NOTSET") | Some("VALID") => {}
                _ => continue,
            }
            let Some(pads) = zero_pads(g, &ix, pad) else {
                continue;
            };
            let r = pads.len() / 2;
            let spatial = r - 2;
            let own: Vec<i64> = match conv.attr_ints("pads") {
                Some(v) if v.len() == 2 * spatial => v.to_vec(),
                Some(_) => continue,
                None => vec![0; 2 * spatial],
            };
            let merged: Vec<i64> = (0..2 * spatial)
                .map(|k| {
                    let (half, i) = (k / spatial, k % spatial);
                    own[k] + pads[half * r + 2 + i]
                })
                .collect();
            let mut fused = conv.clone();
            fused.inputs[0] = pad.inputs[0].clone();
            remove_attr(&mut fused, "auto_pad");
            set_attr(&mut fused, "pads", merged);
            patch.replace_node(c, fused);
            patch.remove_node(p);
            report.add("Pad", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
