//! MaxPool, AveragePool, LpPool, the global pools, and their inverses MaxUnpool and Col2Im.

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
    ("", "MaxUnpool", build_max_unpool),
    ("", "Col2Im", build_col2im),
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
    crate::limits::alloc_elems(&[planes, osz], if want_idx { 12 } else { 4 })?;
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
            let xf = super::cast::cast(x, onnxide_ir::DType::F32)?;
            let mut r = pool(&xf, &attrs, Kind::Max, want_idx, col_major)?;
            r[0] = super::cast::cast(&r[0], x.dtype())?;
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

pub fn build_max_unpool(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let kernel_shape = ctx.ints("kernel_shape").ok_or("kernel_shape is required")?;
    let strides_attr = ctx.ints("strides");
    let pads = ctx.ints("pads");
    kernel(move |ins| {
        let (x, ind) = (req(ins, 0)?, req(ins, 1)?);
        let nd = kernel_shape.len();
        if x.rank() != nd + 2 || ind.shape() != x.shape() {
            bail!(
                "X {:?} / I {:?} do not fit kernel {kernel_shape:?}",
                x.shape(),
                ind.shape()
            );
        }
        // Indices address the default output shape; an explicit output_shape (larger, with
        // padding) receives them at the same coordinates.
        let mut default = x.shape()[..2].to_vec();
        for (i, &ks) in kernel_shape.iter().enumerate() {
            let st = strides_attr
                .as_ref()
                .map_or(1, |v| v.get(i).copied().unwrap_or(1));
            let (pb, pe) = pads.as_ref().map_or((0, 0), |p| {
                (
                    p.get(i).copied().unwrap_or(0),
                    p.get(i + nd).copied().unwrap_or(0),
                )
            });
            let d = (x.shape()[i + 2] as i64 - 1) * st + ks - pb - pe;
            default.push(d.max(0) as usize);
        }
        let shape: Vec<usize> = match opt(ins, 2) {
            Some(s) => ints(s)?.iter().map(|&d| d.max(0) as usize).collect(),
            None => default.clone(),
        };
        if shape.len() != default.len() || shape.iter().zip(&default).any(|(a, b)| a < b) {
            bail!("output_shape {shape:?} is smaller than the unpooled shape {default:?}");
        }
        let total = numel(&shape);
        let iv = ints(ind)?;
        let mut idx = vec![usize::MAX; total];
        let (dst, ost) = (strides(&default), strides(&shape));
        let dtotal = numel(&default);
        for (j, &t) in iv.iter().enumerate() {
            if t < 0 || t as usize >= dtotal {
                bail!("index {t} is out of range for output {default:?}");
            }
            let mut rem = t as usize;
            let mut o = 0;
            for d in 0..default.len() {
                o += (rem / dst[d]) * ost[d];
                rem %= dst[d];
            }
            idx[o] = j;
        }
        let zero = Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?;
        let flat = x
            .clone()
            .reshaped(vec![x.len()])
            .map_err(|e| e.to_string())?;
        Ok(vec![take(&flat, &idx, Some(&zero), shape)?])
    })
}

/// Col2Im: scatter-adds sliding blocks back into an image (N-D).
pub fn build_col2im(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let dil = ctx.ints("dilations");
    let pads = ctx.ints("pads");
    let strides_attr = ctx.ints("strides");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let img: Vec<usize> = ints(req(ins, 1)?)?
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect();
        let blk: Vec<usize> = ints(req(ins, 2)?)?
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect();
        let nd = img.len();
        if blk.len() != nd || x.rank() != 3 || nd == 0 {
            bail!(
                "input {:?}, image_shape {img:?}, block_shape {blk:?} do not fit",
                x.shape()
            );
        }
        let get = |v: &Option<Vec<i64>>, d: i64, n: usize| v.clone().unwrap_or(vec![d; n]);
        let (dl, st, pd) = (
            get(&dil, 1, nd),
            get(&strides_attr, 1, nd),
            get(&pads, 0, 2 * nd),
        );
        if dl.len() != nd || st.len() != nd || pd.len() != 2 * nd {
            bail!("dilations/strides/pads do not fit {nd} dims");
        }
        let kprod = numel(&blk);
        let (n, ck, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        if kprod == 0 || ck % kprod != 0 {
            bail!("channels {ck} are not a multiple of the block size {kprod}");
        }
        let c = ck / kprod;
        let counts: Vec<usize> = (0..nd)
            .map(|i| {
                let span = img[i] as i64 + pd[i] + pd[i + nd] - (dl[i] * (blk[i] as i64 - 1) + 1);
                if span < 0 {
                    0
                } else {
                    (span / st[i].max(1)) as usize + 1
                }
            })
            .collect();
        if numel(&counts) != l {
            bail!("{l} blocks given, the geometry makes {}", numel(&counts));
        }
        let v = f64s(x)?;
        let isz = numel(&img);
        let ist = strides(&img);
        let mut out = vec![0f64; n * c * isz];
        let mut ks: Vec<Vec<usize>> = Vec::new();
        for_each_index(&blk, |k| ks.push(k.to_vec()));
        let mut ls: Vec<Vec<usize>> = Vec::new();
        for_each_index(&counts, |p| ls.push(p.to_vec()));
        for b in 0..n {
            for ch in 0..c {
                for (ki, k) in ks.iter().enumerate() {
                    for (li, p) in ls.iter().enumerate() {
                        let mut off = 0usize;
                        let mut inside = true;
                        for d in 0..nd {
                            let pos = p[d] as i64 * st[d] - pd[d] + k[d] as i64 * dl[d];
                            if pos < 0 || pos >= img[d] as i64 {
                                inside = false;
                                break;
                            }
                            off += pos as usize * ist[d];
                        }
                        if inside {
                            out[(b * c + ch) * isz + off] += v[(b * ck + ch * kprod + ki) * l + li];
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&img);
        let t = tensor(shape, TensorData::F64(out))?;
        Ok(vec![super::cast::cast(&t, x.dtype())?])
    })
}
