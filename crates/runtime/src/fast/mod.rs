//! Fast kernels on onnxide-linalg, chosen at plan time when `SessionOptions::optimize` is on.
//!
//! Each fast kernel keeps the op's reference kernel (`ops/`) and hands it any input it does
//! not cover (another dtype or rank, a geometry the SIMD kernel lacks), so choosing a fast
//! kernel never changes which graphs run. Tests compare every fast path with the reference
//! (`tests/fast.rs`: optimize on vs off).
//!
//! `ai.onnxide::FusedConv` is the internal op the fusion pass (`crate::optimize`) emits:
//! `Conv` with a SiLU epilogue and an optional residual (input 3), see [`conv`].

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod matmul;
pub(crate) mod reduce;

use crate::kernel::{BuildCtx, Builder, Kernel, OpResult, Registration};

/// The internal domain of fused ops; never collides with ONNX domains.
pub const DOMAIN: &str = "ai.onnxide";

/// Ops of the internal domain, looked up after the ONNX ones.
pub(crate) static OPS: &[Registration] = &[(DOMAIN, "FusedConv", conv::build_fused)];

/// The fast kernel for `ctx.node`, if there is one; `reference` builds the op's reference
/// kernel, which the fast kernel keeps as its fallback.
pub(crate) fn build(ctx: &BuildCtx, reference: Builder) -> OpResult<Option<Box<dyn Kernel>>> {
    let domain = onnxide_ir::normalize_domain(&ctx.node.domain);
    if !domain.is_empty() {
        return Ok(None);
    }
    match ctx.node.op_type.as_str() {
        "Conv" => conv::build_conv(ctx, reference),
        "Exp" => elementwise::build_exp(ctx, reference),
        "ReduceSum" => reduce::build_reduce_sum(ctx, reference),
        "Sigmoid" => elementwise::build_sigmoid(ctx, reference),
        "MatMul" => matmul::build_matmul(ctx, reference),
        "Softmax" => elementwise::build_softmax(ctx, reference),
        "MaxPool" => elementwise::build_maxpool(ctx, reference),
        "Resize" => elementwise::build_resize(ctx, reference),
        "Transpose" => elementwise::build_transpose(ctx, reference),
        "Concat" => elementwise::build_concat(ctx, reference),
        "Split" => elementwise::build_split(ctx, reference),
        "Reshape" => elementwise::build_reshape(ctx, reference),
        _ => Ok(None),
    }
}
