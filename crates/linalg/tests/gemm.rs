//! Packed SGEMM against a plain f64 triple loop, for every ISA the machine runs.

mod common;
use common::*;
use onnxide_linalg::gemm::{gemm, sgemm, GemmOutput, MatRef, PackedWeights};
use onnxide_linalg::{Activation, Epilogue, Isa};

/// C = act(A·B + bias) + residual (+ C0 when accumulating), in f64.
#[allow(clippy::too_many_arguments)]
fn reference(
    a: MatRef,
    b: MatRef,
    bias: Option<&[f32]>,
    act: Activation,
    residual: Option<&[f32]>,
    c0: Option<&[f32]>,
    ldc: usize,
) -> Vec<f32> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let mut c = vec![0.0f32; if m == 0 { 0 } else { (m - 1) * ldc + n }];
    if let Some(c0) = c0 {
        let len = c.len();
        c.copy_from_slice(&c0[..len]);
    }
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                s += a.data[i * a.row_stride + p * a.col_stride] as f64
                    * b.data[p * b.row_stride + j * b.col_stride] as f64;
            }
            if let Some(c0) = c0 {
                s += c0[i * ldc + j] as f64;
            }
            s += bias.map_or(0.0, |b| b[i] as f64);
            let mut y = act_ref(act, s);
            if let Some(r) = residual {
                y += r[i * ldc + j] as f64;
            }
            c[i * ldc + j] = y as f32;
        }
    }
    c
}

fn tolerance(k: usize) -> f32 {
    1e-5 * (k.max(1) as f32).sqrt() * 4.0
}

fn check(isa: Isa, rng: &mut Rng, m: usize, n: usize, k: usize, threads: usize) {
    let act = ALL_ACTS[rng.range(0, 3)];
    let with_bias = rng.range(0, 1) == 1;
    let with_residual = rng.range(0, 1) == 1;
    let accumulate = rng.range(0, 3) == 0;
    let transpose_b = rng.range(0, 3) == 0;
    let ldc = n + rng.range(0, 3);

    let a_data = rng.vec(m * k);
    let a = MatRef::row_major(&a_data, m, k);
    let b_data = rng.vec(k * n);
    let b = if transpose_b {
        MatRef::row_major(&b_data, n, k).t()
    } else {
        MatRef::row_major(&b_data, k, n)
    };
    let bias = rng.vec(m);
    let bias = with_bias.then_some(&bias[..]);
    let c_len = if m == 0 { 0 } else { (m - 1) * ldc + n };
    let residual = rng.vec(c_len);
    let residual = with_residual.then_some(&residual[..]);
    let c0 = rng.vec(c_len);

    let expected = reference(
        a,
        b,
        bias,
        act,
        residual,
        accumulate.then_some(&c0[..]),
        ldc,
    );
    let packed = PackedWeights::new(isa, &a_data, m, k, bias);
    let mut c = if accumulate {
        c0.clone()
    } else {
        vec![f32::NAN; c_len]
    };
    let pool = pool(threads);
    gemm(
        &packed,
        b,
        GemmOutput {
            data: &mut c,
            ldc,
            accumulate,
        },
        residual,
        Epilogue::new(act),
        Some(&pool),
    );
    // Padding columns between rows are not part of C: compare only the m×n values.
    let mut err = 0.0f32;
    for i in 0..m {
        for j in 0..n {
            err = err.max((c[i * ldc + j] - expected[i * ldc + j]).abs());
        }
    }
    let tol = tolerance(k);
    assert!(
        err <= tol,
        "{isa:?} m={m} n={n} k={k} act={act:?} bias={with_bias} res={with_residual} acc={accumulate} \
         bt={transpose_b} threads={threads}: max err {err} > {tol}"
    );
}

#[test]
fn edge_shapes_every_isa() {
    let dims = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 47, 48, 49, 97];
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(1);
        for &m in &dims {
            for &n in &dims {
                let k = [1, 5, 16, 33, 161][rng.range(0, 4)];
                check(isa, &mut rng, m, n, k, 1);
            }
        }
    }
}

#[test]
fn random_shapes_threads_every_isa() {
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(2);
        for _ in 0..40 {
            let m = rng.range(1, 70);
            let n = rng.range(1, 400);
            let k = rng.range(1, 600);
            let threads = rng.range(1, 3);
            check(isa, &mut rng, m, n, k, threads);
        }
    }
}

#[test]
fn large_k_crosses_several_kc_blocks() {
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(3);
        check(isa, &mut rng, 19, 101, 1153, 2);
        check(isa, &mut rng, 64, 400, 577, 2);
    }
}

#[test]
fn few_columns_many_rows_splits_rows_across_threads() {
    // n spans fewer column panels than the driver wants tasks, so it also splits m.
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(5);
        for (m, n, k) in [(256, 100, 300), (200, 20, 700), (97, 49, 1000)] {
            for threads in [2, 3] {
                check(isa, &mut rng, m, n, k, threads);
            }
        }
    }
}

#[test]
fn k_zero_gives_bias_and_activation() {
    for isa in Isa::all_supported() {
        let packed = PackedWeights::new(isa, &[], 3, 0, Some(&[1.0, -2.0, 0.5]));
        let mut c = vec![9.0f32; 3 * 5];
        gemm(
            &packed,
            MatRef::row_major(&[], 0, 5),
            GemmOutput {
                data: &mut c,
                ldc: 5,
                accumulate: false,
            },
            None,
            Epilogue::RELU,
            None,
        );
        let expected: Vec<f32> = [1.0f32, 0.0, 0.5].iter().flat_map(|&v| [v; 5]).collect();
        assert_eq!(c, expected, "{isa:?}");
    }
}

#[test]
fn sgemm_transposed_a() {
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(4);
        let (m, n, k) = (13, 29, 37);
        let at = rng.vec(k * m);
        let b = rng.vec(k * n);
        let a = MatRef::row_major(&at, k, m).t();
        let bm = MatRef::row_major(&b, k, n);
        let expected = reference(a, bm, None, Activation::Identity, None, None, n);
        let mut c = vec![0.0; m * n];
        sgemm(
            isa,
            a,
            bm,
            GemmOutput {
                data: &mut c,
                ldc: n,
                accumulate: false,
            },
            None,
        );
        assert!(max_abs_diff(&c, &expected) <= tolerance(k), "{isa:?}");
    }
}
