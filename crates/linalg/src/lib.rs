//! Fast f32 kernels for onnxide's CPU executor, as plain functions over slices.
//!
//! This crate knows nothing about ONNX graphs or tensors: the runtime's planner picks a
//! kernel per node at plan time, builds the plan objects here once (pre-packing weights),
//! and calls them at run time with its own buffers.
//!
//! * [`gemm`]: packed SGEMM with a fused epilogue (bias, ReLU/Sigmoid/SiLU, residual add).
//! * [`conv`]: NCHW 2-D convolution plans — 1×1 as a direct GEMM, stride-1 k×k through a
//!   lazy im2col (the kernel reads a padded copy of the input through an offset table),
//!   other k×k through an implicit im2col packed block by block (never the whole matrix),
//!   depthwise with a dedicated stencil — all with the same fused epilogue.
//!
//! The runtime-facing guide (fusions, buffers, threads) is in the crate's README.md.
//! * [`activation`]: vectorised exp / sigmoid / SiLU / ReLU.
//! * [`softmax`]: softmax over any axis, including non-last axes, without transposes.
//! * [`pool`]: max pooling (separable), nearest upsampling.
//!
//! Every kernel takes an [`Isa`]: use [`Isa::detect()`] in production; tests force each
//! flavour the machine supports.
//!
//! # Example: a YOLO `Conv` (3×3, stride 1, pad 1, BN folded into weights and bias, SiLU)
//!
//! ```
//! use onnxide_linalg::{conv::{Conv2dPlan, ConvGeometry}, Epilogue, Isa};
//!
//! let geometry = ConvGeometry::new(16, 32, 40, 40, 3, 3).stride(1, 1).pads(1, 1, 1, 1);
//! let weights = vec![0.01f32; 32 * 16 * 3 * 3]; // [oc, ic/groups, kh, kw], as in ONNX
//! let bias = vec![0.0f32; 32];
//! let plan = Conv2dPlan::new(Isa::detect(), geometry, &weights, Some(&bias), Epilogue::SILU);
//!
//! let batch = 2;
//! let input = vec![1.0f32; batch * plan.input_len()];
//! let mut output = vec![0.0f32; batch * plan.output_len()];
//! plan.run(&input, None, &mut output, None); // None: the current rayon pool
//! assert_eq!(output.len(), batch * 32 * 40 * 40);
//! ```

#![warn(missing_docs)]
#![allow(clippy::missing_safety_doc)]

pub mod activation;
pub mod conv;
pub mod gemm;
mod isa;
pub mod pool;
mod scratch;
mod simd;
pub mod softmax;

pub use activation::{Activation, Epilogue};
pub use isa::Isa;
