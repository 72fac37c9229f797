//! The `Classify` head: `softmax(linear(flatten(pool(conv(x)))))` as Ultralytics exports it.
//!
//! `Classify(c1, c2)`: `conv` = Conv 1×1 c1→1280 (+BN, SiLU), `pool` = AdaptiveAvgPool2d(1)
//! (`GlobalAveragePool`), `flatten(1)`, `drop` = Dropout(p=0) (absent in eval), `linear` =
//! Linear(1280, nc) (`Gemm` with `transB=1`), then `softmax(1)` at export.

use super::conv::{conv, ConvSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_float, attr_int, graph_err, Kind, Site};
use crate::error::Result;
use crate::params::Init;
use onnxide_ir::Tensor;

/// Hidden width of the head (`c_ = 1280`, the efficientnet_b0 size), fixed at every scale.
pub const CLASSIFY_HIDDEN: usize = 1280;

/// Builds Classify and returns the name of its output (`output`, `[B, nc]` probabilities).
pub fn classify(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    nc: usize,
    output: &str,
) -> Result<String> {
    let s = site.scope.clone();
    let y = conv(
        ctx,
        &site.sub("conv", Kind::Module),
        x,
        ConvSpec::new(CLASSIFY_HIDDEN, 1, 1),
    )?;
    let pool_scope = site.sub("pool", Kind::Module).scope;
    let p = ctx
        .g
        .node(&pool_scope, "GlobalAveragePool", &[&y.name], vec![]);
    let f = ctx.g.node(&s, "Flatten", &[&p], vec![attr_int("axis", 1)]);

    let linear = site.sub("linear", Kind::Module);
    let w_name = format!("{}.weight", linear.key);
    let b_name = format!("{}.bias", linear.key);
    let w_shape = vec![nc, CLASSIFY_HIDDEN];
    let w = ctx.params.tensor(
        &w_name,
        &w_shape,
        Init::ConvWeight {
            fan_in: CLASSIFY_HIDDEN,
        },
    )?;
    let b = ctx.params.tensor(&b_name, &[nc], Init::BnBias)?;
    let w = ctx
        .g
        .initializer(&w_name, Tensor::from_vec(w_shape, w).map_err(graph_err)?)?;
    let b = ctx
        .g
        .initializer(&b_name, Tensor::from_vec(vec![nc], b).map_err(graph_err)?)?;
    let logits = ctx.g.node(
        &linear.scope,
        "Gemm",
        &[&f, &w, &b],
        vec![
            attr_float("alpha", 1.0),
            attr_float("beta", 1.0),
            attr_int("transB", 1),
        ],
    );
    // Softmax over the classes: `[B, nc]` is 2-D, so the pre-13 "flatten from axis" form is
    // the same operation.
    Ok(ctx
        .g
        .node_to(&s, "Softmax", &[&logits], vec![attr_int("axis", 1)], output))
}
