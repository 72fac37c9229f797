//! Shape-reading, indexing and generating ops: Shape, Size, Gather, GatherElements, GatherND,
//! Scatter*, NonZero, NonMaxSuppression, ConstantOfShape, Range, Constant, EyeLike, Random*Like,
//! OneHot, Compress.

use super::dims::{axis, shape_range, Reason};
use super::{values, Fact, State, Sym};
use crate::{AttrValue, DType, Dim, Node, Tensor};

pub(crate) fn infer(st: &State, node: &Node, op: &str) -> Result<Option<Vec<Fact>>, Reason> {
    let x = st.input(node, 0);
    let i64s = |s: Option<Vec<Dim>>| vec![Fact::new(Some(DType::I64), s)];
    Ok(Some(match op {
        "Shape" => i64s(match &x.shape {
            Some(s) => {
                let (a, b) = shape_range(node, s.len());
                Some(vec![Dim::Fixed(b.saturating_sub(a) as u64)])
            }
            None => Some(vec![Dim::Unknown]),
        }),
        "Size" => i64s(Some(vec![])),
        "Gather" => {
            let idx = st.input(node, 1);
            let s = match (&x.shape, &idx.shape) {
                (Some(d), Some(q)) => {
                    let a = axis(node.attr_int("axis").unwrap_or(0), d.len())?;
                    check_indices(st, node, &d[a])?;
                    let mut o = d[..a].to_vec();
                    o.extend(q.iter().cloned());
                    o.extend(d[a + 1..].iter().cloned());
                    Some(o)
                }
                _ => None,
            };
            vec![Fact::new(x.elem, s)]
        }
        "GatherElements" => vec![Fact::new(x.elem, st.input(node, 1).shape)],
        "GatherND" => vec![Fact::new(x.elem, gather_nd(node, &x, &st.input(node, 1))?)],
        "ScatterND" | "ScatterElements" | "Scatter" => vec![Fact::new(x.elem, x.shape.clone())],
        "NonZero" => i64s(
            x.shape
                .as_ref()
                .map(|s| vec![Dim::Fixed(s.len() as u64), Dim::Unknown]),
        ),
        "NonMaxSuppression" => i64s(Some(vec![Dim::Unknown, Dim::Fixed(3)])),
        "ConstantOfShape" => {
            let elem = node
                .attr_tensor("value")
                .map_or(DType::F32, |t| t.tensor.dtype());
            let s = match st.ints(node, 0) {
                Some(v) => Some(v.iter().map(Sym::to_dim).collect()),
                None => match x.shape.as_deref() {
                    Some([k]) => super::dims::unknown_dims(k, 0),
                    _ => None,
                },
            };
            vec![Fact::new(Some(elem), s)]
        }
        "Range" => vec![Fact::new(x.elem, Some(vec![range_len(st, node)?]))],
        "Constant" => vec![constant(node)?],
        "EyeLike" | "RandomNormalLike" | "RandomUniformLike" | "Bernoulli" => {
            let elem = node
                .attr_int("dtype")
                .and_then(|c| DType::from_onnx_code(c as i32))
                .or(x.elem);
            vec![Fact::new(elem, x.shape.clone())]
        }
        "OneHot" => {
            let elem = st.input(node, 2).elem;
            let s = match (&x.shape, st.known_ints(node, 1).as_deref()) {
                (Some(s), depth) => {
                    let a = axis(node.attr_int("axis").unwrap_or(-1), s.len() + 1)?;
                    let d = match depth {
                        Some([d]) if *d >= 0 => Dim::Fixed(*d as u64),
                        Some([d]) => return Err(format!("depth {d}")),
                        _ => Dim::Unknown,
                    };
                    let mut o = s.clone();
                    o.insert(a, d);
                    Some(o)
                }
                (None, _) => None,
            };
            vec![Fact::new(elem, s)]
        }
        "Compress" => {
            let s = match (&x.shape, node.attr_int("axis")) {
                (Some(s), Some(a)) => {
                    let mut o = s.clone();
                    o[axis(a, s.len())?] = Dim::Unknown;
                    Some(o)
                }
                (_, None) => Some(vec![Dim::Unknown]),
                (None, Some(_)) => None,
            };
            vec![Fact::new(x.elem, s)]
        }
        _ => return Ok(None),
    }))
}

/// Range's length `max(ceil((limit - start) / delta), 0)`.
fn range_len(st: &State, node: &Node) -> Result<Dim, Reason> {
    // `arange(a, n)` over a symbolic n (the anchor grids of dynamic exports): n - a.
    if let (Some([a]), Some([Sym::Param(n)]), Some([1])) = (
        st.known_ints(node, 0).as_deref(),
        st.ints(node, 1).as_deref(),
        st.known_ints(node, 2).as_deref(),
    ) {
        if let Some(neg) = a.checked_neg() {
            return Ok(Dim::Param(super::expr::add(n, neg)));
        }
    }
    Ok(
        match (st.floats(node, 0), st.floats(node, 1), st.floats(node, 2)) {
            (Some(a), Some(b), Some(d)) if a.len() == 1 && b.len() == 1 && d.len() == 1 => {
                if d[0] == 0.0 {
                    return Err("delta 0".into());
                }
                Dim::Fixed(((b[0] - a[0]) / d[0]).ceil().max(0.0) as u64)
            }
            _ => Dim::Unknown,
        },
    )
}

/// Constant indices must lie in `[-n, n)`.
fn check_indices(st: &State, node: &Node, d: &Dim) -> Result<(), Reason> {
    let (Dim::Fixed(n), Some(idx)) = (d, st.known_ints(node, 1)) else {
        return Ok(());
    };
    let n = *n as i128;
    match idx.iter().find(|&&i| (i as i128) < -n || i as i128 >= n) {
        Some(i) => Err(format!("index {i} is out of range for axis size {n}")),
        None => Ok(()),
    }
}

fn gather_nd(node: &Node, x: &Fact, idx: &Fact) -> Result<Option<Vec<Dim>>, Reason> {
    let (Some(d), Some(q)) = (&x.shape, &idx.shape) else {
        return Ok(None);
    };
    let b = node.attr_int("batch_dims").unwrap_or(0).max(0) as usize;
    let Some(last) = q.last() else {
        return Err("indices are a scalar".into());
    };
    let Dim::Fixed(k) = last else { return Ok(None) };
    let k = *k as usize;
    let fits = matches!(b.checked_add(k), Some(e) if e <= d.len());
    if !fits {
        return Err(format!(
            "index depth {k} with batch_dims {b} exceeds data rank {}",
            d.len()
        ));
    }
    let mut out = q[..q.len() - 1].to_vec();
    out.extend(d[b + k..].iter().cloned());
    Ok(Some(out))
}

fn constant(node: &Node) -> Result<Fact, Reason> {
    let owned;
    let t = match node.attributes.first().map(|a| (a.name.as_str(), &a.value)) {
        Some(("value", AttrValue::Tensor(t))) => &t.tensor,
        Some(("value_float", AttrValue::Float(x))) => {
            owned = Tensor::scalar(*x);
            &owned
        }
        Some(("value_floats", AttrValue::Floats(v))) => {
            owned = Tensor::from_vec(vec![v.len()], v.clone()).map_err(|e| e.to_string())?;
            &owned
        }
        Some(("value_int", AttrValue::Int(i))) => {
            owned = Tensor::scalar(*i);
            &owned
        }
        Some(("value_ints", AttrValue::Ints(v))) => {
            owned = Tensor::from_vec(vec![v.len()], v.clone()).map_err(|e| e.to_string())?;
            &owned
        }
        Some(("value_string", _)) => return Ok(Fact::new(Some(DType::String), Some(vec![]))),
        Some(("value_strings", AttrValue::Strings(v))) => {
            let s = vec![Dim::Fixed(v.len() as u64)];
            return Ok(Fact::new(Some(DType::String), Some(s)));
        }
        _ => return Ok(Fact::default()),
    };
    Ok(values::fact_of_tensor(t))
}
