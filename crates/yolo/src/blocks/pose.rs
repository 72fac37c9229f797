//! The `Pose` head: Detect plus a keypoint branch (`cv4`).
//!
//! Output `[B, 4 + nc + K·D, A]`: Detect's boxes and scores, then per keypoint (x, y[, v]) with
//! `xy = (raw_xy * 2 + (anchors - 0.5)) * strides` and `v = sigmoid(raw_v)` (Ultralytics'
//! `kpts_decode` as exported).

use super::detect::{dfl_and_anchors, dist2bbox, extra_branch, DetectSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_int, Site};
use crate::error::Result;

pub struct PoseSpec {
    pub detect: DetectSpec,
    /// `[keypoints, dims]`, dims 2 (x, y) or 3 (x, y, visibility).
    pub kpt_shape: [usize; 2],
}

/// Builds Pose and returns the name of its output (`output`).
pub fn pose(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &PoseSpec,
    output: &str,
) -> Result<String> {
    let [nkpt, ndim] = spec.kpt_shape;
    let nk = nkpt * ndim;
    let ch0 = xs.first().map(|f| f.c).unwrap_or(0);
    let raw = super::detect::detect_branches(ctx, site, xs, &spec.detect)?;
    let kpt = extra_branch(ctx, site, "cv4", xs, (ch0 / 4).max(nk), nk)?;
    let s = site.scope.clone();
    let dec = dfl_and_anchors(ctx, site, xs, &raw, &spec.detect)?;
    let scores = ctx.g.node(&s, "Sigmoid", &[&raw.scores], vec![]);
    let box4 = dist2bbox(ctx, &s, &dec, spec.detect.xyxy)?;

    // kpts_decode: y = kpt.view(B, K, D, A); a = (y[:, :, :2] * 2 + (anchors - 0.5)) * strides;
    // with D = 3, a = cat(a, sigmoid(y[:, :, 2:3]), 2); then a.view(B, K·D, A).
    let bd = ctx.batch_dim();
    let y = ctx
        .g
        .reshape_const(&s, &kpt, &[bd, nkpt as i64, ndim as i64, -1])?;
    let axis = ctx.g.const_i64s(&s, &[2])?;
    let step = ctx.g.const_i64s(&s, &[1])?;
    let (c0, c2, c3) = (
        ctx.g.const_i64s(&s, &[0])?,
        ctx.g.const_i64s(&s, &[2])?,
        ctx.g.const_i64s(&s, &[3])?,
    );
    let xy = ctx
        .g
        .node(&s, "Slice", &[&y, &c0, &c2, &axis, &step], vec![]);
    let two = ctx.g.const_f32_scalar(&s, 2.0)?;
    let xy = ctx.g.node(&s, "Mul", &[&xy, &two], vec![]);
    let offset = if ctx.dynamic {
        let half = ctx.g.const_f32_scalar(&s, 0.5)?;
        ctx.g.node(&s, "Sub", &[&dec.anchors, &half], vec![])
    } else {
        // `anchors - 0.5`, which torch traced on constants and onnxslim folded: `[2, A]`.
        let (anchors, _) = super::detect::anchor_values(ctx, xs);
        let n = anchors.len() / 2;
        let shifted = anchors.into_iter().map(|a| a - 0.5).collect();
        ctx.g.const_f32(&s, vec![2, n], shifted)?
    };
    let xy = ctx.g.node(&s, "Add", &[&xy, &offset], vec![]);
    let mut a = ctx.g.node(&s, "Mul", &[&xy, &dec.strides], vec![]);
    if ndim == 3 {
        let v = ctx
            .g
            .node(&s, "Slice", &[&y, &c2, &c3, &axis, &step], vec![]);
        let v = ctx.g.node(&s, "Sigmoid", &[&v], vec![]);
        a = ctx
            .g
            .node(&s, "Concat", &[&a, &v], vec![attr_int("axis", 2)]);
    }
    let kpts = ctx.g.reshape_const(&s, &a, &[bd, nk as i64, -1])?;
    Ok(ctx.g.node_to(
        &s,
        "Concat",
        &[&box4, &scores, &kpts],
        vec![attr_int("axis", 1)],
        output,
    ))
}
