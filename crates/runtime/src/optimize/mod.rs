//! IR passes run by [`crate::Session::new`] before planning when `SessionOptions::optimize`
//! is on. They rewrite a copy of the model; the caller's model is never changed, and with
//! `optimize = false` the original graph runs on the reference kernels.

mod fp16;
mod fuse;

use onnxide_ir::Model;

/// What the passes did (node counts), for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptimizeReport {
    /// `Conv → Sigmoid → Mul` chains fused into `ai.onnxide::FusedConv`.
    pub conv_silu: usize,
    /// Residual `Add`s folded into a fused conv's epilogue.
    pub residual_add: usize,
    /// Nodes of an f16 graph that compute in f32, as onnxruntime runs them.
    pub f16_in_f32: usize,
}

/// Runs the passes on a copy of `model`; `None` when nothing changed.
pub(crate) fn run(model: &Model) -> Option<(Model, OptimizeReport)> {
    let mut m = model.clone();
    let f16_in_f32 = fp16::compute_f16_in_f32(&mut m);
    let report = OptimizeReport {
        f16_in_f32,
        ..fuse::fuse_conv_silu(&mut m)
    };
    (report != OptimizeReport::default()).then_some((m, report))
}
