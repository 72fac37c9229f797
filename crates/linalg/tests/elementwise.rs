//! Activations, softmax, max pooling and upsampling against plain f64 references.

mod common;
use common::*;
use onnxide_linalg::activation::{activation, activation_inplace, exp};
use onnxide_linalg::pool::{max_pool2d, upsample_nearest, PoolGeometry};
use onnxide_linalg::softmax::softmax;
use onnxide_linalg::{Activation, Isa};

/// Relative error, with values below 1e-30 compared absolutely (exp saturates there).
fn rel_err(got: f32, want: f64) -> f64 {
    (got as f64 - want).abs() / want.abs().max(1e-30)
}

/// Sigmoid is onnxruntime's logistic approximation (clamped to [-18, 18], `0.5 + p/q`), so
/// its error is absolute — under 2e-7, ~3 ulp of 0.5 — rather than relative for very negative x;
/// SiLU inherits it scaled by |x|. `exp` is accurate to ~1 ulp relative.
#[test]
fn sigmoid_silu_exp_accuracy_every_isa() {
    // Dense sweep over the range where results are normal floats, plus odd lengths so the
    // vector tail path runs.
    let xs: Vec<f32> = (0..200_001)
        .map(|i| -80.0 + 160.0 * i as f32 / 200_000.0)
        .collect();
    for isa in Isa::all_supported() {
        let mut y = vec![0.0f32; xs.len()];
        let mut worst = [0.0f64; 4];
        activation(isa, Activation::Sigmoid, &xs, &mut y);
        for (&x, &v) in xs.iter().zip(&y) {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            worst[0] = worst[0].max((v as f64 - want).abs());
            if want >= 0.1 {
                worst[1] = worst[1].max(rel_err(v, want));
            }
        }
        activation(isa, Activation::Silu, &xs, &mut y);
        for (&x, &v) in xs.iter().zip(&y) {
            let x = x as f64;
            let want = x / (1.0 + (-x).exp());
            worst[2] = worst[2].max((v as f64 - want).abs() / x.abs().max(1.0));
        }
        exp(isa, &xs, &mut y);
        for (&x, &v) in xs.iter().zip(&y) {
            worst[3] = worst[3].max(rel_err(v, (x as f64).exp()));
        }
        let bounds = [2e-7, 1e-6, 2.5e-7, 1e-6];
        assert!(
            worst.iter().zip(bounds).all(|(&e, b)| e < b),
            "{isa:?}: sigmoid abs / sigmoid rel (≥ 0.1) / silu abs per |x| / exp rel = {worst:?}, bounds {bounds:?}"
        );
    }
}

#[test]
fn activations_saturate_without_nan() {
    let xs = [-1e30f32, -1000.0, -89.0, 89.0, 1000.0, 1e30, 0.0, -0.0];
    for isa in Isa::all_supported() {
        let mut y = [0.0f32; 8];
        activation(isa, Activation::Sigmoid, &xs, &mut y);
        assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{isa:?} {y:?}");
        assert_eq!(y[5], 1.0);
        assert!(y[0] < 1e-7);
        activation(isa, Activation::Silu, &xs, &mut y);
        assert!(y.iter().all(|v| v.is_finite()), "{isa:?} {y:?}");
        assert_eq!(y[5], 1e30);
    }
}

#[test]
fn inplace_relu_and_tails() {
    for isa in Isa::all_supported() {
        for len in [0, 1, 7, 15, 16, 17, 33] {
            let mut rng = Rng::new(len as u64);
            let x = rng.vec(len);
            let mut y = x.clone();
            activation_inplace(isa, Activation::Relu, &mut y);
            for (a, b) in x.iter().zip(&y) {
                assert_eq!(a.max(0.0), *b);
            }
        }
    }
}

fn softmax_reference(x: &[f32], outer: usize, axis: usize, inner: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| (o * axis + a) * inner + i;
            let m = (0..axis)
                .map(|a| x[at(a)] as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..axis).map(|a| (x[at(a)] as f64 - m).exp()).sum();
            for a in 0..axis {
                y[at(a)] = ((x[at(a)] as f64 - m).exp() / s) as f32;
            }
        }
    }
    y
}

#[test]
fn softmax_any_axis_every_isa() {
    // (outer, axis, inner): YOLO's DFL [4,16,8400] over the 16-axis, attention rows, odd sizes.
    let shapes = [
        (4, 16, 8400),
        (1, 400, 1),
        (800, 400, 1),
        (3, 7, 1),
        (2, 5, 37),
        (1, 1, 300),
        (5, 3, 257),
        (1, 16, 1),
    ];
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(20);
        for &(outer, axis, inner) in &shapes {
            let x: Vec<f32> = (0..outer * axis * inner)
                .map(|_| rng.uniform(-20.0, 20.0))
                .collect();
            let want = softmax_reference(&x, outer, axis, inner);
            for threads in [1, 2] {
                let mut y = vec![f32::NAN; x.len()];
                softmax(isa, &x, &mut y, outer, axis, inner, Some(&pool(threads)));
                let err = max_abs_diff(&y, &want);
                assert!(
                    err <= 1e-6,
                    "{isa:?} {outer}x{axis}x{inner} t{threads}: err {err}"
                );
            }
        }
    }
}

fn max_pool_reference(g: &PoolGeometry, planes: usize, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = vec![0.0; planes * oh * ow];
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..g.kernel_h {
                    for kx in 0..g.kernel_w {
                        let iy = (oy * g.stride_h + ky) as isize - g.pads[0] as isize;
                        let ix = (ox * g.stride_w + kx) as isize - g.pads[1] as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.in_h && (ix as usize) < g.in_w {
                            m = m.max(x[(p * g.in_h + iy as usize) * g.in_w + ix as usize]);
                        }
                    }
                }
                y[(p * oh + oy) * ow + ox] = m;
            }
        }
    }
    y
}

#[test]
fn max_pool_matches_reference() {
    let mut rng = Rng::new(30);
    // SPPF's 5×5 s1 p2 on 20×20, then random windows, strides and pads.
    let mut cases = vec![(
        PoolGeometry {
            in_h: 20,
            in_w: 20,
            kernel_h: 5,
            kernel_w: 5,
            stride_h: 1,
            stride_w: 1,
            pads: [2; 4],
        },
        128,
    )];
    for _ in 0..60 {
        let (kh, kw) = (rng.range(1, 5), rng.range(1, 5));
        let g = PoolGeometry {
            in_h: rng.range(kh, 17),
            in_w: rng.range(kw, 17),
            kernel_h: kh,
            kernel_w: kw,
            stride_h: rng.range(1, 3),
            stride_w: rng.range(1, 3),
            pads: [
                rng.range(0, kh - 1),
                rng.range(0, kw - 1),
                rng.range(0, kh - 1),
                rng.range(0, kw - 1),
            ],
        };
        cases.push((g, rng.range(1, 4)));
    }
    for (g, planes) in cases {
        let x = rng.vec(planes * g.in_h * g.in_w);
        let want = max_pool_reference(&g, planes, &x);
        let mut y = vec![f32::NAN; want.len()];
        max_pool2d(&g, planes, &x, &mut y, Some(&pool(2)));
        assert_eq!(y, want, "{g:?}");
    }
}

#[test]
fn upsample_matches_reference() {
    let mut rng = Rng::new(40);
    for (planes, h, w, sh, sw) in [
        (3, 4, 5, 2, 2),
        (2, 3, 3, 1, 3),
        (256, 20, 20, 2, 2),
        (1, 1, 1, 3, 2),
    ] {
        let x = rng.vec(planes * h * w);
        let mut y = vec![f32::NAN; planes * h * sh * w * sw];
        upsample_nearest(planes, h, w, sh, sw, &x, &mut y, Some(&pool(2)));
        for p in 0..planes {
            for oy in 0..h * sh {
                for ox in 0..w * sw {
                    assert_eq!(
                        y[(p * h * sh + oy) * w * sw + ox],
                        x[(p * h + oy / sh) * w + ox / sw]
                    );
                }
            }
        }
    }
}
