//! YOLOv8's `C2f`: `cv2(cat(split(cv1(x)), m_0(..), .., m_n-1(..)))` with `Bottleneck(c, c,
//! shortcut, k=(3, 3), e=1.0)` blocks. C3k2 is its YOLO11 subclass; export switches both to
//! `forward_split`, so the split is an ONNX `Split`.

use super::c3k2::{bottleneck, split_concat};
use super::{Ctx, Feature};
use crate::builder::Site;
use crate::error::Result;

/// `C2f(c1, c2, n, shortcut, e)` at `site`.
pub fn c2f(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    n: usize,
    shortcut: bool,
    e: f64,
) -> Result<Feature> {
    split_concat(ctx, site, x, c2, n, e, |ctx, item, last, c| {
        bottleneck(ctx, item, last, c, shortcut, (3, 3), 1.0)
    })
}
