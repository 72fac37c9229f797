//! IR passes run by [`crate::Session::new`] before planning when `SessionOptions::optimize`
//! is on, on `onnxide_ir::rewrite`'s pass manager (to a fixed point). They rewrite a copy of
//! the model; the caller's model is never changed, and with `optimize = false` the original
//! graph runs on the reference kernels.
//!
//! Passes, in order: `fp16` (float16 graphs computed in f32 where onnxruntime's CPU provider
//! computes them in f32), `fuse` (Conv → Sigmoid → Mul (→ residual Add) ⇒ FusedConv).

mod fp16;
mod fuse;

use crate::RuntimeError;
use onnxide_ir::rewrite::PassManager;
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
pub(crate) fn run(model: &Model) -> Result<Option<(Model, OptimizeReport)>, RuntimeError> {
    let mut m = model.clone();
    let mut passes = PassManager::new()
        .with(fp16::F16InF32)
        .with(fuse::FuseConvSilu);
    let run = passes
        .run(&mut m)
        .map_err(|e| RuntimeError::Graph(e.to_string()))?;
    let report = OptimizeReport {
        conv_silu: run.count("fuse-conv-silu", "conv_silu"),
        residual_add: run.count("fuse-conv-silu", "residual_add"),
        f16_in_f32: run.count("f16-in-f32", "f16_in_f32"),
    };
    Ok((report != OptimizeReport::default()).then_some((m, report)))
}
