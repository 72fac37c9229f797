//! Selection by condition or position: Where, NonZero, Compress, Trilu, Unique.

use super::concat::concat;
use crate::broadcast;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Where", build_where),
    ("", "NonZero", build_nonzero),
    ("", "Trilu", build_trilu),
    ("", "Compress", build_compress),
    ("", "Unique", build_unique),
];

pub fn build_where(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (c, x, y) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let TensorData::Bool(cv) = c.data() else {
            bail!("condition must be bool, got {}", c.dtype())
        };
        if x.dtype() != y.dtype() {
            bail!("X and Y differ in type");
        }
        let shape = broadcast::shape_of(&[c.shape(), x.shape(), y.shape()])?;
        let (ci, xi, yi) = (
            broadcast::index_map(c.shape(), &shape),
            broadcast::index_map(x.shape(), &shape),
            broadcast::index_map(y.shape(), &shape),
        );
        let idx: Vec<usize> = (0..ci.len())
            .map(|k| if cv[ci[k]] { xi[k] } else { x.len() + yi[k] })
            .collect();
        let both = concat(
            &[
                &x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                &y.clone()
                    .reshaped(vec![y.len()])
                    .map_err(|e| e.to_string())?,
            ],
            0,
        )?;
        one(take(&both, &idx, None, shape)?)
    })
}

pub fn build_nonzero(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        let nz: Vec<bool> = match x.data() {
            TensorData::Bool(v) => v.clone(),
            _ => x
                .to_f64_vec()
                .ok_or("unsupported element type")?
                .iter()
                .map(|&a| a != 0.0)
                .collect(),
        };
        let r = x.rank();
        let mut coords: Vec<Vec<i64>> = vec![Vec::new(); r];
        let mut k = 0;
        let mut count = 0;
        for_each_index(x.shape(), |i| {
            if nz[k] {
                for d in 0..r {
                    coords[d].push(i[d] as i64);
                }
                count += 1;
            }
            k += 1;
        });
        if r == 0 && nz.first().copied().unwrap_or(false) {
            count = 1;
        }
        let v: Vec<i64> = coords.into_iter().flatten().collect();
        one(i64_tensor(vec![r, if r == 0 { 0 } else { count }], v)?)
    })
}

pub fn build_compress(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let a = ctx.node.attr_int("axis");
    kernel(move |ins| {
        let (x, cond) = (req(ins, 0)?, req(ins, 1)?);
        let TensorData::Bool(cv) = cond.data() else {
            bail!("condition must be bool")
        };
        let (x, ax) = match a {
            Some(a) => (x.clone(), axis(a, x.rank())?),
            None => (
                x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                0,
            ),
        };
        let d = x.shape()[ax];
        if cv.len() > d {
            bail!("condition has {} entries for an axis of size {d}", cv.len());
        }
        let keep: Vec<usize> = (0..cv.len()).filter(|&i| cv[i]).collect();
        let outer = numel(&x.shape()[..ax]);
        let inner = numel(&x.shape()[ax + 1..]);
        let mut idx = Vec::with_capacity(outer * keep.len() * inner);
        for o in 0..outer {
            for &k in &keep {
                idx.extend((o * d + k) * inner..(o * d + k + 1) * inner);
            }
        }
        let mut shape = x.shape().to_vec();
        shape[ax] = keep.len();
        Ok(vec![take(&x, &idx, None, shape)?])
    })
}

pub fn build_trilu(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let upper = ctx.int("upper", 1) != 0;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let k = match opt(ins, 1) {
            Some(t) => ints(t)?.first().copied().unwrap_or(0),
            None => 0,
        };
        if x.rank() < 2 {
            bail!("input rank must be >= 2");
        }
        let r = x.rank();
        let (rows, cols) = (x.shape()[r - 2], x.shape()[r - 1]);
        let zero = Tensor::zeros(x.dtype(), vec![1]).map_err(|e| e.to_string())?;
        let mut idx = Vec::with_capacity(x.len());
        for flat in 0..x.len() {
            let j = (flat % cols) as i64;
            let i = ((flat / cols) % rows.max(1)) as i64;
            let keep = if upper { j - i >= k } else { j - i <= k };
            idx.push(if keep { flat } else { usize::MAX });
        }
        one(take(x, &idx, Some(&zero), x.shape().to_vec())?)
    })
}

pub fn build_unique(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let sorted = ctx.int("sorted", 1) != 0;
    let a = ctx.node.attr_int("axis");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let (xf, ax) = match a {
            Some(a) => (x.clone(), axis(a, x.rank())?),
            None => (
                x.clone()
                    .reshaped(vec![x.len()])
                    .map_err(|e| e.to_string())?,
                0,
            ),
        };
        let v = f64s(&xf)?;
        let d = xf.shape()[ax];
        let outer = numel(&xf.shape()[..ax]);
        let inner = numel(&xf.shape()[ax + 1..]);
        let slice = |k: usize| -> Vec<f64> {
            (0..outer)
                .flat_map(|o| v[(o * d + k) * inner..(o * d + k + 1) * inner].to_vec())
                .collect()
        };
        let keys: Vec<Vec<f64>> = (0..d).map(slice).collect();
        let mut uniq: Vec<usize> = Vec::new();
        for k in 0..d {
            if !uniq.iter().any(|&u| keys[u] == keys[k]) {
                uniq.push(k);
            }
        }
        if sorted {
            uniq.sort_by(|&p, &q| {
                keys[p]
                    .partial_cmp(&keys[q])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        let inverse: Vec<i64> = (0..d)
            .map(|k| uniq.iter().position(|&u| keys[u] == keys[k]).unwrap_or(0) as i64)
            .collect();
        let counts: Vec<i64> = (0..uniq.len())
            .map(|j| inverse.iter().filter(|&&i| i == j as i64).count() as i64)
            .collect();
        let mut idx = Vec::with_capacity(outer * uniq.len() * inner);
        for o in 0..outer {
            for &k in &uniq {
                idx.extend((o * d + k) * inner..(o * d + k + 1) * inner);
            }
        }
        let mut shape = xf.shape().to_vec();
        shape[ax] = uniq.len();
        let nu = uniq.len();
        Ok(vec![
            take(&xf, &idx, None, shape)?,
            tensor(
                vec![nu],
                TensorData::I64(uniq.iter().map(|&u| u as i64).collect()),
            )?,
            tensor(vec![d], TensorData::I64(inverse))?,
            tensor(vec![nu], TensorData::I64(counts))?,
        ])
    })
}
