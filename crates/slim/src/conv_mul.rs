//! `fuse-conv-mul`: Conv → Mul by a constant that is one number per output channel becomes the
//! Conv with scaled weights and bias.

use crate::conv::fuse_per_channel;
use onnxide_ir::rewrite::{Pass, PassReport};
use onnxide_ir::{IrError, Model};

/// Folds `Mul(Conv(x), c)` (either operand order) into the Conv's weight and bias (`W·c`,
/// `b·c`; f64, rounded once). Same conditions as [`crate::FuseConvAdd`].
pub struct FuseConvMul;

impl Pass for FuseConvMul {
    fn name(&self) -> &'static str {
        "fuse-conv-mul"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        fuse_per_channel(model, "Mul")
    }
}
