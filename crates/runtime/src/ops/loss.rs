//! NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ONNX reference semantics).

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "NegativeLogLikelihoodLoss", build_nll),
    ("", "SoftmaxCrossEntropyLoss", build_sce),
];

/// `-x[n, t, d] · w[t]` per element, reduced. `x` is [N, C, D...] (log-probabilities).
fn nll(
    x: &[f64],
    shape: &[usize],
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: &str,
    ignore: Option<i64>,
) -> OpResult<(Vec<usize>, Vec<f64>)> {
    if shape.len() < 2 {
        bail!("input must have rank >= 2");
    }
    let (n, c) = (shape[0], shape[1]);
    let d = numel(&shape[2..]);
    let t = ints(target)?;
    if t.len() != n * d || target.shape().first() != Some(&n) {
        bail!("target {:?} does not fit input {shape:?}", target.shape());
    }
    let w = match weight {
        Some(w) => {
            let v = w.to_f64_vec().ok_or("unsupported weight type")?;
            if v.len() != c {
                bail!("weight has {} values for {c} classes", v.len());
            }
            Some(v)
        }
        None => None,
    };
    let mut loss = vec![0f64; n * d];
    let mut wsum = 0f64;
    for i in 0..n {
        for k in 0..d {
            let tv = t[i * d + k];
            if Some(tv) == ignore {
                continue;
            }
            if tv < 0 || tv >= c as i64 {
                bail!("target {tv} is out of range for {c} classes");
            }
            let wt = w.as_ref().map_or(1.0, |w| w[tv as usize]);
            loss[i * d + k] = -x[(i * c + tv as usize) * d + k] * wt;
            wsum += wt;
        }
    }
    Ok(match reduction {
        "none" => (target.shape().to_vec(), loss),
        "sum" => (vec![], vec![loss.iter().sum()]),
        _ => (vec![], vec![loss.iter().sum::<f64>() / wsum]),
    })
}

pub fn build_nll(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let reduction = ctx.string("reduction", "mean");
    let ignore = ctx.node.attr_int("ignore_index");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = x.to_f64_vec().ok_or("unsupported input type")?;
        let (shape, l) = nll(&v, x.shape(), req(ins, 1)?, opt(ins, 2), &reduction, ignore)?;
        let t = tensor(shape, TensorData::F64(l))?;
        Ok(vec![super::cast::cast(&t, x.dtype())?])
    })
}

pub fn build_sce(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let reduction = ctx.string("reduction", "mean");
    let ignore = ctx.node.attr_int("ignore_index");
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        if x.rank() < 2 {
            bail!("scores must have rank >= 2");
        }
        let v = x.to_f64_vec().ok_or("unsupported input type")?;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let d = numel(&x.shape()[2..]);
        let mut lp = vec![0f64; v.len()];
        for i in 0..n {
            for k in 0..d {
                let at = |j: usize| (i * c + j) * d + k;
                let mx = (0..c).map(|j| v[at(j)]).fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = (0..c).map(|j| (v[at(j)] - mx).exp()).sum();
                for j in 0..c {
                    lp[at(j)] = ((v[at(j)] - mx).exp() / s).ln();
                }
            }
        }
        let (shape, l) = nll(
            &lp,
            x.shape(),
            req(ins, 1)?,
            opt(ins, 2),
            &reduction,
            ignore,
        )?;
        let loss = super::cast::cast(&tensor(shape, TensorData::F64(l))?, x.dtype())?;
        let logp: Tensor =
            super::cast::cast(&tensor(x.shape().to_vec(), TensorData::F64(lp))?, x.dtype())?;
        Ok(vec![loss, logp])
    })
}
