//! Winograd F(2×2, 3×3) and F(4×4, 3×3) (the default mode's 3×3 stride-1 path): the fast
//! kernel (every ISA, 1 and 2 threads, batch 1 and 2) against the scalar reference Winograd
//! kernel and against a direct f64 convolution, on odd shapes: 1×1 and 2×3 spatial, one
//! channel, channel counts that are not multiples of 16, padding 0/1/2, with and without
//! bias, SiLU and residual.

mod common;
use common::*;
use onnxide_linalg::conv::{
    winograd_reference, Conv2dPlan, ConvAlgorithm, ConvGeometry, ConvOptions, WinogradTile,
};
use onnxide_linalg::{Activation, Epilogue, Isa};

/// Tolerance on |Δ| for outputs of a convolution with `k = 9·ic` products per value (inputs
/// and weights uniform in [-1, 1]): `TOL_PER_SQRT_K · √k`, times `F4_FACTOR` for F(4×4),
/// whose transform constants (up to 8 and 1/24) amplify rounding more than F(2×2)'s.
const TOL_PER_SQRT_K: f32 = 2e-6;
const F4_FACTOR: f32 = 8.0;

fn tolerance(tile: WinogradTile, ic: usize) -> f32 {
    let base = TOL_PER_SQRT_K * ((9 * ic) as f32).sqrt();
    match tile {
        WinogradTile::F2 => base,
        WinogradTile::F4 => base * F4_FACTOR,
    }
}

/// Direct convolution in f64, one image.
fn direct(
    g: &ConvGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    res: Option<&[f32]>,
) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = vec![0.0f32; g.out_channels * oh * ow];
    for o in 0..g.out_channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = bias.map_or(0.0, |b| b[o] as f64);
                for c in 0..g.in_channels {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let iy = (oy + ky) as isize - g.pad_top as isize;
                            let ix = (ox + kx) as isize - g.pad_left as isize;
                            if iy < 0 || ix < 0 || iy >= g.in_h as isize || ix >= g.in_w as isize {
                                continue;
                            }
                            s += x[(c * g.in_h + iy as usize) * g.in_w + ix as usize] as f64
                                * w[((o * g.in_channels + c) * 3 + ky) * 3 + kx] as f64;
                        }
                    }
                }
                let i = (o * oh + oy) * ow + ox;
                y[i] = (act_ref(act, s) + res.map_or(0.0, |r| r[i] as f64)) as f32;
            }
        }
    }
    y
}

struct Case {
    ic: usize,
    oc: usize,
    h: usize,
    w: usize,
    pad: usize,
}

/// Runs one geometry for every ISA, tile, batch 1/2, thread count 1/2; returns the worst
/// |Δ|/tolerance against the direct convolution.
fn check(rng: &mut Rng, c: &Case, bias_on: bool, act: Activation, res_on: bool) -> f32 {
    let g = ConvGeometry::new(c.ic, c.oc, c.h, c.w, 3, 3).pads(c.pad, c.pad, c.pad, c.pad);
    let batch = 2;
    let img_in = c.ic * c.h * c.w;
    let img_out = g.out_channels * g.out_h() * g.out_w();
    let x = rng.vec(batch * img_in);
    let w = rng.vec(g.weight_len());
    let b = rng.vec(c.oc);
    let bias = bias_on.then_some(&b[..]);
    let r = rng.vec(batch * img_out);
    let res = res_on.then_some(&r[..]);
    let mut worst = 0.0f32;
    for tile in [WinogradTile::F2, WinogradTile::F4] {
        let tol = tolerance(tile, c.ic);
        // Reference Winograd and direct conv, per image.
        let mut want_w = vec![0.0f32; batch * img_out];
        let mut want_d = Vec::new();
        for n in 0..batch {
            let xi = &x[n * img_in..(n + 1) * img_in];
            let ri = res.map(|r| &r[n * img_out..(n + 1) * img_out]);
            winograd_reference(
                tile,
                &g,
                &w,
                bias,
                act,
                xi,
                ri,
                &mut want_w[n * img_out..(n + 1) * img_out],
            );
            want_d.extend(direct(&g, xi, &w, bias, act, ri));
        }
        let e = max_abs_diff(&want_w, &want_d);
        assert!(
            e <= tol,
            "reference {tile:?} vs direct {g:?} act={act:?}: |Δ| {e} > {tol}"
        );
        let options = ConvOptions {
            exact: false,
            force_winograd: Some(tile),
        };
        for isa in Isa::all_supported() {
            let plan =
                Conv2dPlan::try_new_with(isa, g, &w, bias, Epilogue::new(act), options).unwrap();
            assert_eq!(plan.algorithm(), ConvAlgorithm::Winograd(tile));
            for (threads, n) in [(1, 1), (2, 1), (2, 2)] {
                let mut y = vec![f32::NAN; n * img_out];
                plan.run(
                    &x[..n * img_in],
                    res.map(|r| &r[..n * img_out]),
                    &mut y,
                    Some(&pool(threads)),
                );
                let ew = max_abs_diff(&y, &want_w[..n * img_out]);
                let ed = max_abs_diff(&y, &want_d[..n * img_out]);
                assert!(
                    ew <= tol && ed <= tol,
                    "{isa:?} {tile:?} {g:?} batch={n} threads={threads} act={act:?} bias={bias_on} \
                     res={res_on}: |Δ| vs reference Winograd {ew}, vs direct {ed}, tolerance {tol}"
                );
                worst = worst.max(ed / tol);
            }
        }
    }
    worst
}

#[test]
fn winograd_matches_reference_on_odd_shapes() {
    let mut rng = Rng::new(17);
    let cases = [
        // 1×1 spatial (needs pad ≥ 1), 2×3 spatial, one channel, ragged channel counts.
        Case {
            ic: 1,
            oc: 1,
            h: 1,
            w: 1,
            pad: 1,
        },
        Case {
            ic: 3,
            oc: 5,
            h: 1,
            w: 1,
            pad: 2,
        },
        Case {
            ic: 1,
            oc: 1,
            h: 2,
            w: 3,
            pad: 1,
        },
        Case {
            ic: 17,
            oc: 9,
            h: 2,
            w: 3,
            pad: 2,
        },
        Case {
            ic: 1,
            oc: 7,
            h: 9,
            w: 7,
            pad: 0,
        },
        Case {
            ic: 5,
            oc: 1,
            h: 6,
            w: 11,
            pad: 1,
        },
        Case {
            ic: 17,
            oc: 33,
            h: 13,
            w: 10,
            pad: 1,
        },
        Case {
            ic: 33,
            oc: 17,
            h: 11,
            w: 14,
            pad: 0,
        },
        Case {
            ic: 48,
            oc: 40,
            h: 20,
            w: 20,
            pad: 1,
        },
        Case {
            ic: 16,
            oc: 16,
            h: 23,
            w: 19,
            pad: 2,
        },
    ];
    let acts = [Activation::Identity, Activation::Silu];
    let mut worst = 0.0f32;
    let mut checked = 0;
    for (i, c) in cases.iter().enumerate() {
        for (bias_on, act, res_on) in [
            (true, acts[i % 2], i % 3 == 0),
            (false, acts[(i + 1) % 2], i % 3 != 0),
        ] {
            worst = worst.max(check(&mut rng, c, bias_on, act, res_on));
            checked += 1;
        }
    }
    println!("{checked} geometry/epilogue combinations: worst |Δ|/tolerance vs direct {worst:.3}");
}

#[test]
fn default_mode_picks_winograd_by_the_rule_and_exact_never() {
    let w = vec![0.5f32; 256 * 256 * 9];
    let g = ConvGeometry::new(64, 64, 80, 80, 3, 3).pads(1, 1, 1, 1);
    let plan = |g: ConvGeometry, options| {
        Conv2dPlan::try_new_with(
            Isa::detect(),
            g,
            &w[..g.weight_len()],
            None,
            Epilogue::SILU,
            options,
        )
        .unwrap()
        .algorithm()
    };
    assert_eq!(
        plan(g, ConvOptions::FAST),
        ConvAlgorithm::Winograd(WinogradTile::F2)
    );
    assert_eq!(
        plan(g, ConvOptions::default()),
        ConvAlgorithm::LazyIm2colGemm
    );
    // Too few channels or too small an output: the GEMM path stays.
    for (ic, oc, side) in [
        (8, 8, 80),
        (32, 64, 80),
        (64, 32, 80),
        (64, 64, 40),
        (256, 256, 20),
    ] {
        let small = ConvGeometry::new(ic, oc, side, side, 3, 3).pads(1, 1, 1, 1);
        assert_eq!(
            plan(small, ConvOptions::FAST),
            ConvAlgorithm::LazyIm2colGemm
        );
    }
    // Stride 2 is not eligible, and forcing Winograd there is an error, not a wrong result.
    let s2 = g.stride(2, 2);
    assert_eq!(plan(s2, ConvOptions::FAST), ConvAlgorithm::ImplicitGemm);
    let forced = ConvOptions {
        exact: false,
        force_winograd: Some(WinogradTile::F2),
    };
    assert!(Conv2dPlan::try_new_with(Isa::detect(), s2, &w, None, Epilogue::SILU, forced).is_err());
}
