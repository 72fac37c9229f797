//! The `Segment` head: Detect plus mask coefficients (`cv4`) and mask prototypes (`proto`).
//!
//! `output0` `[B, 4 + nc + nm, A]`: Detect's boxes and scores, then the raw mask coefficients
//! (no sigmoid). `output1` `[B, nm, H/4, W/4]`: the prototypes, `Proto(x[P3])` = Conv3×3(ch0→npr),
//! ConvTranspose2d(npr, npr, 2, 2) with bias, Conv3×3(npr→npr), Conv1×1(npr→nm).

use super::conv::{conv, conv_transpose2d, ConvSpec};
use super::detect::{detect_with_extra, DetectSpec, Extra};
use super::{Ctx, Feature};
use crate::builder::{Kind, Site};
use crate::error::{Result, YoloError};

pub struct SegmentSpec {
    pub detect: DetectSpec,
    /// Mask coefficients per box (32).
    pub nm: usize,
    /// Prototype channels (`make_divisible(min(256, max_channels) * width, 8)`).
    pub npr: usize,
}

/// Builds Segment; returns the names of its two outputs (`outputs`: detections, prototypes).
pub fn segment(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &SegmentSpec,
    outputs: [&str; 2],
) -> Result<[String; 2]> {
    let p3 = xs
        .first()
        .ok_or_else(|| YoloError::Graph("Segment has no input levels".into()))?;
    // torch runs `self.proto(x[0])` first; its nodes live in their own scope.
    let proto = proto(ctx, &site.sub("proto", Kind::Module), p3, spec)?;
    let proto = ctx.g.rename_output(&proto, outputs[1])?;
    let extra = Extra {
        name: "cv4",
        hidden: (p3.c / 4).max(spec.nm),
        out: spec.nm,
    };
    let det = detect_with_extra(ctx, site, xs, &spec.detect, Some(extra), outputs[0])?;
    Ok([det, proto])
}

/// `Proto(c1, c_=npr, c2=nm)`: cv1 Conv3×3, upsample ConvTranspose2d(2, 2), cv2 Conv3×3, cv3
/// Conv1×1 (all Convs with SiLU).
fn proto(ctx: &mut Ctx, site: &Site, x: &Feature, spec: &SegmentSpec) -> Result<String> {
    let y = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(spec.npr, 3, 1),
    )?;
    let y = conv_transpose2d(ctx, &site.sub("upsample", Kind::Module), &y, spec.npr, 2)?;
    let y = conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        &y,
        ConvSpec::new(spec.npr, 3, 1),
    )?;
    let y = conv(
        ctx,
        &site.sub("cv3", Kind::Module),
        &y,
        ConvSpec::new(spec.nm, 1, 1),
    )?;
    Ok(y.name)
}
