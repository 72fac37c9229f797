//! Vectorised exp, sigmoid, SiLU and ReLU, and the fused GEMM/conv epilogue that uses them.
//!
//! `exp` is the Cephes `expf` scheme: `x = n·ln2 + r` with a two-constant Cody–Waite split
//! of ln2, a degree-5 minimax polynomial for `e^r` on |r| ≤ ln2/2, and `2^n` applied through
//! the exponent (`vscalefps` on AVX-512). Its relative error is ~1 ulp. Sigmoid and SiLU add
//! `1 + e^-x` and a reciprocal (a 14-bit estimate refined by one Newton step on AVX-512, a
//! division elsewhere), which keeps them within a few ulp: max relative error
//! < 1e-6 against an f64 reference, checked in `tests/elementwise.rs`.
//! The input is clamped to [-87.3, 88.37], so `exp` saturates at ~2.4e38 instead of
//! returning +inf and flushes to ~1.2e-38 instead of returning denormals or zero.

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

const EXP_HI: f32 = 88.376_26; // ln(2^127.5): keeps n ≤ 127 so 2^n is a normal float
const EXP_LO: f32 = -87.336_55; // ln(2^-126)
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0.693359375, exact in 10 bits, so n·LN2_HI is exact
#[allow(clippy::excessive_precision)]
const LN2_LO: f32 = -2.121_944_4e-4; // ln2 − LN2_HI (Cephes C2, rounded to f32)
const P0: f32 = 1.987_569_1e-4;
const P1: f32 = 1.398_199_9e-3;
const P2: f32 = 8.333_452e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_5e-1;
const P5: f32 = 0.5; // Cephes 5.0000001201e-1 rounds to exactly 0.5 in f32

/// `e^x` lane-wise.
#[inline(always)]
pub(crate) unsafe fn exp_v<S: Simd>(x: S::V) -> S::V {
    let x = S::min(S::max(x, S::splat(EXP_LO)), S::splat(EXP_HI));
    let n = S::round(S::mul(x, S::splat(LOG2E)));
    let r = S::fma(n, S::splat(-LN2_HI), x);
    let r = S::fma(n, S::splat(-LN2_LO), r);
    let z = S::mul(r, r);
    let mut p = S::splat(P0);
    p = S::fma(p, r, S::splat(P1));
    p = S::fma(p, r, S::splat(P2));
    p = S::fma(p, r, S::splat(P3));
    p = S::fma(p, r, S::splat(P4));
    p = S::fma(p, r, S::splat(P5));
    let er = S::add(S::fma(p, z, r), S::splat(1.0));
    S::scale_pow2(er, n)
}

/// `1 / (1 + e^-x)` lane-wise.
#[inline(always)]
pub(crate) unsafe fn sigmoid_v<S: Simd>(x: S::V) -> S::V {
    let one = S::splat(1.0);
    let e = exp_v::<S>(S::sub(S::splat(0.0), x));
    S::recip(S::add(one, e))
}

/// `x / (1 + e^-x)` lane-wise.
#[inline(always)]
pub(crate) unsafe fn silu_v<S: Simd>(x: S::V) -> S::V {
    let e = exp_v::<S>(S::sub(S::splat(0.0), x));
    S::mul(x, S::recip(S::add(S::splat(1.0), e)))
}

#[inline(always)]
pub(crate) unsafe fn activation_v<S: Simd>(act: Activation, x: S::V) -> S::V {
    match act {
        Activation::Identity => x,
        Activation::Relu => S::max(x, S::splat(0.0)),
        Activation::Sigmoid => sigmoid_v::<S>(x),
        Activation::Silu => silu_v::<S>(x),
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
            act,
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
            act,
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
            act,
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
            act,
            #[inline(always)]
            |v| silu_v::<S>(v),
        ),
    }
}

/// The body of [`epilogue_tile`] for one activation `f` (`act` names the same activation,
/// for the scalar tail).
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
    act: Activation,
    f: impl Fn(S::V) -> S::V,
) {
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
            for j in j..cols {
                let v = activation_v::<crate::simd::Scalar>(act, *row.add(j) + *bias.add(r));
                *row.add(j) = v + *res_row.add(j);
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
    epilogue_tile::<crate::simd::Avx512>(c, ldc, rows, cols, bias, act, res, ldr)
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
    epilogue_tile::<crate::simd::Avx2>(c, ldc, rows, cols, bias, act, res, ldr)
}
