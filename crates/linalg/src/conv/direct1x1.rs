//! 1×1, stride-1 convolution: on NCHW data this is exactly the GEMM
//! `Y[oc × HW] = W[oc × ic] · X[ic × HW]`, with X read in place (no packing copy of the
//! activations except the ragged last column panel; see `gemm`).

use crate::activation::Epilogue;
use crate::gemm::{self, GemmOutput, MatRef, PackedWeights};
use rayon::ThreadPool;

/// One image (one group): `input` is `[ic, HW]`, `out` is `[oc, HW]`.
pub(crate) fn run(
    weights: &PackedWeights,
    input: &[f32],
    hw: usize,
    out: GemmOutput<'_>,
    residual: Option<&[f32]>,
    epilogue: Epilogue,
    pool: Option<&ThreadPool>,
) {
    let x = MatRef::row_major(input, weights.k(), hw);
    gemm::gemm(weights, x, out, residual, epilogue, pool);
}
