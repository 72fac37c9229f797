//! onnxide-slim: an onnxslim-like simplifier, as passes on [`onnxide_ir::rewrite`] run by one
//! [`PassManager`] to a fixed point, each reporting what it changed.
//!
//! Passes, in the order each round runs them ([`PASSES`]):
//! - `fold-shapes` ([`FoldShapes`]): integer values inference knows exactly (`Shape`/`Size` of
//!   static dims and shape arithmetic on them, also on partly symbolic shapes) become initializers;
//! - `fold-constants` ([`FoldConstants`]): `Constant` nodes become initializers; nodes on constant
//!   inputs are evaluated with the runtime's reference kernels, unless the result would be
//!   larger than its inputs (the file never grows; [`Options::size_threshold`] allows more);
//! - fusions: `fuse-conv-bn` ([`FuseConvBn`], Conv/ConvTranspose + BatchNormalization),
//!   `fuse-conv-add` ([`FuseConvAdd`]), `fuse-conv-mul` ([`FuseConvMul`]), `fuse-gemm`
//!   ([`FuseGemm`], MatMul + Add), `fuse-pad-conv` ([`FusePadConv`]); fused weights are
//!   computed in f64 and rounded once (see the `conv` module);
//! - chains: `transpose-chains`, `reshape-chains`, `squeeze-pairs`, `slice-chains`,
//!   `concat-chains`, `concat-reshape` ([`ConcatReshape`]);
//! - `no-ops` ([`NoOps`]): Identity, Dropout, same-type Cast, Reshape/Expand/Slice that change
//!   no static shape, identity Transpose, one-input Concat;
//! - `cse` ([`Cse`]): common-subexpression elimination of deterministic ops;
//! - `shared-initializers` ([`SharedInitializers`]): identical initializers stored once;
//! - `dead-code` ([`DeadCode`]): unused nodes, initializers and `value_info`.
//!
//! Graph inputs and outputs keep their names, types and dims. Not done yet: passes inside
//! If/Loop/Scan bodies.

mod concat_chain;
mod concat_reshape;
mod conv;
mod conv_add;
mod conv_bn;
mod conv_mul;
mod cse;
mod dead;
mod fold;
mod gemm;
mod noop;
mod pad_conv;
mod reshape_chain;
mod slice_chain;
mod squeeze_pair;
mod transpose_chain;
mod util;

pub use concat_chain::ConcatChains;
pub use concat_reshape::ConcatReshape;
pub use conv_add::FuseConvAdd;
pub use conv_bn::FuseConvBn;
pub use conv_mul::FuseConvMul;
pub use cse::{Cse, SharedInitializers};
pub use dead::DeadCode;
pub use fold::{FoldConstants, FoldShapes};
pub use gemm::FuseGemm;
pub use noop::NoOps;
pub use pad_conv::FusePadConv;
pub use reshape_chain::ReshapeChains;
pub use slice_chain::SliceChains;
pub use squeeze_pair::SqueezePairs;
pub use transpose_chain::TransposeChains;

use onnxide_ir::rewrite::{Pass, PassManager, RunReport};
use onnxide_ir::{IrError, Model};

/// Every pass, in the order a round runs them.
pub const PASSES: [&str; 17] = [
    "fold-shapes",
    "fold-constants",
    "fuse-conv-bn",
    "fuse-conv-add",
    "fuse-conv-mul",
    "fuse-gemm",
    "fuse-pad-conv",
    "transpose-chains",
    "reshape-chains",
    "squeeze-pairs",
    "slice-chains",
    "concat-chains",
    "concat-reshape",
    "no-ops",
    "cse",
    "shared-initializers",
    "dead-code",
];

/// What [`slim_with`] runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Passes not to run (names from [`PASSES`]).
    pub skip: Vec<String>,
    /// When not empty, only these passes run.
    pub only: Vec<String>,
    /// Constant folding may produce outputs larger than its inputs up to this many bytes.
    pub size_threshold: usize,
    /// Do not run `fold-shapes` (the values it folds come from shape inference alone).
    pub no_shape_infer: bool,
}

/// What can go wrong slimming.
#[derive(Debug, thiserror::Error)]
pub enum SlimError {
    #[error("unknown pass '{name}' (passes: {})", PASSES.join(", "))]
    UnknownPass { name: String },
    #[error(transparent)]
    Ir(#[from] IrError),
}

fn make(name: &str, opts: &Options) -> Option<Box<dyn Pass>> {
    Some(match name {
        "fold-shapes" => Box::new(FoldShapes),
        "fold-constants" => Box::new(FoldConstants {
            size_threshold: opts.size_threshold,
        }),
        "fuse-conv-bn" => Box::new(FuseConvBn),
        "fuse-conv-add" => Box::new(FuseConvAdd),
        "fuse-conv-mul" => Box::new(FuseConvMul),
        "fuse-gemm" => Box::new(FuseGemm),
        "fuse-pad-conv" => Box::new(FusePadConv),
        "transpose-chains" => Box::new(TransposeChains),
        "reshape-chains" => Box::new(ReshapeChains),
        "squeeze-pairs" => Box::new(SqueezePairs),
        "slice-chains" => Box::new(SliceChains),
        "concat-chains" => Box::new(ConcatChains),
        "concat-reshape" => Box::new(ConcatReshape),
        "no-ops" => Box::new(NoOps),
        "cse" => Box::new(Cse),
        "shared-initializers" => Box::new(SharedInitializers),
        "dead-code" => Box::new(DeadCode),
        _ => return None,
    })
}

/// The manager running the passes `opts` selects, in [`PASSES`] order, to a fixed point.
pub fn pass_manager_with(opts: &Options) -> Result<PassManager, SlimError> {
    for name in opts.skip.iter().chain(&opts.only) {
        if !PASSES.contains(&name.as_str()) {
            return Err(SlimError::UnknownPass { name: name.clone() });
        }
    }
    let mut pm = PassManager::new().max_iterations(32);
    for name in PASSES {
        let wanted = (opts.only.is_empty() || opts.only.iter().any(|o| o == name))
            && !opts.skip.iter().any(|s| s == name)
            && !(opts.no_shape_infer && name == "fold-shapes");
        if let Some(pass) = make(name, opts).filter(|_| wanted) {
            pm.push(pass);
        }
    }
    Ok(pm)
}

/// The manager running every slim pass, in order, to a fixed point.
pub fn pass_manager() -> PassManager {
    let mut pm = PassManager::new().max_iterations(32);
    for name in PASSES {
        if let Some(pass) = make(name, &Options::default()) {
            pm.push(pass);
        }
    }
    pm
}

/// Simplifies `model` in place and reports what each pass changed.
pub fn slim(model: &mut Model) -> Result<RunReport, IrError> {
    pass_manager().run(model)
}

/// Simplifies `model` in place with the passes and settings of `opts`.
pub fn slim_with(model: &mut Model, opts: &Options) -> Result<RunReport, SlimError> {
    Ok(pass_manager_with(opts)?.run(model)?)
}
