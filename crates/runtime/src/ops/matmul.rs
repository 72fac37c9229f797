//! MatMul (numpy semantics, batch broadcasting) and Gemm.

use crate::broadcast;
use crate::gemm::{sgemm, Mat};
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};
use rayon::prelude::*;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[("", "MatMul", build_matmul), ("", "Gemm", build_gemm)];

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
        return super::shape::cast(&tensor(shape, TensorData::I64(out))?, a.dtype());
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
