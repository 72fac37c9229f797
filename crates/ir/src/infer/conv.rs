//! Convolution, pooling and sampling: Conv, ConvTranspose, MaxPool, AveragePool, LpPool,
//! Global*Pool, GridSample, RoiAlign.

use super::dims::{self, Reason};
use super::{Fact, State};
use crate::{DType, Dim, Node};

pub(crate) fn infer(st: &State, node: &Node, op: &str) -> Result<Option<Vec<Fact>>, Reason> {
    let x = st.input(node, 0);
    Ok(Some(match op {
        "Conv" => vec![Fact::new(x.elem, conv(st, node, &x, false)?)],
        "ConvTranspose" => vec![Fact::new(x.elem, conv(st, node, &x, true)?)],
        "MaxPool" | "AveragePool" | "LpPool" => {
            let s = pool(node, &x)?;
            vec![Fact::new(x.elem, s.clone()), Fact::new(Some(DType::I64), s)]
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let s = match &x.shape {
                Some(s) => {
                    need_rank(s, 3, "X")?;
                    let mut o = s[..2].to_vec();
                    o.resize(s.len(), Dim::Fixed(1));
                    Some(o)
                }
                None => None,
            };
            vec![Fact::new(x.elem, s)]
        }
        "GridSample" => {
            let s = match (&x.shape, st.input(node, 1).shape) {
                (Some(xs), Some(g)) if xs.len() >= 3 && g.len() == xs.len() => {
                    let mut o = vec![xs[0].clone(), xs[1].clone()];
                    o.extend(g[1..g.len() - 1].iter().cloned());
                    Some(o)
                }
                (Some(xs), Some(g)) => {
                    return Err(format!(
                        "X {} and grid {} do not fit",
                        crate::format_shape(Some(xs)),
                        crate::format_shape(Some(&g))
                    ))
                }
                _ => None,
            };
            vec![Fact::new(x.elem, s)]
        }
        "RoiAlign" => {
            let c = x.shape.as_ref().and_then(|s| s.get(1)).cloned();
            let n = st.input(node, 1).shape.and_then(|s| s.first().cloned());
            let side = |a: &str| Dim::Fixed(node.attr_int(a).unwrap_or(1).max(0) as u64);
            let s = vec![
                n.unwrap_or(Dim::Unknown),
                c.unwrap_or(Dim::Unknown),
                side("output_height"),
                side("output_width"),
            ];
            vec![Fact::new(x.elem, Some(s))]
        }
        _ => return Ok(None),
    }))
}

fn need_rank(s: &[Dim], min: usize, what: &str) -> Result<(), Reason> {
    if s.len() < min {
        return Err(format!(
            "{what} has rank {} ({}), at least {min} needed",
            s.len(),
            crate::format_shape(Some(s))
        ));
    }
    Ok(())
}

/// Window geometry shared by convolutions and pools.
struct Window {
    kernel: Vec<u64>,
    strides: Vec<u64>,
    dilations: Vec<u64>,
    pads: Vec<i64>,
    auto_pad: String,
}

fn ints_or(node: &Node, name: &str, n: usize, default: i64) -> Result<Vec<i64>, Reason> {
    match node.attr_ints(name) {
        Some(v) if v.len() == n => Ok(v.to_vec()),
        Some(v) => Err(format!(
            "'{name}' has {} values for {n} spatial axes",
            v.len()
        )),
        None => Ok(vec![default; n]),
    }
}

fn window(node: &Node, kernel: Vec<i64>) -> Result<Window, Reason> {
    let n = kernel.len();
    let pos = |v: Vec<i64>, name: &str| -> Result<Vec<u64>, Reason> {
        v.into_iter()
            .map(|x| u64::try_from(x).ok().filter(|&x| x > 0))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| format!("'{name}' must be positive"))
    };
    let pads = ints_or(node, "pads", 2 * n, 0)?;
    if pads.iter().any(|&p| p < 0) {
        return Err("negative pads".into());
    }
    Ok(Window {
        kernel: pos(kernel, "kernel_shape")?,
        strides: pos(ints_or(node, "strides", n, 1)?, "strides")?,
        dilations: pos(ints_or(node, "dilations", n, 1)?, "dilations")?,
        pads,
        auto_pad: node.attr_string("auto_pad").unwrap_or("NOTSET").to_string(),
    })
}

/// Output size of one spatial axis of a convolution or pool.
fn out_dim(w: &Window, i: usize, d: &Dim, ceil: bool) -> Result<Dim, Reason> {
    let Dim::Fixed(n) = d else {
        return Ok(symbolic_out_dim(w, i, d, ceil).unwrap_or(Dim::Unknown));
    };
    // i128: attribute values come from the file and must not overflow.
    let (n, s) = (*n as i128, w.strides[i] as i128);
    let eff = (w.kernel[i] as i128 - 1) * w.dilations[i] as i128 + 1;
    let v = match w.auto_pad.as_str() {
        "SAME_UPPER" | "SAME_LOWER" => (n + s - 1) / s,
        "VALID" => (n - eff + s) / s,
        _ => {
            let padded = n + w.pads[i] as i128 + w.pads[i + w.kernel.len()] as i128;
            let span = padded - eff;
            if span < 0 {
                return Err(format!(
                    "axis {}: input {n} (padded {padded}) is smaller than the window {eff}",
                    i + 2
                ));
            }
            let mut o = if ceil {
                (span + s - 1) / s + 1
            } else {
                span / s + 1
            };
            // The last window must start inside the input or the begin padding.
            if ceil && (o - 1) * s >= n + w.pads[i] as i128 {
                o -= 1;
            }
            o
        }
    };
    if v <= 0 {
        return Err(format!("axis {}: output size {v}", i + 2));
    }
    Ok(Dim::Fixed(v.min(u64::MAX as i128) as u64))
}

/// [`out_dim`] on a symbolic size: `floor((n + pads - eff) / s) + 1` as an expression.
fn symbolic_out_dim(w: &Window, i: usize, d: &Dim, ceil: bool) -> Option<Dim> {
    let s = w.strides[i];
    let eff = i64::try_from((w.kernel[i] as i128 - 1) * w.dilations[i] as i128 + 1).ok()?;
    let (begin, end) = (w.pads[i], w.pads[i + w.kernel.len()]);
    let c = match w.auto_pad.as_str() {
        "SAME_UPPER" | "SAME_LOWER" => return Some(dims::ceil_div(d, s)),
        "VALID" => -eff,
        // Ceil mode's last-window rule depends on the size itself (unless s is 1 and it
        // cannot trigger).
        _ if ceil && (s > 1 || end >= eff) => return None,
        _ => begin.checked_add(end)?.checked_sub(eff)?,
    };
    let q = dims::floor_div(&dims::add(d, c).ok()?, s);
    dims::add(&q, 1).ok()
}

fn conv(st: &State, node: &Node, x: &Fact, transpose: bool) -> Result<Option<Vec<Dim>>, Reason> {
    let w = st.input(node, 1);
    let group = node.attr_int("group").unwrap_or(1);
    if group < 1 {
        return Err(format!("group {group}"));
    }
    let group = group as u64;
    if let (Some(xs), Some(ws)) = (&x.shape, &w.shape) {
        need_rank(xs, 3, "X")?;
        if xs.len() != ws.len() {
            return Err(format!(
                "X {} and W {} have different ranks",
                crate::format_shape(Some(xs)),
                crate::format_shape(Some(ws))
            ));
        }
        let c_in = if transpose { ws.first() } else { ws.get(1) };
        if let (Dim::Fixed(c), Some(Dim::Fixed(wc))) = (&xs[1], c_in) {
            let want = if transpose {
                *wc
            } else {
                wc.saturating_mul(group)
            };
            if *c != want {
                return Err(format!(
                    "X has {c} channels but W {} with group {group} expects {want}",
                    crate::format_shape(Some(ws))
                ));
            }
        }
    }
    let rank = x.rank().or(w.rank());
    let Some(rank) = rank else { return Ok(None) };
    if rank < 3 {
        return Err(format!("rank {rank}, at least 3 needed"));
    }
    let n_sp = rank - 2;
    let wdims = w.shape.clone().unwrap_or_else(|| vec![Dim::Unknown; rank]);
    let m = match (transpose, wdims.first(), wdims.get(1)) {
        (false, Some(m), _) => m.clone(),
        (true, _, Some(m)) => super::dims::mul(m, group),
        _ => Dim::Unknown,
    };
    let kernel = match node.attr_ints("kernel_shape") {
        Some(k) => k.to_vec(),
        None => match wdims[2..]
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => Some(*v as i64),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
        {
            Some(k) => k,
            None => {
                let n = x
                    .shape
                    .as_ref()
                    .map(|s| s[0].clone())
                    .unwrap_or(Dim::Unknown);
                let mut o = vec![n, m];
                o.resize(rank, Dim::Unknown);
                return Ok(Some(o));
            }
        },
    };
    if kernel.len() != n_sp {
        return Err(format!("kernel_shape {kernel:?} for {n_sp} spatial axes"));
    }
    let win = window(node, kernel)?;
    let xs = x.shape.clone().unwrap_or_else(|| vec![Dim::Unknown; rank]);
    let mut out = vec![xs[0].clone(), m];
    for i in 0..n_sp {
        out.push(if transpose {
            conv_transpose_dim(node, &win, i, &xs[i + 2])?
        } else {
            out_dim(&win, i, &xs[i + 2], false)?
        });
    }
    Ok(Some(out))
}

fn conv_transpose_dim(node: &Node, w: &Window, i: usize, d: &Dim) -> Result<Dim, Reason> {
    let n_sp = w.kernel.len();
    if let Some(os) = node.attr_ints("output_shape") {
        // Either the spatial dims only or the full shape.
        let off = os.len().saturating_sub(n_sp);
        return Ok(os
            .get(off + i)
            .and_then(|&v| u64::try_from(v).ok())
            .map_or(Dim::Unknown, Dim::Fixed));
    }
    let out_pad = ints_or(node, "output_padding", n_sp, 0)?[i];
    let Dim::Fixed(n) = d else {
        // s*(n - 1) + c = s*n + (c - s), with c = output_padding + eff - pads.
        let sym = || -> Option<Dim> {
            let sn = dims::mul(d, w.strides[i]);
            if w.auto_pad.starts_with("SAME") {
                return Some(sn);
            }
            let eff = (w.kernel[i] as i128 - 1) * w.dilations[i] as i128 + 1;
            let pads = match w.auto_pad.as_str() {
                "VALID" => 0,
                _ => w.pads[i] as i128 + w.pads[i + n_sp] as i128,
            };
            let c = out_pad as i128 + eff - pads - w.strides[i] as i128;
            dims::add(&sn, i64::try_from(c).ok()?).ok()
        };
        return Ok(sym().unwrap_or(Dim::Unknown));
    };
    let (n, s) = (*n as i128, w.strides[i] as i128);
    let out_pad = out_pad as i128;
    let eff = (w.kernel[i] as i128 - 1) * w.dilations[i] as i128 + 1;
    let v = match w.auto_pad.as_str() {
        "SAME_UPPER" | "SAME_LOWER" => n.saturating_mul(s),
        _ => {
            let pads = if w.auto_pad == "VALID" {
                0
            } else {
                w.pads[i] as i128 + w.pads[i + n_sp] as i128
            };
            s.saturating_mul(n - 1)
                .saturating_add(out_pad + eff)
                .saturating_sub(pads)
        }
    };
    if v <= 0 {
        return Err(format!("axis {}: output size {v}", i + 2));
    }
    Ok(Dim::Fixed(v.min(u64::MAX as i128) as u64))
}

fn pool(node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(xs) = &x.shape else { return Ok(None) };
    need_rank(xs, 3, "X")?;
    let kernel = node
        .attr_ints("kernel_shape")
        .ok_or("no kernel_shape attribute")?
        .to_vec();
    if kernel.len() != xs.len() - 2 {
        return Err(format!(
            "kernel_shape {kernel:?} for input {}",
            crate::format_shape(Some(xs))
        ));
    }
    let win = window(node, kernel)?;
    let ceil = node.attr_int("ceil_mode").unwrap_or(0) != 0;
    let mut out = xs[..2].to_vec();
    for (i, d) in xs[2..].iter().enumerate() {
        out.push(out_dim(&win, i, d, ceil)?);
    }
    Ok(Some(out))
}
