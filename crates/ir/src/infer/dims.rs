//! Dimension arithmetic: broadcasting, axes, products of fixed and symbolic dims.

use super::{expr, Sym};
use crate::{Dim, Node};

/// A rule's reason for refusing a node (wrapped into `IrError::Inference` by the driver).
pub(crate) type Reason = String;

/// ONNX (numpy) broadcasting of one dimension pair. A fixed 1 broadcasts; a fixed size wins
/// over a symbolic one (a valid model can only have that size there); equal names match.
pub(crate) fn broadcast_dim(a: &Dim, b: &Dim) -> Result<Dim, Reason> {
    Ok(match (a, b) {
        (Dim::Fixed(1), x) | (x, Dim::Fixed(1)) => x.clone(),
        (Dim::Fixed(x), Dim::Fixed(y)) if x == y => Dim::Fixed(*x),
        (Dim::Fixed(x), Dim::Fixed(y)) => {
            return Err(format!("cannot broadcast dimension {x} with {y}"))
        }
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(*x),
        (Dim::Param(p), Dim::Param(q)) if p == q => Dim::Param(p.clone()),
        _ => Dim::Unknown,
    })
}

/// Broadcast shapes right-aligned; `None` if any rank is unknown.
pub(crate) fn broadcast(shapes: &[Option<&[Dim]>]) -> Result<Option<Vec<Dim>>, Reason> {
    let mut out: Vec<Dim> = Vec::new();
    for s in shapes {
        let Some(s) = s else { return Ok(None) };
        let (long, short) = if s.len() > out.len() {
            (s.to_vec(), out)
        } else {
            (out, s.to_vec())
        };
        let off = long.len() - short.len();
        out = long
            .iter()
            .enumerate()
            .map(|(i, d)| match i.checked_sub(off) {
                Some(j) => broadcast_dim(d, &short[j]),
                None => Ok(d.clone()),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| {
                let parts: Vec<String> = shapes
                    .iter()
                    .map(|s| crate::format_shape(s.as_deref()))
                    .collect();
                format!("{e} (shapes {})", parts.join(", "))
            })?;
    }
    Ok(Some(out))
}

/// Two descriptions of the same dimension: keep the more specific one, refuse two fixed sizes
/// that differ.
pub(crate) fn merge_dim(a: &Dim, b: &Dim) -> Result<Dim, Reason> {
    Ok(match (a, b) {
        (Dim::Fixed(x), Dim::Fixed(y)) if x != y => {
            return Err(format!("dimension {x} does not match {y}"))
        }
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(*x),
        (Dim::Param(p), _) | (_, Dim::Param(p)) => Dim::Param(p.clone()),
        _ => Dim::Unknown,
    })
}

/// An axis attribute or input in `[-rank, rank)`, made non-negative.
pub(crate) fn axis(a: i64, rank: usize) -> Result<usize, Reason> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(format!("axis {a} is out of range for rank {rank}"));
    }
    Ok(if a < 0 { a + r } else { a } as usize)
}

/// Ranks above this are treated as unknown (they only come from corrupt declarations).
const MAX_RANK: u64 = 1024;

/// `k` unknown dims, for a value whose rank is known from the length of a shape tensor.
pub(crate) fn unknown_dims(k: &Dim, extra: usize) -> Option<Vec<Dim>> {
    match k {
        Dim::Fixed(k) if *k <= MAX_RANK => Some(vec![Dim::Unknown; *k as usize + extra]),
        _ => None,
    }
}

/// `d + k` (`k` may be negative).
pub(crate) fn add(d: &Dim, k: i64) -> Result<Dim, Reason> {
    Ok(match d {
        Dim::Fixed(v) => {
            let s = *v as i128 + k as i128;
            if s < 0 {
                return Err(format!("dimension {v} {k:+} is negative"));
            }
            Dim::Fixed(s.min(u64::MAX as i128) as u64)
        }
        _ if k == 0 => d.clone(),
        Dim::Param(p) => Dim::Param(expr::add(p, k)),
        Dim::Unknown => Dim::Unknown,
    })
}

/// `d * k` for `k >= 0`.
pub(crate) fn mul(d: &Dim, k: u64) -> Dim {
    match d {
        Dim::Fixed(v) => Dim::Fixed(v.saturating_mul(k)),
        _ if k == 1 => d.clone(),
        _ if k == 0 => Dim::Fixed(0),
        Dim::Param(p) => Dim::Param(expr::mul(p, k)),
        Dim::Unknown => Dim::Unknown,
    }
}

/// `floor(d / k)` for `k >= 1`.
pub(crate) fn floor_div(d: &Dim, k: u64) -> Dim {
    match d {
        _ if k == 1 => d.clone(),
        Dim::Fixed(v) => Dim::Fixed(v / k.max(1)),
        Dim::Param(p) => Dim::Param(expr::floor_div(p, k)),
        Dim::Unknown => Dim::Unknown,
    }
}

/// `ceil(d / k)` for `k >= 1`.
pub(crate) fn ceil_div(d: &Dim, k: u64) -> Dim {
    match d {
        _ if k == 1 => d.clone(),
        Dim::Fixed(v) => Dim::Fixed(v.div_ceil(k.max(1))),
        Dim::Param(p) => Dim::Param(expr::ceil_div(p, k)),
        Dim::Unknown => Dim::Unknown,
    }
}

/// The sum of dims (Concat along an axis): fixed, an expression, or unknown.
pub(crate) fn sum(dims: &[Dim]) -> Dim {
    let mut k = 0u64;
    let mut terms = Vec::new();
    for d in dims {
        match d {
            Dim::Fixed(v) => k = k.saturating_add(*v),
            Dim::Param(p) => terms.push(p.clone()),
            Dim::Unknown => return Dim::Unknown,
        }
    }
    match terms.as_slice() {
        [] => Dim::Fixed(k),
        [one] if k == 0 => Dim::Param(one.clone()),
        _ => Dim::Param(expr::sum(&terms, k)),
    }
}

/// A product of dimensions: a fixed factor times named factors, possibly times unknowns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prod {
    pub fixed: u128,
    pub params: Vec<String>,
    pub unknown: bool,
}

impl Prod {
    pub fn of(dims: &[Dim]) -> Prod {
        let mut p = Prod {
            fixed: 1,
            params: Vec::new(),
            unknown: false,
        };
        for d in dims {
            match d {
                Dim::Fixed(v) => p.fixed = p.fixed.saturating_mul(*v as u128),
                Dim::Param(s) => p.params.push(s.clone()),
                Dim::Unknown => p.unknown = true,
            }
        }
        p.params.sort();
        p
    }

    pub fn is_fixed(&self) -> bool {
        !self.unknown && self.params.is_empty()
    }

    /// The product as one dimension where it can be written as one.
    pub fn to_dim(&self) -> Dim {
        if self.fixed == 0 {
            return Dim::Fixed(0);
        }
        match (self.unknown, self.params.as_slice()) {
            (true, _) => Dim::Unknown,
            (false, []) => Dim::Fixed(self.fixed.min(u64::MAX as u128) as u64),
            (false, [p]) if self.fixed == 1 => Dim::Param(p.clone()),
            (false, ps) => Dim::Param(expr::product(self.fixed, ps)),
        }
    }

    /// `self / other` as a dimension: `Ok(Unknown)` when it cannot be decided, an error when
    /// both are fixed and do not divide.
    pub fn div(&self, other: &Prod) -> Result<Dim, Reason> {
        if other.fixed == 0 || self.unknown || other.unknown {
            return Ok(Dim::Unknown);
        }
        let mut params = self.params.clone();
        for p in &other.params {
            match params.iter().position(|q| q == p) {
                Some(i) => {
                    params.remove(i);
                }
                None => return Ok(Dim::Unknown),
            }
        }
        if self.fixed.rem_euclid(other.fixed) != 0 {
            if params.is_empty() {
                return Err(format!(
                    "{} elements cannot be divided into parts of {}",
                    self.fixed, other.fixed
                ));
            }
            return Ok(Dim::Unknown);
        }
        Ok(Prod {
            fixed: self.fixed / other.fixed,
            params,
            unknown: false,
        }
        .to_dim())
    }
}

impl Sym {
    pub fn from_dim(d: &Dim) -> Sym {
        match d {
            Dim::Fixed(v) => Sym::Int(*v as i64),
            Dim::Param(p) => Sym::Param(p.clone()),
            Dim::Unknown => Sym::Unknown,
        }
    }

    /// A shape entry as a dimension (negative values are not dimensions).
    pub fn to_dim(&self) -> Dim {
        match self {
            Sym::Int(v) if *v >= 0 => Dim::Fixed(*v as u64),
            Sym::Param(p) => Dim::Param(p.clone()),
            _ => Dim::Unknown,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Sym::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// All values as plain integers, if every one is known.
pub(crate) fn ints(v: &[Sym]) -> Option<Vec<i64>> {
    v.iter().map(Sym::int).collect()
}

/// `Shape`'s `start`/`end` (opset 15), clamped to `[0, rank]`.
pub(crate) fn shape_range(node: &Node, rank: usize) -> (usize, usize) {
    let r = rank as i64;
    let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let a = fix(node.attr_int("start").unwrap_or(0));
    let b = fix(node.attr_int("end").unwrap_or(r));
    (a, b.max(a))
}
