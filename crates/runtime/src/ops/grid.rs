//! GridSample (opset 16/20/22): N-D, nearest / (bi)linear / (bi)cubic, zeros / border /
//! reflection padding, align_corners. Follows the ONNX reference (PyTorch semantics).

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[("", "GridSample", build_grid_sample)];

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
