//! MaxPool, AveragePool, LpPool and the global pools.

use super::conv::{geometry, Geo, WindowAttrs};
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};
use rayon::prelude::*;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "MaxPool", build_maxpool),
    ("", "AveragePool", build_avgpool),
    ("", "LpPool", build_lppool),
    ("", "GlobalAveragePool", build_global),
    ("", "GlobalMaxPool", build_global),
    ("", "GlobalLpPool", build_global),
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Max,
    Avg { include_pad: bool },
    Lp(f32),
}

/// Pools one (n, c) plane; `idx` gets the argmax (offset within the plane, row-major or
/// column-major per `storage_order`) for MaxPool.
fn pool_plane(x: &[f32], g: &Geo, kind: Kind, out: &mut [f32], idx: &mut [i64], col_major: bool) {
    let mut o = 0;
    for oz in 0..g.out[0] {
        for oy in 0..g.out[1] {
            for ox in 0..g.out[2] {
                let mut best = f32::NEG_INFINITY;
                let mut best_i = 0i64;
                let mut sum = 0f32;
                let (mut count, mut padded) = (0usize, 0usize);
                for kz in 0..g.k[0] {
                    let iz = (oz * g.s[0] + kz * g.d[0]) as i64 - g.pb[0];
                    for ky in 0..g.k[1] {
                        let iy = (oy * g.s[1] + ky * g.d[1]) as i64 - g.pb[1];
                        for kx in 0..g.k[2] {
                            let ix = (ox * g.s[2] + kx * g.d[2]) as i64 - g.pb[2];
                            let inside = |v: i64, d: usize| v >= 0 && v < d as i64;
                            let in_pad = |v: i64, d: usize, p: i64| {
                                v >= -g.pb[p as usize] && v < d as i64 + g.pe[p as usize]
                            };
                            if in_pad(iz, g.inp[0], 0)
                                && in_pad(iy, g.inp[1], 1)
                                && in_pad(ix, g.inp[2], 2)
                            {
                                padded += 1;
                            }
                            if !(inside(iz, g.inp[0])
                                && inside(iy, g.inp[1])
                                && inside(ix, g.inp[2]))
                            {
                                continue;
                            }
                            let (iz, iy, ix) = (iz as usize, iy as usize, ix as usize);
                            let v = x[(iz * g.inp[1] + iy) * g.inp[2] + ix];
                            count += 1;
                            match kind {
                                Kind::Max => {
                                    if count == 1 || v > best {
                                        best = v;
                                        best_i = if col_major {
                                            (ix * g.inp[1] + iy) as i64 * g.inp[0] as i64
                                                + iz as i64
                                        } else {
                                            ((iz * g.inp[1] + iy) * g.inp[2] + ix) as i64
                                        };
                                    }
                                }
                                Kind::Avg { .. } => sum += v,
                                Kind::Lp(p) => sum += v.abs().powf(p),
                            }
                        }
                    }
                }
                out[o] = match kind {
                    Kind::Max => best,
                    Kind::Avg { include_pad } => {
                        let d = if include_pad { padded } else { count };
                        if d == 0 {
                            0.0
                        } else {
                            sum / d as f32
                        }
                    }
                    Kind::Lp(p) => sum.powf(1.0 / p),
                };
                if !idx.is_empty() {
                    idx[o] = best_i;
                }
                o += 1;
            }
        }
    }
}

fn pool(
    x: &Tensor,
    attrs: &WindowAttrs,
    kind: Kind,
    want_idx: bool,
    col_major: bool,
) -> OpResult<Vec<Tensor>> {
    require_float(x)?;
    if x.rank() < 3 {
        bail!("input {:?} must have rank >= 3", x.shape());
    }
    let k: Vec<usize> = match &attrs.kernel {
        Some(k) if k.iter().all(|&v| v >= 1) => k.iter().map(|&v| v as usize).collect(),
        _ => bail!("kernel_shape is missing or invalid"),
    };
    let g = geometry(&x.shape()[2..], &k, attrs)?;
    let planes = x.shape()[0] * x.shape()[1];
    let (isz, osz) = (g.in_size(), g.out_size());
    let xv = f32s(x)?;
    let mut out = vec![0f32; planes * osz];
    let mut idx = vec![0i64; if want_idx { planes * osz } else { 0 }];
    let iszl = isz as i64;
    if want_idx {
        out.par_chunks_mut(osz.max(1))
            .zip(idx.par_chunks_mut(osz.max(1)))
            .enumerate()
            .for_each(|(p, (o, ix))| {
                pool_plane(&xv[p * isz..(p + 1) * isz], &g, kind, o, ix, col_major);
                ix.iter_mut().for_each(|v| *v += p as i64 * iszl);
            });
    } else {
        out.par_chunks_mut(osz.max(1))
            .enumerate()
            .for_each(|(p, o)| {
                pool_plane(&xv[p * isz..(p + 1) * isz], &g, kind, o, &mut [], col_major)
            });
    }
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(g.out_dims());
    let mut res = vec![from_f32(x.dtype(), shape.clone(), out)?];
    if want_idx {
        res.push(tensor(shape, TensorData::I64(idx))?);
    }
    Ok(res)
}

pub fn build_maxpool(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attrs = WindowAttrs::read(ctx);
    let want_idx = ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty());
    let col_major = ctx.int("storage_order", 0) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        if matches!(x.dtype(), onnxide_ir::DType::U8 | onnxide_ir::DType::I8) {
            // Integer MaxPool: exact through f32 (8-bit values), cast back.
            let xf = super::shape::cast(x, onnxide_ir::DType::F32)?;
            let mut r = pool(&xf, &attrs, Kind::Max, want_idx, col_major)?;
            r[0] = super::shape::cast(&r[0], x.dtype())?;
            return Ok(r);
        }
        pool(x, &attrs, Kind::Max, want_idx, col_major)
    })
}

pub fn build_avgpool(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attrs = WindowAttrs::read(ctx);
    let include_pad = ctx.int("count_include_pad", 0) != 0;
    kernel(move |ins| {
        pool(
            req(ins, 0)?,
            &attrs,
            Kind::Avg { include_pad },
            false,
            false,
        )
    })
}

pub fn build_lppool(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attrs = WindowAttrs::read(ctx);
    let p = ctx.int("p", 2) as f32;
    kernel(move |ins| pool(req(ins, 0)?, &attrs, Kind::Lp(p), false, false))
}

pub fn build_global(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    let p = ctx.int("p", 2) as f32;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 2 {
            bail!("input {:?} must have rank >= 2", x.shape());
        }
        let planes = x.shape()[0] * x.shape()[1];
        let isz = numel(&x.shape()[2..]);
        let xv = f32s(x)?;
        let out: Vec<f32> = (0..planes)
            .into_par_iter()
            .map(|i| {
                let s = &xv[i * isz..(i + 1) * isz];
                match op.as_str() {
                    "GlobalMaxPool" => s.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                    "GlobalLpPool" => s.iter().map(|v| v.abs().powf(p)).sum::<f32>().powf(1.0 / p),
                    _ => s.iter().map(|&v| v as f64).sum::<f64>() as f32 / isz as f32,
                }
            })
            .collect();
        let mut shape = x.shape()[..2].to_vec();
        shape.extend(std::iter::repeat_n(1, x.rank() - 2));
        Ok(vec![from_f32(x.dtype(), shape, out)?])
    })
}
