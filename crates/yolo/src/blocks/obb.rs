//! The `OBB` head: Detect plus an angle branch (`cv4`), decoded as rotated boxes.
//!
//! Output `[B, 4 + nc + 1, A]`: rotated boxes as (cx, cy, w, h) in input pixels, sigmoid class
//! scores, then the angle `θ = (sigmoid(raw) - 0.25)·π` in radians (not scaled by the stride).

use super::detect::{dfl_and_anchors, extra_branch, Decoding, DetectSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_int, Site};
use crate::error::Result;

pub struct ObbSpec {
    pub detect: DetectSpec,
    /// Extra parameters per box (1: the angle).
    pub ne: usize,
}

/// Builds OBB and returns the name of its output (`output`).
pub fn obb(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &ObbSpec,
    output: &str,
) -> Result<String> {
    let ch0 = xs.first().map(|f| f.c).unwrap_or(0);
    let raw = super::detect::detect_branches(ctx, site, xs, &spec.detect)?;
    let angle = extra_branch(ctx, site, "cv4", xs, (ch0 / 4).max(spec.ne), spec.ne)?;
    let s = site.scope.clone();
    // θ = (sigmoid(raw) - 0.25) · π, in [-π/4, 3π/4).
    let angle = ctx.g.node(&s, "Sigmoid", &[&angle], vec![]);
    let quarter = ctx.g.const_f32_scalar(&s, 0.25)?;
    let angle = ctx.g.node(&s, "Sub", &[&angle, &quarter], vec![]);
    let pi = ctx.g.const_f32_scalar(&s, std::f32::consts::PI)?;
    let angle = ctx.g.node(&s, "Mul", &[&angle, &pi], vec![]);
    let dec = dfl_and_anchors(ctx, site, xs, &raw, &spec.detect)?;
    let scores = ctx.g.node(&s, "Sigmoid", &[&raw.scores], vec![]);
    let box4 = dist2rbox(ctx, &s, &dec, &angle)?;
    Ok(ctx.g.node_to(
        &s,
        "Concat",
        &[&box4, &scores, &angle],
        vec![attr_int("axis", 1)],
        output,
    ))
}

/// `dist2rbox` times the strides: lt, rb = split(d, 2); xf, yf = split((rb - lt) / 2, 1);
/// xy = [xf·cosθ - yf·sinθ, xf·sinθ + yf·cosθ] + anchors; box = cat(xy, lt + rb) · strides.
fn dist2rbox(ctx: &mut Ctx, s: &str, dec: &Decoding, angle: &str) -> Result<String> {
    let lt_rb = ctx.g.split(s, &dec.dist, &[2, 2], 1)?;
    let (lt, rb) = (&lt_rb[0], &lt_rb[1]);
    let cos = ctx.g.node(s, "Cos", &[angle], vec![]);
    let sin = ctx.g.node(s, "Sin", &[angle], vec![]);
    let diff = ctx.g.node(s, "Sub", &[rb, lt], vec![]);
    let two = ctx.g.const_f32_scalar(s, 2.0)?;
    let half = ctx.g.node(s, "Div", &[&diff, &two], vec![]);
    let f = ctx.g.split(s, &half, &[1, 1], 1)?;
    let (xf, yf) = (&f[0], &f[1]);
    let xc = ctx.g.node(s, "Mul", &[xf, &cos], vec![]);
    let ys = ctx.g.node(s, "Mul", &[yf, &sin], vec![]);
    let xs = ctx.g.node(s, "Mul", &[xf, &sin], vec![]);
    let yc = ctx.g.node(s, "Mul", &[yf, &cos], vec![]);
    let x = ctx.g.node(s, "Sub", &[&xc, &ys], vec![]);
    let y = ctx.g.node(s, "Add", &[&xs, &yc], vec![]);
    let xy = ctx
        .g
        .node(s, "Concat", &[&x, &y], vec![attr_int("axis", 1)]);
    let xy = ctx.g.node(s, "Add", &[&xy, &dec.anchors], vec![]);
    let wh = ctx.g.node(s, "Add", &[lt, rb], vec![]);
    let box4 = ctx
        .g
        .node(s, "Concat", &[&xy, &wh], vec![attr_int("axis", 1)]);
    Ok(ctx.g.node(s, "Mul", &[&box4, &dec.strides], vec![]))
}
