//! Packing: rearranging operands so the microkernel reads them strictly sequentially.
//!
//! * A (the constant operand: conv weights, `MatMul` initialisers) is packed once at plan
//!   time into [`PackedWeights`]: panels of `MR` rows, each stored k-major (`MR` values per
//!   step of k), the last panel zero-padded.
//! * B (activations) is packed per call into one `KC × NR` panel at a time that the kernel
//!   then reads from L1 for every panel of A. Anything that can produce rows of B
//!   implements [`PackB`]: a strided matrix ([`DenseB`]) or an implicit im2col view of a
//!   convolution input (`conv::implicit`), which is how convolutions avoid a full im2col.

use super::KernelSpec;
use crate::simd::Simd;
use crate::Isa;

/// The constant left operand `A[m×k]` of `C = A·B`, packed for one ISA's microkernel,
/// together with the per-row bias of the fused epilogue.
#[derive(Clone, Debug)]
pub struct PackedWeights {
    pub(crate) isa: Isa,
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) mr: usize,
    /// `ceil(m/mr)` panels of `k·mr` floats.
    pub(crate) panels: Vec<f32>,
    /// `m` values (zeros when there is no bias), padded to a whole panel.
    pub(crate) bias: Vec<f32>,
    pub(crate) has_bias: bool,
}

impl PackedWeights {
    /// Packs a row-major `m×k` matrix (`a[i*k + p]`), e.g. conv weights `[oc, ic·kh·kw]`.
    ///
    /// # Panics
    /// If `a.len() != m·k` or `bias` is given with a length other than `m`.
    pub fn new(isa: Isa, a: &[f32], m: usize, k: usize, bias: Option<&[f32]>) -> PackedWeights {
        assert_eq!(a.len(), m * k, "A must hold m·k values");
        PackedWeights::from_strided(isa, a, m, k, k, 1, bias)
    }

    /// Packs `A[i][p] = a[i*row_stride + p*col_stride]` (so a transposed operand costs nothing).
    ///
    /// # Panics
    /// If an element lies outside `a`, or `bias` is given with a length other than `m`.
    pub fn from_strided(
        isa: Isa,
        a: &[f32],
        m: usize,
        k: usize,
        row_stride: usize,
        col_stride: usize,
        bias: Option<&[f32]>,
    ) -> PackedWeights {
        let isa = isa.or_supported();
        let mr = KernelSpec::for_isa(isa).mr;
        if m > 0 && k > 0 {
            let last = (m - 1) * row_stride + (k - 1) * col_stride;
            assert!(last < a.len(), "A is too short for its shape and strides");
        }
        let n_panels = m.div_ceil(mr);
        let mut panels = vec![0.0f32; n_panels * k * mr];
        for (p, panel) in panels
            .chunks_exact_mut((k * mr).max(1))
            .enumerate()
            .take(n_panels)
        {
            let rows = mr.min(m - p * mr);
            for kk in 0..k {
                for i in 0..rows {
                    panel[kk * mr + i] = a[(p * mr + i) * row_stride + kk * col_stride];
                }
            }
        }
        let mut padded_bias = vec![0.0f32; n_panels * mr];
        if let Some(bias) = bias {
            assert_eq!(bias.len(), m, "bias must hold m values");
            padded_bias[..m].copy_from_slice(bias);
        }
        PackedWeights {
            isa,
            m,
            k,
            mr,
            panels,
            bias: padded_bias,
            has_bias: bias.is_some(),
        }
    }

    /// Rows of A (output channels).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Columns of A (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The ISA this packing is laid out for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Bytes held (for the planner's memory report).
    pub fn size_bytes(&self) -> usize {
        (self.panels.len() + self.bias.len()) * 4
    }
}

/// A source of B panels. `pack(k0, kc, n0, n_cols, nr, dst)` writes the block
/// `B[k0..k0+kc][n0..n0+n_cols]` as `ceil(n_cols/nr)` consecutive panels of `kc × nr`
/// floats (`dst[p*kc*nr + kk*nr + j] = B[k0+kk][n0 + p*nr + j]`), zero-filling the columns
/// of the last panel that lie past `n_cols`. `row_tmp` (at least `n_cols` floats) is
/// scratch for sources that produce a whole row segment before scattering it.
pub(crate) trait PackB: Sync {
    /// `S` is the ISA the caller is compiled for (copies use its vectors inline).
    #[allow(clippy::too_many_arguments)]
    fn pack<S: Simd>(
        &self,
        k0: usize,
        kc: usize,
        n0: usize,
        n_cols: usize,
        nr: usize,
        dst: &mut [f32],
        row_tmp: &mut [f32],
    );

    /// `(pointer to B[0][0], row stride)` when B is a row-major matrix the kernel can read
    /// in place, with every element in bounds.
    fn direct(&self) -> Option<(*const f32, usize)> {
        None
    }

    /// `(base, offsets)` when B needs no packing: row `r` of B is the contiguous run
    /// `base + offsets[r] ..`, and every column index up to `n` rounded up to a whole panel
    /// is in bounds (the lazy im2col of `conv::lazy`).
    fn indirect(&self) -> Option<(*const f32, *const usize)> {
        None
    }

    /// Whether [`PackB::pack_rows`] is implemented (and preferred over panels).
    const PACKS_ROWS: bool = false;

    /// Writes the block `B[k0..k0+kc][n0..n0+n_cols]` row-major with row stride `ld`,
    /// zero-filling each row from `n_cols` to `padded_cols` (a whole number of panels).
    /// The kernel then reads panel j at `dst + j·NR` with B row stride `ld`: one copy of
    /// each value instead of a gather plus a scatter into panels.
    #[allow(clippy::too_many_arguments)]
    fn pack_rows<S: Simd>(
        &self,
        _k0: usize,
        _kc: usize,
        _n0: usize,
        _n_cols: usize,
        _padded_cols: usize,
        _ld: usize,
        _dst: &mut [f32],
    ) {
        unreachable!("pack_rows called on a source without PACKS_ROWS")
    }
}

/// Scatters one contiguous row segment of B (`src`, the columns `n0..n0+src.len()` of row
/// `kk` of the block) into its panels.
#[inline(always)]
pub(crate) fn scatter_row<S: Simd>(src: &[f32], kk: usize, kc: usize, nr: usize, dst: &mut [f32]) {
    #[inline(always)]
    fn whole_panels<const NR: usize>(src: &[f32], kk: usize, kc: usize, dst: &mut [f32]) -> usize {
        let full = src.len() / NR;
        for (p, chunk) in src.chunks_exact(NR).enumerate() {
            let at = p * kc * NR + kk * NR;
            let d: &mut [f32; NR] = (&mut dst[at..at + NR]).try_into().unwrap();
            *d = chunk.try_into().unwrap();
        }
        full
    }
    // Fixed-size copies for the kernels' NR compile to a few vector moves, not a memcpy call.
    let full = match nr {
        48 => whole_panels::<48>(src, kk, kc, dst),
        24 => whole_panels::<24>(src, kk, kc, dst),
        16 => whole_panels::<16>(src, kk, kc, dst),
        _ => {
            for (p, chunk) in src.chunks_exact(nr).enumerate() {
                let at = p * kc * nr + kk * nr;
                dst[at..at + nr].copy_from_slice(chunk);
            }
            src.len() / nr
        }
    };
    let rest = &src[full * nr..];
    if !rest.is_empty() {
        let at = full * kc * nr + kk * nr;
        let panel_row = &mut dst[at..at + nr];
        // SAFETY: `rest.len() < nr` values are copied into, and the remainder of the
        // `nr`-long `panel_row` zeroed; the ISA of `S` is the caller's.
        unsafe {
            S::copy(rest.as_ptr(), panel_row.as_mut_ptr(), rest.len());
            S::fill(panel_row.as_mut_ptr().add(rest.len()), nr - rest.len(), 0.0);
        }
    }
}

/// `B[p][j] = data[p*row_stride + j*col_stride]`.
pub(crate) struct DenseB<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl PackB for DenseB<'_> {
    #[inline(always)]
    fn pack<S: Simd>(
        &self,
        k0: usize,
        kc: usize,
        n0: usize,
        n_cols: usize,
        nr: usize,
        dst: &mut [f32],
        _row_tmp: &mut [f32],
    ) {
        if self.col_stride == 1 {
            for kk in 0..kc {
                let start = (k0 + kk) * self.row_stride + n0;
                scatter_row::<S>(&self.data[start..start + n_cols], kk, kc, nr, dst);
            }
        } else {
            // Transposed or strided B: gather column by column, so reads run along memory.
            let panels = n_cols.div_ceil(nr);
            dst[..panels * kc * nr].fill(0.0);
            for j in 0..n_cols {
                let (p, jj) = (j / nr, j % nr);
                let col = &self.data[(n0 + j) * self.col_stride..];
                for kk in 0..kc {
                    dst[p * kc * nr + kk * nr + jj] = col[(k0 + kk) * self.row_stride];
                }
            }
        }
    }

    #[inline(always)]
    fn direct(&self) -> Option<(*const f32, usize)> {
        (self.col_stride == 1).then_some((self.data.as_ptr(), self.row_stride))
    }
}
