//! `C2PSA`, `PSABlock` and the position-sensitive `Attention`.

use super::conv::{conv, ConvSpec};
use super::{concat, Ctx, Feature};
use crate::builder::{attr_int, attr_ints, Kind, Site};
use crate::error::Result;

/// `C2PSA(c1, c2=c1, n, e)`: `cv2(cat(a, PSABlock^n(b)))` with `a, b = split(cv1(x))`.
pub fn c2psa(ctx: &mut Ctx, site: &Site, x: &Feature, n: usize, e: f64) -> Result<Feature> {
    let c1 = x.c;
    let c = (c1 as f64 * e) as usize;
    let y = conv(
        ctx,
        &site.sub("cv1", Kind::Module),
        x,
        ConvSpec::new(2 * c, 1, 1),
    )?;
    let halves = ctx
        .g
        .split(&site.scope, &y.name, &[c as i64, c as i64], 1)?;
    let a = Feature {
        name: halves[0].clone(),
        c,
        stride: y.stride,
    };
    let mut b = Feature {
        name: halves[1].clone(),
        c,
        stride: y.stride,
    };
    let m = site.sub("m", Kind::Sequential);
    for i in 0..n {
        b = psa_block(
            ctx,
            &m.sub(&i.to_string(), Kind::Module),
            &b,
            (c / 64).max(1),
        )?;
    }
    let cat = concat(ctx, &site.scope, &[&a, &b]);
    conv(
        ctx,
        &site.sub("cv2", Kind::Module),
        &cat,
        ConvSpec::new(c1, 1, 1),
    )
}

/// `PSABlock(c, attn_ratio=0.5, num_heads)`: `x + attn(x)`, then `+ ffn(..)`.
fn psa_block(ctx: &mut Ctx, site: &Site, x: &Feature, heads: usize) -> Result<Feature> {
    let a = attention(ctx, &site.sub("attn", Kind::Module), x, heads)?;
    let x1 = ctx.g.node(&site.scope, "Add", &[&x.name, &a.name], vec![]);
    let x1 = Feature {
        name: x1,
        ..x.clone()
    };
    let ffn = site.sub("ffn", Kind::Sequential);
    let f = conv(
        ctx,
        &ffn.sub("0", Kind::Module),
        &x1,
        ConvSpec::new(2 * x.c, 1, 1),
    )?;
    let f = conv(
        ctx,
        &ffn.sub("1", Kind::Module),
        &f,
        ConvSpec::new(x.c, 1, 1).no_act(),
    )?;
    let x2 = ctx.g.node(&site.scope, "Add", &[&x1.name, &f.name], vec![]);
    Ok(Feature {
        name: x2,
        ..x.clone()
    })
}

/// `Attention(dim, num_heads, attn_ratio=0.5)` in the op order torch traces:
/// Reshape, Split(q,k,v), Mul(q, scale), Transpose, MatMul, Softmax(-1), Transpose, MatMul,
/// Reshape (back to B,C,H,W), + pe(v as B,C,H,W), proj.
fn attention(ctx: &mut Ctx, site: &Site, x: &Feature, heads: usize) -> Result<Feature> {
    let dim = x.c;
    let head_dim = dim / heads;
    let key_dim = head_dim / 2;
    let scale = (key_dim as f64).powf(-0.5) as f32;
    let qkv_c = dim + 2 * heads * key_dim;
    let qkv = conv(
        ctx,
        &site.sub("qkv", Kind::Module),
        x,
        ConvSpec::new(qkv_c, 1, 1).no_act(),
    )?;
    let s = &site.scope;
    let per_head = (2 * key_dim + head_dim) as i64;
    let (h, w) = ctx.spatial(x.stride);
    let bd = ctx.batch_dim();
    // Dynamic: (B, C, H, W) is the input's own shape; N is inferred (-1).
    let (heads_shape, bchw) = if ctx.dynamic {
        let shape = ctx.g.node(s, "Shape", &[&x.name], vec![]);
        (vec![bd, heads as i64, per_head, -1], Some(shape))
    } else {
        (vec![bd, heads as i64, per_head, (h * w) as i64], None)
    };
    let r = ctx.g.reshape_const(s, &qkv.name, &heads_shape)?;
    let kd = key_dim as i64;
    let qkv_parts = ctx.g.split(s, &r, &[kd, kd, head_dim as i64], 2)?;
    let (q, k, v) = (&qkv_parts[0], &qkv_parts[1], &qkv_parts[2]);
    let sc = ctx.g.const_f32_scalar(s, scale)?;
    let q = ctx.g.node(s, "Mul", &[q, &sc], vec![]);
    let perm = || vec![attr_ints("perm", &[0, 1, 3, 2])];
    let qt = ctx.g.node(s, "Transpose", &[&q], perm());
    let logits = ctx.g.node(s, "MatMul", &[&qt, k], vec![]);
    // Before opset 13 Softmax flattens from `axis` on: the last axis (3) gives the same result.
    let axis = if ctx.g.opset() >= 13 { -1 } else { 3 };
    let attn = ctx
        .g
        .node(s, "Softmax", &[&logits], vec![attr_int("axis", axis)]);
    let attn_t = ctx.g.node(s, "Transpose", &[&attn], perm());
    let o = ctx.g.node(s, "MatMul", &[v, &attn_t], vec![]);
    let (o, v_img) = match &bchw {
        Some(shape) => (ctx.g.reshape(s, &o, shape), ctx.g.reshape(s, v, shape)),
        None => {
            let target = [bd, dim as i64, h as i64, w as i64];
            let o = ctx.g.reshape_const(s, &o, &target)?;
            (o, ctx.g.reshape_const(s, v, &target)?)
        }
    };
    let v_img = Feature {
        name: v_img,
        ..x.clone()
    };
    let pe = conv(
        ctx,
        &site.sub("pe", Kind::Module),
        &v_img,
        ConvSpec::new(dim, 3, 1).groups(dim).no_act(),
    )?;
    let sum = ctx.g.node(s, "Add", &[&o, &pe.name], vec![]);
    let sum = Feature {
        name: sum,
        ..x.clone()
    };
    conv(
        ctx,
        &site.sub("proj", Kind::Module),
        &sum,
        ConvSpec::new(dim, 1, 1).no_act(),
    )
}
