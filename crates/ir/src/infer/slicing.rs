//! Ops that cut and join along axes: Concat, Split, Slice, Pad.

use super::dims::{self, axis, merge_dim, Reason};
use super::{attr_or_input, Fact, State, Sym};
use crate::{Dim, Node};

pub(crate) fn concat(st: &State, node: &Node) -> Result<Option<Vec<Fact>>, Reason> {
    let facts: Vec<Fact> = (0..node.inputs.len()).map(|i| st.input(node, i)).collect();
    let elem = facts.iter().find_map(|f| f.elem);
    let a = node.attr_int("axis").ok_or("no axis attribute")?;
    let Some(first) = facts.iter().find_map(|f| f.shape.as_ref()) else {
        return Ok(Some(vec![Fact::new(elem, None)]));
    };
    let r = first.len();
    let ax = axis(a, r)?;
    let mut out = first.clone();
    let mut parts = Some(Vec::new());
    for (i, f) in facts.iter().enumerate() {
        let Some(s) = &f.shape else {
            parts = None;
            continue;
        };
        if s.len() != r {
            return Err(format!(
                "input {i} {} has rank {}, input 0 has rank {r}",
                crate::format_shape(Some(s)),
                s.len()
            ));
        }
        for (j, d) in s.iter().enumerate() {
            if j == ax {
                if let Some(p) = parts.as_mut() {
                    p.push(d.clone());
                }
            } else {
                out[j] = merge_dim(&out[j], d).map_err(|e| {
                    format!("input {i} {}: axis {j}: {e}", crate::format_shape(Some(s)))
                })?;
            }
        }
    }
    out[ax] = parts.map_or(Dim::Unknown, |p| dims::sum(&p));
    Ok(Some(vec![Fact::new(elem, Some(out))]))
}

pub(crate) fn split(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Fact>>, Reason> {
    let n = node.outputs.len();
    let unknown = |s: &[Dim], ax: usize| {
        let mut o = s.to_vec();
        o[ax] = Dim::Unknown;
        vec![Fact::new(x.elem, Some(o)); n]
    };
    let Some(s) = &x.shape else {
        return Ok(Some(vec![Fact::new(x.elem, None); n]));
    };
    let ax = axis(node.attr_int("axis").unwrap_or(0), s.len())?;
    let sizes = match attr_or_input(st, node, "split", 1) {
        Some(v) => v,
        None if st.has_input(node, 1) => return Ok(Some(unknown(s, ax))),
        None => {
            let parts = node.attr_int("num_outputs").map_or(n as i64, |k| k);
            if parts != n as i64 || parts < 1 {
                return Err(format!("num_outputs {parts} with {n} outputs"));
            }
            let Dim::Fixed(d) = s[ax] else {
                return Ok(Some(unknown(s, ax)));
            };
            let (d, parts) = (d as i128, parts as i128);
            let chunk = (d + parts - 1) / parts;
            (0..parts)
                .map(|i| chunk.min(d - i * chunk).clamp(0, i64::MAX as i128) as i64)
                .collect()
        }
    };
    if sizes.len() != n {
        return Err(format!("{} split sizes for {n} outputs", sizes.len()));
    }
    if let Dim::Fixed(d) = s[ax] {
        let total: i128 = sizes.iter().map(|&k| k as i128).sum();
        if total != d as i128 {
            return Err(format!(
                "split sizes {sizes:?} do not add up to {d} on axis {ax}"
            ));
        }
    }
    sizes
        .iter()
        .map(|&k| {
            let mut o = s.clone();
            o[ax] = Dim::Fixed(u64::try_from(k).map_err(|_| format!("split size {k}"))?);
            Ok(Fact::new(x.elem, Some(o)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Output length of one sliced axis (ONNX clamping rules).
pub(crate) fn slice_len(d: &Dim, start: i64, end: i64, step: i64) -> Result<Dim, Reason> {
    if step == 0 {
        return Err("slice step 0".into());
    }
    let Dim::Fixed(n) = d else {
        // Only the full range keeps a symbolic dim.
        let to_end = end >= i64::MAX / 2;
        return Ok(if step == 1 && start == 0 && to_end {
            d.clone()
        } else {
            Dim::Unknown
        });
    };
    let (n, step) = (*n as i128, step as i128);
    let fix = |v: i64| if v < 0 { v as i128 + n } else { v as i128 };
    let (s, e) = (fix(start), fix(end));
    let len = if step > 0 {
        let (s, e) = (s.clamp(0, n), e.clamp(0, n));
        (e - s + step - 1).div_euclid(step)
    } else {
        let (s, e) = (s.clamp(0, n - 1), e.clamp(-1, n - 1));
        (s - e - step - 1).div_euclid(-step)
    };
    Ok(Dim::Fixed(len.clamp(0, u64::MAX as i128) as u64))
}

pub(crate) fn slice(
    st: &State,
    node: &Node,
    x: &Fact,
    opset: i64,
) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let r = s.len();
    let get = |attr: &str, i: usize| {
        if opset < 10 {
            node.attr_ints(attr).map(<[i64]>::to_vec)
        } else {
            st.known_ints(node, i)
        }
    };
    let starts = get("starts", 1);
    let ends: Option<Vec<Sym>> = if opset < 10 {
        node.attr_ints("ends")
            .map(|v| v.iter().map(|&e| Sym::Int(e)).collect())
    } else {
        st.ints(node, 2)
    };
    let axes = match get("axes", 3) {
        Some(a) => Some(a),
        None if opset >= 10 && st.has_input(node, 3) => None,
        None => starts.as_ref().map(|v| (0..v.len() as i64).collect()),
    };
    let Some(axes) = axes else {
        return Ok(Some(vec![Dim::Unknown; r]));
    };
    let axes: Vec<usize> = axes.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?;
    let mut out = s.clone();
    let (Some(starts), Some(ends)) = (starts, ends) else {
        axes.iter().for_each(|&a| out[a] = Dim::Unknown);
        return Ok(Some(out));
    };
    let steps = match get("steps", 4) {
        Some(v) => v,
        None if opset >= 10 && st.has_input(node, 4) => {
            axes.iter().for_each(|&a| out[a] = Dim::Unknown);
            return Ok(Some(out));
        }
        None => vec![1; axes.len()],
    };
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?}, steps {steps:?} differ in length"
        ));
    }
    for (k, &a) in axes.iter().enumerate() {
        out[a] = match &ends[k] {
            Sym::Int(e) => slice_len(&s[a], starts[k], *e, steps[k])?,
            // `x[:n]` with a symbolic n: exporters emit it to cut a padded axis back to n
            // (e.g. the batch of an NMS export), so an axis of unknown size gives n.
            Sym::Param(p) if starts[k] == 0 && steps[k] == 1 => match &s[a] {
                Dim::Param(q) if q == p => s[a].clone(),
                Dim::Unknown => Dim::Param(p.clone()),
                _ => Dim::Unknown,
            },
            _ => Dim::Unknown,
        };
    }
    Ok(Some(out))
}

pub(crate) fn pad(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let r = s.len();
    let Some(pads) = attr_or_input(st, node, "pads", 1) else {
        return Ok(Some(vec![Dim::Unknown; r]));
    };
    let axes: Vec<usize> = match st.known_ints(node, 3) {
        Some(a) => a.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?,
        None if st.has_input(node, 3) => return Ok(Some(vec![Dim::Unknown; r])),
        None => (0..r).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mut out = s.clone();
    for (k, &a) in axes.iter().enumerate() {
        let total = pads[k].saturating_add(pads[k + axes.len()]);
        out[a] = dims::add(&s[a], total)?;
    }
    Ok(Some(out))
}
