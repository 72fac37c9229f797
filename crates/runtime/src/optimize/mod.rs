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
    run_checked(model, cfg!(debug_assertions))
}

/// [`run`], with the manager's check after each pass on or off.
fn run_checked(
    model: &Model,
    verify: bool,
) -> Result<Option<(Model, OptimizeReport)>, RuntimeError> {
    let mut m = model.clone();
    let mut passes = PassManager::new()
        .with(fp16::F16InF32)
        .with(fuse::FuseConvSilu)
        .verify(verify);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Model {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/exports");
        onnxide_ir::load(root.join(path)).expect("fixture export")
    }

    /// Release test runs skip the manager's per-pass check; this runs it on real exports.
    #[test]
    fn passes_keep_yolo_exports_well_formed() {
        for (path, conv_silu, f16) in [
            ("detect/default.onnx", true, false),
            ("detect/half.onnx", true, true),
            ("segment/dynamic.onnx", true, false),
        ] {
            let (m, report) = run_checked(&fixture(path), true)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .expect("changed");
            assert_eq!(report.conv_silu > 0, conv_silu, "{path}: {report:?}");
            assert_eq!(report.f16_in_f32 > 0, f16, "{path}: {report:?}");
            assert!(
                onnxide_ir::rewrite::structural_problems(&m).is_empty(),
                "{path}"
            );
            onnxide_ir::topo::order(&m.graph).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}
