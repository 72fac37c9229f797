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

/// Like [`sgemm_serial`], with rows of C spread over the current rayon pool when big enough.
pub fn sgemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32]) {
    let threads = rayon::current_num_threads();
    let flops = m * k * n;
    if threads <= 1 || flops < 1 << 18 || m < 2 {
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
