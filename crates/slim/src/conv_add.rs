//! `fuse-conv-add`: Conv → Add of a constant that is one number per output channel (shape
//! `[C,1,..]`, `[1,C,1,..]`, or all ones) becomes the Conv with that constant added to its bias.

use crate::conv::fuse_per_channel;
use onnxide_ir::rewrite::{Pass, PassReport};
use onnxide_ir::{IrError, Model};

/// Folds `Add(Conv(x), c)` (either operand order) into the Conv's bias. Conditions: the Conv's
/// output is read by the Add only; its weight and bias are float constants; `c` is a constant
/// of the same type that broadcasts per output channel without changing the Conv's shape.
pub struct FuseConvAdd;

impl Pass for FuseConvAdd {
    fn name(&self) -> &'static str {
        "fuse-conv-add"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        fuse_per_channel(model, "Add")
    }
}
