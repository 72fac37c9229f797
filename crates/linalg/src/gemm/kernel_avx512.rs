//! AVX-512F microkernel: an 8×48 tile of C held in 24 zmm accumulators.
//!
//! Per step of k it loads one row of the packed B panel (3 zmm = 48 floats) and broadcasts
//! 8 values of the packed A panel (embedded `{1to16}` broadcasts, no extra register), then
//! issues 24 independent FMAs — enough to cover Zen 5's 2 pipes × 4-cycle latency three
//! times over, with 8 registers left for the B rows and the compiler.
//! MR = 8 divides every YOLO channel count (8…256, 80); NR = 48 keeps the B panel
//! (KC × 48 × 4 B) inside L1 for KC = 128, the k slice it runs with (see `gemm::k_slice`).

use std::arch::x86_64::*;

pub(crate) const MR: usize = 8;
pub(crate) const NR: usize = 48;

/// `C[8×48] (+)= A_panel · B_panel` over `kc` steps.
///
/// # Safety
/// The CPU must support AVX-512F. `a` must be valid for `kc·8` reads, `b` for `kc·48`
/// reads (rows `ldb` apart, or at `b + offsets[kk]` when `offsets` is not null, then
/// valid for `kc` reads), and `c` for an 8×48 tile with row stride `ldc` (read when `load_c`, always written).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn kernel_8x48(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    offsets: *const usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    // SAFETY: this function's contract (see `# Safety`): the CPU has AVX-512F (enabled here by
    // `target_feature`), and `a`, `b` (or `b + offsets[kk]`) and `c` are valid for the `kc`-step
    // panels and the 8×48 tile read and written below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 3]; MR];
        let mut a = a;
        for kk in 0..kc {
            // Row kk of B: `ldb` apart, or (lazy im2col) at its own offset. The test is
            // loop-invariant, so the compiler splits the loop in two.
            let b = if offsets.is_null() {
                b.add(kk * ldb)
            } else {
                b.add(*offsets.add(kk))
            };
            // SAFETY: `b` advances by 48 and `a` by 8 per step, `kc` steps in all, within the
            // panel bounds the caller guarantees.
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            let b2 = _mm512_loadu_ps(b.add(32));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
                row[2] = _mm512_fmadd_ps(ai, b2, row[2]);
            }
            a = a.add(MR);
        }
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: row i of the 8×48 tile starts at c + i·ldc; the caller guarantees the tile.
            let ci = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let p = ci.add(16 * v);
                let x = if load_c {
                    _mm512_add_ps(x, _mm512_loadu_ps(p))
                } else {
                    x
                };
                _mm512_storeu_ps(p, x);
            }
        }
    }
}
