//! `Conv` (Conv2d + fused BatchNorm + optional SiLU), `DWConv`, and a plain biased `Conv2d`.

use super::{Ctx, Feature};
use crate::builder::{attr_int, attr_ints, graph_err, Kind, Site};
use crate::error::Result;
use crate::params::{fused_conv_bn, Init};
use onnxide_ir::Tensor;

/// Ultralytics `Conv(c1, c2, k, s, g, act)`: padding `k // 2`, BatchNorm fused into the conv.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub c2: usize,
    pub k: usize,
    pub s: usize,
    pub g: usize,
    /// SiLU, exported as `Sigmoid` + `Mul(x, sigmoid(x))`.
    pub act: bool,
}

impl ConvSpec {
    pub fn new(c2: usize, k: usize, s: usize) -> ConvSpec {
        ConvSpec {
            c2,
            k,
            s,
            g: 1,
            act: true,
        }
    }

    pub fn no_act(mut self) -> ConvSpec {
        self.act = false;
        self
    }

    pub fn groups(mut self, g: usize) -> ConvSpec {
        self.g = g;
        self
    }
}

fn conv_attrs(k: usize, s: usize, g: usize) -> Vec<onnxide_ir::Attribute> {
    let (k, s, p) = (k as i64, s as i64, (k / 2) as i64);
    vec![
        attr_ints("dilations", &[1, 1]),
        attr_int("group", g as i64),
        attr_ints("kernel_shape", &[k, k]),
        attr_ints("pads", &[p, p, p, p]),
        attr_ints("strides", &[s, s]),
    ]
}

/// `Conv` at `site` (weights `site.key.conv.weight` + `site.key.bn.*`).
pub fn conv(ctx: &mut Ctx, site: &Site, x: &Feature, spec: ConvSpec) -> Result<Feature> {
    let g = spec.g.max(1);
    let shape = [spec.c2, x.c / g, spec.k, spec.k];
    let (w, b) = fused_conv_bn(ctx.params, &site.key, shape, ctx.bn_eps)?;
    let w = Tensor::from_vec(shape.to_vec(), w).map_err(graph_err)?;
    let b = Tensor::from_vec(vec![spec.c2], b).map_err(graph_err)?;
    let w = ctx.g.initializer(&format!("{}.conv.weight", site.key), w)?;
    let b = ctx.g.initializer(&format!("{}.conv.bias", site.key), b)?;
    let conv_scope = site.sub("conv", Kind::Module).scope;
    let y = ctx.g.node(
        &conv_scope,
        "Conv",
        &[&x.name, &w, &b],
        conv_attrs(spec.k, spec.s, g),
    );
    let y = if spec.act {
        silu(ctx, &site.sub("act", Kind::Module).scope, &y)
    } else {
        y
    };
    Ok(Feature {
        name: y,
        c: spec.c2,
        stride: x.stride * spec.s as u32,
    })
}

/// `DWConv(c1, c2, k)`: a Conv with `groups = gcd(c1, c2)`.
pub fn dwconv(ctx: &mut Ctx, site: &Site, x: &Feature, c2: usize, k: usize) -> Result<Feature> {
    let g = gcd(x.c, c2);
    conv(ctx, site, x, ConvSpec::new(c2, k, 1).groups(g))
}

/// SiLU as torch exports it: `x * sigmoid(x)`.
pub fn silu(ctx: &mut Ctx, scope: &str, x: &str) -> String {
    let s = ctx.g.node(scope, "Sigmoid", &[x], vec![]);
    ctx.g.node(scope, "Mul", &[x, &s], vec![])
}

/// A plain `nn.Conv2d(c1, c2, k)` (no BatchNorm, no act), with or without bias.
pub fn conv2d(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    k: usize,
    bias: Option<Init>,
) -> Result<Feature> {
    let shape = vec![c2, x.c, k, k];
    let fan_in = x.c * k * k;
    let w_name = format!("{}.weight", site.key);
    let w = ctx
        .params
        .tensor(&w_name, &shape, Init::ConvWeight { fan_in })?;
    let w = ctx
        .g
        .initializer(&w_name, Tensor::from_vec(shape, w).map_err(graph_err)?)?;
    let mut inputs = vec![x.name.clone(), w];
    if let Some(init) = bias {
        let b_name = format!("{}.bias", site.key);
        let b = ctx.params.tensor(&b_name, &[c2], init)?;
        let b = ctx
            .g
            .initializer(&b_name, Tensor::from_vec(vec![c2], b).map_err(graph_err)?)?;
        inputs.push(b);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = ctx.g.node(&site.scope, "Conv", &refs, conv_attrs(k, 1, 1));
    Ok(Feature {
        name: y,
        c: c2,
        stride: x.stride,
    })
}

/// `nn.ConvTranspose2d(c1, c2, k, stride=k, padding=0, bias=True)` (Segment's proto upsample):
/// weight `[c1, c2, k, k]` at `site.key.weight`, bias `site.key.bias`.
pub fn conv_transpose2d(
    ctx: &mut Ctx,
    site: &Site,
    x: &Feature,
    c2: usize,
    k: usize,
) -> Result<Feature> {
    let shape = vec![x.c, c2, k, k];
    let w_name = format!("{}.weight", site.key);
    let b_name = format!("{}.bias", site.key);
    let fan_in = c2 * k * k;
    let w = ctx
        .params
        .tensor(&w_name, &shape, Init::ConvWeight { fan_in })?;
    let w = ctx
        .g
        .initializer(&w_name, Tensor::from_vec(shape, w).map_err(graph_err)?)?;
    let b = ctx.params.tensor(&b_name, &[c2], Init::Constant(0.0))?;
    let b = ctx
        .g
        .initializer(&b_name, Tensor::from_vec(vec![c2], b).map_err(graph_err)?)?;
    let k = k as i64;
    let attrs = vec![
        attr_ints("dilations", &[1, 1]),
        attr_int("group", 1),
        attr_ints("kernel_shape", &[k, k]),
        attr_ints("pads", &[0, 0, 0, 0]),
        attr_ints("strides", &[k, k]),
    ];
    let y = ctx
        .g
        .node(&site.scope, "ConvTranspose", &[&x.name, &w, &b], attrs);
    Ok(Feature {
        name: y,
        c: c2,
        stride: x.stride / (k as u32).max(1),
    })
}

pub fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
