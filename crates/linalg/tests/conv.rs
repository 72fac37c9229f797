//! Convolutions against a naive f64 NCHW reference on random geometries (kernel sizes,
//! strides, pads, dilations, groups incl. depthwise, batch), for every ISA.

mod common;
use common::*;
use onnxide_linalg::conv::{Conv2dPlan, ConvAlgorithm, ConvGeometry};
use onnxide_linalg::{Activation, Epilogue, Isa};

fn reference(
    g: &ConvGeometry,
    batch: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    res: Option<&[f32]>,
) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let icg = g.in_channels / g.groups;
    let ocg = g.out_channels / g.groups;
    let mut y = vec![0.0f32; batch * g.out_channels * oh * ow];
    for n in 0..batch {
        for oc in 0..g.out_channels {
            let grp = oc / ocg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |b| b[oc] as f64);
                    for ci in 0..icg {
                        let c = grp * icg + ci;
                        for ky in 0..g.kernel_h {
                            for kx in 0..g.kernel_w {
                                let iy = (oy * g.stride_h + ky * g.dilation_h) as isize
                                    - g.pad_top as isize;
                                let ix = (ox * g.stride_w + kx * g.dilation_w) as isize
                                    - g.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let xv = x[((n * g.in_channels + c) * g.in_h + iy as usize)
                                    * g.in_w
                                    + ix as usize];
                                let wv = w[((oc * icg + ci) * g.kernel_h + ky) * g.kernel_w + kx];
                                s += xv as f64 * wv as f64;
                            }
                        }
                    }
                    let i = ((n * g.out_channels + oc) * oh + oy) * ow + ox;
                    let mut v = act_ref(act, s);
                    if let Some(r) = res {
                        v += r[i] as f64;
                    }
                    y[i] = v as f32;
                }
            }
        }
    }
    y
}

fn check(isa: Isa, rng: &mut Rng, g: ConvGeometry, batch: usize, threads: usize) -> ConvAlgorithm {
    let act = ALL_ACTS[rng.range(0, 3)];
    let x = rng.vec(batch * g.in_channels * g.in_h * g.in_w);
    let w = rng.vec(g.weight_len());
    let bias = rng.vec(g.out_channels);
    let bias = (rng.range(0, 3) > 0).then_some(&bias[..]);
    let out_len = batch * g.out_channels * g.out_h() * g.out_w();
    let res = rng.vec(out_len);
    let res = (rng.range(0, 1) == 1).then_some(&res[..]);
    let expected = reference(&g, batch, &x, &w, bias, act, res);
    let plan = Conv2dPlan::new(isa, g, &w, bias, Epilogue::new(act));
    let mut y = vec![f32::NAN; out_len];
    plan.run(&x, res, &mut y, Some(&pool(threads)));
    let k = (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
    let tol = 4e-5 * (k as f32).sqrt();
    let err = max_abs_diff(&y, &expected);
    assert!(
        err <= tol,
        "{isa:?} {g:?} batch={batch} act={act:?} threads={threads} {:?}: err {err} > {tol}",
        plan.algorithm()
    );
    plan.algorithm()
}

#[test]
fn yolo_like_shapes_every_isa() {
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(10);
        // (ic, oc, h, w, k, stride, groups)
        let cases = [
            (3, 16, 32, 32, 3, 2, 1),   // model.0 (stem)
            (16, 32, 16, 16, 3, 2, 1),  // downsampling conv
            (8, 16, 20, 20, 3, 1, 1),   // bottleneck 3×3
            (48, 64, 20, 20, 1, 1, 1),  // C3k2 cv2 1×1
            (64, 64, 10, 10, 3, 1, 64), // detect DWConv
            (32, 80, 7, 9, 1, 1, 1),    // head 1×1, odd size
        ];
        for (ic, oc, h, w, k, s, grp) in cases {
            let p = k / 2;
            let g = ConvGeometry::new(ic, oc, h, w, k, k)
                .stride(s, s)
                .pads(p, p, p, p)
                .groups(grp);
            for batch in [1, 2] {
                check(isa, &mut rng, g, batch, 2);
            }
        }
    }
}

#[test]
fn random_geometries_every_isa() {
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(11);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..60 {
            let kind = rng.range(0, 3);
            let k = [1, 2, 3, 5][rng.range(0, 3)];
            let kw = if rng.range(0, 4) == 0 {
                [1, 3][rng.range(0, 1)]
            } else {
                k
            };
            let (ic, oc, groups) = match kind {
                0 => (rng.range(1, 20), rng.range(1, 20), 1),
                1 => {
                    let c = rng.range(1, 12);
                    (c, c, c) // depthwise
                }
                2 => {
                    let grp = rng.range(2, 3);
                    (grp * rng.range(1, 5), grp * rng.range(1, 5), grp)
                }
                _ => (rng.range(1, 40), rng.range(1, 40), 1),
            };
            let h = rng.range(k, 23);
            let w = rng.range(kw, 29);
            let g = ConvGeometry::new(ic, oc, h, w, k, kw)
                .stride(rng.range(1, 3), rng.range(1, 3))
                .pads(
                    rng.range(0, 2),
                    rng.range(0, 2),
                    rng.range(0, 2),
                    rng.range(0, 2),
                )
                .dilation(rng.range(1, 2), 1)
                .groups(groups);
            // Half stride 1 both ways (the lazy-im2col path), half any strides.
            let g = if rng.range(0, 1) == 0 {
                g.stride(1, 1)
            } else {
                g
            };
            // Kind 3: a pointwise conv (1×1, stride 1, no pad), the direct GEMM path.
            let g = if kind == 3 {
                ConvGeometry::new(ic, oc, h, w, 1, 1)
            } else {
                g
            };
            if g.validate().is_err() {
                continue;
            }
            let batch = rng.range(1, 3);
            let threads = rng.range(1, 2);
            seen.insert(format!("{:?}", check(isa, &mut rng, g, batch, threads)));
        }
        assert_eq!(seen.len(), 4, "every algorithm exercised: {seen:?}");
    }
}

#[test]
fn algorithm_choice() {
    let isa = Isa::detect();
    let pw = ConvGeometry::new(8, 8, 4, 4, 1, 1);
    let dw = ConvGeometry::new(8, 8, 4, 4, 3, 3)
        .pads(1, 1, 1, 1)
        .groups(8);
    let lazy = ConvGeometry::new(8, 8, 4, 4, 3, 3).pads(1, 1, 1, 1);
    let im = lazy.stride(2, 2);
    let plan = |g: ConvGeometry| {
        Conv2dPlan::new(isa, g, &vec![0.0; g.weight_len()], None, Epilogue::IDENTITY)
    };
    assert_eq!(plan(pw).algorithm(), ConvAlgorithm::Pointwise);
    assert_eq!(plan(dw).algorithm(), ConvAlgorithm::Depthwise);
    assert_eq!(plan(lazy).algorithm(), ConvAlgorithm::LazyIm2colGemm);
    assert_eq!(plan(im).algorithm(), ConvAlgorithm::ImplicitGemm);
}

#[test]
fn bad_shapes_are_errors() {
    let isa = Isa::detect();
    let g = ConvGeometry::new(4, 4, 5, 5, 3, 3);
    assert!(Conv2dPlan::try_new(isa, g, &[0.0; 10], None, Epilogue::IDENTITY).is_err());
    assert!(Conv2dPlan::try_new(isa, g.groups(3), &[0.0; 144], None, Epilogue::IDENTITY).is_err());
    assert!(Conv2dPlan::try_new(
        isa,
        ConvGeometry::new(4, 4, 2, 2, 3, 3),
        &[0.0; 144],
        None,
        Epilogue::IDENTITY
    )
    .is_err());
    let plan = Conv2dPlan::new(isa, g, &[0.0; 144], None, Epilogue::IDENTITY);
    let mut y = vec![0.0; plan.output_len()];
    assert!(plan.try_run(&[0.0; 7], None, &mut y, None).is_err());
    assert!(plan
        .try_run(&vec![0.0; plan.input_len()], None, &mut y[1..], None)
        .is_err());
}

#[test]
fn large_conv_crosses_k_and_column_blocks() {
    // K = 64·9 = 576 spans several KC slices; 30×50 = 1500 pixels span several packed
    // column blocks and thread tasks; stride 2 and batch 2 as well.
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(12);
        let g = ConvGeometry::new(64, 40, 30, 50, 3, 3).pads(1, 1, 1, 1);
        check(isa, &mut rng, g, 1, 2);
        check(isa, &mut rng, g.stride(2, 2), 2, 2);
    }
}

#[test]
fn batched_views_read_a_split_and_write_into_a_concat() {
    use onnxide_linalg::conv::BatchLayout;
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(13);
        let batch = 3;
        for g in [
            ConvGeometry::new(6, 5, 9, 11, 3, 3).pads(1, 1, 1, 1),
            ConvGeometry::new(6, 5, 9, 11, 1, 1),
            ConvGeometry::new(6, 6, 9, 11, 3, 3)
                .pads(1, 1, 1, 1)
                .groups(6),
        ] {
            let (in_len, out_len) = (6 * 9 * 11, g.out_channels * g.out_h() * g.out_w());
            // Input: [N, 2·6, 9, 11], the conv reads channels 6..12 (a Split view).
            let wide_in = rng.vec(batch * 2 * in_len);
            // Output: [N, 3·M, OH, OW], the conv writes channels M..2M (a Concat slot).
            let mut wide_out = rng.vec(batch * 3 * out_len);
            let before = wide_out.clone();
            let residual = rng.vec(batch * 3 * out_len);
            let w = rng.vec(g.weight_len());
            let plan = Conv2dPlan::new(isa, g, &w, None, Epilogue::SILU);
            let layout = BatchLayout {
                batch,
                input_stride: 2 * in_len,
                output_stride: 3 * out_len,
            };
            plan.run_batched(
                &wide_in[in_len..],
                Some(&residual[out_len..]),
                &mut wide_out[out_len..],
                layout,
                None,
            )
            .unwrap();
            for n in 0..batch {
                let x = &wide_in[(2 * n + 1) * in_len..(2 * n + 2) * in_len];
                let r = &residual[(3 * n + 1) * out_len..(3 * n + 2) * out_len];
                let want = reference(&g, 1, x, &w, None, Activation::Silu, Some(r));
                let got = &wide_out[(3 * n + 1) * out_len..(3 * n + 2) * out_len];
                assert!(max_abs_diff(got, &want) < 1e-4, "{isa:?} {g:?} image {n}");
                for slot in [0, 2] {
                    let range = (3 * n + slot) * out_len..(3 * n + slot + 1) * out_len;
                    assert_eq!(
                        wide_out[range.clone()],
                        before[range],
                        "{isa:?}: wrote outside its slot"
                    );
                }
            }
        }
    }
}

#[test]
fn stride_two_every_isa() {
    // Odd and even sizes, asymmetric pads, kernels 1–5: the packed implicit-GEMM path with
    // its stride-2 gather.
    for isa in Isa::all_supported() {
        let mut rng = Rng::new(14);
        for _ in 0..25 {
            let (kh, kw) = (rng.range(1, 5), rng.range(1, 5));
            let g = ConvGeometry::new(
                rng.range(1, 9),
                rng.range(1, 20),
                rng.range(kh, 19),
                rng.range(kw, 23),
                kh,
                kw,
            )
            .stride(2, 2)
            .pads(
                rng.range(0, 2),
                rng.range(0, 2),
                rng.range(0, 2),
                rng.range(0, 2),
            );
            if g.validate().is_err() {
                continue;
            }
            let (batch, threads) = (rng.range(1, 2), rng.range(1, 2));
            assert_eq!(
                check(isa, &mut rng, g, batch, threads),
                ConvAlgorithm::ImplicitGemm
            );
        }
    }
}
