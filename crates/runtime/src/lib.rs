//! onnxide's CPU executor.
//!
//! ```text
//! Session::new(model, options)                       Session::run(inputs)  (&self, any thread)
//!   plan::build                                        check inputs (name, dtype, rank, fixed dims)
//!     every missing op -> one UnsupportedOps error     slots <- constants + inputs
//!     topo order (onnxide_ir::topo)                    for step in steps (in the session's rayon pool):
//!     slots: one per value name                          kernel.run(&inputs) -> outputs
//!     registry: (domain, op) -> builder(ctx)             free slots whose last reader ran
//!       reads attrs + opset + constant inputs          outputs in graph order
//!       -> Box<dyn Kernel> (pre-converted weights)
//!     constant folding (optimize): all-constant nodes run once here
//!     subgraphs (If/Loop/Scan) planned once; captured outer values become extra inputs
//!     static shapes (constants + onnxide_ir::infer), value lifetimes
//! ```
//!
//! Modules: `registry` (the one op table), `plan` (planning and the step loop), `session`
//! (API), `ops/<family>.rs` (one plain reference kernel per op), `broadcast`, `gemm` (the only
//! `unsafe`: a bounds-checked call into `matrixmultiply::sgemm`), `value` (typed dispatch helpers).
//! Float16/bfloat16 tensors are computed in f32 and rounded back per op; integer and bool types
//! are computed natively where ops accept them. `ONNXIDE_PROFILE=1` prints per-op kernel time
//! when a session is dropped.
//!
//! Speed (`SessionOptions::optimize`, on by default): `optimize/` rewrites a copy of the model
//! before planning (`Conv → Sigmoid → Mul (→ residual Add)` ⇒ `ai.onnxide::FusedConv`), and
//! `fast/` gives builders onnxide-linalg kernels chosen at plan time (Conv2dPlan with packed
//! weights and fused epilogue, softmax over any axis, max pool, nearest upsample, sigmoid,
//! transpose, concat/split/reshape copies into recycled buffers). Each fast kernel keeps the
//! reference kernel as its fallback and oracle; `optimize = false` runs the graph as given on
//! the reference kernels (`tests/fast.rs` compares the two).

#![deny(unsafe_code)]

mod broadcast;
mod error;
mod fast;
mod gemm;
mod ops;
mod optimize;
mod plan;
mod registry;
mod session;
mod value;

pub use error::RuntimeError;
pub use registry::registered_ops;
pub use session::{PlanSummary, Session, SessionOptions};

/// Checks at compile time that sessions can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
};
