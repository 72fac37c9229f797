//! GridSample (opset 16/20/22): N-D, nearest / (bi)linear / (bi)cubic, zeros / border /
//! reflection padding, align_corners. Follows the ONNX reference (PyTorch semantics).
//! AffineGrid (the grids GridSample reads) and RoiAlign.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::TensorData;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "GridSample", build_grid_sample),
    ("", "AffineGrid", build_affine_grid),
    ("", "RoiAlign", build_roi_align),
];

fn reflect(x: f32, lo: f32, hi: f32) -> f32 {
    let rng = hi - lo;
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng) as i64;
        let r = dx - n as f32 * rng;
        if n % 2 == 0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng) as i64;
        let r = dx - n as f32 * rng;
        if n % 2 == 0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

fn cubic(x: f32) -> [f32; 4] {
    let a = -0.75f32;
    let x = x.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

pub fn build_grid_sample(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let mode = match ctx
        .string("mode", if ctx.opset < 20 { "bilinear" } else { "linear" })
        .as_str()
    {
        "bilinear" | "linear" => 1,
        "nearest" => 0,
        "bicubic" | "cubic" => 2,
        m => bail!("unsupported mode {m}"),
    };
    let padding = ctx.string("padding_mode", "zeros");
    let align = ctx.int("align_corners", 0) != 0;
    kernel(move |ins| {
        let (x, grid) = (req(ins, 0)?, req(ins, 1)?);
        require_float(x)?;
        let r = x.rank();
        if r < 3
            || grid.rank() != r
            || grid.shape()[0] != x.shape()[0]
            || grid.shape()[r - 1] != r - 2
        {
            bail!("X {:?} and grid {:?} do not fit", x.shape(), grid.shape());
        }
        let k = r - 2;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let dims: Vec<usize> = x.shape()[2..].to_vec();
        let ost: Vec<usize> = grid.shape()[1..r - 1].to_vec();
        let npos = numel(&ost);
        let isz = numel(&dims);
        let st = strides(&dims);
        let xv = f32s(x)?;
        let gv = f32s(grid)?;
        let (lo, hi): (Vec<f32>, Vec<f32>) = dims
            .iter()
            .map(|&d| {
                if align {
                    (0.0, d as f32 - 1.0)
                } else {
                    (-0.5, d as f32 - 0.5)
                }
            })
            .unzip();
        let mut out = vec![0f32; n * c * npos];
        // Index along dim `i` after the padding rule, or None (zero padding).
        let fix = |i: usize, v: i64| -> Option<usize> {
            let d = dims[i] as i64;
            match padding.as_str() {
                "zeros" => (v >= 0 && v < d).then_some(v as usize),
                "border" => Some(v.clamp(0, d - 1) as usize),
                _ => Some((reflect(v as f32, lo[i], hi[i]) as i64).clamp(0, d - 1) as usize),
            }
        };
        for b in 0..n {
            for p in 0..npos {
                let g = &gv[(b * npos + p) * k..(b * npos + p + 1) * k];
                // Grid coordinates come in reverse dimension order (x first).
                let mut xs: Vec<f32> = (0..k)
                    .map(|i| {
                        let nv = g[k - 1 - i];
                        let d = dims[i] as f32;
                        if align {
                            (nv + 1.0) / 2.0 * (d - 1.0)
                        } else {
                            ((nv + 1.0) * d - 1.0) / 2.0
                        }
                    })
                    .collect();
                if mode == 0 {
                    xs.iter_mut().for_each(|v| *v = v.round_ties_even());
                }
                for i in 0..k {
                    let v = xs[i];
                    if v < lo[i] || v > hi[i] {
                        if padding == "border" {
                            xs[i] = v.clamp(0.0, dims[i] as f32 - 1.0);
                        } else if padding == "reflection" {
                            xs[i] = reflect(v, lo[i], hi[i]);
                        }
                    }
                }
                // Per-dim taps: (index or None, weight).
                let taps: Vec<Vec<(Option<usize>, f32)>> = (0..k)
                    .map(|i| {
                        let v = xs[i];
                        match mode {
                            0 => vec![(fix(i, v as i64), 1.0)],
                            1 => {
                                let f = v.floor();
                                let t = v - f;
                                vec![(fix(i, f as i64), 1.0 - t), (fix(i, f as i64 + 1), t)]
                            }
                            _ => {
                                let f = v.floor();
                                let w = cubic(v - f);
                                (0..4)
                                    .map(|j| (fix(i, f as i64 - 1 + j as i64), w[j as usize]))
                                    .collect()
                            }
                        }
                    })
                    .collect();
                // Tensor-product of the taps.
                let mut combos: Vec<(Option<usize>, f32)> = vec![(Some(0), 1.0)];
                for (i, t) in taps.iter().enumerate() {
                    let mut next = Vec::with_capacity(combos.len() * t.len());
                    for &(off, w) in &combos {
                        for &(idx, wt) in t {
                            next.push((off.zip(idx).map(|(o, j)| o + j * st[i]), w * wt));
                        }
                    }
                    combos = next;
                }
                for ch in 0..c {
                    let plane = &xv[(b * c + ch) * isz..(b * c + ch + 1) * isz];
                    let v: f32 = combos
                        .iter()
                        .map(|&(off, w)| off.map_or(0.0, |o| plane[o] * w))
                        .sum();
                    out[(b * c + ch) * npos + p] = v;
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend(ost);
        Ok(vec![from_f32(x.dtype(), shape, out)?])
    })
}

pub fn build_affine_grid(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let align = ctx.int("align_corners", 0) != 0;
    kernel(move |ins| {
        let (theta, size) = (req(ins, 0)?, ints(req(ins, 1)?)?);
        require_float(theta)?;
        let k = size.len().saturating_sub(2);
        if !(k == 2 || k == 3)
            || theta.shape() != [size[0].max(0) as usize, k, k + 1]
            || size.iter().any(|&d| d < 0)
        {
            bail!("theta {:?} and size {size:?} do not fit", theta.shape());
        }
        let n = size[0] as usize;
        let sp: Vec<usize> = size[2..].iter().map(|&d| d as usize).collect();
        let lin = |d: usize, i: usize| -> f64 {
            if align {
                if d <= 1 {
                    -1.0
                } else {
                    -1.0 + 2.0 * i as f64 / (d - 1) as f64
                }
            } else {
                -1.0 + (2 * i + 1) as f64 / d as f64
            }
        };
        let th = theta.to_f64_vec().ok_or("bad theta")?;
        let np = numel(&sp);
        let mut out = Vec::with_capacity(n * np * k);
        for b in 0..n {
            let t = &th[b * k * (k + 1)..(b + 1) * k * (k + 1)];
            for_each_index(&sp, |i| {
                // Homogeneous point in reverse dimension order: (x, y[, z], 1).
                let mut p: Vec<f64> = (0..k).map(|j| lin(sp[k - 1 - j], i[k - 1 - j])).collect();
                p.push(1.0);
                for r in 0..k {
                    out.push((0..=k).map(|c| t[r * (k + 1) + c] * p[c]).sum::<f64>());
                }
            });
        }
        let mut shape = vec![n];
        shape.extend(&sp);
        shape.push(k);
        let t = tensor(shape, TensorData::F64(out))?;
        Ok(vec![super::cast::cast(&t, theta.dtype())?])
    })
}

/// RoiAlign (opset 10/16), following the ONNX reference (Detectron-style sampling grid).
pub fn build_roi_align(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let half_pixel = ctx.string(
        "coordinate_transformation_mode",
        if ctx.opset < 16 {
            "output_half_pixel"
        } else {
            "half_pixel"
        },
    ) == "half_pixel";
    let max_mode = ctx.string("mode", "avg") == "max";
    let (oh, ow) = (
        ctx.int("output_height", 1).max(1) as usize,
        ctx.int("output_width", 1).max(1) as usize,
    );
    let sampling = ctx.int("sampling_ratio", 0);
    let scale = ctx.float("spatial_scale", 1.0) as f64;
    kernel(move |ins| {
        let (x, rois, bi) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        require_float(x)?;
        if x.rank() != 4 || rois.rank() != 2 || rois.shape()[1] != 4 || bi.len() != rois.shape()[0]
        {
            bail!(
                "X {:?}, rois {:?}, batch_indices {:?} do not fit",
                x.shape(),
                rois.shape(),
                bi.shape()
            );
        }
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        if h == 0 || w == 0 {
            bail!("empty feature map {:?}", x.shape());
        }
        let xv = f64s(x)?;
        let rv = f64s(rois)?;
        let bv = ints(bi)?;
        let nr = rois.shape()[0];
        let mut out = vec![0f32; nr * c * oh * ow];
        for r in 0..nr {
            let b = bv[r];
            if b < 0 || b as usize >= n {
                bail!("batch index {b} is out of range");
            }
            let off = if half_pixel { 0.5 } else { 0.0 };
            let (sw, sh) = (rv[r * 4] * scale - off, rv[r * 4 + 1] * scale - off);
            let (ew, eh) = (rv[r * 4 + 2] * scale - off, rv[r * 4 + 3] * scale - off);
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / oh as f64, rw / ow as f64);
            let gh = if sampling > 0 {
                sampling as usize
            } else {
                (rh / oh as f64).ceil() as usize
            };
            let gw = if sampling > 0 {
                sampling as usize
            } else {
                (rw / ow as f64).ceil() as usize
            };
            let count = (gh * gw).max(1) as f64;
            // (positions, weights) per sample, shared by all channels.
            let mut pre: Vec<([usize; 4], [f64; 4])> = Vec::with_capacity(oh * ow * gh * gw);
            for ph in 0..oh {
                for pw in 0..ow {
                    for iy in 0..gh {
                        let yy = sh + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            if yy < -1.0 || yy > h as f64 || xx < -1.0 || xx > w as f64 {
                                pre.push(([0; 4], [0.0; 4]));
                                continue;
                            }
                            let (mut y, mut xq) = (yy.max(0.0), xx.max(0.0));
                            let (mut yl, mut xl) = (y as usize, xq as usize);
                            let yhi = if yl >= h - 1 {
                                yl = h - 1;
                                y = yl as f64;
                                yl
                            } else {
                                yl + 1
                            };
                            let xhi = if xl >= w - 1 {
                                xl = w - 1;
                                xq = xl as f64;
                                xl
                            } else {
                                xl + 1
                            };
                            let (ly, lx) = (y - yl as f64, xq - xl as f64);
                            let (hy, hx) = (1.0 - ly, 1.0 - lx);
                            pre.push((
                                [yl * w + xl, yl * w + xhi, yhi * w + xl, yhi * w + xhi],
                                [hy * hx, hy * lx, ly * hx, ly * lx],
                            ));
                        }
                    }
                }
            }
            for ch in 0..c {
                let plane = &xv[(b as usize * c + ch) * h * w..(b as usize * c + ch + 1) * h * w];
                for p in 0..oh * ow {
                    let samples = &pre[p * gh * gw..(p + 1) * gh * gw];
                    let v = if max_mode {
                        samples
                            .iter()
                            .map(|(pos, wt)| {
                                (0..4)
                                    .map(|k| wt[k] * plane[pos[k]])
                                    .fold(f64::NEG_INFINITY, f64::max)
                            })
                            .fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        samples
                            .iter()
                            .map(|(pos, wt)| (0..4).map(|k| wt[k] * plane[pos[k]]).sum::<f64>())
                            .sum::<f64>()
                            / count
                    };
                    out[(r * c + ch) * oh * ow + p] = if v.is_finite() { v as f32 } else { 0.0 };
                }
            }
        }
        Ok(vec![from_f32(x.dtype(), vec![nr, c, oh, ow], out)?])
    })
}
