//! onnxide's CPU executor.
//!
//! [`Session::new`] plans a model once (op lookup in one registry, topological order, constant
//! folding, value lifetimes); [`Session::run`] executes the plan, from any number of threads.
//! Every op has one plain reference kernel (`ops/`); heavy ones (Conv, MatMul) use rayon and
//! `matrixmultiply` inside the session's thread pool.

#![deny(unsafe_code)]

mod broadcast;
mod error;
mod gemm;
mod ops;
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
