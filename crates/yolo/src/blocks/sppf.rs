//! `SPPF(c1, c2, k)`: three chained max-pools over one 1×1 conv, concatenated.

use super::conv::{conv, ConvSpec};
use super::{concat, Ctx, Feature};
use crate::builder::{attr_int, attr_ints, Kind, Site};
use crate::error::Result;

pub fn sppf(ctx: &mut Ctx, site: &Site, x: &Feature, c2: usize, k: usize) -> Result<Feature> {
    let c_ = x.c / 2;
    // Legacy YAML rows (≤ 3 args, as in YOLO11) re-enable SiLU on cv1 (`parse_model`).
    let y0 = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(c_, 1, 1),
    )?;
    let pool = site.sub("m", Kind::Module);
    let p = (k / 2) as i64;
    let mut ys = vec![y0];
    for call in 0..3 {
        let prev = ys[ys.len() - 1].clone();
        let attrs = vec![
            attr_int("ceil_mode", 0),
            attr_ints("dilations", &[1, 1]),
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("pads", &[p, p, p, p]),
            attr_ints("strides", &[1, 1]),
        ];
        // The one MaxPool module is called three times: scopes m, m_1, m_2.
        let name = ctx
            .g
            .node(&pool.reused(call).scope, "MaxPool", &[&prev.name], attrs);
        ys.push(Feature { name, ..prev });
    }
    let refs: Vec<&Feature> = ys.iter().collect();
    let cat = concat(ctx, &site.scope, &refs);
    conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        &cat,
        ConvSpec::new(c2, 1, 1),
    )
}
