//! Implicit-im2col convolution: the GEMM's B operand is the im2col matrix
//! `B[(ci, ky, kx)][(oy, ox)] = x[ci][oy·sh + ky·dh − pt][ox·sw + kx·dw − pl]` (0 outside),
//! but it is never built. The GEMM driver asks for one block of panels at a time
//! (`KC` rows × a few `NR`-column panels, ~256 KiB, L2-resident), and `Im2colB` gathers
//! exactly those values from the input: contiguous copies for stride 1, strided reads for
//! stride 2, zero runs for the padding.

use super::ConvGeometry;
use crate::gemm::{scatter_row, PackB};
use crate::simd::Simd;

/// An im2col view of one image (one group) of a convolution input.
pub(crate) struct Im2colB<'a> {
    x: &'a [f32],
    g: ConvGeometry,
    out_w: usize,
}

impl<'a> Im2colB<'a> {
    /// `x` is `[in_channels/groups, H, W]`.
    pub(crate) fn new(g: &ConvGeometry, x: &'a [f32]) -> Im2colB<'a> {
        Im2colB {
            x,
            g: *g,
            out_w: g.out_w(),
        }
    }

    /// Writes `B[row][pixel0 .. pixel0 + out.len()]` into `out`.
    #[inline(always)]
    fn fill_row<S: Simd>(&self, row: usize, pixel0: usize, out: &mut [f32]) {
        let g = &self.g;
        let taps = g.kernel_h * g.kernel_w;
        let (ci, tap) = (row / taps, row % taps);
        let (ky, kx) = (tap / g.kernel_w, tap % g.kernel_w);
        let (h, w) = (g.in_h as isize, g.in_w as isize);
        let plane = &self.x[ci * g.in_h * g.in_w..(ci + 1) * g.in_h * g.in_w];
        let sw = g.stride_w as isize;
        let mut j = 0;
        let mut pixel = pixel0;
        while j < out.len() {
            let (oy, ox0) = (pixel / self.out_w, pixel % self.out_w);
            let run = (self.out_w - ox0).min(out.len() - j);
            let seg = &mut out[j..j + run];
            let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
            if iy < 0 || iy >= h {
                // SAFETY: `seg` holds `run` values; the ISA of `S` is the caller's.
                unsafe { S::fill(seg.as_mut_ptr(), run, 0.0) };
            } else {
                let src = &plane[iy as usize * g.in_w..(iy as usize + 1) * g.in_w];
                // Input column of seg[t] is off + t·sw; keep the t for which it is in [0, w).
                let off = (ox0 * g.stride_w + kx * g.dilation_w) as isize - g.pad_left as isize;
                let run_i = run as isize;
                let t_lo = if off >= 0 {
                    0
                } else {
                    ((-off + sw - 1) / sw).min(run_i)
                };
                let t_hi = if off >= w {
                    t_lo
                } else {
                    ((w - off + sw - 1) / sw).clamp(t_lo, run_i)
                };
                let (t_lo, t_hi) = (t_lo as usize, t_hi as usize);
                let (head, rest) = seg.split_at_mut(t_lo);
                let tail = &mut rest[t_hi - t_lo..];
                // SAFETY: each pointer comes with its own slice's length; the ISA of `S` is
                // the caller's.
                unsafe {
                    S::fill(head.as_mut_ptr(), head.len(), 0.0);
                    S::fill(tail.as_mut_ptr(), tail.len(), 0.0);
                }
                if t_hi > t_lo {
                    let first = (off + t_lo as isize * sw) as usize;
                    if sw == 1 {
                        let from = &src[first..first + (t_hi - t_lo)];
                        let to = &mut seg[t_lo..t_hi];
                        // SAFETY: `from` and `to` have the same length; the ISA of `S` is the caller's.
                        unsafe { S::copy(from.as_ptr(), to.as_mut_ptr(), to.len()) };
                    } else if sw == 2 {
                        // A constant stride lets the vectoriser use wide loads + shuffles.
                        let len = t_hi - t_lo;
                        let src = &src[first..first + 2 * len - 1];
                        let dst = &mut seg[t_lo..t_hi];
                        for (v, pair) in dst.iter_mut().zip(src.chunks_exact(2)) {
                            *v = pair[0];
                        }
                        dst[len - 1] = src[2 * len - 2];
                    } else {
                        let stride = g.stride_w;
                        for (t, v) in seg[t_lo..t_hi].iter_mut().enumerate() {
                            *v = src[first + t * stride];
                        }
                    }
                }
            }
            j += run;
            pixel += run;
        }
    }
}

impl PackB for Im2colB<'_> {
    #[inline(always)]
    fn pack<S: Simd>(
        &self,
        k0: usize,
        kc: usize,
        n0: usize,
        n_cols: usize,
        nr: usize,
        dst: &mut [f32],
        row_tmp: &mut [f32],
    ) {
        // Gather each im2col row segment whole (a few long runs, one per output row), then
        // scatter it into the panels with fixed-size copies.
        let row = &mut row_tmp[..n_cols];
        for kk in 0..kc {
            self.fill_row::<S>(k0 + kk, n0, row);
            scatter_row::<S>(row, kk, kc, nr, dst);
        }
    }

    const PACKS_ROWS: bool = true;

    #[inline(always)]
    fn pack_rows<S: Simd>(
        &self,
        k0: usize,
        kc: usize,
        n0: usize,
        n_cols: usize,
        padded_cols: usize,
        ld: usize,
        dst: &mut [f32],
    ) {
        for kk in 0..kc {
            let row = &mut dst[kk * ld..kk * ld + padded_cols];
            let (values, pad) = row.split_at_mut(n_cols);
            self.fill_row::<S>(k0 + kk, n0, values);
            // SAFETY: `pad` is a slice of its own length; the ISA of `S` is the caller's.
            unsafe { S::fill(pad.as_mut_ptr(), pad.len(), 0.0) };
        }
    }
}
