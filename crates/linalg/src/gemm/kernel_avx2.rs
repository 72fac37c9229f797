//! AVX2+FMA microkernel: a 4×24 tile of C in 12 ymm accumulators.
//!
//! AVX2 has no embedded broadcast, so each A value needs a register: 12 accumulators +
//! 3 B rows + 1 broadcast = all 16 ymm registers. MR = 4 divides every YOLO channel count.

use std::arch::x86_64::*;

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 24;

/// `C[4×24] (+)= A_panel · B_panel` over `kc` steps.
///
/// # Safety
/// The CPU must support AVX2 and FMA. `a` must be valid for `kc·4` reads, `b` for `kc·24`
/// reads (rows `ldb` apart, or at `b + offsets[kk]` when `offsets` is not null, then
/// valid for `kc` reads), and `c` for a 4×24 tile with row stride `ldc` (read when `load_c`, always written).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn kernel_4x24(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    offsets: *const usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    // SAFETY: this function's contract (see `# Safety`): the CPU has AVX2 and FMA (enabled here by
    // `target_feature`), and `a`, `b` (or `b + offsets[kk]`) and `c` are valid for the `kc`-step
    // panels and the 4×24 tile read and written below.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 3]; MR];
        let mut a = a;
        for kk in 0..kc {
            // Row kk of B: `ldb` apart, or (lazy im2col) at its own offset. The test is
            // loop-invariant, so the compiler splits the loop in two.
            let b = if offsets.is_null() {
                b.add(kk * ldb)
            } else {
                b.add(*offsets.add(kk))
            };
            // SAFETY: `b` advances by 24 and `a` by 4 per step, `kc` steps in all, within the
            // panel bounds the caller guarantees.
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            let b2 = _mm256_loadu_ps(b.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                row[2] = _mm256_fmadd_ps(ai, b2, row[2]);
            }
            a = a.add(MR);
        }
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: row i of the 4×24 tile starts at c + i·ldc; the caller guarantees the tile.
            let ci = c.add(i * ldc);
            for (v, &x) in row.iter().enumerate() {
                let p = ci.add(8 * v);
                let x = if load_c {
                    _mm256_add_ps(x, _mm256_loadu_ps(p))
                } else {
                    x
                };
                _mm256_storeu_ps(p, x);
            }
        }
    }
}
