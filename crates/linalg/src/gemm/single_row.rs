//! `C[1×n] = a[1×k] · B[k×n]` summed the way onnxruntime's MLAS does when a GEMM has a
//! single row (depthwise convolutions, 1×1 convolutions to one channel such as YOLO's DFL,
//! vector-matrix products): no FMA, every product rounded, products added four at a time
//! left to right and each group of four added to the running total; within each k slice a
//! remainder of two and then of one follows. Reproducing this order, rather than an FMA
//! chain, is what keeps these outputs bit-identical to onnxruntime's.

use crate::simd::{dispatch, Simd};
use crate::Isa;

/// The sum of `product(0) + … + product(k - 1)` in onnxruntime's single-row order, with the
/// k range cut into slices of `slice` steps (each slice's groups of four restart at its
/// start). Lane-wise: each lane is one output.
#[inline(always)]
pub(crate) unsafe fn sum_products<S: Simd>(
    k: usize,
    slice: usize,
    product: impl Fn(usize) -> S::V,
) -> S::V {
    // SAFETY: only register arithmetic through `S`, whose ISA the caller has enabled (the contract
    // of every `Simd` method); `product` is a safe closure.
    unsafe {
        let mut c = S::splat(0.0);
        let mut k0 = 0;
        while k0 < k {
            let end = (k0 + slice).min(k);
            let mut i = k0;
            while i + 4 <= end {
                let t = S::add(
                    S::add(S::add(product(i), product(i + 1)), product(i + 2)),
                    product(i + 3),
                );
                c = S::add(t, c);
                i += 4;
            }
            if (end - i) & 2 != 0 {
                c = S::add(S::add(product(i), product(i + 1)), c);
                i += 2;
            }
            if (end - i) & 1 != 0 {
                c = S::add(product(i), c);
            }
            k0 = end;
        }
        c
    }
}

/// `out[j] = Σ_p a[p] · b[p·ldb + j]` for `j < out.len()` in the single-row order, the
/// whole k in one slice (as onnxruntime's GEMM does when m = 1).
///
/// # Panics
/// If `b` is too short for `a.len()` rows of `out.len()` values `ldb` apart.
pub fn single_row_gemm(isa: Isa, a: &[f32], b: &[f32], ldb: usize, out: &mut [f32]) {
    let (k, n) = (a.len(), out.len());
    if k > 0 && n > 0 {
        assert!(
            ldb >= n && b.len() >= (k - 1) * ldb + n,
            "single_row_gemm: B is too short"
        );
    }
    dispatch!(isa, single_row_gemm_body(a, b, ldb, out))
}

#[inline(always)]
fn single_row_gemm_body<S: Simd>(a: &[f32], b: &[f32], ldb: usize, out: &mut [f32]) {
    let (k, n) = (a.len(), out.len());
    let slice = k.max(1);
    let mut j = 0;
    // SAFETY: every load reads b[p·ldb + j .. + lanes] with p < k and j + lanes ≤ n, inside
    // `b` (checked by the caller); stores stay inside `out`; the ISA was checked by dispatch!.
    unsafe {
        while j < n {
            let lanes = S::LANES.min(n - j);
            let product = |p: usize| {
                let at = b.as_ptr().add(p * ldb + j);
                let v = if lanes == S::LANES {
                    S::load(at)
                } else {
                    S::load_partial(at, lanes)
                };
                S::mul(S::splat(*a.get_unchecked(p)), v)
            };
            let sum = sum_products::<S>(k, slice, product);
            if lanes == S::LANES {
                S::store(out.as_mut_ptr().add(j), sum);
            } else {
                S::store_partial(out.as_mut_ptr().add(j), sum, lanes);
            }
            j += S::LANES;
        }
    }
}
