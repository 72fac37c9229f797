//! MatMul, Gemm, reductions (Reduce*, ArgMax/ArgMin) and TopK.

use super::dims::{axis, broadcast, merge_dim, Reason};
use super::{attr_or_input, Fact, State};
use crate::{DType, Dim, Node};

const REDUCE: &[&str] = &[
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "ReduceMean",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
];

pub(crate) fn infer(
    st: &State,
    node: &Node,
    op: &str,
    _opset: i64,
) -> Result<Option<Vec<Fact>>, Reason> {
    let x = st.input(node, 0);
    Ok(Some(match op {
        "MatMul" => vec![Fact::new(
            x.elem,
            matmul(x.shape.as_deref(), st.input(node, 1).shape.as_deref())?,
        )],
        "Gemm" => vec![Fact::new(x.elem, gemm(st, node, &x)?)],
        _ if REDUCE.contains(&op) => vec![Fact::new(x.elem, reduce(st, node, &x)?)],
        "ArgMax" | "ArgMin" => {
            let s = match &x.shape {
                Some(s) => {
                    let a = axis(node.attr_int("axis").unwrap_or(0), s.len())?;
                    Some(reduced(
                        s,
                        &[a],
                        node.attr_int("keepdims").unwrap_or(1) != 0,
                    ))
                }
                None => None,
            };
            vec![Fact::new(Some(DType::I64), s)]
        }
        "TopK" => {
            let k = match node.attr_int("k") {
                Some(k) => Some(k),
                None => st.known_ints(node, 1).and_then(|v| v.first().copied()),
            };
            let s = match &x.shape {
                Some(s) => {
                    let a = axis(node.attr_int("axis").unwrap_or(-1), s.len())?;
                    let mut o = s.clone();
                    o[a] = match k {
                        Some(k) if k < 0 => return Err(format!("K {k}")),
                        Some(k) => {
                            if let Dim::Fixed(n) = s[a] {
                                if k as u64 > n {
                                    return Err(format!("K {k} exceeds axis size {n}"));
                                }
                            }
                            Dim::Fixed(k as u64)
                        }
                        None => Dim::Unknown,
                    };
                    Some(o)
                }
                None => None,
            };
            vec![Fact::new(x.elem, s.clone()), Fact::new(Some(DType::I64), s)]
        }
        _ => return Ok(None),
    }))
}

fn matmul(a: Option<&[Dim]>, b: Option<&[Dim]>) -> Result<Option<Vec<Dim>>, Reason> {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(None);
    };
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let mut a2 = a.to_vec();
    let mut b2 = b.to_vec();
    if a.len() == 1 {
        a2.insert(0, Dim::Fixed(1));
    }
    if b.len() == 1 {
        b2.push(Dim::Fixed(1));
    }
    let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
    merge_dim(ka, kb).map_err(|_| {
        format!(
            "inner dimensions differ: {} x {}",
            crate::format_shape(Some(a)),
            crate::format_shape(Some(b))
        )
    })?;
    let batch =
        broadcast(&[Some(&a2[..a2.len() - 2]), Some(&b2[..b2.len() - 2])])?.unwrap_or_default();
    let mut out = batch;
    if a.len() > 1 {
        out.push(a2[a2.len() - 2].clone());
    }
    if b.len() > 1 {
        out.push(b2[b2.len() - 1].clone());
    }
    Ok(Some(out))
}

fn gemm(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let (Some(a), Some(b)) = (x.shape.as_ref(), st.input(node, 1).shape) else {
        return Ok(None);
    };
    if a.len() != 2 || b.len() != 2 {
        return Err(format!(
            "A {} and B {} must be matrices",
            crate::format_shape(Some(a)),
            crate::format_shape(Some(&b))
        ));
    }
    let ta = node.attr_int("transA").unwrap_or(0) != 0;
    let tb = node.attr_int("transB").unwrap_or(0) != 0;
    let (m, ka) = if ta { (&a[1], &a[0]) } else { (&a[0], &a[1]) };
    let (kb, n) = if tb { (&b[1], &b[0]) } else { (&b[0], &b[1]) };
    merge_dim(ka, kb).map_err(|_| format!("inner dimensions differ: {ka} vs {kb}"))?;
    let out = vec![m.clone(), n.clone()];
    if let Some(c) = st.input(node, 2).shape {
        broadcast(&[Some(&out), Some(&c)])
            .map_err(|e| format!("C does not broadcast to the output: {e}"))?;
    }
    Ok(Some(out))
}

fn reduced(s: &[Dim], axes: &[usize], keep: bool) -> Vec<Dim> {
    s.iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keep) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Fixed(1)),
            (true, false) => None,
        })
        .collect()
}

fn reduce(st: &State, node: &Node, x: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let Some(s) = &x.shape else { return Ok(None) };
    let keep = node.attr_int("keepdims").unwrap_or(1) != 0;
    let axes = match attr_or_input(st, node, "axes", 1) {
        Some(a) if !a.is_empty() => a,
        None if st.has_input(node, 1) => {
            return Ok(keep.then(|| vec![Dim::Unknown; s.len()]));
        }
        _ => {
            if node.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 {
                return Ok(Some(s.clone()));
            }
            (0..s.len() as i64).collect()
        }
    };
    let axes: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, s.len()))
        .collect::<Result<_, _>>()?;
    Ok(Some(reduced(s, &axes, keep)))
}
