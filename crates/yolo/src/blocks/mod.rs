//! One module per block family. Each block takes its [`Site`](crate::builder::Site) (scope and
//! weight key), its input [`Feature`]s, and appends nodes through the shared [`Ctx`].

pub mod c2f;
pub mod c2psa;
pub mod c3k2;
pub mod classify;
pub mod conv;
pub mod detect;
pub mod obb;
pub mod pose;
pub mod segment;
pub mod sppf;

use crate::builder::{attr_int, GraphBuilder};
use crate::error::Result;
use crate::params::ParamSource;

/// A tensor flowing between blocks: its value name, channel count and stride (resolution).
#[derive(Clone, Debug)]
pub struct Feature {
    pub name: String,
    pub c: usize,
    pub stride: u32,
}

/// Shared state of one graph build.
pub struct Ctx<'a> {
    pub g: GraphBuilder,
    pub params: &'a mut dyn ParamSource,
    /// Static batch size (ignored when `dynamic`).
    pub batch: usize,
    /// Static input (height, width): sizes the reshape targets and anchor constants (unused when
    /// `dynamic`, where shapes come from the graph).
    pub imgsz: (usize, usize),
    /// Batch, height and width are symbolic: shapes are taken from the graph at run time.
    pub dynamic: bool,
    /// BatchNorm epsilon used when fusing Conv+BN (depends on the model class: see
    /// [`params::bn_eps`](crate::params::bn_eps)).
    pub bn_eps: f32,
}

impl Ctx<'_> {
    /// (H, W) of a feature map at `stride` for the static input size. Every downsampling is a
    /// Conv with an odd kernel and padding `k // 2`, whose output side is `ceil(side / s)`, and
    /// `ceil(ceil(x / a) / b) = ceil(x / ab)`: sides that are not multiples of the stride (which
    /// classification models accept) give Ultralytics' shapes too.
    pub fn spatial(&self, stride: u32) -> (usize, usize) {
        let s = stride.max(1) as usize;
        (self.imgsz.0.div_ceil(s), self.imgsz.1.div_ceil(s))
    }

    /// The batch dim for constant reshape targets: the static batch, or `0` ("copy the input
    /// dim", ONNX Reshape with allowzero=0) when dynamic.
    pub fn batch_dim(&self) -> i64 {
        if self.dynamic {
            0
        } else {
            self.batch as i64
        }
    }
}

/// `Concat` along channels (layer scope, e.g. `/model.12/Concat`).
pub fn concat(ctx: &mut Ctx, scope: &str, xs: &[&Feature]) -> Feature {
    let names: Vec<&str> = xs.iter().map(|f| f.name.as_str()).collect();
    let y = ctx
        .g
        .node(scope, "Concat", &names, vec![attr_int("axis", 1)]);
    Feature {
        name: y,
        c: xs.iter().map(|f| f.c).sum(),
        stride: xs.first().map(|f| f.stride).unwrap_or(1),
    }
}

/// `nn.Upsample(scale_factor, 'nearest')` as `Resize`.
pub fn upsample(ctx: &mut Ctx, scope: &str, x: &Feature, factor: u32) -> Result<Feature> {
    let y = ctx.g.resize_nearest(scope, &x.name, factor as f32)?;
    Ok(Feature {
        name: y,
        c: x.c,
        stride: x.stride / factor.max(1),
    })
}
