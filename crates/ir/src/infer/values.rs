//! Known values of small integer tensors, propagated through the shape arithmetic that
//! dynamic exports build in-graph (Shape, Gather, Unsqueeze, Concat, Cast, Add/Sub/Mul/Div, ...).

use super::dims::{ints, shape_range, Prod};
use super::{expr, slicing::slice_len, Fact, State, Sym};
use crate::{DType, Dim, Node, Tensor};

/// Tensors with more elements than this do not carry values.
const MAX_VALUES: usize = 64;

/// Type, shape and (for small integer-valued tensors) values of a constant.
pub(crate) fn fact_of_tensor(t: &Tensor) -> Fact {
    let shape = t.shape().iter().map(|&d| Dim::Fixed(d as u64)).collect();
    let mut f = Fact::new(Some(t.dtype()), Some(shape));
    if t.len() <= MAX_VALUES {
        f.value = match t.to_i64_vec() {
            Some(v) => Some(v.into_iter().map(Sym::Int).collect()),
            None => t.to_f64_vec().and_then(|v| {
                v.into_iter()
                    .map(|x| (x.fract() == 0.0 && x.abs() < 9e15).then_some(Sym::Int(x as i64)))
                    .collect()
            }),
        };
    }
    f
}

/// Drops a value that does not match the fact's shape.
pub(crate) fn trim(f: &mut Fact) {
    let n = f.shape.as_deref().map(Prod::of).filter(Prod::is_fixed);
    let ok = match (&f.value, n) {
        (Some(v), Some(p)) => p.fixed == v.len() as u128,
        _ => false,
    };
    if !ok {
        f.value = None;
    }
}

/// Fills `outs[0].value` for ops whose result is computable from known input values.
pub(crate) fn propagate(st: &State, node: &Node, op: &str, outs: &mut [Fact]) {
    let Some(out) = outs.first_mut() else { return };
    if out.value.is_some() {
        return;
    }
    out.value = compute(st, node, op, out.elem);
}

fn compute(st: &State, node: &Node, op: &str, elem: Option<DType>) -> Option<Vec<Sym>> {
    let v = |i: usize| st.ints(node, i);
    let x = st.input(node, 0);
    match op {
        "Shape" => {
            let s = x.shape?;
            let (a, b) = shape_range(node, s.len());
            Some(s[a..b].iter().map(Sym::from_dim).collect())
        }
        "Size" => match Prod::of(x.shape.as_deref()?).to_dim() {
            Dim::Fixed(n) => Some(vec![Sym::Int(n as i64)]),
            _ => None,
        },
        "Identity" | "Unsqueeze" | "Squeeze" | "Reshape" | "Flatten" | "Floor" | "Ceil"
        | "Round" | "CastLike" => v(0),
        "Cast" if elem == Some(DType::Bool) => Some(
            v(0)?
                .into_iter()
                .map(|s| match s {
                    Sym::Int(i) => Sym::Int((i != 0) as i64),
                    _ => Sym::Unknown,
                })
                .collect(),
        ),
        "Cast" => v(0),
        "Gather" if x.rank() == Some(1) => {
            let data = v(0)?;
            let n = data.len() as i64;
            ints(&v(1)?)?
                .into_iter()
                .map(|i| {
                    let i = if i < 0 { i + n } else { i };
                    usize::try_from(i).ok().and_then(|i| data.get(i).cloned())
                })
                .collect()
        }
        "Concat" if x.rank() == Some(1) => {
            // Inputs without known values still contribute their length, as unknowns.
            let mut all = Vec::new();
            let mut any = false;
            for i in 0..node.inputs.len() {
                match (v(i), st.input(node, i).shape.as_deref()) {
                    (Some(vals), _) => {
                        any = true;
                        all.extend(vals);
                    }
                    (None, Some([Dim::Fixed(k)])) if (*k as usize) <= MAX_VALUES => {
                        all.extend(vec![Sym::Unknown; *k as usize]);
                    }
                    _ => return None,
                }
            }
            any.then_some(all)
        }
        "Clip" => {
            let bound = |i: usize| match st.has_input(node, i) {
                true => ints(&v(i)?)?.first().copied(),
                false => Some(if i == 1 { i64::MIN } else { i64::MAX }),
            };
            let (lo, hi) = (bound(1)?, bound(2)?);
            map1(v(0)?, |a| Some(a.clamp(lo, hi.max(lo))))
        }
        "Neg" => map1(v(0)?, |a| a.checked_neg()),
        "Abs" => map1(v(0)?, |a| a.checked_abs()),
        "Not" => map1(v(0)?, |a| Some((a == 0) as i64)),
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Min" | "Max" | "Equal" | "Less" | "Greater"
        | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" => {
            let int_div = st.input(node, 0).elem.is_some_and(DType::is_integer);
            zip(&v(0)?, &v(1)?, |a, b| arith(op, a, b, int_div))
        }
        "Where" => {
            let (c, a, b) = (v(0)?, v(1)?, v(2)?);
            let n = c.len().max(a.len()).max(b.len());
            let at = |s: &[Sym], i: usize| s.get(if s.len() == 1 { 0 } else { i }).cloned();
            (0..n)
                .map(|i| match at(&c, i)? {
                    Sym::Int(0) => at(&b, i),
                    Sym::Int(_) => at(&a, i),
                    _ => Some(Sym::Unknown),
                })
                .collect()
        }
        "Slice" if x.rank() == Some(1) => {
            let data = v(0)?;
            let (s, e) = (ints(&v(1)?)?, ints(&v(2)?)?);
            let step = match v(4) {
                Some(t) => ints(&t)?,
                None => vec![1],
            };
            if s.len() != 1 || e.len() != 1 || step.len() != 1 || step[0] == 0 {
                return None;
            }
            let n = data.len() as i64;
            let Dim::Fixed(len) = slice_len(&Dim::Fixed(n as u64), s[0], e[0], step[0]).ok()?
            else {
                return None;
            };
            let first = if s[0] < 0 { s[0] + n } else { s[0] };
            let first = if step[0] > 0 {
                first.clamp(0, n)
            } else {
                first.clamp(0, n - 1)
            };
            (0..len as i64)
                .map(|k| {
                    let i = k.checked_mul(step[0])?.checked_add(first)?;
                    data.get(usize::try_from(i).ok()?).cloned()
                })
                .collect()
        }
        "ConstantOfShape" => {
            let n = Prod::of(&v(0)?.iter().map(Sym::to_dim).collect::<Vec<_>>());
            if !n.is_fixed() || n.fixed > MAX_VALUES as u128 {
                return None;
            }
            let fill = match node.attr_tensor("value") {
                Some(t) => fact_of_tensor(&t.tensor).value?.first()?.clone(),
                None => Sym::Int(0),
            };
            Some(vec![fill; n.fixed as usize])
        }
        "Range" => {
            let (a, b, d) = (ints(&v(0)?)?, ints(&v(1)?)?, ints(&v(2)?)?);
            let (a, b, d) = (*a.first()?, *b.first()?, *d.first()?);
            if d == 0 {
                return None;
            }
            let n = ((b as f64 - a as f64) / d as f64).ceil().max(0.0) as usize;
            if n > MAX_VALUES {
                return None;
            }
            (0..n as i64)
                .map(|k| k.checked_mul(d)?.checked_add(a).map(Sym::Int))
                .collect()
        }
        "ReduceProd" | "ReduceSum" | "ReduceMax" | "ReduceMin" if x.rank() == Some(1) => {
            if st.has_input(node, 1) || node.attr_ints("axes").is_some_and(|a| a != [0]) {
                return None;
            }
            let a = ints(&v(0)?)?;
            let r = match op {
                "ReduceProd" => a.iter().try_fold(1i64, |p, &x| p.checked_mul(x))?,
                "ReduceSum" => a.iter().try_fold(0i64, |p, &x| p.checked_add(x))?,
                "ReduceMax" => *a.iter().max()?,
                _ => *a.iter().min()?,
            };
            Some(vec![Sym::Int(r)])
        }
        _ => None,
    }
}

fn map1(a: Vec<Sym>, f: impl Fn(i64) -> Option<i64>) -> Option<Vec<Sym>> {
    Some(
        a.into_iter()
            .map(|s| match s {
                Sym::Int(i) => f(i).map_or(Sym::Unknown, Sym::Int),
                _ => Sym::Unknown,
            })
            .collect(),
    )
}

/// Elementwise over two value lists that are equal in length or where one has one element.
fn zip(a: &[Sym], b: &[Sym], f: impl Fn(&Sym, &Sym) -> Sym) -> Option<Vec<Sym>> {
    let n = a.len().max(b.len());
    if (a.len() != n && a.len() != 1) || (b.len() != n && b.len() != 1) {
        return None;
    }
    let at = |s: &[Sym], i: usize| s[if s.len() == 1 { 0 } else { i }].clone();
    Some((0..n).map(|i| f(&at(a, i), &at(b, i))).collect())
}

fn arith(op: &str, a: &Sym, b: &Sym, int_div: bool) -> Sym {
    use Sym::{Int, Param};
    let r = match (a, b) {
        (Int(x), Int(y)) => {
            let (x, y) = (*x, *y);
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                "Div" if y == 0 => None,
                "Div" if int_div || x.checked_rem(y) == Some(0) => x.checked_div(y),
                "Mod" if y != 0 => Some(((x as i128 % y as i128 + y as i128) % y as i128) as i64),
                "Min" => Some(x.min(y)),
                "Max" => Some(x.max(y)),
                "Equal" => Some((x == y) as i64),
                "Less" => Some((x < y) as i64),
                "Greater" => Some((x > y) as i64),
                "LessOrEqual" => Some((x <= y) as i64),
                "GreaterOrEqual" => Some((x >= y) as i64),
                "And" => Some((x != 0 && y != 0) as i64),
                "Or" => Some((x != 0 || y != 0) as i64),
                _ => None,
            }
        }
        (Param(p), Param(q)) if p == q => match op {
            "Sub" => Some(0),
            "Div" => Some(1),
            "Min" | "Max" => return a.clone(),
            "Equal" | "LessOrEqual" | "GreaterOrEqual" => Some(1),
            "Less" | "Greater" => Some(0),
            _ => None,
        },
        (Param(p), Int(k)) => match (op, *k) {
            ("Add" | "Sub", 0) | ("Mul" | "Div", 1) => return a.clone(),
            ("Mul", 0) => Some(0),
            ("Add", k) => return Param(expr::add(p, k)),
            ("Sub", k) if k != i64::MIN => return Param(expr::add(p, -k)),
            ("Mul", k) if k > 1 => return Param(expr::mul(p, k as u64)),
            // Integer division of a (non-negative) size truncates, which is floor.
            ("Div", k) if k > 1 && int_div => return Param(expr::floor_div(p, k as u64)),
            _ => None,
        },
        (Int(k), Param(p)) => match (op, *k) {
            ("Add", 0) | ("Mul", 1) => return b.clone(),
            ("Mul", 0) => Some(0),
            ("Add", k) => return Param(expr::add(p, k)),
            ("Mul", k) if k > 1 => return Param(expr::mul(p, k as u64)),
            _ => None,
        },
        (Param(p), Param(q)) => match op {
            "Add" => return Param(expr::sum(&[p.clone(), q.clone()], 0)),
            "Mul" => return Param(expr::product(1, &[p.clone(), q.clone()])),
            _ => None,
        },
        _ => None,
    };
    r.map_or(Sym::Unknown, Int)
}
