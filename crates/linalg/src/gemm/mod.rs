//! Packed SGEMM `C[m×n] (+)= A[m×k]·B[k×n]` with a fused epilogue
//! (`+ bias[row]`, activation, `+ residual`).
//!
//! Loop structure (the Goto/BLIS scheme, with the roles chosen for convolution shapes,
//! where m = output channels is small and n = output pixels is large):
//!
//! ```text
//! for each block of a few NR-column panels         (parallel: blocks split across threads)
//!   for each KC slice of k
//!     make B[KC × block] readable by the kernel    (≈256 KiB, L2-resident; see below)
//!     for each NR-column panel of the block
//!       for each MR-row panel of A                 (A pre-packed once; streams from L2)
//!         microkernel: C tile (+)= A panel · B panel (the B panel stays in L1)
//!         on the last KC slice: epilogue on the tile while it is still in L1
//! ```
//!
//! "Make B readable" depends on the source (the crate-private `PackB` trait): a row-major matrix (1×1 convs) is
//! read in place with its row stride, only a ragged last panel being packed; the lazy
//! im2col of stride-1 convs is read in place through a row-offset table; the im2col of
//! other convs is gathered into a row-major block; any other strided B is packed into
//! `KC × NR` panels. The kernels take a B row stride or offset table, so all four share
//! one microkernel per ISA.
//!
//! The B panel is reused by every row panel of A, A is read once per column panel
//! (2·NR flops per float read, so even from L3 it is not a bottleneck), and the C column
//! strip (m × NR) stays in L2 across KC slices.

mod kernel_avx2;
mod kernel_avx512;
mod kernel_generic;
mod pack;
mod single_row;

pub use pack::PackedWeights;
pub(crate) use pack::{scatter_row, DenseB, PackB};
pub use single_row::single_row_gemm;
pub(crate) use single_row::sum_products;

use crate::activation::{epilogue_fn, Activation, Epilogue, EpilogueFn};
use crate::scratch::with_panel_scratch;
use crate::Isa;
use rayon::prelude::*;
use rayon::ThreadPool;

/// `C tile (+)= A panel · B panel`; see the kernel modules for the exact contract.
pub(crate) type MicroKernel =
    unsafe fn(usize, *const f32, *const f32, usize, *const usize, *mut f32, usize, bool);

/// A microkernel and the blocking that suits it.
#[derive(Clone, Copy)]
pub(crate) struct KernelSpec {
    pub mr: usize,
    pub nr: usize,
    pub kernel: MicroKernel,
    pub epilogue: EpilogueFn,
}

impl KernelSpec {
    pub(crate) fn for_isa(isa: Isa) -> KernelSpec {
        let isa = isa.or_supported();
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => KernelSpec {
                mr: kernel_avx512::MR,
                nr: kernel_avx512::NR,
                kernel: kernel_avx512::kernel_8x48,
                epilogue: epilogue_fn(isa),
            },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => KernelSpec {
                mr: kernel_avx2::MR,
                nr: kernel_avx2::NR,
                kernel: kernel_avx2::kernel_4x24,
                epilogue: epilogue_fn(isa),
            },
            _ => KernelSpec {
                mr: kernel_generic::MR,
                nr: kernel_generic::NR,
                kernel: kernel_generic::kernel_4x16,
                epilogue: epilogue_fn(Isa::Generic),
            },
        }
    }
}

/// A read-only strided matrix: element `(i, j)` is `data[i*row_stride + j*col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The backing values.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows, in elements.
    pub row_stride: usize,
    /// Distance between consecutive columns, in elements (1 for row-major).
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose view (no copy).
    pub fn t(self) -> MatRef<'a> {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn assert_in_bounds(&self, what: &str) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(
                last < self.data.len(),
                "{what} is too short for its shape and strides"
            );
        }
    }
}

/// Where the output goes: `C[i][j] = data[i*ldc + j]` for `i < m`, `j < n`.
#[derive(Debug)]
pub struct GemmOutput<'a> {
    /// C, row-major with row stride `ldc`; at least `(m-1)·ldc + n` values.
    pub data: &'a mut [f32],
    /// Row stride of C (≥ n), in elements.
    pub ldc: usize,
    /// Add to the existing contents of C instead of overwriting them (`beta = 1`).
    pub accumulate: bool,
}

/// `C = epilogue(A·B + bias) (+ residual)` with A pre-packed.
///
/// `residual`, if given, has C's layout (row stride `out.ldc`). `pool`: the threads to use;
/// `None` runs on the current rayon pool (the global one unless called inside `install`).
///
/// # Panics
/// On inconsistent shapes or slices too short for them (the planner checks shapes first).
pub fn gemm(
    a: &PackedWeights,
    b: MatRef<'_>,
    out: GemmOutput<'_>,
    residual: Option<&[f32]>,
    epilogue: Epilogue,
    pool: Option<&ThreadPool>,
) {
    assert_eq!(a.k, b.rows, "A·B: inner dimensions differ");
    b.assert_in_bounds("B");
    let source = DenseB {
        data: b.data,
        row_stride: b.row_stride,
        col_stride: b.col_stride,
    };
    run(a, &source, b.cols, out, residual, epilogue.activation, pool);
}

/// `C = A·B` for a non-constant A (e.g. attention `MatMul`s): packs A, then calls [`gemm`].
/// Allocates the packed copy of A; prefer [`PackedWeights`] when A is an initialiser.
pub fn sgemm(
    isa: Isa,
    a: MatRef<'_>,
    b: MatRef<'_>,
    out: GemmOutput<'_>,
    pool: Option<&ThreadPool>,
) {
    a.assert_in_bounds("A");
    let packed = PackedWeights::from_strided(
        isa,
        a.data,
        a.rows,
        a.cols,
        a.row_stride,
        a.col_stride,
        None,
    );
    gemm(&packed, b, out, None, Epilogue::IDENTITY, pool);
}

/// A raw pointer that may cross threads. Used only for C (and the residual), where each
/// task touches a disjoint set of tiles.
#[derive(Clone, Copy)]
struct SharedPtr(*mut f32);
// SAFETY: the driver gives every task a disjoint set of C tiles (distinct (row panel,
// column panel) pairs), so no element is accessed by two threads; the residual is only read.
unsafe impl Send for SharedPtr {}
// SAFETY: as above.
unsafe impl Sync for SharedPtr {}

/// The length of the k slices the sum over k is cut into: the one onnxruntime's MLAS SGEMM
/// uses (128 steps, traded for narrower column strips when n is small), so that every output
/// is associated exactly as there — each slice an FMA chain from zero, added to C — and the
/// results agree bit for bit rather than within rounding. A slice of 128 steps × 48
/// columns is 24 KiB of packed B, comfortably inside L1.
pub(crate) fn k_slice(n: usize, k: usize) -> usize {
    let mut stride_k = 128usize;
    if n < k {
        let mut stride_n = 128usize;
        while stride_n > 16 && stride_n / 2 >= n {
            stride_n /= 2;
            stride_k *= 2;
        }
    }
    stride_k.min(k).max(1)
}

/// Flops under which a GEMM stays on one thread (a rayon hand-off costs a few µs).
const PARALLEL_MIN_FLOPS: usize = 1 << 21;

/// The driver shared by [`gemm`] and the convolutions (which pass an im2col view as B).
pub(crate) fn run<B: PackB>(
    a: &PackedWeights,
    b: &B,
    n: usize,
    out: GemmOutput<'_>,
    residual: Option<&[f32]>,
    act: Activation,
    pool: Option<&ThreadPool>,
) {
    run_impl(a, b, n, out, residual, act, pool, false)
}

/// [`run`] on the calling thread only (never calls into rayon): for callers that are
/// already one task of a parallel loop and hold a per-thread scratch buffer.
pub(crate) fn run_serial<B: PackB>(
    a: &PackedWeights,
    b: &B,
    n: usize,
    out: GemmOutput<'_>,
    residual: Option<&[f32]>,
    act: Activation,
) {
    run_impl(a, b, n, out, residual, act, None, true)
}

#[allow(clippy::too_many_arguments)]
fn run_impl<B: PackB>(
    a: &PackedWeights,
    b: &B,
    n: usize,
    out: GemmOutput<'_>,
    residual: Option<&[f32]>,
    act: Activation,
    pool: Option<&ThreadPool>,
    serial: bool,
) {
    let m = a.m;
    let spec = KernelSpec::for_isa(a.isa);
    assert_eq!(
        spec.mr, a.mr,
        "PackedWeights were packed for another kernel"
    );
    if m == 0 || n == 0 {
        return;
    }
    let ldc = out.ldc;
    assert!(ldc >= n, "ldc must be at least n");
    let c_len = (m - 1) * ldc + n;
    assert!(
        out.data.len() >= c_len,
        "C is too short for m×n with this ldc"
    );
    if let Some(r) = residual {
        assert!(
            r.len() >= c_len,
            "residual is too short for m×n with this ldc"
        );
    }
    let c = SharedPtr(out.data.as_mut_ptr());
    let res = SharedPtr(residual.map_or(std::ptr::null_mut(), |r| r.as_ptr() as *mut f32));
    let accumulate = out.accumulate;

    let m_panels = m.div_ceil(spec.mr);
    let n_panels = n.div_ceil(spec.nr);
    let task = |mp: std::ops::Range<usize>, np: std::ops::Range<usize>| {
        // SAFETY: `c` and `res` cover the m×n tiles (checked above), the ranges are within
        // the panel grid, and the caller of this closure gives disjoint ranges to each task.
        unsafe { gemm_block(&spec, a, b, n, c, ldc, res, act, accumulate, mp, np) }
    };

    let body = || {
        let threads = rayon::current_num_threads();
        let flops = 2 * m * n * a.k.max(1);
        if serial || threads <= 1 || flops < PARALLEL_MIN_FLOPS {
            return task(0..m_panels, 0..n_panels);
        }
        // Aim for ~4 tasks per thread so that uneven tiles and a busy core even out.
        let want = threads * 4;
        let n_tasks = n_panels.min(want);
        let m_tasks = if n_tasks >= want {
            1
        } else {
            m_panels.min(want.div_ceil(n_tasks))
        };
        (0..n_tasks * m_tasks).into_par_iter().for_each(|t| {
            let (ti, tj) = (t / n_tasks, t % n_tasks);
            let mp = split(m_panels, m_tasks, ti);
            let np = split(n_panels, n_tasks, tj);
            task(mp, np)
        });
    };
    match pool {
        Some(pool) => pool.install(body),
        None => body(),
    }
}

/// The `i`-th of `parts` near-equal contiguous ranges of `0..len`.
fn split(len: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let base = len / parts;
    let extra = len % parts;
    let start = i * base + i.min(extra);
    start..start + base + usize::from(i < extra)
}

/// Room for the largest microkernel tile (8×48).
const EDGE_TILE: usize = 8 * 48;

/// Bytes of packed B per block: a block of whole column panels is packed at once, so that
/// each row of B is read as one long contiguous run (prefetch-friendly) rather than as
/// NR-wide scraps 4 KiB or more apart. A quarter of the 1 MiB L2.
/// Row stride of a row-major packed block of `cols` columns: one cache line more than
/// needed, so that consecutive rows do not fall into the same few L1 sets (a multiple of
/// 4 KiB apart they all would).
fn row_stride(cols: usize) -> usize {
    cols + 16
}

/// Widest block of B columns packed at once (bounds the row scratch of im2col sources).
const MAX_BLOCK_COLS: usize = 4096;

const B_BLOCK_BYTES: usize = 256 * 1024;

/// Computes the C tiles of row panels `mp` × column panels `np`.
///
/// # Safety
/// `c` (and `res` unless null) must cover `m×n` with row stride `ldc`, and no other thread
/// may touch these tiles meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block<B: PackB>(
    spec: &KernelSpec,
    a: &PackedWeights,
    b: &B,
    n: usize,
    c: SharedPtr,
    ldc: usize,
    res: SharedPtr,
    act: Activation,
    accumulate: bool,
    mp: std::ops::Range<usize>,
    np: std::ops::Range<usize>,
) {
    // SAFETY: this function's contract (`c` and `res` cover `m×n` with stride `ldc`, and no other
    // thread touches these tiles) is what `bias_only` and `block_body` need; `a.isa` is Avx512 or
    // Avx2Fma only if the CPU supports it (`PackedWeights` stores `isa.or_supported()`), which is
    // what the `target_feature` functions need.
    unsafe {
        let job = BlockJob {
            spec,
            a,
            b,
            n,
            c,
            ldc,
            res,
            act,
            accumulate,
            mp,
            np,
        };
        let (k, nr_full) = (a.k, spec.nr);
        if k == 0 {
            return bias_only(&job);
        }
        let kc_max = k_slice(n, k);
        let panels_per_block = (B_BLOCK_BYTES / (kc_max * nr_full * 4))
            .min(MAX_BLOCK_COLS / nr_full)
            .clamp(1, job.np.len().max(1));
        // Room for either layout of a packed block: panels, or rows of `ld` (see `row_stride`).
        let panels_len = kc_max * row_stride(panels_per_block * nr_full);
        with_panel_scratch(panels_len + panels_per_block * nr_full, |scratch| {
            // The packing copies and the loop control are compiled for the kernel's ISA too:
            // without AVX a 48-float row copy becomes a call to memcpy.
            match a.isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => block_avx512(&job, kc_max, panels_per_block, scratch, panels_len),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => block_avx2(&job, kc_max, panels_per_block, scratch, panels_len),
                _ => block_body::<crate::simd::Scalar, B>(
                    &job,
                    kc_max,
                    panels_per_block,
                    scratch,
                    panels_len,
                ),
            }
        })
    }
}

/// The arguments of one task of [`gemm_block`].
struct BlockJob<'a, B> {
    spec: &'a KernelSpec,
    a: &'a PackedWeights,
    b: &'a B,
    n: usize,
    c: SharedPtr,
    ldc: usize,
    res: SharedPtr,
    act: Activation,
    accumulate: bool,
    mp: std::ops::Range<usize>,
    np: std::ops::Range<usize>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512<B: PackB>(
    job: &BlockJob<B>,
    kc_max: usize,
    ppb: usize,
    scratch: &mut [f32],
    split: usize,
) {
    // SAFETY: avx512f is enabled by this function's `target_feature`, as `block_body::<Avx512>`
    // needs; the rest is `gemm_block`'s contract, passed on.
    unsafe { block_body::<crate::simd::Avx512, B>(job, kc_max, ppb, scratch, split) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2<B: PackB>(
    job: &BlockJob<B>,
    kc_max: usize,
    ppb: usize,
    scratch: &mut [f32],
    split: usize,
) {
    // SAFETY: avx2 and fma are enabled by this function's `target_feature`, as `block_body::<Avx2>`
    // needs; the rest is `gemm_block`'s contract, passed on.
    unsafe { block_body::<crate::simd::Avx2, B>(job, kc_max, ppb, scratch, split) }
}

/// k = 0: C is just the epilogue of zero (or of C itself when accumulating).
unsafe fn bias_only<B: PackB>(job: &BlockJob<B>) {
    // SAFETY: `gemm_block`'s contract: `c` covers `m×n` with stride `ldc`; the tile of panels `ip`,
    // `jp` starts at row `ip·mr`, column `n0 = jp·nr` and spans `rows <= m - ip·mr` rows of `nr <=
    // n - n0` columns.
    unsafe {
        let (mr, nr_full, m) = (job.spec.mr, job.spec.nr, job.a.m);
        for jp in job.np.clone() {
            let n0 = jp * nr_full;
            let nr = nr_full.min(job.n - n0);
            for ip in job.mp.clone() {
                let rows = mr.min(m - ip * mr);
                let tile = job.c.0.add(ip * mr * job.ldc + n0);
                if !job.accumulate {
                    for r in 0..rows {
                        std::ptr::write_bytes(tile.add(r * job.ldc), 0, nr);
                    }
                }
                finish_tile(
                    job.spec, job.a, tile, job.ldc, ip, rows, nr, n0, job.act, job.res,
                );
            }
        }
    }
}

#[inline(always)]
unsafe fn block_body<S: crate::simd::Simd, B: PackB>(
    job: &BlockJob<B>,
    kc_max: usize,
    panels_per_block: usize,
    scratch: &mut [f32],
    split: usize,
) {
    // SAFETY: `gemm_block`'s contract for `c` and `res`, and `S`'s ISA enabled by the caller. A
    // panel `ip` starts at `ip·k·mr` in `a.panels` (whole panels of `k·mr` values) and the kernel
    // reads `kc·mr` of it from `k0·mr`; B comes from `packed_b` (packed above for this block, `kc`
    // rows) or from `b`'s own rows or offsets (`direct`/`indirect`, valid for the whole B); C tiles
    // are as in `bias_only`, and edge tiles go through the `mr×nr_full` stack tile, copying only
    // the valid `rows×nr`.
    unsafe {
        let (packed_b, row_tmp) = scratch.split_at_mut(split);
        let BlockJob {
            spec,
            a,
            b,
            n,
            c,
            ldc,
            res,
            act,
            accumulate,
            ..
        } = *job;
        let (mr, nr_full, k, m) = (spec.mr, spec.nr, a.k, a.m);
        let mut edge_tile = [0.0f32; EDGE_TILE];
        debug_assert!(mr * nr_full <= EDGE_TILE);
        let mut block_start = job.np.start;
        while block_start < job.np.end {
            let block_end = (block_start + panels_per_block).min(job.np.end);
            let n_begin = block_start * nr_full;
            let n_cols = (block_end * nr_full).min(n) - n_begin;
            let mut k0 = 0;
            while k0 < k {
                let kc = kc_max.min(k - k0);
                let last_block = k0 + kc == k;
                let load_c = accumulate || k0 > 0;
                // A row-major B whose rows are far apart is read in place (the kernel takes a row
                // stride); only the ragged last panel is packed, zero-padded.
                let direct = b.direct();
                // A lazy im2col source needs no packing at all: the kernel reads each B row at
                // its own offset into the (padded) input.
                let indirect = b.indirect();
                let padded_cols = n_cols.div_ceil(nr_full) * nr_full;
                let ld = row_stride(padded_cols);
                match direct {
                    _ if indirect.is_some() => {}
                    None if B::PACKS_ROWS => {
                        b.pack_rows::<S>(k0, kc, n_begin, n_cols, padded_cols, ld, packed_b)
                    }
                    Some(_) if n_begin + n_cols == n && n % nr_full != 0 => {
                        let last = (n / nr_full) * nr_full;
                        let rem = n - last;
                        b.pack::<S>(
                            k0,
                            kc,
                            last,
                            rem,
                            nr_full,
                            &mut packed_b[..kc * nr_full],
                            row_tmp,
                        );
                    }
                    Some(_) => {}
                    None => b.pack::<S>(k0, kc, n_begin, n_cols, nr_full, packed_b, row_tmp),
                }
                for jp in block_start..block_end {
                    let n0 = jp * nr_full;
                    let nr = nr_full.min(n - n0);
                    let offs = indirect.map_or(std::ptr::null(), |(_, offsets)| offsets.add(k0));
                    let (b_panel, ldb) = match direct {
                        _ if indirect.is_some() => (indirect.unwrap().0.add(n0), 0),
                        Some((base, row_stride)) if nr == nr_full => {
                            (base.add(k0 * row_stride + n0), row_stride)
                        }
                        Some(_) => (packed_b.as_ptr(), nr_full),
                        None if B::PACKS_ROWS => {
                            (packed_b.as_ptr().add((jp - block_start) * nr_full), ld)
                        }
                        None => (
                            packed_b.as_ptr().add((jp - block_start) * kc * nr_full),
                            nr_full,
                        ),
                    };
                    for ip in job.mp.clone() {
                        let rows = mr.min(m - ip * mr);
                        let a_panel = a.panels.as_ptr().add(ip * k * mr + k0 * mr);
                        let tile = c.0.add(ip * mr * ldc + n0);
                        if rows == mr && nr == nr_full {
                            (spec.kernel)(kc, a_panel, b_panel, ldb, offs, tile, ldc, load_c);
                        } else {
                            // Edge tile: run the full kernel into a stack tile, copy back the valid part.
                            let tmp = edge_tile.as_mut_ptr();
                            if load_c {
                                for r in 0..rows {
                                    std::ptr::copy_nonoverlapping(
                                        tile.add(r * ldc),
                                        tmp.add(r * nr_full),
                                        nr,
                                    );
                                }
                            }
                            (spec.kernel)(kc, a_panel, b_panel, ldb, offs, tmp, nr_full, load_c);
                            for r in 0..rows {
                                std::ptr::copy_nonoverlapping(
                                    tmp.add(r * nr_full),
                                    tile.add(r * ldc),
                                    nr,
                                );
                            }
                        }
                        if last_block {
                            finish_tile(spec, a, tile, ldc, ip, rows, nr, n0, act, res);
                        }
                    }
                }
                k0 += kc;
            }
            block_start = block_end;
        }
    }
}

/// Runs the epilogue on one finished tile, unless it would change nothing.
///
/// # Safety
/// As for [`gemm_block`].
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn finish_tile(
    spec: &KernelSpec,
    a: &PackedWeights,
    tile: *mut f32,
    ldc: usize,
    ip: usize,
    rows: usize,
    cols: usize,
    n0: usize,
    act: Activation,
    res: SharedPtr,
) {
    // SAFETY: `gemm_block`'s contract: `tile` is a tile of C; `a.bias` is padded to whole panels,
    // so `ip·mr + rows` is within it; `res` (unless null) has C's layout, stride `ldc`.
    unsafe {
        if !a.has_bias && act == Activation::Identity && res.0.is_null() {
            return;
        }
        let bias = a.bias.as_ptr().add(ip * spec.mr);
        let res_tile = if res.0.is_null() {
            std::ptr::null()
        } else {
            res.0.add(ip * spec.mr * ldc + n0) as *const f32
        };
        (spec.epilogue)(tile, ldc, rows, cols, bias, act, res_tile, ldc);
    }
}

/// Runs the bare microkernel `iters` times on L1-resident panels (for measuring its peak);
/// returns the flops done.
#[doc(hidden)]
pub fn microkernel_probe(isa: Isa, kc: usize, iters: usize) -> f64 {
    let spec = KernelSpec::for_isa(isa);
    let a = vec![0.5f32; kc * spec.mr];
    let b = vec![0.25f32; kc * spec.nr];
    let mut c = vec![0.0f32; spec.mr * spec.nr];
    for _ in 0..iters {
        // SAFETY: the buffers hold exactly the panel and tile sizes the kernel reads and writes.
        unsafe {
            (spec.kernel)(
                kc,
                a.as_ptr(),
                b.as_ptr(),
                spec.nr,
                std::ptr::null(),
                c.as_mut_ptr(),
                spec.nr,
                true,
            )
        };
    }
    std::hint::black_box(&c);
    2.0 * (kc * spec.mr * spec.nr * iters) as f64
}

/// Register-only FMA throughput probe (12 independent zmm chains): the machine's peak.
/// Returns the flops done (0 where AVX-512 is unavailable).
#[doc(hidden)]
#[cfg(not(target_arch = "x86_64"))]
pub fn fma_peak_probe(_iters: usize) -> f64 {
    0.0
}

/// Register-only FMA throughput probe (12 independent zmm chains): the machine's peak.
/// Returns the flops done (0 where AVX-512 is unavailable).
#[doc(hidden)]
#[cfg(target_arch = "x86_64")]
pub fn fma_peak_probe(iters: usize) -> f64 {
    #[target_feature(enable = "avx512f")]
    unsafe fn run(iters: usize) -> f32 {
        use std::arch::x86_64::*;
        let mut acc = [_mm512_set1_ps(1.0); 12];
        let x = _mm512_set1_ps(0.999_999);
        let y = _mm512_set1_ps(1e-7);
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        let mut s = _mm512_setzero_ps();
        for a in acc {
            s = _mm512_add_ps(s, a);
        }
        _mm512_reduce_add_ps(s)
    }
    if !Isa::Avx512.is_supported() {
        return 0.0;
    }
    // SAFETY: avx512f was checked just above.
    std::hint::black_box(unsafe { run(iters) });
    (iters * 12 * 32) as f64
}
