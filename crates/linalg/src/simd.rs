//! A minimal SIMD vocabulary so that the elementwise maths (exp, sigmoid, SiLU, epilogues)
//! is written once and instantiated per instruction set.
//!
//! The trait methods are `#[inline(always)]` and carry no `target_feature` themselves: they
//! are only ever called from inside a `#[target_feature]` entry point (see [`dispatch!`]),
//! into which they inline, so the intrinsics end up compiled with the right features.
//! Calling an `Avx512`/`Avx2` method from anywhere else is the one thing that would be
//! unsound, hence every method is `unsafe` and the types are crate-private.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A vector of `LANES` f32.
pub(crate) trait Simd {
    type V: Copy;
    const LANES: usize;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused where the ISA has FMA.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `2^n` for integral `n` in [-126, 127] (builds the exponent bits directly).
    unsafe fn pow2i(n: Self::V) -> Self::V;
    /// Whether [`Simd::scale_pow2`] is exact for any integral `n` (AVX-512's `vscalefps`,
    /// denormal results included); otherwise callers keep `n` in [-126, 127].
    const EXACT_SCALE: bool = false;
    /// `p · 2^n` for integral `n` in [-126, 127].
    #[inline(always)]
    unsafe fn scale_pow2(p: Self::V, n: Self::V) -> Self::V {
        // SAFETY: the caller's contract (`Self`'s ISA is enabled) is passed on to `mul` and
        // `pow2i`.
        unsafe { Self::mul(p, Self::pow2i(n)) }
    }
    /// Loads the first `n < LANES` values at `p` (the other lanes are zero), touching no
    /// memory past `p + n`.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::V;
    /// Stores the first `n < LANES` lanes of `v` at `p`, touching no memory past `p + n`.
    unsafe fn store_partial(p: *mut f32, v: Self::V, n: usize);

    /// Copies `n` values. Short copies are the bulk of im2col packing, where a call to
    /// `memcpy`/`memset` per run (what a plain loop or `copy_from_slice` becomes) costs more
    /// than the copy itself; this is inline vector moves with a masked tail.
    #[inline(always)]
    unsafe fn copy(src: *const f32, dst: *mut f32, n: usize) {
        // SAFETY: the caller guarantees `src` and `dst` valid for `n` values and `Self`'s ISA
        // enabled; whole vectors are moved while `i + LANES <= n`, then a masked tail of `n - i`
        // values, so no access reaches past `n`.
        unsafe {
            let mut i = 0;
            while i + Self::LANES <= n {
                Self::store(dst.add(i), Self::load(src.add(i)));
                i += Self::LANES;
            }
            if i < n {
                Self::store_partial(dst.add(i), Self::load_partial(src.add(i), n - i), n - i);
            }
        }
    }

    /// Sets `n` values to `value` (inline, see [`Simd::copy`]).
    #[inline(always)]
    unsafe fn fill(dst: *mut f32, n: usize, value: f32) {
        // SAFETY: the caller guarantees `dst` valid for `n` values and `Self`'s ISA enabled; whole
        // vectors are stored while `i + LANES <= n`, then a masked tail of `n - i` values, so no
        // access reaches past `n`.
        unsafe {
            let v = Self::splat(value);
            let mut i = 0;
            while i + Self::LANES <= n {
                Self::store(dst.add(i), v);
                i += Self::LANES;
            }
            if i < n {
                Self::store_partial(dst.add(i), v, n - i);
            }
        }
    }
}

/// One lane at a time; the portable fallback and the reference for the maths.
pub(crate) struct Scalar;

impl Simd for Scalar {
    type V = f32;
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        // SAFETY: the caller guarantees `p` is valid for one read.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees `p` is valid for one write.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    unsafe fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    unsafe fn max(a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn min(a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn fma(a: f32, b: f32, c: f32) -> f32 {
        // Not `mul_add`: without hardware FMA that is a slow libm call.
        a * b + c
    }
    #[inline(always)]
    unsafe fn pow2i(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    #[inline(always)]
    unsafe fn load_partial(_p: *const f32, _n: usize) -> f32 {
        0.0 // n < LANES = 1: nothing to load
    }
    #[inline(always)]
    unsafe fn store_partial(_p: *mut f32, _v: f32, _n: usize) {}
}

/// 16 lanes in a zmm register.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const EXACT_SCALE: bool = true;
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; the caller
        // guarantees `p` is valid for 16 reads.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; the caller
        // guarantees `p` is valid for 16 writes.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn pow2i(n: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe {
            let bits = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(bits))
        }
    }
    #[inline(always)]
    unsafe fn scale_pow2(p: __m512, n: __m512) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm512_scalef_ps(p, n) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m512 {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; only lanes
        // `0..n` are selected and masked-off lanes are not accessed (no fault), so only `p..p + n`,
        // which the caller guarantees valid, is read.
        unsafe {
            // Masked-off lanes are not accessed (no fault past p + n).
            _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p)
        }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m512, n: usize) {
        // SAFETY: these methods run only inside an avx512f `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; only lanes
        // `0..n` are selected and masked-off lanes are not accessed (no fault), so only `p..p + n`,
        // which the caller guarantees valid, is written.
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v) }
    }
}

/// 8 lanes in a ymm register.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; the caller
        // guarantees `p` is valid for 8 reads.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; the caller
        // guarantees `p` is valid for 8 writes.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn pow2i(n: __m256) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions.
        unsafe {
            let bits = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits))
        }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m256 {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; only lanes
        // `0..n` are selected and masked-off lanes are not accessed (no fault), so only `p..p + n`,
        // which the caller guarantees valid, is read.
        unsafe {
            // maskload does not access (or fault on) lanes whose mask bit is clear.
            _mm256_maskload_ps(p, avx2_mask(n))
        }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m256, n: usize) {
        // SAFETY: these methods run only inside an avx2+fma `#[target_feature]` function (the
        // trait's contract, kept by `dispatch!`), so the CPU has the instructions; only lanes
        // `0..n` are selected and masked-off lanes are not accessed (no fault), so only `p..p + n`,
        // which the caller guarantees valid, is written.
        unsafe { _mm256_maskstore_ps(p, avx2_mask(n), v) }
    }
}

/// Lanes `0..n` set (all bits), the rest clear.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn avx2_mask(n: usize) -> __m256i {
    // SAFETY: only called from the `Avx2` methods, which run with avx2 enabled (the trait's
    // contract).
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// Calls `$generic::<S>($args)` where `S` is the [`Simd`] type of `$isa`, through a
/// `#[target_feature]` trampoline so that the generic body is compiled for that ISA.
///
/// `$generic` must be `#[inline(always)]` (and everything it calls), and must only use
/// the `Simd` methods of its type parameter for SIMD work.
macro_rules! dispatch {
    ($isa:expr, $generic:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_imports)]
        use $crate::simd::Simd as _;
        match $isa.or_supported() {
            #[cfg(target_arch = "x86_64")]
            $crate::Isa::Avx512 => {
                #[target_feature(enable = "avx512f")]
                #[inline(never)]
                unsafe fn trampoline<F: FnOnce() -> R, R>(f: F) -> R {
                    f()
                }
                // SAFETY: `or_supported` returned Avx512 only because the CPU reports avx512f.
                unsafe { trampoline(#[inline(always)] || $generic::<$crate::simd::Avx512>($($arg),*)) }
            }
            #[cfg(target_arch = "x86_64")]
            $crate::Isa::Avx2Fma => {
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                unsafe fn trampoline<F: FnOnce() -> R, R>(f: F) -> R {
                    f()
                }
                // SAFETY: `or_supported` returned Avx2Fma only because the CPU reports avx2 and fma.
                unsafe { trampoline(#[inline(always)] || $generic::<$crate::simd::Avx2>($($arg),*)) }
            }
            _ => $generic::<$crate::simd::Scalar>($($arg),*),
        }
    }};
}
pub(crate) use dispatch;
