//! The `Detect` head: per-level box (cv2) and class (cv3) branches, DFL, anchors and decode.
//!
//! Output `[B, 4 + nc, A]`: boxes as xywh (or xyxy) in input pixels, then sigmoid class scores.
//! Anchors and strides are constants for a static export (computed here exactly as
//! `make_anchors` does, in float32) and are computed in the graph from the feature map shapes
//! for `dynamic`, as Ultralytics does.
//!
//! The pieces Segment, Pose and OBB share with Detect are public here: the cv2/cv3 branches
//! ([`detect_branches`]), an extra per-level branch such as their `cv4` ([`extra_branch`]), the DFL
//! with the anchors ([`dfl_and_anchors`]) and the xywh decode ([`dist2bbox`]); Segment's output
//! is Detect's with its `cv4` appended ([`detect_with_extra`]).

use super::conv::{conv, conv2d, dwconv, ConvSpec};
use super::{Ctx, Feature};
use crate::builder::{attr_int, attr_ints, graph_err, Kind, Site};
use crate::error::Result;
use crate::params::Init;
use onnxide_ir::{DType, Tensor};

pub struct DetectSpec {
    pub nc: usize,
    pub reg_max: usize,
    /// Output boxes as x1y1x2y2 instead of xywh (set by `nms=True` in Ultralytics).
    pub xyxy: bool,
    /// `Detect.legacy` (YOLOv8): cv3 is `Conv 3×3, Conv 3×3, Conv2d 1×1` instead of
    /// `(DWConv 3×3, Conv 1×1) ×2, Conv2d 1×1`.
    pub legacy: bool,
}

/// Raw per-anchor predictions before decoding, for heads built on Detect.
pub struct DetectRaw {
    /// `[B, 4*reg_max, A]`
    pub boxes: String,
    /// `[B, nc, A]` (logits)
    pub scores: String,
}

/// The DFL distances with the anchors and strides they are decoded against.
pub struct Decoding {
    /// `[B, 4, A]`: (left, top, right, bottom) distances in stride units.
    pub dist: String,
    /// `[1, 2, A]` constants (static) or `[2, A]` computed in the graph (dynamic).
    pub anchors: String,
    /// `[1, A]`
    pub strides: String,
}

/// Builds Detect and returns the name of its output (`output`).
pub fn detect(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &DetectSpec,
    output: &str,
) -> Result<String> {
    detect_with_extra(ctx, site, xs, spec, None, output)
}

/// A per-level branch whose raw values Detect's output carries after the scores (Segment's mask
/// coefficients): built by [`extra_branch`].
pub struct Extra<'a> {
    /// The ModuleList's attribute name (`cv4`).
    pub name: &'a str,
    pub hidden: usize,
    pub out: usize,
}

/// Detect, with `extra`'s raw output appended after the scores when given: output
/// `[B, 4 + nc (+ extra.out), A]`.
pub fn detect_with_extra(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &DetectSpec,
    extra: Option<Extra>,
    output: &str,
) -> Result<String> {
    let raw = detect_branches(ctx, site, xs, spec)?;
    let extra = match extra {
        Some(e) => Some(extra_branch(ctx, site, e.name, xs, e.hidden, e.out)?),
        None => None,
    };
    let s = site.scope.clone();
    let dec = dfl_and_anchors(ctx, site, xs, &raw, spec)?;
    let scores = ctx.g.node(&s, "Sigmoid", &[&raw.scores], vec![]);
    let box4 = dist2bbox(ctx, &s, &dec, spec.xyxy)?;
    let mut parts = vec![box4.as_str(), scores.as_str()];
    parts.extend(extra.as_deref());
    Ok(ctx
        .g
        .node_to(&s, "Concat", &parts, vec![attr_int("axis", 1)], output))
}

/// The DFL over the box branch, and the anchors and strides (constants, or computed in the
/// graph when dynamic).
pub fn dfl_and_anchors(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    raw: &DetectRaw,
    spec: &DetectSpec,
) -> Result<Decoding> {
    let dist = dfl(
        ctx,
        &site.sub("dfl", Kind::Module),
        &raw.boxes,
        spec.reg_max,
        xs,
    )?;
    let (anchors, strides) = if ctx.dynamic {
        dynamic_anchors(ctx, &site.scope, xs)?
    } else {
        static_anchors(ctx, &site.scope, xs)?
    };
    Ok(Decoding {
        dist,
        anchors,
        strides,
    })
}

/// A per-level branch like Segment's, Pose's and OBB's `cv4`: Conv3×3(ch_i→hidden), Conv3×3(hidden→hidden),
/// Conv2d 1×1(hidden→out, bias), each level viewed as `[B, out, H·W]` and concatenated along the
/// anchors (torch exports that `cat` with `axis=2`).
pub fn extra_branch(
    ctx: &mut Ctx,
    site: &Site,
    name: &str,
    xs: &[Feature],
    hidden: usize,
    out: usize,
) -> Result<String> {
    let bd = ctx.batch_dim();
    let s = site.scope.clone();
    let list = site.sub(name, Kind::ModuleList);
    let mut parts = Vec::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        let seq = list.sub(&i.to_string(), Kind::Sequential);
        let y = conv(
            ctx,
            &seq.sub("0", Kind::Module),
            x,
            ConvSpec::new(hidden, 3, 1),
        )?;
        let y = conv(
            ctx,
            &seq.sub("1", Kind::Module),
            &y,
            ConvSpec::new(hidden, 3, 1),
        )?;
        // torch's default bias init is random; a zero bias stands in for it in random weights.
        let y = conv2d(
            ctx,
            &seq.sub("2", Kind::Module),
            &y,
            out,
            1,
            Some(Init::Constant(0.0)),
        )?;
        parts.push(ctx.g.reshape_const(&s, &y.name, &[bd, out as i64, -1])?);
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(ctx.g.node(&s, "Concat", &refs, vec![attr_int("axis", 2)]))
}

/// cv2 (box distributions) and cv3 (class logits) for every level, flattened and concatenated
/// along the anchor axis (level 8 first).
pub fn detect_branches(
    ctx: &mut Ctx,
    site: &Site,
    xs: &[Feature],
    spec: &DetectSpec,
) -> Result<DetectRaw> {
    let ch0 = xs.first().map(|f| f.c).unwrap_or(0);
    let no_box = 4 * spec.reg_max;
    let c2 = 16.max(ch0 / 4).max(no_box);
    let c3 = ch0.max(spec.nc.min(100));
    let bd = ctx.batch_dim();
    let s = site.scope.clone();
    let mut boxes = Vec::new();
    let cv2 = site.sub("cv2", Kind::ModuleList);
    for (i, x) in xs.iter().enumerate() {
        let seq = cv2.sub(&i.to_string(), Kind::Sequential);
        let y = conv(ctx, &seq.sub("0", Kind::Module), x, ConvSpec::new(c2, 3, 1))?;
        let y = conv(
            ctx,
            &seq.sub("1", Kind::Module),
            &y,
            ConvSpec::new(c2, 3, 1),
        )?;
        let y = conv2d(
            ctx,
            &seq.sub("2", Kind::Module),
            &y,
            no_box,
            1,
            Some(Init::Constant(2.0)),
        )?;
        boxes.push(ctx.g.reshape_const(&s, &y.name, &[bd, no_box as i64, -1])?);
    }
    let mut scores = Vec::new();
    let cv3 = site.sub("cv3", Kind::ModuleList);
    for (i, x) in xs.iter().enumerate() {
        let seq = cv3.sub(&i.to_string(), Kind::Sequential);
        let y = if spec.legacy {
            let y = conv(ctx, &seq.sub("0", Kind::Module), x, ConvSpec::new(c3, 3, 1))?;
            conv(
                ctx,
                &seq.sub("1", Kind::Module),
                &y,
                ConvSpec::new(c3, 3, 1),
            )?
        } else {
            let a = seq.sub("0", Kind::Sequential);
            let y = dwconv(ctx, &a.sub("0", Kind::Module), x, x.c, 3)?;
            let y = conv(ctx, &a.sub("1", Kind::Module), &y, ConvSpec::new(c3, 1, 1))?;
            let b = seq.sub("1", Kind::Sequential);
            let y = dwconv(ctx, &b.sub("0", Kind::Module), &y, c3, 3)?;
            conv(ctx, &b.sub("1", Kind::Module), &y, ConvSpec::new(c3, 1, 1))?
        };
        // Ultralytics' bias_init: log(5 / nc / (640 / stride)^2).
        let prior = (5.0 / spec.nc as f64 / (640.0 / x.stride as f64).powi(2)).ln() as f32;
        let y = conv2d(
            ctx,
            &seq.sub("2", Kind::Module),
            &y,
            spec.nc,
            1,
            Some(Init::Constant(prior)),
        )?;
        scores.push(
            ctx.g
                .reshape_const(&s, &y.name, &[bd, spec.nc as i64, -1])?,
        );
    }
    let cat = |ctx: &mut Ctx, parts: &[String]| {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        ctx.g.node(&s, "Concat", &refs, vec![attr_int("axis", -1)])
    };
    let boxes = cat(ctx, &boxes);
    let scores = cat(ctx, &scores);
    Ok(DetectRaw { boxes, scores })
}

/// Number of anchors for the static input size.
fn anchor_count(ctx: &Ctx, xs: &[Feature]) -> usize {
    xs.iter()
        .map(|x| {
            let (h, w) = ctx.spatial(x.stride);
            h * w
        })
        .sum()
}

/// DFL: softmax over the `reg_max` bins of each side, then the expectation (a fixed 1×1 conv
/// with weights 0..reg_max-1). Output `[B, 4, A]`.
fn dfl(ctx: &mut Ctx, site: &Site, boxes: &str, reg_max: usize, xs: &[Feature]) -> Result<String> {
    let s = site.scope.clone();
    let bd = ctx.batch_dim();
    let a = if ctx.dynamic {
        -1
    } else {
        anchor_count(ctx, xs) as i64
    };
    let r = ctx
        .g
        .reshape_const(&s, boxes, &[bd, 4, reg_max as i64, a])?;
    let probs = if ctx.g.opset() >= 13 {
        let t = ctx.g.node(
            &s,
            "Transpose",
            &[&r],
            vec![attr_ints("perm", &[0, 2, 1, 3])],
        );
        ctx.g.node(&s, "Softmax", &[&t], vec![attr_int("axis", 1)])
    } else {
        // Softmax before opset 13 flattens everything from `axis` on, so the bins are moved to
        // the last axis first (as torch exports it for these opsets).
        let t = ctx.g.node(
            &s,
            "Transpose",
            &[&r],
            vec![attr_ints("perm", &[0, 3, 1, 2])],
        );
        let sm = ctx.g.node(&s, "Softmax", &[&t], vec![attr_int("axis", 3)]);
        ctx.g.node(
            &s,
            "Transpose",
            &[&sm],
            vec![attr_ints("perm", &[0, 3, 2, 1])],
        )
    };
    let bins = Feature {
        name: probs,
        c: reg_max,
        stride: 1,
    };
    let d = conv2d_fixed(ctx, &site.sub("conv", Kind::Module), &bins)?;
    ctx.g.reshape_const(&s, &d.name, &[bd, 4, a])
}

/// The DFL's 1×1 conv: weight `[1, reg_max, 1, 1]` = 0, 1, .., reg_max-1, no bias.
fn conv2d_fixed(ctx: &mut Ctx, site: &Site, bins: &Feature) -> Result<Feature> {
    let shape = vec![1, bins.c, 1, 1];
    let w_name = format!("{}.weight", site.key);
    let w = ctx.params.tensor(&w_name, &shape, Init::Arange)?;
    let w = ctx
        .g
        .initializer(&w_name, Tensor::from_vec(shape, w).map_err(graph_err)?)?;
    let attrs = vec![
        attr_ints("dilations", &[1, 1]),
        attr_int("group", 1),
        attr_ints("kernel_shape", &[1, 1]),
        attr_ints("pads", &[0, 0, 0, 0]),
        attr_ints("strides", &[1, 1]),
    ];
    let y = ctx.g.node(&site.scope, "Conv", &[&bins.name, &w], attrs);
    Ok(Feature {
        name: y,
        c: 1,
        stride: 1,
    })
}

/// `dist2bbox` times the strides: lt, rb = d[:, :2], d[:, 2:]; x1y1 = anchors - lt;
/// x2y2 = anchors + rb; xywh = cat((x1y1 + x2y2) / 2, x2y2 - x1y1) (or cat(x1y1, x2y2)); then
/// `* strides`. Output `[B, 4, A]` in input pixels.
pub fn dist2bbox(ctx: &mut Ctx, s: &str, dec: &Decoding, xyxy: bool) -> Result<String> {
    if !ctx.dynamic {
        // Ops torch traced here and onnxslim folded into the constants (the anchor `+ 0.5`,
        // the chunk bounds, a `/ 2` of the bound): skipped so the decode ops keep torch's names.
        for op in ["Add", "Mul", "Mul", "Div"] {
            ctx.g.skip_name(s, op);
        }
    }
    let xywh = dist2bbox_unscaled(ctx, s, &dec.dist, &dec.anchors, xyxy)?;
    Ok(ctx.g.node(s, "Mul", &[&xywh, &dec.strides], vec![]))
}

fn dist2bbox_unscaled(
    ctx: &mut Ctx,
    s: &str,
    d: &str,
    anchors: &str,
    xyxy: bool,
) -> Result<String> {
    let axes = ctx.g.const_i64s(s, &[1])?;
    let (c0, c2, c4) = (
        ctx.g.const_i64s(s, &[0])?,
        ctx.g.const_i64s(s, &[2])?,
        ctx.g.const_i64s(s, &[4])?,
    );
    let lt = ctx.g.node(s, "Slice", &[d, &c0, &c2, &axes], vec![]);
    let rb = ctx.g.node(s, "Slice", &[d, &c2, &c4, &axes], vec![]);
    let x1y1 = ctx.g.node(s, "Sub", &[anchors, &lt], vec![]);
    let x2y2 = ctx.g.node(s, "Add", &[anchors, &rb], vec![]);
    if xyxy {
        return Ok(ctx
            .g
            .node(s, "Concat", &[&x1y1, &x2y2], vec![attr_int("axis", 1)]));
    }
    let sum = ctx.g.node(s, "Add", &[&x1y1, &x2y2], vec![]);
    let wh = ctx.g.node(s, "Sub", &[&x2y2, &x1y1], vec![]);
    let two = ctx.g.const_f32_scalar(s, 2.0)?;
    let cxy = ctx.g.node(s, "Div", &[&sum, &two], vec![]);
    Ok(ctx
        .g
        .node(s, "Concat", &[&cxy, &wh], vec![attr_int("axis", 1)]))
}

/// `make_anchors(feats, strides, 0.5)` for the static input size, in float32: the anchor points
/// `[2, A]` (all x, then all y) and the strides `[A]`.
pub fn anchor_values(ctx: &Ctx, xs: &[Feature]) -> (Vec<f32>, Vec<f32>) {
    let total = anchor_count(ctx, xs);
    let mut ax = Vec::with_capacity(total);
    let mut ay = Vec::with_capacity(total);
    let mut st = Vec::with_capacity(total);
    for x in xs {
        let (h, w) = ctx.spatial(x.stride);
        for yi in 0..h {
            for xi in 0..w {
                ax.push(xi as f32 + 0.5);
                ay.push(yi as f32 + 0.5);
                st.push(x.stride as f32);
            }
        }
    }
    ax.extend(ay);
    (ax, st)
}

/// The anchors and strides as constants: `[1, 2, A]` and `[1, A]`.
fn static_anchors(ctx: &mut Ctx, s: &str, xs: &[Feature]) -> Result<(String, String)> {
    let (anchors, strides) = anchor_values(ctx, xs);
    let total = strides.len();
    let anchors = ctx.g.const_f32(s, vec![1, 2, total], anchors)?;
    let strides = ctx.g.const_f32(s, vec![1, total], strides)?;
    Ok((anchors, strides))
}

/// Anchors `[2, A]` and strides `[1, A]` computed from the feature maps' run-time shapes:
/// per level, `sx = Range(0.5, W, 1)`, `sy = Range(0.5, H, 1)` broadcast to an (H, W) grid
/// (adding a zero row/column, which is exact), flattened row-major and stacked.
fn dynamic_anchors(ctx: &mut Ctx, s: &str, xs: &[Feature]) -> Result<(String, String)> {
    let half = ctx.g.const_f32_scalar(s, 0.5)?;
    let one = ctx.g.const_f32_scalar(s, 1.0)?;
    let zero = ctx.g.const_f32_scalar(s, 0.0)?;
    let (i2, i3) = (ctx.g.const_i64_scalar(s, 2)?, ctx.g.const_i64_scalar(s, 3)?);
    let row = ctx.g.const_i64s(s, &[1, -1])?;
    let col = ctx.g.const_i64s(s, &[-1, 1])?;
    let to_float = vec![attr_int("to", DType::F32.onnx_code() as i64)];
    let mut anchors = Vec::new();
    let mut strides = Vec::new();
    for x in xs {
        let shape = ctx.g.node(s, "Shape", &[&x.name], vec![]);
        let h = ctx
            .g
            .node(s, "Gather", &[&shape, &i2], vec![attr_int("axis", 0)]);
        let w = ctx
            .g
            .node(s, "Gather", &[&shape, &i3], vec![attr_int("axis", 0)]);
        let wf = ctx.g.node(s, "Cast", &[&w], to_float.clone());
        let hf = ctx.g.node(s, "Cast", &[&h], to_float.clone());
        // Range(0.5, n, 1) = [0.5, 1.5, .., n - 0.5]: n elements, each exact in float32.
        let sx = ctx.g.node(s, "Range", &[&half, &wf, &one], vec![]);
        let sy = ctx.g.node(s, "Range", &[&half, &hf, &one], vec![]);
        let sx = ctx.g.reshape(s, &sx, &row);
        let sy = ctx.g.reshape(s, &sy, &col);
        let zx = ctx.g.node(s, "Mul", &[&sx, &zero], vec![]);
        let zy = ctx.g.node(s, "Mul", &[&sy, &zero], vec![]);
        let gx = ctx.g.node(s, "Add", &[&sx, &zy], vec![]);
        let gy = ctx.g.node(s, "Add", &[&sy, &zx], vec![]);
        let gx = ctx.g.reshape(s, &gx, &row);
        let gy = ctx.g.reshape(s, &gy, &row);
        anchors.push(
            ctx.g
                .node(s, "Concat", &[&gx, &gy], vec![attr_int("axis", 0)]),
        );
        let stride = ctx.g.const_f32_scalar(s, x.stride as f32)?;
        let z = ctx.g.node(s, "Mul", &[&gx, &zero], vec![]);
        strides.push(ctx.g.node(s, "Add", &[&z, &stride], vec![]));
    }
    let cat = |ctx: &mut Ctx, parts: &[String]| {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        ctx.g.node(s, "Concat", &refs, vec![attr_int("axis", 1)])
    };
    let a = cat(ctx, &anchors);
    let st = cat(ctx, &strides);
    Ok((a, st))
}
