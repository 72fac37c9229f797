//! Attention (opset 23-25), composed from the reference kernels op by op so that f16/bf16
//! inputs round after each step exactly like the ONNX function body and reference.

use super::binary::{arith, Arith};
use super::cast::cast;
use super::concat::concat;
use super::matmul::matmul;
use super::reshape::transpose;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[("", "Attention", build_attention)];

fn reshape(t: Tensor, shape: Vec<usize>) -> OpResult<Tensor> {
    t.reshaped(shape).map_err(|e| e.to_string())
}

/// [B, S, H*D] -> [B, H, S, D].
fn split_heads(t: &Tensor, heads: usize) -> OpResult<Tensor> {
    let (b, s, hd) = (t.shape()[0], t.shape()[1], t.shape()[2]);
    if heads == 0 || hd % heads != 0 {
        bail!("hidden size {hd} is not divisible by {heads} heads");
    }
    transpose(
        &reshape(t.clone(), vec![b, s, heads, hd / heads])?,
        &[0, 2, 1, 3],
    )
}

/// Repeats each head `r` times consecutively along axis 1.
fn repeat_heads(t: &Tensor, r: usize) -> OpResult<Tensor> {
    let s = t.shape().to_vec();
    let inner = numel(&s[2..]);
    let mut idx = Vec::with_capacity(t.len() * r);
    for b in 0..s[0] {
        for h in 0..s[1] {
            for _ in 0..r {
                let base = (b * s[1] + h) * inner;
                idx.extend(base..base + inner);
            }
        }
    }
    take(t, &idx, None, vec![s[0], s[1] * r, s[2], s[3]])
}

fn scalar_like(v: f64, dtype: DType) -> OpResult<Tensor> {
    cast(&Tensor::scalar(v), dtype)
}

pub fn build_attention(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let scale_attr = ctx.node.attr_float("scale");
    let causal = ctx.int("is_causal", 0) != 0;
    let qh_attr = ctx.node.attr_int("q_num_heads");
    let kvh_attr = ctx.node.attr_int("kv_num_heads");
    let softmax_precision = ctx
        .node
        .attr_int("softmax_precision")
        .and_then(|c| DType::from_onnx_code(c as i32));
    let softcap = ctx.node.attr_float("softcap");
    let mode = ctx.int("qk_matmul_output_mode", 0);
    let left = ctx.int("left_window_size", -1);
    let right = ctx.int("right_window_size", -1);
    kernel(move |ins| {
        let (q0, k0, v0) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        let dt = q0.dtype();
        require_float(q0)?;
        let rank3 = q0.rank() == 3;
        if q0.rank() != k0.rank() || q0.rank() != v0.rank() || !(rank3 || q0.rank() == 4) {
            bail!("Q, K, V must all be 3-D or 4-D");
        }
        let (q, k, v) = if rank3 {
            let (qh, kvh) = match (qh_attr, kvh_attr) {
                (Some(a), Some(b)) if a > 0 && b > 0 => (a as usize, b as usize),
                _ => bail!("3-D inputs need q_num_heads and kv_num_heads"),
            };
            (
                split_heads(q0, qh)?,
                split_heads(k0, kvh)?,
                split_heads(v0, kvh)?,
            )
        } else {
            (q0.clone(), k0.clone(), v0.clone())
        };
        let (qheads, sq, dq) = (q.shape()[1], q.shape()[2], q.shape()[3]);
        let scale = match scale_attr {
            Some(s) => s as f64,
            None => 1.0 / (dq as f64).sqrt(),
        };
        let s = scalar_like(scale.sqrt(), dt)?;
        let (past_k, past_v) = (opt(ins, 4), opt(ins, 5));
        if past_k.is_some() != past_v.is_some() {
            bail!("past_key and past_value must be given together");
        }
        let nonpad = match opt(ins, 6) {
            Some(t) => Some(ints(t)?),
            None => None,
        };
        let k = match past_k {
            Some(p) => concat(&[p, &k], 2)?,
            None => k,
        };
        let v = match past_v {
            Some(p) => concat(&[p, &v], 2)?,
            None => v,
        };
        let skv = k.shape()[2];
        let past_len = past_k.map_or(0, |p| p.shape()[2]) as i64;

        // Additive bias in f64, broadcastable to [B, H, Sq, Skv].
        let ninf = f64::NEG_INFINITY;
        let mut bias_shape = vec![sq, skv];
        let mut bias = vec![0f64; sq * skv];
        let add_into = |bias: &mut Vec<f64>,
                        bshape: &mut Vec<usize>,
                        other: &[f64],
                        oshape: &[usize]|
         -> OpResult<()> {
            let (ns, nv) =
                crate::broadcast::binary(bias, bshape, other, oshape, |a: f64, b: f64| a + b)?;
            *bias = nv;
            *bshape = ns;
            Ok(())
        };
        if let Some(m) = opt(ins, 3) {
            let mv: Vec<f64> = match m.data() {
                TensorData::Bool(b) => b.iter().map(|&x| if x { 0.0 } else { ninf }).collect(),
                _ => m.to_f64_vec().ok_or("bad attn_mask")?,
            };
            let ms = m.shape().to_vec();
            let last = *ms.last().ok_or("attn_mask must have rank >= 1")?;
            // Pad the key axis with masked positions up to Skv.
            let (mv, ms) = if last < skv {
                let rows = mv.len() / last.max(1);
                let mut p = Vec::with_capacity(rows * skv);
                for r in 0..rows {
                    p.extend_from_slice(&mv[r * last..(r + 1) * last]);
                    p.extend(std::iter::repeat_n(ninf, skv - last));
                }
                let mut s2 = ms.clone();
                if let Some(l) = s2.last_mut() {
                    *l = skv;
                }
                (p, s2)
            } else {
                (mv, ms)
            };
            add_into(&mut bias, &mut bias_shape, &mv, &ms)?;
        }
        let offsets: Vec<i64> = match (&nonpad, past_k) {
            (Some(np), None) => np.iter().map(|&n| n - sq as i64).collect(),
            _ => vec![past_len],
        };
        let per_batch = offsets.len() > 1 || (nonpad.is_some() && past_k.is_none());
        let frontier = |allowed: &dyn Fn(i64, i64, i64) -> bool| -> (Vec<f64>, Vec<usize>) {
            let nb = if per_batch { offsets.len() } else { 1 };
            let mut v = Vec::with_capacity(nb * sq * skv);
            for &off in offsets.iter().take(nb) {
                for i in 0..sq {
                    for j in 0..skv {
                        v.push(if allowed(i as i64, j as i64, off) {
                            0.0
                        } else {
                            ninf
                        });
                    }
                }
            }
            let shape = if per_batch {
                vec![nb, 1, sq, skv]
            } else {
                vec![sq, skv]
            };
            (v, shape)
        };
        if causal {
            let (cv, cs) = frontier(&|i, j, off| j <= i + off);
            add_into(&mut bias, &mut bias_shape, &cv, &cs)?;
        }
        if left >= 0 || right >= 0 {
            let (wv, ws) = frontier(&|i, j, off| {
                let diff = i + off - j;
                (left < 0 || diff <= left) && (right < 0 || -diff <= right)
            });
            add_into(&mut bias, &mut bias_shape, &wv, &ws)?;
        }
        if let Some(np) = &nonpad {
            let pv: Vec<f64> = np
                .iter()
                .flat_map(|&n| (0..skv).map(move |j| if (j as i64) < n { 0.0 } else { ninf }))
                .collect();
            add_into(&mut bias, &mut bias_shape, &pv, &[np.len(), 1, 1, skv])?;
        }
        let bias_t = cast(
            &tensor(bias_shape.clone(), TensorData::F64(bias.clone()))?,
            dt,
        )?;

        // Grouped-query attention: repeat KV heads.
        let kvh = k.shape()[1];
        let (k, v) = if qheads != kvh && kvh > 0 && qheads % kvh == 0 {
            (
                repeat_heads(&k, qheads / kvh)?,
                repeat_heads(&v, qheads / kvh)?,
            )
        } else {
            (k, v)
        };
        let qs = arith(Arith::Mul, &q, &s)?;
        let ks = arith(Arith::Mul, &transpose(&k, &[0, 1, 3, 2])?, &s)?;
        let mut qk = matmul(&qs, &ks)?;
        if let Some(c) = softcap.filter(|&c| c > 0.0) {
            let c = scalar_like(c as f64, dt)?;
            let y = arith(Arith::Div, &qk, &c)?;
            let y = via_f32(&y, |t| {
                let v = f32s(t)?;
                from_f32(
                    t.dtype(),
                    t.shape().to_vec(),
                    v.iter().map(|a| a.tanh()).collect(),
                )
            })?;
            qk = arith(Arith::Mul, &y, &c)?;
        }
        let with_bias = arith(Arith::Add, &qk, &bias_t)?;
        let mut qk_out = if mode == 2 {
            with_bias.clone()
        } else {
            qk.clone()
        };
        let sm_in = match softmax_precision {
            Some(p) => cast(&with_bias, p)?,
            None => with_bias,
        };
        // Softmax over the last axis, fully masked rows (bias all -inf) -> 0.
        let sdt = sm_in.dtype();
        let rnd: fn(f32) -> f32 = match sdt {
            DType::F16 => |a| half::f16::from_f32(a).to_f32(),
            DType::BF16 => |a| half::bf16::from_f32(a).to_f32(),
            _ => |a| a,
        };
        let xs = f32s(&sm_in)?;
        let full = sm_in.shape().to_vec();
        let masked_row = {
            // Max of the bias over the key axis, broadcast to the rows of `full`.
            let rows_b: Vec<f64> = bias
                .chunks(skv.max(1))
                .map(|r| r.iter().copied().fold(ninf, f64::max))
                .collect();
            let mut rshape = bias_shape.clone();
            if let Some(l) = rshape.last_mut() {
                *l = 1;
            }
            let mut target = full.clone();
            if let Some(l) = target.last_mut() {
                *l = 1;
            }
            let idx = crate::broadcast::index_map(&rshape, &target);
            idx.iter()
                .map(|&i| rows_b[i] == ninf)
                .collect::<Vec<bool>>()
        };
        let mut out = vec![0f32; xs.len()];
        for (r, row) in xs.chunks(skv.max(1)).enumerate() {
            if masked_row.get(r).copied().unwrap_or(false) {
                continue;
            }
            let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let safe = if mx == f32::NEG_INFINITY { 0.0 } else { mx };
            let e: Vec<f32> = row.iter().map(|&a| rnd(rnd(a - safe).exp())).collect();
            let mut sum = rnd(e.iter().sum::<f32>());
            if sum == 0.0 {
                sum = 1.0;
            }
            for (j, &ev) in e.iter().enumerate() {
                out[r * skv + j] = ev / sum;
            }
        }
        let probs = from_f32(sdt, full, out)?;
        if mode == 3 {
            qk_out = probs.clone();
        }
        let qk_out = cast(&qk_out, dt)?;
        let probs = cast(&probs, dt)?;
        let mut y = matmul(&probs, &v)?;
        if rank3 {
            let (b, h, s2, d) = (y.shape()[0], y.shape()[1], y.shape()[2], y.shape()[3]);
            y = reshape(transpose(&y, &[0, 2, 1, 3])?, vec![b, s2, h * d])?;
        }
        Ok(vec![
            y,
            present(k0, past_k, rank3, kvh_attr)?,
            present(v0, past_v, rank3, kvh_attr)?,
            qk_out,
        ])
    })
}

/// present_key / present_value: the past concatenated with the new keys (or values), before
/// any head repeat.
fn present(x0: &Tensor, past: Option<&Tensor>, rank3: bool, kvh: Option<i64>) -> OpResult<Tensor> {
    let x = if rank3 {
        split_heads(x0, kvh.unwrap_or(1).max(1) as usize)?
    } else {
        x0.clone()
    };
    match past {
        Some(p) => concat(&[p, &x], 2),
        None => Ok(x),
    }
}
