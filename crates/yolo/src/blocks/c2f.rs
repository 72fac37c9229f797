//! YOLOv8's `C2f`: `cv2(cat(split(cv1(x)), m_0(..), .., m_n-1(..)))` with `Bottleneck(c, c,
//! shortcut, k=(3, 3), e=1.0)` blocks. C3k2 is its YOLO11 subclass; export switches both to
//! `forward_split`, so the split is an ONNX `Split`.

use super::c3k2::bottleneck;
use super::conv::{conv, ConvSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_int, Kind, Site};
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
    let c = (c2 as f64 * e) as usize;
    let y = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(2 * c, 1, 1),
    )?;
    let halves = ctx
        .g
        .split(&site.scope, &y.name, &[c as i64, c as i64], 1)?;
    let mut parts: Vec<Feature> = halves
        .into_iter()
        .map(|name| Feature {
            name,
            c,
            stride: y.stride,
        })
        .collect();
    let m = site.sub("m", Kind::ModuleList);
    for i in 0..n {
        let item = m.sub(&i.to_string(), Kind::Module);
        let last = parts[parts.len() - 1].clone();
        let out = bottleneck(ctx, &item, &last, c, shortcut, (3, 3), 1.0)?;
        parts.push(out);
    }
    let names: Vec<&str> = parts.iter().map(|f| f.name.as_str()).collect();
    let cat = ctx
        .g
        .node(&site.scope, "Concat", &names, vec![attr_int("axis", 1)]);
    let cat = Feature {
        name: cat,
        c: (2 + n) * c,
        stride: y.stride,
    };
    conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        &cat,
        ConvSpec::new(c2, 1, 1),
    )
}
