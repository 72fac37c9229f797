//! Lazy im2col for stride-1 convolutions: no packing of B at all.
//!
//! The input is copied once into a zero-bordered buffer `P[c][PH][PW]`. Output pixel
//! `(oy, ox)` is then given the "padded-width" index `q = oy·PW + ox`, and im2col row
//! `r = (c, ky, kx)` is the contiguous run `P[off(r) + q]` with
//! `off(r) = c·PH·PW + ky·dh·PW + kx·dw`. The microkernel reads B rows straight from `P`
//! through that offset table (as tract's lazy im2col does), so a 3×3 conv costs one copy
//! of its input instead of one packed write per im2col value. The price: the GEMM computes
//! `PW − OW` junk columns per output row (2 of 82 at 80×80), into a staging buffer, and a
//! final pass copies the valid columns out (adding the residual there).

use super::ConvGeometry;
use crate::gemm::{self, GemmOutput, KernelSpec, PackB, PackedWeights};
use crate::scratch::with_staging;
use crate::simd::Simd;
use crate::{Activation, Isa};
use rayon::ThreadPool;

/// Offsets of the im2col rows into the padded input, computed at plan time.
#[derive(Clone, Debug)]
pub(crate) struct LazyIm2col {
    offsets: Vec<usize>,
}

impl LazyIm2col {
    /// Whether the lazy path applies: stride 1 in both directions.
    pub(crate) fn applies(g: &ConvGeometry) -> bool {
        g.stride_h == 1 && g.stride_w == 1
    }

    pub(crate) fn new(g: &ConvGeometry) -> LazyIm2col {
        let (ph, pw) = padded_dims(g);
        let icg = g.in_channels / g.groups;
        let mut offsets = Vec::with_capacity(icg * g.kernel_h * g.kernel_w);
        for c in 0..icg {
            for ky in 0..g.kernel_h {
                for kx in 0..g.kernel_w {
                    offsets.push(c * ph * pw + ky * g.dilation_h * pw + kx * g.dilation_w);
                }
            }
        }
        LazyIm2col { offsets }
    }
}

fn padded_dims(g: &ConvGeometry) -> (usize, usize) {
    (
        g.in_h + g.pad_top + g.pad_bottom,
        g.in_w + g.pad_left + g.pad_right,
    )
}

/// B rows at `base + offsets[r]`.
struct IndirectB {
    base: *const f32,
    offsets: *const usize,
}

// SAFETY: both pointers refer to buffers that are only read during the GEMM and outlive it
// (the padded input in the caller's staging buffer, the plan's offset table).
unsafe impl Sync for IndirectB {}

impl PackB for IndirectB {
    fn indirect(&self) -> Option<(*const f32, *const usize)> {
        Some((self.base, self.offsets))
    }

    fn pack<S: Simd>(
        &self,
        k0: usize,
        kc: usize,
        n0: usize,
        n_cols: usize,
        nr: usize,
        dst: &mut [f32],
        _: &mut [f32],
    ) {
        // Not used by the driver (it reads `indirect` B in place); kept correct anyway.
        for kk in 0..kc {
            // SAFETY: `run` sized the padded input so that every row is readable for the
            // whole (panel-rounded) column range.
            let row = unsafe {
                std::slice::from_raw_parts(self.base.add(*self.offsets.add(k0 + kk) + n0), n_cols)
            };
            gemm::scatter_row::<S>(row, kk, kc, nr, dst);
        }
    }
}

/// One image (one group): `input` `[icg, H, W]` → `output` `[ocg, OH, OW]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    isa: Isa,
    g: &ConvGeometry,
    lazy: &LazyIm2col,
    packed: &PackedWeights,
    act: Activation,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) {
    let (ph, pw) = padded_dims(g);
    let (oh, ow) = (g.out_h(), g.out_w());
    let icg = g.in_channels / g.groups;
    let m = packed.m();
    let nr = KernelSpec::for_isa(isa).nr;
    let n_valid = (oh - 1) * pw + ow;
    let n_cols = n_valid.div_ceil(nr) * nr;
    let max_offset = lazy.offsets.last().copied().unwrap_or(0);
    // Every row read by the kernel, `offset + [0, n_cols)`, must lie inside the buffer.
    let padded_len = (icg * ph * pw).max(max_offset + n_cols);
    with_staging(padded_len, m * n_cols, |padded, staged| {
        fill_padded(g, input, padded);
        let source = IndirectB {
            base: padded.as_ptr(),
            offsets: lazy.offsets.as_ptr(),
        };
        let out = GemmOutput {
            data: staged,
            ldc: n_cols,
            accumulate: false,
        };
        gemm::run(packed, &source, n_cols, out, None, act, pool);
        // Keep the valid columns of each padded-width row, adding the residual.
        for (ch, (out_plane, staged_row)) in output
            .chunks_mut(oh * ow)
            .zip(staged.chunks(n_cols))
            .enumerate()
        {
            for oy in 0..oh {
                let src = &staged_row[oy * pw..oy * pw + ow];
                let dst = &mut out_plane[oy * ow..(oy + 1) * ow];
                match residual {
                    Some(r) => {
                        let r = &r[ch * oh * ow + oy * ow..ch * oh * ow + (oy + 1) * ow];
                        for ((d, &s), &x) in dst.iter_mut().zip(src).zip(r) {
                            *d = s + x;
                        }
                    }
                    None => dst.copy_from_slice(src),
                }
            }
        }
    })
}

/// `padded[c][y][x]` = input shifted by the pads, zero elsewhere (every value written).
fn fill_padded(g: &ConvGeometry, input: &[f32], padded: &mut [f32]) {
    let (ph, pw) = padded_dims(g);
    let icg = g.in_channels / g.groups;
    let (h, w) = (g.in_h, g.in_w);
    for c in 0..icg {
        let plane = &mut padded[c * ph * pw..(c + 1) * ph * pw];
        plane[..g.pad_top * pw].fill(0.0);
        for y in 0..h {
            let row = &mut plane[(g.pad_top + y) * pw..(g.pad_top + y + 1) * pw];
            row[..g.pad_left].fill(0.0);
            row[g.pad_left..g.pad_left + w]
                .copy_from_slice(&input[(c * h + y) * w..(c * h + y + 1) * w]);
            row[g.pad_left + w..].fill(0.0);
        }
        plane[(g.pad_top + h) * pw..].fill(0.0);
    }
    padded[icg * ph * pw..].fill(0.0);
}
