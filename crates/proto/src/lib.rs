//! ONNX protobuf messages (`onnx.ModelProto` and friends), as prost types.
//!
//! Field numbers match upstream ONNX, so any `.onnx` file decodes and encodes losslessly for
//! every field this schema names. Most code should use `onnxide-ir` instead of these raw types.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));

pub use prost::Message;
