//! onnxide-slim: an onnxslim-like simplifier, as passes on [`onnxide_ir::rewrite`] run by one
//! [`PassManager`] to a fixed point, each reporting what it changed.
//!
//! Passes, in the order each round runs them:
//! - `fold-shapes` ([`FoldShapes`]): integer values inference knows exactly (`Shape`/`Size` of
//!   static dims and shape arithmetic on them, also on partly symbolic shapes) become initializers;
//! - `fold-constants` ([`FoldConstants`]): `Constant` nodes become initializers; nodes on constant
//!   inputs are evaluated with the runtime's reference kernels, unless the result would be
//!   larger than its inputs (the file never grows);
//! - `no-ops` ([`NoOps`]): Identity, Dropout, same-type Cast, Reshape/Expand/Slice that change
//!   no static shape, identity Transpose, one-input Concat;
//! - `cse` ([`Cse`]): common-subexpression elimination of deterministic ops;
//! - `shared-initializers` ([`SharedInitializers`]): identical initializers stored once;
//! - `dead-code` ([`DeadCode`]): unused nodes, initializers and `value_info`.
//!
//! Graph inputs and outputs keep their names, types and dims. Not done yet: fusions (Conv+BN,
//! MatMul+Add, ...), folding in subgraphs, and passes inside If/Loop/Scan bodies.

mod cse;
mod dead;
mod fold;
mod noop;
mod util;

pub use cse::{Cse, SharedInitializers};
pub use dead::DeadCode;
pub use fold::{FoldConstants, FoldShapes};
pub use noop::NoOps;

use onnxide_ir::rewrite::{PassManager, RunReport};
use onnxide_ir::{IrError, Model};

/// The manager running every slim pass, in order, to a fixed point.
pub fn pass_manager() -> PassManager {
    PassManager::new()
        .with(FoldShapes)
        .with(FoldConstants)
        .with(NoOps)
        .with(Cse)
        .with(SharedInitializers)
        .with(DeadCode)
        .max_iterations(32)
}

/// Simplifies `model` in place and reports what each pass changed.
pub fn slim(model: &mut Model) -> Result<RunReport, IrError> {
    pass_manager().run(model)
}
