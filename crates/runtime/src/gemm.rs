//! Single-precision matrix multiply: a bounds-checked safe wrapper over `matrixmultiply::sgemm`
//! (the only `unsafe` in the crate), split over the session's rayon pool by rows of C.

use rayon::prelude::*;

/// A read-only strided matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major contiguous `rows × cols`.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major `rows × cols` matrix (a `cols × rows` view).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }
    fn fits(&self, m: usize, n: usize) -> bool {
        m == 0 || n == 0 || (m - 1) * self.rs + (n - 1) * self.cs < self.data.len()
    }
    fn offset_rows(&self, r: usize) -> Mat<'a> {
        let start = (r * self.rs).min(self.data.len());
        Mat {
            data: &self.data[start..],
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// `C = A · B + beta · C` for `A: m×k`, `B: k×n`, `C: m×n` row-major contiguous.
/// Panics (a bug, never user input: callers size everything from validated shapes) if a view
/// is too small.
pub fn sgemm_serial(m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32]) {
    assert!(
        a.fits(m, k) && b.fits(k, n) && c.len() >= m * n,
        "sgemm: view out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|x| *x *= beta);
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: the asserts above prove every index matrixmultiply touches
    // (i*rs + j*cs for i < rows, j < cols) lies inside the borrowed slices; `c` is exclusively
    // borrowed and does not alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Like [`sgemm_serial`], spread over the current rayon pool when big enough: by column blocks
/// when C is wide (each task packs only its own slice of B, which for convolutions is the big
/// im2col matrix), else by row blocks.
pub fn sgemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32]) {
    let threads = rayon::current_num_threads();
    let flops = m * k * n;
    if threads <= 1 || flops < 1 << 18 {
        return sgemm_serial(m, k, n, a, b, beta, c);
    }
    if n >= m && n >= 2 * 64 {
        // Column blocks, a multiple of 16 wide, about two per thread.
        let nb = n.div_ceil(threads * 2).div_ceil(16) * 16;
        let blocks: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(nb))
            .into_par_iter()
            .map(|bi| {
                let j0 = bi * nb;
                let w = nb.min(n - j0);
                let mut tmp = vec![0f32; m * w];
                if beta != 0.0 {
                    for i in 0..m {
                        tmp[i * w..(i + 1) * w].copy_from_slice(&c[i * n + j0..i * n + j0 + w]);
                    }
                }
                let start = (j0 * b.cs).min(b.data.len());
                let bb = Mat {
                    data: &b.data[start..],
                    rs: b.rs,
                    cs: b.cs,
                };
                sgemm_serial(m, k, w, a, bb, beta, &mut tmp);
                (j0, tmp)
            })
            .collect();
        for (j0, tmp) in blocks {
            let w = tmp.len() / m.max(1);
            for i in 0..m {
                c[i * n + j0..i * n + j0 + w].copy_from_slice(&tmp[i * w..(i + 1) * w]);
            }
        }
        return;
    }
    if m < 2 {
        return sgemm_serial(m, k, n, a, b, beta, c);
    }
    let rows = m.div_ceil(threads * 2).max(1);
    c[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(i, cc)| {
            let r0 = i * rows;
            let mr = cc.len() / n;
            sgemm_serial(mr, k, n, a.offset_rows(r0), b, beta, cc);
        });
}
