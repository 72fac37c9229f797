//! Vectorised exp, sigmoid, SiLU and ReLU, and the fused GEMM/conv epilogue that uses them.
//!
//! `exp` and `sigmoid` follow onnxruntime's MLAS kernels operation for operation (the same
//! constants, FMAs and roundings), so that results are bit-identical to onnxruntime's on
//! x86-64 rather than merely within a few ulp; `tests/elementwise.rs` also checks them
//! against an f64 reference (relative error < 1e-6). SiLU is `x · sigmoid(x)`.
//! `exp` saturates at ~2.4e38 instead of returning +inf.

use crate::simd::{dispatch, Simd};
use crate::Isa;

/// The activation applied after the bias in a fused epilogue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// No activation (bias only).
    #[default]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `x · sigmoid(x)` (a.k.a. swish), what YOLO's `Conv` uses.
    Silu,
}

/// What a GEMM or convolution does to each output value before storing it:
/// `y = activation(acc + bias[row]) (+ residual)`.
///
/// The bias lives with the packed weights; the residual (a tensor of the output's shape,
/// e.g. the shortcut of a YOLO `Bottleneck`) is passed at run time. The order — activation
/// first, then the residual add — is the one `x + SiLU(conv(x))` needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Epilogue {
    /// Applied to `acc + bias`, before the residual add.
    pub activation: Activation,
}

impl Epilogue {
    /// Bias only.
    pub const IDENTITY: Epilogue = Epilogue {
        activation: Activation::Identity,
    };
    /// Bias, then SiLU (YOLO's `Conv`).
    pub const SILU: Epilogue = Epilogue {
        activation: Activation::Silu,
    };
    /// Bias, then sigmoid.
    pub const SIGMOID: Epilogue = Epilogue {
        activation: Activation::Sigmoid,
    };
    /// Bias, then ReLU.
    pub const RELU: Epilogue = Epilogue {
        activation: Activation::Relu,
    };

    /// Bias, then `activation`.
    pub fn new(activation: Activation) -> Epilogue {
        Epilogue { activation }
    }
}

// e^x as onnxruntime's MLAS computes it on AVX-512 (the kernel behind its Softmax): the
// integer part of x·log2(e) by the round-to-nearest "magic bias" trick inside one FMA, a
// two-constant Cody–Waite reduction, a degree-6 polynomial and an exact scale by 2^m.
// Matching it step for step (not just to within an ulp) keeps softmax outputs bit-identical
// to onnxruntime's, which matters because YOLO's box decoding amplifies them ~500-fold.
const EXP_HI: f32 = 88.376_26; // keeps m ≤ 127 so the scale stays finite
/// Below this onnxruntime's AVX-512 kernel clamps (e^x is a denormal or 0 there).
const EXP_LO_SCALEF: f32 = -103.972_08;
/// Where 2^m is built from exponent bits instead of `vscalefps`: m ≥ -126 keeps it normal.
const EXP_LO_NORMAL: f32 = -87.336_55;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const ROUNDING_BIAS: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
const LN2_HI: f32 = -6.931_457_5e-1;
const LN2_LO: f32 = -1.428_606_8e-6;
const EXP_POLY: [f32; 5] = [
    f32::from_bits(0x3ab4_a000), // 0x1.694000p-10
    f32::from_bits(0x3c09_2f6e), // 0x1.125edcp-7
    f32::from_bits(0x3d2a_adad), // 0x1.555b5ap-5
    f32::from_bits(0x3e2a_aa28), // 0x1.555450p-3
    f32::from_bits(0x3eff_fffb), // 0x1.fffff6p-2
];

/// `e^x` lane-wise (saturating at the top, see the module docs).
#[inline(always)]
pub(crate) unsafe fn exp_v<S: Simd>(x: S::V) -> S::V {
    // SAFETY: only register arithmetic through `S`, whose ISA the caller has enabled (the contract
    // of every `Simd` method).
    unsafe {
        let lo = if S::EXACT_SCALE {
            EXP_LO_SCALEF
        } else {
            EXP_LO_NORMAL
        };
        let x = S::min(S::max(S::splat(lo), x), S::splat(EXP_HI));
        let biased = S::fma(x, S::splat(LOG2E), S::splat(ROUNDING_BIAS));
        let m = S::sub(biased, S::splat(ROUNDING_BIAS));
        let r = S::fma(m, S::splat(LN2_HI), x);
        let r = S::fma(m, S::splat(LN2_LO), r);
        let one = S::splat(1.0);
        let mut p = S::splat(EXP_POLY[0]);
        for c in &EXP_POLY[1..] {
            p = S::fma(p, r, S::splat(*c));
        }
        p = S::fma(p, r, one);
        p = S::fma(p, r, one);
        S::scale_pow2(p, m)
    }
}

// The logistic function as onnxruntime's MLAS computes it (its FMA3 kernel, which it also
// uses on AVX-512 machines): an odd/even rational approximation on [-18, 18] evaluated by
// Horner in x², then clamped at 0. Kept step for step so that every sigmoid — ~90 per
// YOLO11 graph — rounds exactly as in onnxruntime.
const LOGISTIC_RANGE: f32 = 18.0;
#[allow(clippy::excessive_precision)]
const LOGISTIC_P: [f32; 5] = [
    4.370_310_125_798_01e-11,
    1.156_273_244_599_42e-07,
    6.085_748_646_001_43e-05,
    8.513_771_333_047_01e-03,
    2.482_879_470_615_29e-01,
];
#[allow(clippy::excessive_precision)]
const LOGISTIC_Q: [f32; 6] = [
    6.102_473_897_556_81e-13,
    5.761_021_369_934_27e-09,
    6.291_067_850_170_40e-06,
    1.701_988_173_740_94e-03,
    1.168_176_569_044_53e-01,
    9.931_519_210_231_80e-01,
];

/// `1 / (1 + e^-x)` lane-wise.
#[inline(always)]
pub(crate) unsafe fn sigmoid_v<S: Simd>(x: S::V) -> S::V {
    // SAFETY: only register arithmetic through `S`, whose ISA the caller has enabled (the contract
    // of every `Simd` method).
    unsafe {
        let x = S::min(
            S::splat(LOGISTIC_RANGE),
            S::max(S::splat(-LOGISTIC_RANGE), x),
        );
        let x2 = S::mul(x, x);
        let mut p = S::fma(x2, S::splat(LOGISTIC_P[0]), S::splat(LOGISTIC_P[1]));
        for c in &LOGISTIC_P[2..] {
            p = S::fma(x2, p, S::splat(*c));
        }
        let mut q = S::fma(x2, S::splat(LOGISTIC_Q[0]), S::splat(LOGISTIC_Q[1]));
        for c in &LOGISTIC_Q[2..] {
            q = S::fma(x2, q, S::splat(*c));
        }
        let r = S::add(S::div(S::mul(x, p), q), S::splat(0.5));
        S::max(S::splat(0.0), r)
    }
}

/// `x · sigmoid(x)` lane-wise: the graph's `Mul(x, Sigmoid(x))`, rounded the same way.
#[inline(always)]
pub(crate) unsafe fn silu_v<S: Simd>(x: S::V) -> S::V {
    // SAFETY: only register arithmetic through `S`, whose ISA the caller has enabled (the contract
    // of every `Simd` method).
    unsafe { S::mul(x, sigmoid_v::<S>(x)) }
}

#[inline(always)]
pub(crate) unsafe fn activation_v<S: Simd>(act: Activation, x: S::V) -> S::V {
    // SAFETY: only register arithmetic through `S`, whose ISA the caller has enabled (the contract
    // of every `Simd` method).
    unsafe {
        match act {
            Activation::Identity => x,
            Activation::Relu => S::max(x, S::splat(0.0)),
            Activation::Sigmoid => sigmoid_v::<S>(x),
            Activation::Silu => silu_v::<S>(x),
        }
    }
}

/// Applies `f` to `len` values from `src` into `dst` (which may be the same pointer).
/// The tail shorter than a vector goes through masked loads/stores (zeros in the unused
/// lanes), so the maths of every element is the same whatever its position.
#[inline(always)]
pub(crate) unsafe fn map_ptr<S: Simd>(
    src: *const f32,
    dst: *mut f32,
    len: usize,
    f: impl Fn(S::V) -> S::V,
) {
    // SAFETY: the caller guarantees `src` and `dst` valid for `len` values and `S`'s ISA enabled;
    // whole vectors are accessed while `i + LANES <= len`, then the tail of `len - i` values
    // through masked loads and stores, so nothing past `len` is touched.
    unsafe {
        let mut i = 0;
        while i + S::LANES <= len {
            S::store(dst.add(i), f(S::load(src.add(i))));
            i += S::LANES;
        }
        if i < len {
            let rest = len - i;
            S::store_partial(dst.add(i), f(S::load_partial(src.add(i), rest)), rest);
        }
    }
}

#[inline(always)]
fn unary<S: Simd>(src: &[f32], dst: &mut [f32], op: UnaryOp) {
    assert_eq!(
        src.len(),
        dst.len(),
        "source and destination lengths differ"
    );
    // SAFETY: both slices hold `len` elements; `map_ptr` reads `src[..len]` and writes
    // `dst[..len]` only, and the ISA of `S` was checked by `dispatch!`.
    unsafe { unary_ptr::<S>(src.as_ptr(), dst.as_mut_ptr(), src.len(), op) }
}

#[inline(always)]
fn unary_inplace<S: Simd>(x: &mut [f32], op: UnaryOp) {
    let p = x.as_mut_ptr();
    // SAFETY: reads and writes `x[..len]` only, element i is read before it is written; the
    // ISA of `S` was checked by `dispatch!`.
    unsafe { unary_ptr::<S>(p, p, x.len(), op) }
}

#[inline(always)]
unsafe fn unary_ptr<S: Simd>(src: *const f32, dst: *mut f32, len: usize, op: UnaryOp) {
    // SAFETY: `src` and `dst` valid for `len` values and `S`'s ISA enabled (the caller's contract)
    // is exactly what `map_ptr` needs; `exp_v` and `activation_v` need only the ISA.
    unsafe {
        match op {
            UnaryOp::Exp => map_ptr::<S>(
                src,
                dst,
                len,
                #[inline(always)]
                |v| exp_v::<S>(v),
            ),
            UnaryOp::Act(a) => map_ptr::<S>(
                src,
                dst,
                len,
                #[inline(always)]
                |v| activation_v::<S>(a, v),
            ),
        }
    }
}

#[derive(Clone, Copy)]
enum UnaryOp {
    Exp,
    Act(Activation),
}

/// `dst[i] = activation(src[i])`.
pub fn activation(isa: Isa, act: Activation, src: &[f32], dst: &mut [f32]) {
    dispatch!(isa, unary(src, dst, UnaryOp::Act(act)))
}

/// `x[i] = activation(x[i])`.
pub fn activation_inplace(isa: Isa, act: Activation, x: &mut [f32]) {
    dispatch!(isa, unary_inplace(x, UnaryOp::Act(act)))
}

/// `dst[i] = 1 / (1 + e^-src[i])`.
pub fn sigmoid(isa: Isa, src: &[f32], dst: &mut [f32]) {
    activation(isa, Activation::Sigmoid, src, dst)
}

/// `dst[i] = src[i] · sigmoid(src[i])`.
pub fn silu(isa: Isa, src: &[f32], dst: &mut [f32]) {
    activation(isa, Activation::Silu, src, dst)
}

/// `dst[i] = e^src[i]` (saturating, see the module docs).
pub fn exp(isa: Isa, src: &[f32], dst: &mut [f32]) {
    dispatch!(isa, unary(src, dst, UnaryOp::Exp))
}

/// Applies the epilogue to a `rows × cols` tile at `c` (row stride `ldc`):
/// `c = act(c + bias[r]) (+ res[r·ldr + j])`. `res` may be null.
///
/// # Safety
/// `c` must be valid for the tile, `bias` for `rows` reads, `res` (if not null) for the tile
/// with stride `ldr`, and the CPU must support `S`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn epilogue_tile<S: Simd>(
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: *const f32,
    act: Activation,
    res: *const f32,
    ldr: usize,
) {
    // SAFETY: the arguments go unchanged to `tile_loop`, whose contract is this function's (see `#
    // Safety`); the closures only do register arithmetic through `S`.
    unsafe {
        // One loop per activation, so the per-vector code has no branch on it.
        match act {
            Activation::Identity => tile_loop::<S>(
                c,
                ldc,
                rows,
                cols,
                bias,
                res,
                ldr,
                #[inline(always)]
                |v| v,
            ),
            Activation::Relu => tile_loop::<S>(
                c,
                ldc,
                rows,
                cols,
                bias,
                res,
                ldr,
                #[inline(always)]
                |v| S::max(v, S::splat(0.0)),
            ),
            Activation::Sigmoid => tile_loop::<S>(
                c,
                ldc,
                rows,
                cols,
                bias,
                res,
                ldr,
                #[inline(always)]
                |v| sigmoid_v::<S>(v),
            ),
            Activation::Silu => tile_loop::<S>(
                c,
                ldc,
                rows,
                cols,
                bias,
                res,
                ldr,
                #[inline(always)]
                |v| silu_v::<S>(v),
            ),
        }
    }
}

/// The body of [`epilogue_tile`] for one activation `f`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile_loop<S: Simd>(
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: *const f32,
    res: *const f32,
    ldr: usize,
    f: impl Fn(S::V) -> S::V,
) {
    // SAFETY: `epilogue_tile`'s contract: `c` covers `rows × cols` with row stride `ldc`, `bias`
    // holds `rows` values, `res` (unless null) covers the tile with stride `ldr`, and `S`'s ISA is
    // enabled. Row `r` starts at `r·ldc` (`r·ldr` in `res`), and only its columns `< cols` are
    // accessed: whole vectors while `j + LANES <= cols`, then a masked tail.
    unsafe {
        for r in 0..rows {
            let row = c.add(r * ldc);
            let b = S::splat(*bias.add(r));
            if res.is_null() {
                map_ptr::<S>(
                    row,
                    row,
                    cols,
                    #[inline(always)]
                    |v| f(S::add(v, b)),
                );
            } else {
                let res_row = res.add(r * ldr);
                let mut j = 0;
                while j + S::LANES <= cols {
                    let v = f(S::add(S::load(row.add(j)), b));
                    S::store(row.add(j), S::add(v, S::load(res_row.add(j))));
                    j += S::LANES;
                }
                if j < cols {
                    // The tail through masked lanes: the same vector maths as the body.
                    let n = cols - j;
                    let v = f(S::add(S::load_partial(row.add(j), n), b));
                    S::store_partial(row.add(j), S::add(v, S::load_partial(res_row.add(j), n)), n);
                }
            }
        }
    }
}

/// Applies `epilogue_tile` for the given ISA; a plain function pointer for the GEMM driver.
pub(crate) type EpilogueFn =
    unsafe fn(*mut f32, usize, usize, usize, *const f32, Activation, *const f32, usize);

pub(crate) fn epilogue_fn(isa: Isa) -> EpilogueFn {
    match isa.or_supported() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => epilogue_avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => epilogue_avx2,
        _ => epilogue_tile::<crate::simd::Scalar>,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn epilogue_avx512(
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: *const f32,
    act: Activation,
    res: *const f32,
    ldr: usize,
) {
    // SAFETY: avx512f is enabled by this function's `target_feature`; the pointers come with
    // `epilogue_tile`'s contract from the caller (the GEMM driver).
    unsafe { epilogue_tile::<crate::simd::Avx512>(c, ldc, rows, cols, bias, act, res, ldr) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn epilogue_avx2(
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: *const f32,
    act: Activation,
    res: *const f32,
    ldr: usize,
) {
    // SAFETY: avx2 and fma are enabled by this function's `target_feature`; the pointers come with
    // `epilogue_tile`'s contract from the caller (the GEMM driver).
    unsafe { epilogue_tile::<crate::simd::Avx2>(c, ldc, rows, cols, bias, act, res, ldr) }
}
