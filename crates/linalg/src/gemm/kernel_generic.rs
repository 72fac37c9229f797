//! Portable microkernel: a 4×16 tile, written so that the auto-vectoriser turns the inner
//! `j` loop into whole-register multiply-adds on any target.

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 16;

/// `C[4×16] (+)= A_panel · B_panel` over `kc` steps.
///
/// # Safety
/// `a` must be valid for `kc·4` reads, `b` for `kc·16` reads (rows `ldb` apart, or at `b + offsets[kk]` when `offsets` is not null, then
/// valid for `kc` reads), and `c` for a 4×16 tile with
/// row stride `ldc` (read when `load_c`, always written).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn kernel_4x16(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    offsets: *const usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    // SAFETY: this function's contract (see `# Safety`): `a`, `b` (or `b + offsets[kk]`) and `c`
    // are valid for the `kc`-step panels and the 4×16 tile that the slices below cover.
    unsafe {
        // SAFETY: the caller guarantees the panel and tile extents used to build these slices.
        let a = std::slice::from_raw_parts(a, kc * MR);
        let mut acc = [[0.0f32; NR]; MR];
        for (kk, a_step) in a.chunks_exact(MR).enumerate() {
            // SAFETY: row kk of the B panel starts at b + kk·ldb (or b + offsets[kk]) and holds
            // NR values.
            let row = if offsets.is_null() {
                kk * ldb
            } else {
                *offsets.add(kk)
            };
            let b_row = std::slice::from_raw_parts(b.add(row), NR);
            for (acc_row, &ai) in acc.iter_mut().zip(a_step) {
                for (x, &bj) in acc_row.iter_mut().zip(b_row) {
                    *x += ai * bj;
                }
            }
        }
        for (i, acc_row) in acc.iter().enumerate() {
            // SAFETY: row i of the tile starts at c + i·ldc and holds NR values.
            let c_row = std::slice::from_raw_parts_mut(c.add(i * ldc), NR);
            for (dst, &x) in c_row.iter_mut().zip(acc_row) {
                *dst = if load_c { *dst + x } else { x };
            }
        }
    }
}
