//! The shared step of the Conv fusions: a Conv or ConvTranspose with constant weights whose
//! output is then scaled and shifted per output channel becomes one convolution with new
//! weights and bias.
//!
//! Arithmetic: weights, bias, scale and shift are widened to f64, the fused values computed in
//! f64 and rounded once to the weights' type (float32 or float64). Why f64: f32 inputs are
//! exact in f64 and the few f64 operations (a division, a square root, a multiply-add) err by
//! about 1e-16 relative, far below half an f32 ulp, so each fused float32 value is the float32
//! nearest to the exact expression (but for near-ties) — the closest the fused graph can get to
//! the unfused one. onnxslim's float32 numpy arithmetic rounds after every step and lands up to
//! an ulp or two away. (float64 weights get f64 arithmetic, with its own rounding per step.)

use crate::util::{
    constant, default_domain, float_tensor, float_values, only_read_by, per_channel, OutChannels,
};
use onnxide_ir::rewrite::{GraphIndex, PassReport, Patch, UniqueNames};
use onnxide_ir::{Graph, IrError, Model, NamedTensor, Node};

/// The number of output channels of Conv/ConvTranspose `c` when its weight is constant, of a
/// float type, and fits its group count.
pub fn out_channels(g: &Graph, ix: &GraphIndex, c: &Node) -> Option<usize> {
    let w = constant(g, ix, c.inputs.get(1)?)?;
    let group = usize::try_from(c.attr_int("group").unwrap_or(1)).ok()?;
    Some(OutChannels::new(w.shape(), c.op_type == "ConvTranspose", group)?.count)
}

/// The convolution computing `c(x)[o] · scale[o] + shift[o]` for every output channel `o`,
/// writing `output`; its new weight (when scaled) and bias are added to `patch` under fresh
/// names. `None` when `c`'s weight or bias is not a float constant of the right size.
pub fn fold_affine(
    g: &Graph,
    ix: &GraphIndex,
    c: &Node,
    (scale, shift): (Option<&[f64]>, &[f64]),
    output: &str,
    names: &mut UniqueNames,
    patch: &mut Patch,
) -> Option<Node> {
    if c.inputs.len() < 2 || c.outputs.len() != 1 {
        return None;
    }
    let w_name = &c.inputs[1];
    let w = constant(g, ix, w_name)?;
    let dtype = w.dtype();
    let group = usize::try_from(c.attr_int("group").unwrap_or(1)).ok()?;
    let channels = OutChannels::new(w.shape(), c.op_type == "ConvTranspose", group)?;
    let m = channels.count;
    if shift.len() != m || scale.is_some_and(|s| s.len() != m) {
        return None;
    }
    let bias = match c.inputs.get(2).filter(|b| !b.is_empty()) {
        Some(b) => {
            let t = constant(g, ix, b)?;
            if t.dtype() != dtype || t.len() != m {
                return None;
            }
            float_values(t)?
        }
        None => vec![0.0; m],
    };
    let base = if c.name.is_empty() {
        w_name.as_str()
    } else {
        c.name.as_str()
    };
    let mut fused = c.clone();
    fused.outputs = vec![output.to_string()];
    if let Some(s) = scale {
        let wv = float_values(w)?;
        let nw: Vec<f64> = wv
            .iter()
            .enumerate()
            .map(|(i, x)| x * s[channels.of(i)])
            .collect();
        let t = float_tensor(dtype, w.shape().to_vec(), nw)?;
        let name = names.fresh(&format!("{base}_fused_weight"));
        patch.add_initializer(NamedTensor::new(name.clone(), t));
        fused.inputs[1] = name;
    }
    let nb: Vec<f64> = (0..m)
        .map(|o| bias[o] * scale.map_or(1.0, |s| s[o]) + shift[o])
        .collect();
    let t = float_tensor(dtype, vec![m], nb)?;
    let name = names.fresh(&format!("{base}_fused_bias"));
    patch.add_initializer(NamedTensor::new(name.clone(), t));
    fused.inputs.truncate(2);
    fused.inputs.push(name);
    Some(fused)
}

/// `Add`/`Mul` (`op`) of a Conv's output and a per-channel constant, folded into the Conv.
pub fn fuse_per_channel(model: &mut Model, op: &str) -> Result<PassReport, IrError> {
    let g = &model.graph;
    let ix = GraphIndex::new(g);
    let mut names = UniqueNames::new(g);
    let mut patch = Patch::new();
    let mut report = PassReport::new();
    for (a, n) in g.nodes.iter().enumerate() {
        if n.op_type != op || !default_domain(n) || n.inputs.len() != 2 || n.outputs.len() != 1 {
            continue;
        }
        for side in 0..2 {
            let (y, k) = (&n.inputs[side], &n.inputs[1 - side]);
            let Some(c) = ix.producer(y) else { continue };
            let conv = &g.nodes[c];
            if conv.op_type != "Conv"
                || !default_domain(conv)
                || patch.touches_node(c)
                || patch.touches_node(a)
                || !only_read_by(&ix, y, a)
            {
                continue;
            }
            let (Some(w), Some(kt)) = (
                conv.inputs.get(1).and_then(|w| constant(g, &ix, w)),
                constant(g, &ix, k),
            ) else {
                continue;
            };
            let Some(m) = out_channels(g, &ix, conv) else {
                continue;
            };
            if kt.dtype() != w.dtype() {
                continue;
            }
            let Some(v) = per_channel(kt, w.rank(), m) else {
                continue;
            };
            let fused = if op == "Add" {
                fold_affine(
                    g,
                    &ix,
                    conv,
                    (None, &v),
                    &n.outputs[0],
                    &mut names,
                    &mut patch,
                )
            } else {
                let zero = vec![0.0; m];
                fold_affine(
                    g,
                    &ix,
                    conv,
                    (Some(&v), &zero),
                    &n.outputs[0],
                    &mut names,
                    &mut patch,
                )
            };
            let Some(fused) = fused else { continue };
            patch.replace_node(c, fused);
            patch.remove_node(a);
            report.add(if op == "Add" { "Add" } else { "Mul" }, 1);
            break;
        }
    }
    if !patch.is_empty() {
        patch.apply(&mut model.graph);
    }
    Ok(report)
}
