//! `C3k2` (a C2f with Bottleneck or C3k blocks), `C3k` and `Bottleneck`.

use super::conv::{conv, ConvSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_int, Kind, Site};
use crate::error::Result;

/// `Bottleneck(c1, c2, shortcut, k=(k1, k2), e)`: `cv2(cv1(x))`, plus `x` when shortcut and c1 == c2.
pub fn bottleneck(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    shortcut: bool,
    k: (usize, usize),
    e: f64,
) -> Result<Feature> {
    let c_ = (c2 as f64 * e) as usize;
    let y = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(c_, k.0, 1),
    )?;
    let y = conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        &y,
        ConvSpec::new(c2, k.1, 1),
    )?;
    if shortcut && x.c == c2 {
        let sum = ctx.g.node(&site.scope, "Add", &[&x.name, &y.name], vec![]);
        return Ok(Feature { name: sum, ..y });
    }
    Ok(y)
}

/// `C3k(c1, c2, n, shortcut=True, e=0.5, k=3)`: `cv3(cat(m(cv1(x)), cv2(x)))`, m = n Bottlenecks k×k, e=1.
pub fn c3k(ctx: &mut Ctx, site: &Site, x: &Feature, c2: usize, n: usize) -> Result<Feature> {
    let c_ = (c2 as f64 * 0.5) as usize;
    let a = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(c_, 1, 1),
    )?;
    let b = conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        x,
        ConvSpec::new(c_, 1, 1),
    )?;
    let m = site.sub("m", Kind::Sequential);
    let mut y = a;
    for j in 0..n {
        y = bottleneck(
            ctx,
            &m.sub(&j.to_string(), Kind::Module),
            &y,
            c_,
            true,
            (3, 3),
            1.0,
        )?;
    }
    let cat = super::concat(ctx, &site.scope, &[&y, &b]);
    conv(
        ctx,
        &site.sub("cv3", Kind::Module),
        &cat,
        ConvSpec::new(c2, 1, 1),
    )
}

/// `C3k2(c1, c2, n, c3k, e)`: `cv2(cat(split(cv1(x)), m_0(..), .., m_n-1(..)))`, a C2f whose
/// blocks are `C3k(c, c, 2)` or `Bottleneck(c, c, shortcut, e=0.5)`.
/// The split is an ONNX `Split` because export switches C2f to `forward_split`.
pub fn c3k2(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    n: usize,
    use_c3k: bool,
    e: f64,
) -> Result<Feature> {
    split_concat(ctx, site, x, c2, n, e, |ctx, item, last, c| {
        if use_c3k {
            c3k(ctx, item, last, c, 2)
        } else {
            bottleneck(ctx, item, last, c, true, (3, 3), 0.5)
        }
    })
}

/// The C2f skeleton both `C2f` and `C3k2` share: `cv1` to `2c` channels, split in halves, `n`
/// `block`s each on the previous output (`block(ctx, site of m.i, input, c)`), all parts
/// concatenated, `cv2` to `c2`.
pub(super) fn split_concat(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    n: usize,
    e: f64,
    mut block: impl FnMut(&mut Ctx, &Site, &Feature, usize) -> Result<Feature>,
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
        let out = block(ctx, &item, &last, c)?;
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
