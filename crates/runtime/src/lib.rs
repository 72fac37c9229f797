//! onnxide's CPU executor.
//!
//! ```text
//! Session::new(model, options)                       Session::run(inputs)  (&self, any thread)
//!   plan::build                                        check inputs (name, dtype, rank, fixed dims)
//!     every missing op -> one UnsupportedOps error     slots <- constants + inputs
//!     topo order (onnxide_ir::topo)                    for step in steps (in the session's rayon pool):
//!     slots: one per value name                          kernel.run(&run, &inputs) -> outputs
//!     registry: (domain, op) -> builder(ctx)             free slots whose last reader ran
//!       reads attrs + opset + constant inputs          outputs in graph order
//!       -> Box<dyn Kernel> (pre-converted weights;     run: RunContext with a buffer pool
//!          fast kernels built for the session's ISA)     the session lends (one per run)
//!     constant folding (optimize): all-constant nodes run once here (eval.rs)
//!     subgraphs (If/Loop/Scan) planned once; captured outer values become extra inputs
//!     static shapes (constants + onnxide_ir::infer), value lifetimes
//! ```
//!
//! Modules, in layers; a module refers only to modules in the layers below it (no cycles):
//!
//! ```text
//! session                   the API: validates and plans a model, owns the thread pool, runs
//!   validate                strict checks at load (names assigned once, types, dims, versions, nesting)
//!   optimize                IR passes before planning (fusion, f16)
//!   plan                    planning, constant folding, the step loop; implements Subgraph
//!     eval                  one node on constant inputs: eval_node, is_deterministic
//!       registry            (domain, op) -> builder: concatenates the families' `OPS`
//!         fast/             onnxide-linalg kernels (fallback: the reference); its `OPS`
//!           ops/<family>    one plain reference kernel per op; one `OPS` per family
//!             kernel        BuildCtx, Kernel, Builder, Registration, run_guarded, Subgraph
//!             value, broadcast, gemm, options, error                             (leaves)
//!               limits      memory budget, iteration cap, deadline/cancel of the current run
//! ```
//!
//! A model is untrusted input: every kernel that sizes a tensor by a shape asks `limits`
//! first (checked element count and bytes against the session's memory budget, then
//! `try_reserve`), Loop/Scan count their iterations against a cap, and the step loop checks
//! the run's deadline and cancel flag before every step; a limit hit becomes its own
//! [`RuntimeError`] variant naming the node and op.
//!
//! `gemm` holds the only `unsafe`: a bounds-checked call into `matrixmultiply::sgemm`;
//! `value` holds the typed dispatch helpers. Control-flow kernels run their subgraphs through
//! the `kernel::Subgraph` trait, so `ops/` does not depend on the planner.
//!
//! Run state belongs to the session, never to a thread or the process: the chosen ISA
//! ([`Session::with_isa`], default [`Isa::detect`]) is fixed in the kernels at plan time, and
//! the recycled output buffers live in pools the session lends to each run (`buffers.rs`,
//! reached through `kernel::RunContext`), so two sessions, or two concurrent runs of one,
//! never share them. onnxide-linalg's scratch buffers are per worker thread of the session's
//! own rayon pool.
//! Float16/bfloat16 tensors are computed in f32 and rounded back per op; integer and bool types
//! are computed natively where ops accept them (with `optimize` on, float16 graphs instead run
//! as onnxruntime's CPU provider runs them, see below). `ONNXIDE_PROFILE=1` prints kernel time
//! per op type and for the slowest nodes when a session is dropped.
//!
//! Speed and agreement (`SessionOptions::optimize`, on by default): `optimize/` rewrites a copy
//! of the model before planning (float16 graphs computed in f32 with onnxruntime's f16
//! rounding points, `optimize/fp16.rs`; `Conv → Sigmoid → Mul (→ residual Add)` ⇒
//! `ai.onnxide::FusedConv`), and `fast/` gives builders onnxide-linalg kernels chosen at plan
//! time (Conv2dPlan with packed weights and fused epilogue, MatMul, softmax over any axis,
//! ReduceSum, max pool, nearest upsample, sigmoid, exp, transpose, concat/split/reshape copies
//! into recycled buffers). With `SessionOptions::exact` the fast kernels sum in onnxruntime's
//! (MLAS's) order, so the fp32 YOLO11 exports give onnxruntime's outputs bit for bit
//! (`tests/models.rs`); the default (`exact = false`) also lets large 3×3 stride-1
//! convolutions use Winograd F(2×2, 3×3), whose results stay within onnxruntime's own
//! ORT_ENABLE_ALL vs ORT_DISABLE_ALL spread (`tests/models.rs`, `tests/tests/zoo.rs`). Each fast kernel
//! keeps the reference kernel as its fallback and oracle; `optimize = false` runs the graph as
//! given on the reference kernels (`tests/fast.rs` compares the two).

#![deny(unsafe_code)]

mod broadcast;
mod buffers;
mod error;
mod eval;
mod fast;
mod gemm;
mod kernel;
mod limits;
mod ops;
mod optimize;
mod options;
mod plan;
mod registry;
mod session;
mod validate;
mod value;

pub use error::RuntimeError;
pub use eval::{eval_node, is_deterministic};
pub use onnxide_linalg::Isa;
pub use options::{default_memory_budget, RunOptions, SessionOptions};
pub use registry::registered_ops;
pub use session::{PlanSummary, Session};

/// Checks at compile time that sessions can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Session>();
};
