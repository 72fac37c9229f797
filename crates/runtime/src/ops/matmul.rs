//! MatMul (numpy semantics, batch broadcasting), Gemm, Einsum and Det.

use crate::broadcast;
use crate::gemm::{sgemm, Mat};
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};
use rayon::prelude::*;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "MatMul", build_matmul),
    ("", "Gemm", build_gemm),
    ("", "Det", build_det),
    ("", "Einsum", build_einsum),
];

pub fn matmul(a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    if a.rank() == 0 || b.rank() == 0 {
        bail!("MatMul inputs must have rank >= 1");
    }
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    let (a1, b1) = (ash.len() == 1, bsh.len() == 1);
    if a1 {
        ash.insert(0, 1);
    }
    if b1 {
        bsh.push(1);
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != k2 {
        bail!("shapes {:?} and {:?} do not multiply", a.shape(), b.shape());
    }
    let batch = broadcast::shape_of(&[&ash[..ash.len() - 2], &bsh[..bsh.len() - 2]])?;
    let nb = numel(&batch);
    let amap = broadcast::index_map(&ash[..ash.len() - 2], &batch);
    let bmap = broadcast::index_map(&bsh[..bsh.len() - 2], &batch);
    let mut shape = batch.clone();
    if !a1 {
        shape.push(m);
    }
    if !b1 {
        shape.push(n);
    }
    let float = is_float(a.dtype());
    if a.dtype() != b.dtype() {
        bail!("element types differ: {} and {}", a.dtype(), b.dtype());
    }
    if !float {
        let (x, y) = (ints(a)?, ints(b)?);
        let mut out = vec![0i64; nb * m * n];
        for bi in 0..nb {
            let (ao, bo) = (amap[bi] * m * k, bmap[bi] * k * n);
            for i in 0..m {
                for p in 0..k {
                    let av = x[ao + i * k + p];
                    for j in 0..n {
                        out[bi * m * n + i * n + j] = out[bi * m * n + i * n + j]
                            .wrapping_add(av.wrapping_mul(y[bo + p * n + j]));
                    }
                }
            }
        }
        return super::cast::cast(&tensor(shape, TensorData::I64(out))?, a.dtype());
    }
    let (x, y) = (f32s(a)?, f32s(b)?);
    let mut out = vec![0f32; nb * m * n];
    if m * n == 0 {
        return from_f32(a.dtype(), shape, out);
    }
    let run = |bi: usize, c: &mut [f32]| {
        let (ao, bo) = (amap[bi] * m * k, bmap[bi] * k * n);
        let am = Mat::rows(&x[ao..ao + m * k], k);
        let bm = Mat::rows(&y[bo..bo + k * n], n);
        sgemm(m, k, n, am, bm, 0.0, c);
    };
    if nb >= rayon::current_num_threads() && nb > 1 {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, c)| run(bi, c));
    } else {
        out.chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, c)| run(bi, c));
    }
    from_f32(a.dtype(), shape, out)
}

pub fn build_matmul(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| Ok(vec![matmul(req(ins, 0)?, req(ins, 1)?)?]))
}

pub fn build_gemm(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let alpha = ctx.float("alpha", 1.0);
    let beta = ctx.float("beta", 1.0);
    let ta = ctx.int("transA", 0) != 0;
    let tb = ctx.int("transB", 0) != 0;
    kernel(move |ins| {
        let (a, b) = (req(ins, 0)?, req(ins, 1)?);
        if a.rank() != 2 || b.rank() != 2 {
            bail!(
                "Gemm needs 2-D A and B, got {:?} and {:?}",
                a.shape(),
                b.shape()
            );
        }
        let (m, k) = if ta {
            (a.shape()[1], a.shape()[0])
        } else {
            (a.shape()[0], a.shape()[1])
        };
        let (k2, n) = if tb {
            (b.shape()[1], b.shape()[0])
        } else {
            (b.shape()[0], b.shape()[1])
        };
        if k != k2 {
            bail!("shapes {:?} and {:?} do not multiply", a.shape(), b.shape());
        }
        let (x, y) = (f32s(a)?, f32s(b)?);
        let am = if ta {
            Mat::transposed(&x, m)
        } else {
            Mat::rows(&x, k)
        };
        let bm = if tb {
            Mat::transposed(&y, k)
        } else {
            Mat::rows(&y, n)
        };
        let mut out = vec![0f32; m * n];
        sgemm(m, k, n, am, bm, 0.0, &mut out);
        if alpha != 1.0 {
            out.iter_mut().for_each(|v| *v *= alpha);
        }
        if let Some(c) = opt(ins, 2) {
            let cv = f32s(c)?;
            let (_, add) = broadcast::binary(&out, &[m, n], &cv, c.shape(), |p, q| p + beta * q)?;
            if add.len() != m * n {
                bail!(
                    "C of shape {:?} does not broadcast to [{m}, {n}]",
                    c.shape()
                );
            }
            out = add;
        }
        Ok(vec![from_f32(a.dtype(), vec![m, n], out)?])
    })
}

pub fn build_det(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let r = x.rank();
        if r < 2 || x.shape()[r - 1] != x.shape()[r - 2] {
            bail!("Det needs [..., M, M], got {:?}", x.shape());
        }
        let m = x.shape()[r - 1];
        let v = f64s(x)?;
        let out: Vec<f32> = v
            .chunks(m * m)
            .map(|c| {
                let mut a = c.to_vec();
                let mut det = 1f64;
                for col in 0..m {
                    let p = (col..m)
                        .max_by(|&i, &j| {
                            a[i * m + col]
                                .abs()
                                .partial_cmp(&a[j * m + col].abs())
                                .unwrap_or(std::cmp::Ordering::Equal)
                        })
                        .unwrap_or(col);
                    if a[p * m + col] == 0.0 {
                        return 0.0;
                    }
                    if p != col {
                        for k in 0..m {
                            a.swap(p * m + k, col * m + k);
                        }
                        det = -det;
                    }
                    det *= a[col * m + col];
                    for i in col + 1..m {
                        let f = a[i * m + col] / a[col * m + col];
                        for k in col..m {
                            a[i * m + k] -= f * a[col * m + k];
                        }
                    }
                }
                det as f32
            })
            .collect();
        Ok(vec![from_f32(x.dtype(), x.shape()[..r - 2].to_vec(), out)?])
    })
}

/// Einsum by direct summation over every label (a reference kernel, not a fast one).
pub fn build_einsum(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let eq: String = ctx
        .string("equation", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    kernel(move |ins| {
        let xs: Vec<&Tensor> = ins.iter().flatten().copied().collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (eq.clone(), None),
        };
        let terms: Vec<&str> = lhs.split(',').collect();
        if terms.len() != xs.len() {
            bail!(
                "equation has {} operands, got {} inputs",
                terms.len(),
                xs.len()
            );
        }
        // Ellipsis dims become labels '0', '1', ... (right-aligned).
        let mut ell_rank = 0;
        for (t, x) in terms.iter().zip(&xs) {
            if t.contains("...") {
                ell_rank = ell_rank.max(x.rank() + 3 - t.len());
            }
        }
        let ell: String = (0..ell_rank).map(|i| char::from(b'0' + i as u8)).collect();
        let expand = |t: &str, rank: usize| -> String {
            match t.find("...") {
                Some(_) => {
                    let k = rank + 3 - t.len();
                    t.replace("...", &ell[ell_rank - k..])
                }
                None => t.to_string(),
            }
        };
        let labels: Vec<Vec<char>> = terms
            .iter()
            .zip(&xs)
            .map(|(t, x)| expand(t, x.rank()).chars().collect())
            .collect();
        let mut size: std::collections::BTreeMap<char, usize> = Default::default();
        for (l, x) in labels.iter().zip(&xs) {
            if l.len() != x.rank() {
                bail!(
                    "term {:?} does not match rank {}",
                    l.iter().collect::<String>(),
                    x.rank()
                );
            }
            for (&c, &d) in l.iter().zip(x.shape()) {
                let e = size.entry(c).or_insert(d);
                if *e != d {
                    if *e == 1 {
                        *e = d;
                    } else if d != 1 {
                        bail!("label {c} has sizes {e} and {d}");
                    }
                }
            }
        }
        let out: Vec<char> = match rhs {
            Some(r) => r.replace("...", &ell).chars().collect(),
            None => {
                let mut once: Vec<char> = size
                    .keys()
                    .copied()
                    .filter(|c| {
                        c.is_alphabetic()
                            && labels.iter().flatten().filter(|&&d| d == *c).count() == 1
                    })
                    .collect();
                once.sort_unstable();
                ell.chars().chain(once).collect()
            }
        };
        let all: Vec<char> = out
            .iter()
            .copied()
            .chain(size.keys().copied().filter(|c| !out.contains(c)))
            .collect();
        let dims: Vec<usize> = all.iter().map(|c| size[c]).collect();
        let vals: Vec<Vec<f64>> = xs.iter().map(|x| f64s(x)).collect::<OpResult<_>>()?;
        // Per operand: stride of each label in `all` (0 if absent or broadcast).
        let op_st: Vec<Vec<usize>> = labels
            .iter()
            .zip(&xs)
            .map(|(l, x)| {
                let st = strides(x.shape());
                all.iter()
                    .map(|c| {
                        l.iter()
                            .enumerate()
                            .filter(|(_, d)| *d == c)
                            .map(|(i, _)| if x.shape()[i] == 1 { 0 } else { st[i] })
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let out_dims: Vec<usize> = dims[..out.len()].to_vec();
        let nout = numel(&out_dims);
        let mut res = vec![0f64; nout];
        let no = out.len();
        for_each_index(&dims, |i| {
            let o: usize = if no == 0 {
                0
            } else {
                i[..no]
                    .iter()
                    .zip(strides(&out_dims))
                    .map(|(a, s)| a * s)
                    .sum()
            };
            let mut p = 1f64;
            for (v, st) in vals.iter().zip(&op_st) {
                let off: usize = i.iter().zip(st).map(|(a, s)| a * s).sum();
                p *= v[off];
            }
            res[o] += p;
        });
        let t = tensor(out_dims, TensorData::F64(res))?;
        Ok(vec![super::cast::cast(&t, xs[0].dtype())?])
    })
}
