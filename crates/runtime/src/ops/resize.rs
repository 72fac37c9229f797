//! Resize (opset 10-19: nearest / linear / cubic, every coordinate transformation mode and
//! nearest mode, antialias, axes, keep_aspect_ratio_policy) and Upsample (opset 7/9).
//! Follows the ONNX reference: separable 1-D interpolation along each resized axis, in f64.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Resize", build_resize),
    ("", "Upsample", build_upsample),
];

#[derive(Clone)]
struct Cfg {
    mode: String,
    ctm: String,
    nearest: String,
    a: f64,
    exclude: bool,
    extrap: f64,
    antialias: bool,
    axes: Option<Vec<i64>>,
    policy: String,
}

/// Interpolation weights for `ratio` in (0, 1]; their count is even (neighbours split evenly).
fn coeffs(c: &Cfg, ratio: f64, scale: f64) -> Vec<f64> {
    match c.mode.as_str() {
        "nearest" => {
            if ratio == 1.0 {
                return vec![0.0, 1.0];
            }
            let up = match c.nearest.as_str() {
                "round_prefer_ceil" => ratio >= 0.5,
                "floor" => false,
                "ceil" => true,
                _ => ratio > 0.5,
            };
            if up {
                vec![0.0, 1.0]
            } else {
                vec![1.0, 0.0]
            }
        }
        "linear" if c.antialias => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let foot = 2 - 2 * start;
            let v: Vec<f64> = (start..start + foot)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            let sum: f64 = v.iter().sum();
            v.into_iter().map(|x| x / sum).collect()
        }
        "linear" => vec![1.0 - ratio, ratio],
        _ if c.antialias => {
            let s = scale.min(1.0);
            let a = c.a;
            let f = |x: f64| {
                let x = x.abs();
                if x <= 1.0 {
                    (a + 2.0) * x * x * x - (a + 3.0) * x * x + 1.0
                } else if x < 2.0 {
                    a * x * x * x - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let start = (-2.0 / s).floor() as i64 + 1;
            let end = 2 - start;
            let v: Vec<f64> = (start..end).map(|i| f(s * (i as f64 - ratio))).collect();
            let sum: f64 = v.iter().sum();
            v.into_iter().map(|x| x / sum).collect()
        }
        _ => {
            let (a, r) = (c.a, ratio);
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * (1.0 - r) - (a + 3.0)) * (1.0 - r) * (1.0 - r) + 1.0,
                ((a * (2.0 - r) - 5.0 * a) * (2.0 - r) + 8.0 * a) * (2.0 - r) - 4.0 * a,
            ]
        }
    }
}

/// For each output position along one axis: `None` (extrapolate) or (input index, weight) pairs.
fn taps(
    c: &Cfg,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
) -> Vec<Option<Vec<(usize, f64)>>> {
    let inw = in_len as f64;
    let outw = scale * inw;
    (0..out_len)
        .map(|o| {
            let x = o as f64;
            let xo = match c.ctm.as_str() {
                "align_corners" => {
                    if outw == 1.0 {
                        0.0
                    } else {
                        x * (inw - 1.0) / (outw - 1.0)
                    }
                }
                "asymmetric" => x / scale,
                "tf_crop_and_resize" => {
                    let v = if outw == 1.0 {
                        (roi.1 - roi.0) * (inw - 1.0) / 2.0
                    } else {
                        x * (roi.1 - roi.0) * (inw - 1.0) / (outw - 1.0)
                    } + roi.0 * (inw - 1.0);
                    if v < 0.0 || v > inw - 1.0 {
                        return None;
                    }
                    v
                }
                "pytorch_half_pixel" => {
                    if outw == 1.0 {
                        -0.5
                    } else {
                        (x + 0.5) / scale - 0.5
                    }
                }
                "tf_half_pixel_for_nn" => (x + 0.5) / scale,
                "half_pixel_symmetric" => {
                    let adj = out_len as f64 / outw;
                    let center = inw / 2.0;
                    center * (1.0 - adj) + (x + 0.5) / scale - 0.5
                }
                _ => (x + 0.5) / scale - 0.5,
            };
            let fl = xo.floor();
            let (base, ratio) = if xo == fl {
                (fl as i64 - 1, 1.0)
            } else {
                (fl as i64, xo - fl)
            };
            let mut w = coeffs(c, ratio, scale);
            let k = (w.len() / 2) as i64;
            let idx: Vec<i64> = (0..w.len() as i64).map(|j| base - k + 1 + j).collect();
            if c.exclude {
                for (wj, &i) in w.iter_mut().zip(&idx) {
                    if i < 0 || i >= in_len as i64 {
                        *wj = 0.0;
                    }
                }
                let s: f64 = w.iter().sum();
                if s != 0.0 {
                    w.iter_mut().for_each(|v| *v /= s);
                }
            }
            Some(
                idx.iter()
                    .zip(&w)
                    .filter(|(_, &wj)| wj != 0.0)
                    .map(|(&i, &wj)| (i.clamp(0, in_len as i64 - 1) as usize, wj))
                    .collect(),
            )
        })
        .collect()
}

fn resize_axis(
    c: &Cfg,
    data: &[f64],
    shape: &[usize],
    ax: usize,
    scale: f64,
    out_len: usize,
    roi: (f64, f64),
) -> Vec<f64> {
    let outer = numel(&shape[..ax]);
    let inner = numel(&shape[ax + 1..]);
    let in_len = shape[ax];
    let t = taps(c, in_len, out_len, scale, roi);
    let mut out = vec![0f64; outer * out_len * inner];
    for ou in 0..outer {
        for (o, tap) in t.iter().enumerate() {
            let dst = &mut out[(ou * out_len + o) * inner..(ou * out_len + o + 1) * inner];
            match tap {
                None => dst.iter_mut().for_each(|v| *v = c.extrap),
                Some(tap) => {
                    for &(i, w) in tap {
                        let src = &data[(ou * in_len + i) * inner..(ou * in_len + i + 1) * inner];
                        dst.iter_mut().zip(src).for_each(|(d, &s)| *d += w * s);
                    }
                }
            }
        }
    }
    out
}

fn resize(
    c: &Cfg,
    x: &Tensor,
    roi: Option<Vec<f64>>,
    scales: Option<Vec<f64>>,
    sizes: Option<Vec<i64>>,
) -> OpResult<Tensor> {
    let r = x.rank();
    if in_len_zero(x) {
        bail!("cannot resize an empty tensor");
    }
    let axes: Vec<usize> = match &c.axes {
        Some(a) => a.iter().map(|&v| axis(v, r)).collect::<OpResult<_>>()?,
        None => (0..r).collect(),
    };
    let n = axes.len();
    let mut scale = vec![1f64; r];
    let mut out: Vec<usize> = x.shape().to_vec();
    let mut roi_full: Vec<(f64, f64)> = vec![(0.0, 1.0); r];
    if let Some(roi) = roi.filter(|v| !v.is_empty()) {
        if roi.len() != 2 * n {
            bail!("roi has {} values for {n} axes", roi.len());
        }
        for (i, &a) in axes.iter().enumerate() {
            roi_full[a] = (roi[i], roi[n + i]);
        }
    }
    match (
        sizes.filter(|v| !v.is_empty()),
        scales.filter(|v| !v.is_empty()),
    ) {
        (Some(sz), _) => {
            if sz.len() != n || sz.iter().any(|&v| v < 0) {
                bail!("sizes {sz:?} do not fit {n} axes");
            }
            for (i, &a) in axes.iter().enumerate() {
                out[a] = sz[i] as usize;
                scale[a] = sz[i] as f64 / x.shape()[a] as f64;
            }
            if c.policy != "stretch" {
                let sel = axes.iter().map(|&a| scale[a]);
                let s = if c.policy == "not_larger" {
                    sel.fold(f64::INFINITY, f64::min)
                } else {
                    sel.fold(f64::NEG_INFINITY, f64::max)
                };
                for &a in &axes {
                    scale[a] = s;
                    out[a] = (s * x.shape()[a] as f64 + 0.5) as usize;
                }
            }
        }
        (None, Some(sc)) => {
            if sc.len() != n || sc.iter().any(|&v| v.is_nan() || v <= 0.0) {
                bail!("scales {sc:?} do not fit {n} axes (or are not positive)");
            }
            for (i, &a) in axes.iter().enumerate() {
                scale[a] = sc[i];
                out[a] = (sc[i] * x.shape()[a] as f64) as usize;
            }
        }
        (None, None) => bail!("one of scales and sizes must be given"),
    }
    crate::limits::alloc_elems(&out, 8)?;
    // The per-axis interpolation taps are sized by the output length alone (also when another
    // dim makes the output empty).
    for &a in &axes {
        crate::limits::alloc_elems(&[out[a]], 64)?;
    }
    let mut data = x
        .to_f64_vec()
        .ok_or_else(|| format!("unsupported element type {}", x.dtype()))?;
    let mut shape = x.shape().to_vec();
    for &a in &axes {
        let identity =
            (scale[a] - 1.0).abs() < 1e-12 && out[a] == shape[a] && roi_full[a] == (0.0, 1.0);
        if identity && c.ctm != "tf_crop_and_resize" {
            continue;
        }
        data = resize_axis(c, &data, &shape, a, scale[a], out[a], roi_full[a]);
        shape[a] = out[a];
    }
    let t = tensor(shape, TensorData::F64(data))?;
    if is_float(x.dtype()) {
        return super::cast::cast(&t, x.dtype());
    }
    // Integer outputs: round and saturate like the reference's saturate_cast.
    let v = t.to_f64_vec().unwrap_or_default();
    let (lo, hi) = int_range(x.dtype());
    let t = tensor(
        t.shape().to_vec(),
        TensorData::F64(v.iter().map(|&a| a.round().clamp(lo, hi)).collect()),
    )?;
    super::cast::cast(&t, x.dtype())
}

fn in_len_zero(x: &Tensor) -> bool {
    x.shape().contains(&0)
}

fn int_range(d: onnxide_ir::DType) -> (f64, f64) {
    use onnxide_ir::DType as D;
    match d {
        D::U8 => (0.0, 255.0),
        D::I8 => (-128.0, 127.0),
        D::U16 => (0.0, 65535.0),
        D::I16 => (-32768.0, 32767.0),
        D::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (f64::MIN, f64::MAX),
    }
}

fn floats(t: Option<&Tensor>) -> Option<Vec<f64>> {
    t.and_then(|t| t.to_f64_vec())
}

pub fn build_resize(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op10 = ctx.opset < 11;
    let mode = ctx.string("mode", "nearest");
    let cfg = Cfg {
        mode: match mode.as_str() {
            "nearest" | "linear" | "cubic" => mode.clone(),
            "bilinear" | "trilinear" => "linear".into(),
            m => bail!("unsupported mode {m}"),
        },
        ctm: if op10 {
            "asymmetric".into()
        } else {
            ctx.string("coordinate_transformation_mode", "half_pixel")
        },
        nearest: if op10 {
            "floor".into()
        } else {
            ctx.string("nearest_mode", "round_prefer_floor")
        },
        a: ctx.float("cubic_coeff_a", -0.75) as f64,
        exclude: ctx.int("exclude_outside", 0) != 0,
        extrap: ctx.float("extrapolation_value", 0.0) as f64,
        antialias: ctx.int("antialias", 0) != 0,
        axes: ctx.ints("axes"),
        policy: ctx.string("keep_aspect_ratio_policy", "stretch"),
    };
    if op10 && cfg.mode == "cubic" {
        bail!("cubic needs opset 11");
    }
    if cfg.antialias && cfg.mode == "nearest" {
        bail!("antialias is not defined for mode nearest");
    }
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let out = if op10 {
            resize(&cfg, x, None, floats(opt(ins, 1)), None)?
        } else {
            let sizes = match opt(ins, 3) {
                Some(t) => Some(ints(t)?),
                None => None,
            };
            resize(&cfg, x, floats(opt(ins, 1)), floats(opt(ins, 2)), sizes)?
        };
        Ok(vec![out])
    })
}

pub fn build_upsample(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let mode = ctx.string("mode", "nearest");
    let cfg = Cfg {
        mode: if mode == "nearest" {
            mode
        } else {
            "linear".into()
        },
        ctm: "asymmetric".into(),
        nearest: "floor".into(),
        a: -0.75,
        exclude: false,
        extrap: 0.0,
        antialias: false,
        axes: None,
        policy: "stretch".into(),
    };
    let attr = ctx.floats("scales");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let scales = match &attr {
            Some(s) => Some(s.iter().map(|&v| v as f64).collect()),
            None => floats(opt(ins, 1)),
        };
        Ok(vec![resize(&cfg, x, None, scales, None)?])
    })
}
