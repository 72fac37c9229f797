//! Conv and ConvTranspose (1-D, 2-D, 3-D; groups; dilations; auto_pad) by im2col + sgemm,
//! plus the window geometry the pooling ops share. 1-D and 2-D are run as 3-D with unit dims.

use crate::gemm::{sgemm, Mat};
use crate::kernel::{kernel, BuildCtx, Kernel, Registration, RunContext};
use crate::value::*;
use onnxide_ir::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Conv", build_conv),
    ("", "ConvTranspose", build_conv_transpose),
];

/// Window attributes of a conv or pool node.
#[derive(Clone, Debug)]
pub struct WindowAttrs {
    pub kernel: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub auto_pad: String,
    pub ceil_mode: bool,
}

impl WindowAttrs {
    pub fn read(ctx: &BuildCtx) -> Self {
        WindowAttrs {
            kernel: ctx.ints("kernel_shape"),
            strides: ctx.ints("strides"),
            dilations: ctx.ints("dilations"),
            pads: ctx.ints("pads"),
            auto_pad: ctx.string("auto_pad", "NOTSET"),
            ceil_mode: ctx.int("ceil_mode", 0) != 0,
        }
    }
}

/// Window geometry over 3 spatial dims (leading unit dims added for 1-D / 2-D).
#[derive(Clone, Debug)]
pub struct Geo {
    pub nd: usize,
    pub inp: [usize; 3],
    pub k: [usize; 3],
    pub s: [usize; 3],
    pub d: [usize; 3],
    /// Padding before and after.
    pub pb: [i64; 3],
    pub pe: [i64; 3],
    pub out: [usize; 3],
}

fn pad3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut r = [fill; 3];
    let off = 3 - v.len();
    for (i, &x) in v.iter().enumerate() {
        r[off + i] = x;
    }
    r
}

/// Largest pad, stride or dilation a window op accepts (larger ones are refused, not computed).
pub const MAX_PAD: u64 = 1 << 40;

pub fn geometry(spatial: &[usize], kernel: &[usize], a: &WindowAttrs) -> OpResult<Geo> {
    let nd = spatial.len();
    if nd == 0 || nd > 3 || kernel.len() != nd {
        bail!("only 1-D, 2-D and 3-D windows are supported (input spatial {spatial:?}, kernel {kernel:?})");
    }
    let get = |v: &Option<Vec<i64>>, name: &str| -> OpResult<Vec<usize>> {
        match v {
            None => Ok(vec![1; nd]),
            Some(v) if v.len() == nd && v.iter().all(|&x| x >= 1) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(format!("{name} {v:?} do not fit {nd} spatial dims")),
        }
    };
    let s = get(&a.strides, "strides")?;
    let d = get(&a.dilations, "dilations")?;
    let mut pb = vec![0i64; nd];
    let mut pe = vec![0i64; nd];
    let mut out = vec![0usize; nd];
    for i in 0..nd {
        let ek = ((kernel[i] - 1) * d[i] + 1) as i64;
        let n = spatial[i] as i64;
        match a.auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => {
                let o = (n + s[i] as i64 - 1) / s[i] as i64;
                let total = ((o - 1) * s[i] as i64 + ek - n).max(0);
                let small = total / 2;
                if a.auto_pad == "SAME_UPPER" {
                    pb[i] = small;
                    pe[i] = total - small;
                } else {
                    pb[i] = total - small;
                    pe[i] = small;
                }
                out[i] = o.max(0) as usize;
                continue;
            }
            "VALID" => {}
            _ => {
                if let Some(p) = &a.pads {
                    if p.len() != 2 * nd {
                        bail!("pads {p:?} do not fit {nd} spatial dims");
                    }
                    if p.iter().any(|v| v.unsigned_abs() > MAX_PAD) {
                        bail!("pads {p:?} are out of range (at most {MAX_PAD})");
                    }
                    pb[i] = p[i];
                    pe[i] = p[i + nd];
                }
            }
        }
        let span = n + pb[i] + pe[i] - ek;
        if span < 0 {
            bail!("kernel {kernel:?} (dilated) is larger than the padded input {spatial:?}");
        }
        let st = s[i] as i64;
        let mut o = if a.ceil_mode {
            (span + st - 1) / st + 1
        } else {
            span / st + 1
        };
        // The last window must start inside the input or the leading padding.
        if a.ceil_mode && (o - 1) * st >= n + pb[i] {
            o -= 1;
        }
        out[i] = o as usize;
    }
    let p3 = |v: &[i64]| {
        let mut r = [0i64; 3];
        for (i, &x) in v.iter().enumerate() {
            r[3 - nd + i] = x;
        }
        r
    };
    Ok(Geo {
        nd,
        inp: pad3(spatial, 1),
        k: pad3(kernel, 1),
        s: pad3(&s, 1),
        d: pad3(&d, 1),
        pb: p3(&pb),
        pe: p3(&pe),
        out: pad3(&out, 1),
    })
}

impl Geo {
    pub fn out_dims(&self) -> Vec<usize> {
        self.out[3 - self.nd..].to_vec()
    }
    pub fn in_size(&self) -> usize {
        self.inp.iter().product()
    }
    pub fn out_size(&self) -> usize {
        self.out.iter().product()
    }
    pub fn k_size(&self) -> usize {
        self.k.iter().product()
    }
    /// Is the 1×1, stride-1, unpadded case where im2col is the input itself?
    fn pointwise(&self) -> bool {
        self.k == [1, 1, 1] && self.s == [1, 1, 1] && self.pb == [0; 3] && self.pe == [0; 3]
    }
}

/// im2col for one image and one group: `cols[(c, kz, ky, kx), (oz, oy, ox)]`.
fn im2col(x: &[f32], channels: usize, g: &Geo, cols: &mut [f32]) {
    let osz = g.out_size();
    let ks = g.k_size();
    let isz = g.in_size();
    cols.par_chunks_mut(osz).enumerate().for_each(|(row, dst)| {
        let c = row / ks;
        let kk = row % ks;
        let (kz, ky, kx) = (kk / (g.k[1] * g.k[2]), (kk / g.k[2]) % g.k[1], kk % g.k[2]);
        let src = &x[c * isz..(c + 1) * isz];
        let _ = channels;
        let mut o = 0;
        for oz in 0..g.out[0] {
            let iz = (oz * g.s[0] + kz * g.d[0]) as i64 - g.pb[0];
            for oy in 0..g.out[1] {
                let iy = (oy * g.s[1] + ky * g.d[1]) as i64 - g.pb[1];
                let row_ok = iz >= 0 && iz < g.inp[0] as i64 && iy >= 0 && iy < g.inp[1] as i64;
                let base = if row_ok {
                    (iz as usize * g.inp[1] + iy as usize) * g.inp[2]
                } else {
                    0
                };
                for ox in 0..g.out[2] {
                    let ix = (ox * g.s[2] + kx * g.d[2]) as i64 - g.pb[2];
                    dst[o] = if row_ok && ix >= 0 && ix < g.inp[2] as i64 {
                        src[base + ix as usize]
                    } else {
                        0.0
                    };
                    o += 1;
                }
            }
        }
    });
}

struct Conv {
    attrs: WindowAttrs,
    group: usize,
    /// Weights pre-converted to f32 when they are constant.
    weight: Option<Arc<Vec<f32>>>,
    bias: Option<Arc<Vec<f32>>>,
}

impl Kernel for Conv {
    fn run(&self, _: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let (x, w) = (req(ins, 0)?, req(ins, 1)?);
        require_float(x)?;
        if x.rank() < 3 || w.rank() != x.rank() {
            bail!(
                "input {:?} and weight {:?} ranks do not fit",
                x.shape(),
                w.shape()
            );
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let (m, cg) = (w.shape()[0], w.shape()[1]);
        let group = self.group;
        if group == 0 || c != cg * group || m % group != 0 {
            bail!(
                "channels {c} / weight {:?} do not fit group {group}",
                w.shape()
            );
        }
        let kernel_dims = &w.shape()[2..];
        if let Some(k) = &self.attrs.kernel {
            if k.iter()
                .map(|&v| v as usize)
                .ne(kernel_dims.iter().copied())
            {
                bail!("kernel_shape {k:?} differs from the weight's {kernel_dims:?}");
            }
        }
        let g = geometry(&x.shape()[2..], kernel_dims, &self.attrs)?;
        let xv = f32s(x)?;
        let wv = match &self.weight {
            Some(w) => std::borrow::Cow::Borrowed(w.as_slice()),
            None => f32s(w)?,
        };
        let bv: Option<std::borrow::Cow<[f32]>> = match (&self.bias, opt(ins, 2)) {
            (Some(b), _) => Some(std::borrow::Cow::Borrowed(b.as_slice())),
            (None, Some(b)) => Some(f32s(b)?),
            (None, None) => None,
        };
        if let Some(b) = &bv {
            if b.len() != m {
                bail!("bias has {} values for {m} output channels", b.len());
            }
        }
        let (isz, osz, ks) = (g.in_size(), g.out_size(), g.k_size());
        let mg = m / group;
        let kdim = cg * ks;
        crate::limits::alloc_elems(&[n, m, osz], 4)?;
        crate::limits::alloc_elems(&[kdim, osz], 4)?;
        let mut out = vec![0f32; n * m * osz];
        let mut cols = if g.pointwise() {
            Vec::new()
        } else {
            vec![0f32; kdim * osz]
        };
        for b in 0..n {
            for gi in 0..group {
                let xs = &xv[(b * c + gi * cg) * isz..(b * c + (gi + 1) * cg) * isz];
                let ws = &wv[gi * mg * kdim..(gi + 1) * mg * kdim];
                let dst = &mut out[(b * m + gi * mg) * osz..(b * m + (gi + 1) * mg) * osz];
                if mg == 1 && cg == 1 && ks <= 64 {
                    depthwise(xs, ws, &g, dst);
                } else if g.pointwise() {
                    sgemm(
                        mg,
                        kdim,
                        osz,
                        Mat::rows(ws, kdim),
                        Mat::rows(xs, osz),
                        0.0,
                        dst,
                    );
                } else {
                    im2col(xs, cg, &g, &mut cols);
                    sgemm(
                        mg,
                        kdim,
                        osz,
                        Mat::rows(ws, kdim),
                        Mat::rows(&cols, osz),
                        0.0,
                        dst,
                    );
                }
            }
            if let Some(bias) = &bv {
                out[b * m * osz..(b + 1) * m * osz]
                    .par_chunks_mut(osz)
                    .zip(bias.par_iter())
                    .for_each(|(o, &bb)| o.iter_mut().for_each(|v| *v += bb));
            }
        }
        let mut shape = vec![n, m];
        shape.extend(g.out_dims());
        Ok(vec![from_f32(x.dtype(), shape, out)?])
    }
}

/// One input channel, one output channel: direct convolution.
fn depthwise(x: &[f32], w: &[f32], g: &Geo, out: &mut [f32]) {
    let mut o = 0;
    for oz in 0..g.out[0] {
        for oy in 0..g.out[1] {
            for ox in 0..g.out[2] {
                let mut acc = 0f32;
                for kz in 0..g.k[0] {
                    let iz = (oz * g.s[0] + kz * g.d[0]) as i64 - g.pb[0];
                    if iz < 0 || iz >= g.inp[0] as i64 {
                        continue;
                    }
                    for ky in 0..g.k[1] {
                        let iy = (oy * g.s[1] + ky * g.d[1]) as i64 - g.pb[1];
                        if iy < 0 || iy >= g.inp[1] as i64 {
                            continue;
                        }
                        for kx in 0..g.k[2] {
                            let ix = (ox * g.s[2] + kx * g.d[2]) as i64 - g.pb[2];
                            if ix < 0 || ix >= g.inp[2] as i64 {
                                continue;
                            }
                            let xi =
                                (iz as usize * g.inp[1] + iy as usize) * g.inp[2] + ix as usize;
                            acc += x[xi] * w[(kz * g.k[1] + ky) * g.k[2] + kx];
                        }
                    }
                }
                out[o] = acc;
                o += 1;
            }
        }
    }
}

fn const_f32(t: Option<&Tensor>) -> Option<Arc<Vec<f32>>> {
    t.and_then(|t| f32s(t).ok())
        .map(|v| Arc::new(v.into_owned()))
}

pub fn build_conv(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    Ok(Box::new(Conv {
        attrs: WindowAttrs::read(ctx),
        group: ctx.int("group", 1).max(0) as usize,
        weight: const_f32(ctx.konst(1)),
        bias: const_f32(ctx.konst(2)),
    }))
}

pub fn build_conv_transpose(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attrs = WindowAttrs::read(ctx);
    let group = ctx.int("group", 1).max(1) as usize;
    let output_padding = ctx.ints("output_padding");
    let output_shape = ctx.ints("output_shape");
    kernel(move |ins| {
        let (x, w) = (req(ins, 0)?, req(ins, 1)?);
        require_float(x)?;
        if x.rank() < 3 || w.rank() != x.rank() || x.rank() > 5 {
            bail!(
                "input {:?} and weight {:?} ranks do not fit",
                x.shape(),
                w.shape()
            );
        }
        let nd = x.rank() - 2;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        if w.shape()[0] != c || c % group != 0 {
            bail!(
                "weight {:?} does not fit {c} input channels and group {group}",
                w.shape()
            );
        }
        let cg = c / group;
        let mg = w.shape()[1];
        let m = mg * group;
        let kd: Vec<usize> = w.shape()[2..].to_vec();
        let inp: Vec<usize> = x.shape()[2..].to_vec();
        let get = |v: &Option<Vec<i64>>, d: i64| -> Vec<i64> { v.clone().unwrap_or(vec![d; nd]) };
        let s = get(&attrs.strides, 1);
        let dl = get(&attrs.dilations, 1);
        let op = get(&output_padding, 0);
        if s.len() != nd || dl.len() != nd || op.len() != nd {
            bail!("strides/dilations/output_padding do not fit {nd} spatial dims");
        }
        let mut pb = vec![0i64; nd];
        let mut pe = vec![0i64; nd];
        let mut out = vec![0i64; nd];
        let huge = |v: &[i64]| v.iter().any(|x| x.unsigned_abs() > MAX_PAD);
        if huge(&s) || huge(&dl) || huge(&op) || attrs.pads.as_deref().is_some_and(huge) {
            bail!("strides/dilations/pads/output_padding are out of range (at most {MAX_PAD})");
        }
        for i in 0..nd {
            let ek = (kd[i] as i64 - 1) * dl[i] + 1;
            let full = s[i] * (inp[i] as i64 - 1) + op[i] + ek;
            let target = match &output_shape {
                Some(os) => Some(
                    *os.get(os.len().wrapping_sub(nd) + i)
                        .ok_or("output_shape too short")?,
                ),
                None if attrs.auto_pad.starts_with("SAME") => Some(inp[i] as i64 * s[i]),
                None => None,
            };
            match target {
                Some(t) => {
                    let total = (full - t).max(0);
                    if attrs.auto_pad == "SAME_LOWER" {
                        pb[i] = total - total / 2;
                        pe[i] = total / 2;
                    } else {
                        pb[i] = total / 2;
                        pe[i] = total - total / 2;
                    }
                    out[i] = t;
                }
                None => {
                    if let Some(p) = &attrs.pads {
                        if p.len() != 2 * nd {
                            bail!("pads {p:?} do not fit {nd} spatial dims");
                        }
                        pb[i] = p[i];
                        pe[i] = p[i + nd];
                    }
                    out[i] = full - pb[i] - pe[i];
                }
            }
            if out[i] < 0 {
                bail!("negative output size");
            }
        }
        let p3 = |v: &[i64], f: i64| {
            let mut r = [f; 3];
            for (i, &x) in v.iter().enumerate() {
                r[3 - nd + i] = x;
            }
            r
        };
        let (s3, d3, pb3, o3) = (p3(&s, 1), p3(&dl, 1), p3(&pb, 0), p3(&out, 1));
        let k3 = p3(&kd.iter().map(|&v| v as i64).collect::<Vec<_>>(), 1);
        let i3 = p3(&inp.iter().map(|&v| v as i64).collect::<Vec<_>>(), 1);
        let isz: usize = inp.iter().product();
        let ks: usize = kd.iter().product();
        let out_dims: Vec<usize> = out.iter().map(|&v| v as usize).collect();
        let osz = crate::limits::alloc_elems(&out_dims, 1)?;
        crate::limits::alloc_elems(&[n, m, osz], 4)?;
        crate::limits::alloc_elems(&[mg, ks, isz], 4)?;
        let xv = f32s(x)?;
        let wv = f32s(w)?;
        let mut y = vec![0f32; n * m * osz];
        let mut cols = vec![0f32; mg * ks * isz];
        for b in 0..n {
            for gi in 0..group {
                // cols[(mo, k), i] = sum_c W[c, mo, k] * X[c, i]
                let xs = &xv[(b * c + gi * cg) * isz..(b * c + (gi + 1) * cg) * isz];
                let ws = &wv[gi * cg * mg * ks..(gi + 1) * cg * mg * ks];
                sgemm(
                    mg * ks,
                    cg,
                    isz,
                    Mat::transposed(ws, mg * ks),
                    Mat::rows(xs, isz),
                    0.0,
                    &mut cols,
                );
                let dst = &mut y[(b * m + gi * mg) * osz..(b * m + (gi + 1) * mg) * osz];
                dst.par_chunks_mut(osz).enumerate().for_each(|(mo, plane)| {
                    for kk in 0..ks {
                        let (kz, ky, kx) = (
                            (kk as i64) / (k3[1] * k3[2]),
                            (kk as i64 / k3[2]) % k3[1],
                            kk as i64 % k3[2],
                        );
                        let row = &cols[(mo * ks + kk) * isz..(mo * ks + kk + 1) * isz];
                        let mut ii = 0;
                        for iz in 0..i3[0] {
                            let oz = iz * s3[0] + kz * d3[0] - pb3[0];
                            for iy in 0..i3[1] {
                                let oy = iy * s3[1] + ky * d3[1] - pb3[1];
                                for ix in 0..i3[2] {
                                    let ox = ix * s3[2] + kx * d3[2] - pb3[2];
                                    if oz >= 0
                                        && oz < o3[0]
                                        && oy >= 0
                                        && oy < o3[1]
                                        && ox >= 0
                                        && ox < o3[2]
                                    {
                                        plane[((oz * o3[1] + oy) * o3[2] + ox) as usize] += row[ii];
                                    }
                                    ii += 1;
                                }
                            }
                        }
                    }
                });
            }
        }
        if let Some(bias) = opt(ins, 2) {
            let bv = f32s(bias)?;
            if bv.len() != m {
                bail!("bias has {} values for {m} output channels", bv.len());
            }
            y.par_chunks_mut(osz)
                .enumerate()
                .for_each(|(i, p)| p.iter_mut().for_each(|v| *v += bv[i % m]));
        }
        let mut shape = vec![n, m];
        shape.extend(out.iter().map(|&v| v as usize));
        Ok(vec![from_f32(x.dtype(), shape, y)?])
    })
}
