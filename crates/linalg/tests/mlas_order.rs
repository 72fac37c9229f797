//! The summation orders that make onnxide's results bit-identical to onnxruntime's (MLAS):
//! each kernel against a scalar transcription of the order it promises. A faster kernel
//! that reassociates a sum fails here before it fails the model tests against onnxruntime.

mod common;
use common::Rng;
use onnxide_linalg::gemm::{sgemm, single_row_gemm, GemmOutput, MatRef};
use onnxide_linalg::Isa;

/// MLAS's k slice for an `n`-column product over `k` (128, traded for narrow n).
fn slice(n: usize, k: usize) -> usize {
    let (mut sn, mut sk) = (128, 128);
    if n < k {
        while sn > 16 && sn / 2 >= n {
            sn /= 2;
            sk *= 2;
        }
    }
    sk.min(k)
}

/// Each k slice an FMA chain from zero, in order; slices added to C.
fn sliced_fma(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let s = slice(n, k);
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut total = 0.0f32;
            for k0 in (0..k).step_by(s) {
                let mut acc = 0.0f32;
                for p in k0..(k0 + s).min(k) {
                    acc = a[i * k + p].mul_add(b[p * n + j], acc);
                }
                total = if k0 == 0 { acc } else { acc + total };
            }
            c[i * n + j] = total;
        }
    }
    c
}

/// Products rounded, four at a time left to right, each group added to the running total.
fn single_row(a: &[f32], b: &[f32], k: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|j| {
            let p = |i: usize| a[i] * b[i * n + j];
            let mut c = 0.0f32;
            let mut i = 0;
            while i + 4 <= k {
                c += ((p(i) + p(i + 1)) + p(i + 2)) + p(i + 3);
                i += 4;
            }
            if (k - i) & 2 != 0 {
                c += p(i) + p(i + 1);
                i += 2;
            }
            if (k - i) & 1 != 0 {
                c += p(i);
            }
            c
        })
        .collect()
}

#[test]
fn gemm_sums_k_slices_like_mlas() {
    // (m, k, n): one slice, 128-step slices, and narrow n where MLAS widens the slice.
    let shapes = [
        (8, 72, 100),
        (16, 144, 160),
        (32, 300, 64),
        (24, 1152, 400),
        (4, 600, 20),
        (9, 257, 33),
    ];
    let fma_isas: Vec<Isa> = Isa::all_supported()
        .into_iter()
        .filter(|i| *i != Isa::Generic)
        .collect();
    for (m, k, n) in shapes {
        let mut rng = Rng::new((m * k * n) as u64);
        let (a, b) = (rng.vec(m * k), rng.vec(k * n));
        let want = sliced_fma(&a, &b, m, k, n);
        for &isa in &fma_isas {
            let mut c = vec![f32::NAN; m * n];
            let out = GemmOutput {
                data: &mut c,
                ldc: n,
                accumulate: false,
            };
            sgemm(
                isa,
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                out,
                None,
            );
            let differ = c
                .iter()
                .zip(&want)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            assert_eq!(
                differ, 0,
                "{isa:?} m={m} k={k} n={n}: {differ} outputs differ"
            );
        }
    }
    println!(
        "gemm: {} shapes on {fma_isas:?}, bit-identical",
        shapes.len()
    );
}

#[test]
fn single_row_sums_fours_without_fma() {
    for (k, n) in [(9, 37), (16, 100), (3, 5), (1, 17), (130, 64)] {
        let mut rng = Rng::new((k * 31 + n) as u64);
        let (a, b) = (rng.vec(k), rng.vec(k * n));
        let want = single_row(&a, &b, k, n);
        for isa in Isa::all_supported() {
            let mut c = vec![f32::NAN; n];
            single_row_gemm(isa, &a, &b, n, &mut c);
            let differ = c
                .iter()
                .zip(&want)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            assert_eq!(differ, 0, "{isa:?} k={k} n={n}: {differ} outputs differ");
        }
    }
}
