//! Winograd convolution F(m×m, 3×3) for 3×3 stride-1 dilation-1 single-group convolutions
//! (Lavin & Gray 2015), the default (non-exact) mode's algorithm for those layers.
//!
//! With α = m + 2, the output is cut into m×m tiles; tile `t` reads the α×α input patch `d`
//! at `(m·ty − pad_top, m·tx − pad_left)` and
//!
//! ```text
//! Y_t = Aᵀ [ Σ_c U_c ⊙ V_c,t ] A,     U_c = G g_c Gᵀ (weights, at plan time),  V_c,t = Bᵀ d_c,t B
//! ```
//!
//! so the α² element positions ξ of the transformed tiles are α² independent GEMMs
//! `M[ξ] (oc × T) = U[ξ] (oc × ic) · V[ξ] (ic × T)` over the T tiles. The GEMMs run on the
//! packed GEMM (`U[ξ]` pre-packed once per plan).
//!
//! The tiles are processed in blocks of whole tile rows, one rayon task per block, each on its
//! own L2-sized scratch: input transform of the block into `V[ξ][c][t]`, the α² GEMMs into
//! `M[ξ][oc][t]`, output transform and epilogue (bias, activation, residual) into the block's
//! output rows. The transforms are vector code (AVX-512, AVX2 or scalar, the plan's ISA) over
//! all tiles of the block at once: the input rows are split by phase `x mod m` once, and each
//! tile row carries one junk tile, so every transform term is one contiguous `Σ c·x` run.
//!
//! The arithmetic is not the direct convolution's: results differ from it by rounding,
//! more for F(4×4) (its transform constants reach 8 and 1/24) than for F(2×2). This module
//! is used only outside `exact` mode; [`reference`] is the plain scalar statement of the same
//! algorithm, for tests.

use super::ConvGeometry;
use crate::activation::{epilogue_fn, Activation};
use crate::gemm::{self, DenseB, GemmOutput, PackedWeights};
use crate::scratch::with_staging;
use crate::simd::Simd;
use crate::Isa;
use rayon::prelude::*;
use rayon::ThreadPool;

/// The output tile of a Winograd convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WinogradTile {
    /// F(2×2, 3×3): 4×4 input tiles, 16 GEMMs, 2.25× fewer multiplies than direct.
    F2,
    /// F(4×4, 3×3): 6×6 input tiles, 36 GEMMs, 4× fewer multiplies than direct.
    F4,
}

/// The transform matrices of one tile size, row-major.
struct Matrices {
    /// Output tile side m.
    m: usize,
    /// Input tile side α = m + 2.
    a: usize,
    /// Bᵀ, α × α.
    bt: &'static [f32],
    /// G, α × 3 (f64: the weight transform is done once, as exactly as we can).
    g: &'static [f64],
    /// Aᵀ, m × α.
    at: &'static [f32],
}

#[rustfmt::skip]
const F2: Matrices = Matrices {
    m: 2,
    a: 4,
    bt: &[
        1.0, 0.0, -1.0, 0.0,
        0.0, 1.0, 1.0, 0.0,
        0.0, -1.0, 1.0, 0.0,
        0.0, 1.0, 0.0, -1.0,
    ],
    g: &[
        1.0, 0.0, 0.0,
        0.5, 0.5, 0.5,
        0.5, -0.5, 0.5,
        0.0, 0.0, 1.0,
    ],
    at: &[
        1.0, 1.0, 1.0, 0.0,
        0.0, 1.0, -1.0, -1.0,
    ],
};

#[rustfmt::skip]
const F4: Matrices = Matrices {
    m: 4,
    a: 6,
    bt: &[
        4.0, 0.0, -5.0, 0.0, 1.0, 0.0,
        0.0, -4.0, -4.0, 1.0, 1.0, 0.0,
        0.0, 4.0, -4.0, -1.0, 1.0, 0.0,
        0.0, -2.0, -1.0, 2.0, 1.0, 0.0,
        0.0, 2.0, -1.0, -2.0, 1.0, 0.0,
        0.0, 4.0, 0.0, -5.0, 0.0, 1.0,
    ],
    g: &[
        1.0 / 4.0, 0.0, 0.0,
        -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
        -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
        1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
        1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
        0.0, 0.0, 1.0,
    ],
    at: &[
        1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
        0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
        0.0, 1.0, 1.0, 4.0, 4.0, 0.0,
        0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
    ],
};

impl WinogradTile {
    fn matrices(self) -> &'static Matrices {
        match self {
            WinogradTile::F2 => &F2,
            WinogradTile::F4 => &F4,
        }
    }
}

/// Whether Winograd can compute this convolution at all: 3×3, stride 1, dilation 1, one group.
pub(crate) fn eligible(g: &ConvGeometry) -> bool {
    g.kernel_h == 3
        && g.kernel_w == 3
        && g.stride_h == 1
        && g.stride_w == 1
        && g.dilation_h == 1
        && g.dilation_w == 1
        && g.groups == 1
}

/// The tile the default mode uses for `g`, or `None` where the GEMM paths are at least as fast.
///
/// The rule comes from timing the 3×3 stride-1 layer shapes of YOLO11n (640 and 320) and a
/// few larger ones on the lazy-im2col GEMM (exact mode) against both tiles
/// (`examples/winograd_rule.rs`, 2-vCPU Intel Xeon with AVX-512, 1 and 2 threads, fastest of
/// 15 alternating runs; the README's speed section has the table):
///
/// - F(2×2) is only at par with the GEMM where both channel counts are ≥ 64 and the output
///   has ≥ 56×56 pixels (0.95–1.01× the GEMM's time at 64→64 channels, 80×80 and 56×56);
///   everywhere else it is slower (1.1–2.5× below 64 channels, where the transforms cost
///   more than the GEMM saves).
/// - F(4×4) is faster on the largest layers (0.78× at 64→64, 80×80, one thread) but its
///   rounding exceeds onnxruntime's own ORT_ENABLE_ALL vs ORT_DISABLE_ALL spread on 11 of
///   the 24 YOLO11 fixture exports (up to 2× on box coordinates), so the default mode does not
///   use it; F(2×2) stays within that spread on all of them (`tests/models.rs`).
pub(crate) fn choose(g: &ConvGeometry) -> Option<WinogradTile> {
    if !eligible(g) {
        return None;
    }
    let pixels = g.out_h() * g.out_w();
    (g.in_channels >= 64 && g.out_channels >= 64 && pixels >= 56 * 56).then_some(WinogradTile::F2)
}

/// Transformed weights `U[ξ]` (`oc × ic` each), packed for the GEMM, and the bias.
#[derive(Clone, Debug)]
pub(crate) struct WinogradWeights {
    tile: WinogradTile,
    u: Vec<PackedWeights>,
    bias: Vec<f32>,
}

impl WinogradWeights {
    /// `weights` is `[oc, ic, 3, 3]`; `g` must be [`eligible`].
    pub(crate) fn new(
        isa: Isa,
        tile: WinogradTile,
        g: &ConvGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> WinogradWeights {
        let (ic, oc) = (g.in_channels, g.out_channels);
        let u = transform_weights(tile, ic, oc, weights);
        let a2 = tile.matrices().a * tile.matrices().a;
        let packed = (0..a2)
            .map(|xi| PackedWeights::new(isa, &u[xi * oc * ic..(xi + 1) * oc * ic], oc, ic, None))
            .collect();
        WinogradWeights {
            tile,
            u: packed,
            bias: bias.map_or_else(|| vec![0.0; oc], <[f32]>::to_vec),
        }
    }

    pub(crate) fn tile(&self) -> WinogradTile {
        self.tile
    }
}

/// `U[ξ][o][c] = (G g_{o,c} Gᵀ)[ξ]`, computed in f64 and rounded once.
fn transform_weights(tile: WinogradTile, ic: usize, oc: usize, weights: &[f32]) -> Vec<f32> {
    let mt = tile.matrices();
    let a = mt.a;
    let mut u = vec![0.0f32; a * a * oc * ic];
    for o in 0..oc {
        for c in 0..ic {
            let w = &weights[(o * ic + c) * 9..(o * ic + c + 1) * 9];
            // tmp = G · w (α × 3), then U = tmp · Gᵀ (α × α).
            let mut tmp = [0.0f64; 18];
            for i in 0..a {
                for j in 0..3 {
                    tmp[i * 3 + j] = (0..3).map(|k| mt.g[i * 3 + k] * w[k * 3 + j] as f64).sum();
                }
            }
            for i in 0..a {
                for j in 0..a {
                    let v: f64 = (0..3).map(|k| tmp[i * 3 + k] * mt.g[j * 3 + k]).sum();
                    u[((i * a + j) * oc + o) * ic + c] = v as f32;
                }
            }
        }
    }
    u
}

/// Tiles down and across.
fn tiles(g: &ConvGeometry, m: usize) -> (usize, usize) {
    (g.out_h().div_ceil(m), g.out_w().div_ceil(m))
}

/// `dst[i] += c · src[i]` over the common length.
///
/// # Safety
/// The CPU must support `S`.
#[inline(always)]
unsafe fn axpy<S: Simd>(dst: &mut [f32], src: &[f32], c: f32) {
    let n = dst.len().min(src.len());
    // SAFETY: every access is below `n`, within both slices (whole vectors while
    // `i + LANES <= n`, then a masked tail); `S`'s ISA is the caller's guarantee.
    unsafe {
        let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
        let cv = S::splat(c);
        let mut i = 0;
        while i + S::LANES <= n {
            S::store(d.add(i), S::fma(cv, S::load(s.add(i)), S::load(d.add(i))));
            i += S::LANES;
        }
        if i < n {
            let r = n - i;
            let v = S::fma(
                cv,
                S::load_partial(s.add(i), r),
                S::load_partial(d.add(i), r),
            );
            S::store_partial(d.add(i), v, r);
        }
    }
}

/// `dst = Σ_j coef[j] · src(j)` over `dst.len()` values (zero coefficients skipped), summed
/// in registers: one store per vector, never a reload of `dst` (masked stores do not forward
/// to loads, which made a read-modify-write chain over short rows stall).
///
/// # Safety
/// The CPU must support `S`.
#[inline(always)]
unsafe fn combine<'s, S: Simd>(dst: &mut [f32], coefs: &[f32], src: impl Fn(usize) -> &'s [f32]) {
    let n = dst.len();
    let mut ptrs = [std::ptr::null::<f32>(); 8];
    let mut cs = [0.0f32; 8];
    let mut cnt = 0;
    for (j, &c) in coefs.iter().enumerate().take(8) {
        if c != 0.0 {
            let row = src(j);
            assert!(row.len() >= n, "winograd: transform source too short");
            ptrs[cnt] = row.as_ptr();
            cs[cnt] = c;
            cnt += 1;
        }
    }
    if cnt == 0 {
        dst.fill(0.0);
        return;
    }
    // SAFETY: every source holds at least `n` values (asserted above) and `dst` holds `n`;
    // accesses stay below `n` (whole vectors while `i + LANES <= n`, then a masked tail);
    // `S`'s ISA is the caller's guarantee.
    unsafe {
        let d = dst.as_mut_ptr();
        let mut i = 0;
        while i + S::LANES <= n {
            let mut acc = S::mul(S::splat(cs[0]), S::load(ptrs[0].add(i)));
            for t in 1..cnt {
                acc = S::fma(S::splat(cs[t]), S::load(ptrs[t].add(i)), acc);
            }
            S::store(d.add(i), acc);
            i += S::LANES;
        }
        if i < n {
            let r = n - i;
            let mut acc = S::mul(S::splat(cs[0]), S::load_partial(ptrs[0].add(i), r));
            for t in 1..cnt {
                acc = S::fma(S::splat(cs[t]), S::load_partial(ptrs[t].add(i), r), acc);
            }
            S::store_partial(d.add(i), acc, r);
        }
    }
}

/// Tiles of a block of `rows` tile rows: each row carries one junk tile past its last
/// (`tw + 1` per row), so that every transform term over the whole block is one contiguous
/// run (tile `tx + 1` of a row's phase array continues into the next row's first).
fn block_tiles(rows: usize, tw: usize) -> usize {
    rows * (tw + 1)
}

/// Scratch floats for the input transform of a block of `rows` tile rows.
fn input_scratch_len(mt: &Matrices, rows: usize, tw: usize) -> usize {
    let pw = mt.m * (tw + 1);
    mt.a * pw + mt.a * mt.m * (block_tiles(rows, tw) + 1)
}

/// `v[ξ][c][t] = (Bᵀ d_{c,t} B)[ξ]` for every channel `c` and every tile `t` of tile rows
/// `ty0..ty1` (`t = (ty − ty0)·(tw + 1) + tx`, see [`block_tiles`]).
///
/// # Safety
/// The CPU must support `S`.
#[allow(clippy::too_many_arguments)]
unsafe fn input_transform<S: Simd>(
    mt: &Matrices,
    g: &ConvGeometry,
    input: &[f32],
    (ty0, ty1): (usize, usize),
    tw: usize,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    let (m, a) = (mt.m, mt.a);
    let (h, w) = (g.in_h, g.in_w);
    let ic = g.in_channels;
    let nt = block_tiles(ty1 - ty0, tw);
    let qlen = nt + 1;
    // Padded-coordinate row width the tiles of a row read: m·(tw − 1) + α ≤ m·(tw + 1).
    let pw = m * (tw + 1);
    let (vt, q) = scratch.split_at_mut(a * pw);
    for c in 0..ic {
        let plane = &input[c * h * w..(c + 1) * h * w];
        for ty in ty0..ty1 {
            // Vertical pass on whole rows: vt[l][x] = Σ_i Bᵀ[l][i] · d(m·ty + i, x).
            for l in 0..a {
                let row = &mut vt[l * pw..(l + 1) * pw];
                row.fill(0.0);
                for i in 0..a {
                    let coef = mt.bt[l * a + i];
                    let y = (m * ty + i) as isize - g.pad_top as isize;
                    if coef == 0.0 || y < 0 || y >= h as isize {
                        continue;
                    }
                    let src = &plane[y as usize * w..(y as usize + 1) * w];
                    let start = g.pad_left.min(pw);
                    // SAFETY: the caller's guarantee on `S`.
                    unsafe { axpy::<S>(&mut row[start..], src, coef) };
                }
            }
            // Split by phase: q[l][p][row·(tw + 1) + t] = vt[l][m·t + p], so tile tx's
            // column j is q[l][j mod m][tx + j div m], contiguous in tx.
            let t0 = (ty - ty0) * (tw + 1);
            for l in 0..a {
                let src = &vt[l * pw..(l + 1) * pw];
                for p in 0..m {
                    let dst = &mut q[(l * m + p) * qlen + t0..(l * m + p) * qlen + t0 + tw + 1];
                    for (t, d) in dst.iter_mut().enumerate() {
                        *d = src[m * t + p];
                    }
                }
            }
        }
        for l in 0..a {
            for p in 0..m {
                q[(l * m + p) * qlen + nt] = 0.0;
            }
        }
        // Horizontal pass over the whole block: V[l·α + k][c][t] = Σ_j Bᵀ[k][j] · column j.
        for l in 0..a {
            for k in 0..a {
                let start = ((l * a + k) * ic + c) * nt;
                let dst = &mut v[start..start + nt];
                // SAFETY: the caller's guarantee on `S`.
                unsafe {
                    combine::<S>(dst, &mt.bt[k * a..(k + 1) * a], |j| {
                        let start = (l * m + j % m) * qlen + j / m;
                        &q[start..start + nt]
                    })
                };
            }
        }
    }
}

/// Scratch floats for one output channel's transform of a block of `rows` tile rows.
fn output_scratch_len(mt: &Matrices, rows: usize, tw: usize) -> usize {
    (mt.m * mt.a + mt.m * mt.m) * block_tiles(rows, tw)
}

/// Output channel `o` of tile rows `ty0..ty1`: `rows[y][x] = (Aᵀ M_t A)[y mod m][x mod m]`
/// (no bias yet), `rows` starting at output row `m·ty0`.
///
/// # Safety
/// The CPU must support `S`.
#[allow(clippy::too_many_arguments)]
unsafe fn output_transform<S: Simd>(
    mt: &Matrices,
    mbuf: &[f32],
    (o, oc): (usize, usize),
    (ty0, ty1): (usize, usize),
    tw: usize,
    (oh, ow): (usize, usize),
    rows: &mut [f32],
    scratch: &mut [f32],
) {
    let (m, a) = (mt.m, mt.a);
    let nt = block_tiles(ty1 - ty0, tw);
    let (z, yv) = scratch.split_at_mut(m * a * nt);
    let row_of = |xi: usize| {
        let start = (xi * oc + o) * nt;
        &mbuf[start..start + nt]
    };
    // z[r][k] = Σ_i Aᵀ[r][i] · M[i·α + k]
    for r in 0..m {
        for k in 0..a {
            let dst = &mut z[(r * a + k) * nt..(r * a + k + 1) * nt];
            // SAFETY: the caller's guarantee on `S`.
            unsafe { combine::<S>(dst, &mt.at[r * a..(r + 1) * a], |i| row_of(i * a + k)) };
        }
    }
    // y[r][s] = Σ_k Aᵀ[s][k] · z[r][k]
    for r in 0..m {
        for s in 0..m {
            let (zr, dst) = (
                &z[r * a * nt..(r + 1) * a * nt],
                &mut yv[(r * m + s) * nt..(r * m + s + 1) * nt],
            );
            // SAFETY: the caller's guarantee on `S`.
            unsafe {
                combine::<S>(dst, &mt.at[s * a..(s + 1) * a], |k| {
                    &zr[k * nt..(k + 1) * nt]
                })
            };
        }
    }
    // Interleave the phases back into the output rows (junk and edge tiles dropped).
    for ty in ty0..ty1 {
        let t0 = (ty - ty0) * (tw + 1);
        for r in 0..m {
            let oy = m * ty + r;
            if oy >= oh {
                break;
            }
            let local = oy - m * ty0;
            let out_row = &mut rows[local * ow..(local + 1) * ow];
            for s in 0..m {
                let src = &yv[(r * m + s) * nt + t0..(r * m + s) * nt + t0 + tw];
                for (dst, &val) in out_row.iter_mut().skip(s).step_by(m).zip(src) {
                    *dst = val;
                }
            }
        }
    }
}

/// The output, shared by the block tasks (each writes only its own rows of every plane).
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: only used to hand each rayon task the output rows of its own tile rows, which no
// other task touches.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so that closures capture the whole `Send + Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Floats of transformed input and GEMM output a block aims at (1.5 MiB: stays in a 2 MiB L2).
const BLOCK_FLOATS: usize = 384 * 1024;

/// One image: `input` `[ic, H, W]` → `output` `[oc, OH, OW]` (`residual` likewise), with
/// `act(conv + bias) (+ residual)`.
///
/// The tiles are processed in blocks of whole tile rows (one rayon task each): input
/// transform of the block, the α² GEMMs on it, output transform and epilogue, all on one
/// thread's L2-sized scratch, so the transformed data never goes out to memory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    isa: Isa,
    g: &ConvGeometry,
    w: &WinogradWeights,
    act: Activation,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
    pool: Option<&ThreadPool>,
) {
    let mt = w.tile.matrices();
    let (ic, oc) = (g.in_channels, g.out_channels);
    let (oh, ow) = (g.out_h(), g.out_w());
    let (th, tw) = tiles(g, mt.m);
    let a2 = mt.a * mt.a;
    let plane_out = oh * ow;
    assert!(input.len() >= ic * g.in_h * g.in_w && output.len() >= oc * plane_out);
    if let Some(r) = residual {
        assert!(r.len() >= oc * plane_out);
    }
    let threads = pool.map_or_else(rayon::current_num_threads, ThreadPool::current_num_threads);
    let per_row = a2 * (ic + oc) * (tw + 1);
    let mut rows_per_block = (BLOCK_FLOATS / per_row).clamp(1, th);
    if threads > 1 {
        // At least one block per thread where the image has enough tile rows.
        rows_per_block = rows_per_block.min(th.div_ceil(threads)).max(1);
    }
    let n_blocks = th.div_ceil(rows_per_block);
    let out = SharedOut(output.as_mut_ptr());
    let epilogue = epilogue_fn(isa);
    let block = |bi: usize| {
        let (ty0, ty1) = (bi * rows_per_block, ((bi + 1) * rows_per_block).min(th));
        let nt = block_tiles(ty1 - ty0, tw);
        let (v_len, m_len) = (a2 * ic * nt, a2 * oc * nt);
        let tr_len =
            input_scratch_len(mt, ty1 - ty0, tw).max(output_scratch_len(mt, ty1 - ty0, tw));
        with_staging(v_len + tr_len, m_len, |vbuf, mbuf| {
            let (v, scratch) = vbuf.split_at_mut(v_len);
            crate::simd::dispatch!(
                isa,
                input_transform_entry(mt, g, input, (ty0, ty1), tw, v, scratch)
            );
            let v: &[f32] = v;
            for (xi, u) in w.u.iter().enumerate() {
                let b = DenseB {
                    data: &v[xi * ic * nt..(xi + 1) * ic * nt],
                    row_stride: nt,
                    col_stride: 1,
                };
                let gemm_out = GemmOutput {
                    data: &mut mbuf[xi * oc * nt..(xi + 1) * oc * nt],
                    ldc: nt,
                    accumulate: false,
                };
                gemm::run_serial(u, &b, nt, gemm_out, None, Activation::Identity);
            }
            let mbuf: &[f32] = mbuf;
            let (y0, y1) = (mt.m * ty0, (mt.m * ty1).min(oh));
            let len = (y1 - y0) * ow;
            for o in 0..oc {
                let first = o * plane_out + y0 * ow;
                // SAFETY: output rows y0..y1 of plane `o` lie inside `output` (checked above)
                // and belong to this block's tile rows only, so no other task touches them.
                let rows = unsafe { std::slice::from_raw_parts_mut(out.get().add(first), len) };
                crate::simd::dispatch!(
                    isa,
                    output_transform_entry(
                        mt,
                        mbuf,
                        (o, oc),
                        (ty0, ty1),
                        tw,
                        (oh, ow),
                        &mut *rows,
                        &mut *scratch
                    )
                );
                let res_ptr = residual.map_or(std::ptr::null(), |r| r[first..first + len].as_ptr());
                // SAFETY: `rows` (and the residual rows, when given) hold `len` values, the
                // bias pointer is one value of `w.bias` (`oc` long, `o < oc`), and
                // `epilogue_fn` picked a supported ISA.
                unsafe {
                    epilogue(
                        rows.as_mut_ptr(),
                        len,
                        1,
                        len,
                        &w.bias[o],
                        act,
                        res_ptr,
                        len,
                    )
                };
            }
        })
    };
    let body = || {
        if n_blocks == 1 {
            block(0)
        } else {
            (0..n_blocks).into_par_iter().for_each(block)
        }
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}

/// [`input_transform`] as a safe entry for `dispatch!`.
#[inline(always)]
fn input_transform_entry<S: Simd>(
    mt: &Matrices,
    g: &ConvGeometry,
    input: &[f32],
    rows: (usize, usize),
    tw: usize,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    // SAFETY: `dispatch!` instantiates this with `S` only inside a function compiled for
    // `S`'s ISA, after checking that the CPU supports it.
    unsafe { input_transform::<S>(mt, g, input, rows, tw, v, scratch) }
}

/// [`output_transform`] as a safe entry for `dispatch!`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_transform_entry<S: Simd>(
    mt: &Matrices,
    mbuf: &[f32],
    channel: (usize, usize),
    rows: (usize, usize),
    tw: usize,
    out: (usize, usize),
    plane: &mut [f32],
    scratch: &mut [f32],
) {
    // SAFETY: as in `input_transform_entry`.
    unsafe { output_transform::<S>(mt, mbuf, channel, rows, tw, out, plane, scratch) }
}

/// The reference Winograd convolution: the same algorithm, tile by tile, in plain scalar
/// f32 (weights transformed as the plan does), for one image `input` `[ic, H, W]` →
/// `output` `[oc, OH, OW]`; `act(conv + bias) (+ residual)` with the exact activation.
/// The fast kernel is tested against this and both against a direct convolution.
///
/// # Panics
/// If `g` is not a 3×3 stride-1 dilation-1 one-group convolution or a slice length does not
/// match it.
#[allow(clippy::too_many_arguments)]
pub fn reference(
    tile: WinogradTile,
    g: &ConvGeometry,
    weights: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    assert!(eligible(g), "winograd: not a 3×3 stride-1 one-group conv");
    let mt = tile.matrices();
    let (m, a) = (mt.m, mt.a);
    let (ic, oc) = (g.in_channels, g.out_channels);
    let (oh, ow) = (g.out_h(), g.out_w());
    assert_eq!(weights.len(), g.weight_len());
    assert_eq!(input.len(), ic * g.in_h * g.in_w);
    assert_eq!(output.len(), oc * oh * ow);
    let u = transform_weights(tile, ic, oc, weights);
    let (th, tw) = tiles(g, m);
    let mut v = vec![0.0f32; a * a];
    let mut acc = vec![0.0f32; a * a];
    for o in 0..oc {
        for ty in 0..th {
            for tx in 0..tw {
                acc.fill(0.0);
                for c in 0..ic {
                    // d, then V = Bᵀ d B.
                    let d = |i: usize, j: usize| {
                        let y = (m * ty + i) as isize - g.pad_top as isize;
                        let x = (m * tx + j) as isize - g.pad_left as isize;
                        if y < 0 || x < 0 || y >= g.in_h as isize || x >= g.in_w as isize {
                            0.0
                        } else {
                            input[(c * g.in_h + y as usize) * g.in_w + x as usize]
                        }
                    };
                    for l in 0..a {
                        for k in 0..a {
                            let mut s = 0.0f32;
                            for i in 0..a {
                                for j in 0..a {
                                    s += mt.bt[l * a + i] * d(i, j) * mt.bt[k * a + j];
                                }
                            }
                            v[l * a + k] = s;
                        }
                    }
                    for xi in 0..a * a {
                        acc[xi] += u[(xi * oc + o) * ic + c] * v[xi];
                    }
                }
                for r in 0..m {
                    for s in 0..m {
                        let (oy, ox) = (m * ty + r, m * tx + s);
                        if oy >= oh || ox >= ow {
                            continue;
                        }
                        let mut y = 0.0f32;
                        for i in 0..a {
                            for k in 0..a {
                                y += mt.at[r * a + i] * acc[i * a + k] * mt.at[s * a + k];
                            }
                        }
                        y += bias.map_or(0.0, |b| b[o]);
                        y = match act {
                            Activation::Identity => y,
                            Activation::Relu => y.max(0.0),
                            Activation::Sigmoid => 1.0 / (1.0 + (-y).exp()),
                            Activation::Silu => y / (1.0 + (-y).exp()),
                        };
                        let idx = (o * oh + oy) * ow + ox;
                        output[idx] = y + residual.map_or(0.0, |res| res[idx]);
                    }
                }
            }
        }
    }
}
