//! onnxide's in-memory ONNX model.
//!
//! [`Model`] / [`Graph`] / [`Node`] mirror ONNX's structure with owned Rust types; [`Tensor`]
//! holds data for every ONNX element type. [`load`] and [`save`] convert to and from `.onnx`
//! files (external data included). [`rewrite`] is the layer every graph rewrite stands on
//! (index, patches, passes, pass manager, node builders); [`topo`], [`check`] and [`infer`] are
//! the graph utilities built beside it.

#[cfg(not(target_endian = "little"))]
compile_error!("onnxide reads and writes ONNX raw data as little-endian in place");

pub mod check;
mod convert;
mod dtype;
mod error;
pub mod infer;
mod io;
mod model;
pub mod npy;
pub mod rewrite;
mod tensor;
pub mod topo;

pub use dtype::DType;
pub use error::{IrError, Result};
pub use io::{decode, encode, load, save, write_atomic, ExternalData, SaveOptions};
pub use model::*;
pub use tensor::{element_count, Element, NamedTensor, Tensor, TensorData, TensorError};
