//! Ops that rearrange data without computing on it: Reshape, Flatten, Transpose, Squeeze,
//! Unsqueeze, Expand, Tile, Resize, Upsample, DepthToSpace (Concat, Split, Slice and Pad are in
//! `slicing`).

use super::dims::{self, axis, broadcast, Prod, Reason};
use super::{attr_or_input, slicing, Fact, State, Sym};
use crate::{Dim, Node};

pub(crate) fn infer(
    st: &State,
    node: &Node,
    op: &str,
    opset: i64,
) -> Result<Option<Vec<Fact>>, Reason> {
    let x = st.input(node, 0);
    let with = |shape: Option<Vec<Dim>>| Ok(Some(vec![Fact::new(x.elem, shape)]));
    match op {
        "Reshape" => with(reshape(st, node, &x)?),
        "Flatten" => with(match &x.shape {
            Some(s) => {
                let a = node.attr_int("axis").unwrap_or(1);
                let a = if a == s.len() as i64 {
                    s.len()
                } else {
                    axis(a, s.len())?
                };
                Some(vec![Prod::of(&s[..a]).to_dim(), Prod::of(&s[a..]).to_dim()])
            }
            None => Some(vec![Dim::Unknown, Dim::Unknown]),
        }),
        "Transpose" => with(transpose(node, &x)?),
        "Squeeze" => with(squeeze(st, node, &x)?),
        "Unsqueeze" => with(unsqueeze(st, node, &x)?),
        "Concat" => slicing::concat(st, node),
        "Split" => slicing::split(st, node, &x),
        "Slice" => with(slicing::slice(st, node, &x, opset)?),
        "Expand" => with(expand(st, node, &x)?),
        "Tile" => with(match (&x.shape, st.known_ints(node, 1)) {
            (Some(s), Some(r)) if r.len() == s.len() => Some(
                s.iter()
                    .zip(&r)
                    .map(|(d, &k)| {
                        u64::try_from(k)
                            .map(|k| dims::mul(d, k))
                            .map_err(|_| format!("negative repeat {k}"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (Some(s), Some(r)) => return Err(format!("{} repeats for rank {}", r.len(), s.len())),
            (s, _) => s.as_ref().map(|s| vec![Dim::Unknown; s.len()]),
        }),
        "Pad" => with(slicing::pad(st, node, &x)?),
        "Resize" | "Upsample" => with(resize(st, node, &x, opset)?),
        "DepthToSpace" | "SpaceToDepth" => with(match &x.shape {
            Some(s) if s.len() == 4 => {
                let b = node.attr_int("blocksize").unwrap_or(0).max(0) as u64;
                let (c, hw): (Dim, fn(&Dim, u64) -> Dim) = if op == "DepthToSpace" {
                    (
                        Prod::of(&s[1..2]).div(&Prod::of(&[Dim::Fixed(b.saturating_mul(b))]))?,
                        dims::mul,
                    )
                } else {
                    (dims::mul(&s[1], b.saturating_mul(b)), |d, b| {
                        Prod::of(std::slice::from_ref(d))
                            .div(&Prod::of(&[Dim::Fixed(b)]))
                            .unwrap_or(Dim::Unknown)
                    })
                };
                Some(vec![s[0].clone(), c, hw(&s[2], b), hw(&s[3], b)])
            }
            Some(s) => return Err(format!("rank {} input, 4 needed", s.len())),
            None => Some(vec![Dim::Unknown; 4]),
        }),
        _ => Ok(None),
    }
}

fn reshape(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let vals = match node.attr_ints("shape") {
        Some(v) => Some(v.iter().map(|&i| Sym::Int(i)).collect()),
        None => st.ints(node, 1),
    };
    let Some(vals) = vals else {
        return Ok(match st.input(node, 1).shape.as_deref() {
            Some([k]) => dims::unknown_dims(k, 0),
            _ => None,
        });
    };
    let allowzero = node.attr_int("allowzero").unwrap_or(0) != 0;
    let mut out = Vec::with_capacity(vals.len());
    let mut hole = None;
    for (i, v) in vals.iter().enumerate() {
        out.push(match v {
            Sym::Int(0) if !allowzero => match &x.shape {
                Some(s) => s
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("shape entry {i} copies a dim the input has not"))?,
                None => Dim::Unknown,
            },
            Sym::Int(-1) => {
                if hole.replace(i).is_some() {
                    return Err(format!("shape {vals:?} has more than one -1"));
                }
                Dim::Unknown
            }
            Sym::Int(v) if *v < 0 => return Err(format!("shape entry {v}")),
            v => v.to_dim(),
        });
    }
    let Some(xs) = &x.shape else {
        return Ok(Some(out));
    };
    let total = Prod::of(xs);
    if let Some(h) = hole {
        let rest: Vec<Dim> = out
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != h)
            .map(|(_, d)| d.clone())
            .collect();
        out[h] = total.div(&Prod::of(&rest)).map_err(|e| {
            format!(
                "cannot reshape {} to {vals:?}: {e}",
                crate::format_shape(Some(xs))
            )
        })?;
    } else {
        let p = Prod::of(&out);
        if total.is_fixed() && p.is_fixed() && total.fixed != p.fixed {
            return Err(format!(
                "cannot reshape {} ({} elements) to {} ({} elements)",
                crate::format_shape(Some(xs)),
                total.fixed,
                crate::format_shape(Some(&out)),
                p.fixed
            ));
        }
    }
    Ok(Some(out))
}

fn transpose(node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let perm: Vec<i64> = match node.attr_ints("perm") {
        Some(p) => p.to_vec(),
        None => (0..s.len() as i64).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..s.len() as i64).collect::<Vec<_>>() {
        return Err(format!(
            "perm {perm:?} is not a permutation of rank {}",
            s.len()
        ));
    }
    Ok(Some(perm.iter().map(|&p| s[p as usize].clone()).collect()))
}

fn squeeze(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let axes = match attr_or_input(st, node, "axes", 1) {
        Some(a) => a,
        None if st.has_input(node, 1) => return Ok(None),
        None => {
            if s.iter().any(|d| !matches!(d, Dim::Fixed(_))) {
                return Ok(None);
            }
            return Ok(Some(
                s.iter().filter(|d| **d != Dim::Fixed(1)).cloned().collect(),
            ));
        }
    };
    let axes: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, s.len()))
        .collect::<Result<_, _>>()?;
    for &a in &axes {
        if let Dim::Fixed(v) = s[a] {
            if v != 1 {
                return Err(format!("cannot squeeze axis {a} of size {v}"));
            }
        }
    }
    Ok(Some(
        s.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, d)| d.clone())
            .collect(),
    ))
}

fn unsqueeze(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let Some(axes) = attr_or_input(st, node, "axes", 1) else {
        return Ok(match st.input(node, 1).shape.as_deref() {
            Some([k]) => dims::unknown_dims(k, s.len()),
            _ => None,
        });
    };
    let r = s.len() + axes.len();
    let mut axes: Vec<usize> = axes.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("repeated axes {axes:?}"));
    }
    let mut rest = s.iter();
    Ok(Some(
        (0..r)
            .map(|i| {
                if axes.contains(&i) {
                    Dim::Fixed(1)
                } else {
                    rest.next().cloned().unwrap_or(Dim::Unknown)
                }
            })
            .collect(),
    ))
}

fn expand(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let target: Vec<Dim> = match st.ints(node, 1) {
        Some(v) => v.iter().map(Sym::to_dim).collect(),
        None => match st.input(node, 1).shape.as_deref().and_then(|s| match s {
            [k] => dims::unknown_dims(k, 0),
            _ => None,
        }) {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    broadcast(&[x.shape.as_deref(), Some(&target)])
}

fn resize(st: &State, node: &Node, x: &Fact, opset: i64) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let r = s.len();
    let (scales, sizes) = if node.op_type == "Upsample" || opset < 11 {
        let sc = match node.attr("scales") {
            Some(crate::AttrValue::Floats(f)) => Some(f.iter().map(|&v| v as f64).collect()),
            _ => st.floats(node, 1),
        };
        (sc, None)
    } else {
        (st.floats(node, 2), st.known_ints(node, 3))
    };
    let axes: Vec<usize> = match node.attr_ints("axes") {
        Some(a) => a.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?,
        None => (0..r).collect(),
    };
    let mut out = s.clone();
    if let Some(sizes) = sizes.filter(|v| !v.is_empty()) {
        if sizes.len() != axes.len() {
            return Err(format!("{} sizes for {} axes", sizes.len(), axes.len()));
        }
        let policy = node
            .attr_string("keep_aspect_ratio_policy")
            .unwrap_or("stretch");
        for (k, &a) in axes.iter().enumerate() {
            out[a] = match policy {
                "stretch" => Dim::Fixed(u64::try_from(sizes[k]).map_err(|_| "negative size")?),
                _ => Dim::Unknown,
            };
        }
    } else if let Some(scales) = scales.filter(|v| !v.is_empty()) {
        if scales.len() != axes.len() {
            return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
        }
        for (k, &a) in axes.iter().enumerate() {
            let (sc, inv) = (scales[k], 1.0 / scales[k]);
            out[a] = match &s[a] {
                Dim::Fixed(n) => Dim::Fixed((*n as f64 * sc).floor().max(0.0) as u64),
                d if sc >= 1.0 && sc.fract() == 0.0 && sc < 65536.0 => dims::mul(d, sc as u64),
                // Exact only where 1/scale is a power of two (then scale is exact too).
                d if sc > 0.0 && inv.fract() == 0.0 && (inv as u64).is_power_of_two() => {
                    dims::floor_div(d, inv as u64)
                }
                _ => Dim::Unknown,
            };
        }
    } else {
        axes.iter().for_each(|&a| out[a] = Dim::Unknown);
    }
    Ok(Some(out))
}
