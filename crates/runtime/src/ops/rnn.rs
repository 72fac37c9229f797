//! RNN, GRU and LSTM (forward / reverse / bidirectional, layout 0/1, sequence_lens, initial
//! states, peepholes, clip, linear_before_reset). Reference loops in f64.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::Tensor;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "RNN", build_rnn),
    ("", "GRU", build_rnn),
    ("", "LSTM", build_rnn),
];

#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Rnn,
    Gru,
    Lstm,
}

type Act = Box<dyn Fn(f64) -> f64 + Send + Sync>;

fn activation(name: &str, alpha: Option<f32>, beta: Option<f32>) -> OpResult<Act> {
    let (a, b) = (alpha.map(f64::from), beta.map(f64::from));
    Ok(match name {
        "Sigmoid" => Box::new(|x: f64| 1.0 / (1.0 + (-x).exp())),
        "Tanh" => Box::new(f64::tanh),
        "Relu" => Box::new(|x: f64| x.max(0.0)),
        "LeakyRelu" => {
            let a = a.unwrap_or(0.01);
            Box::new(move |x: f64| if x < 0.0 { a * x } else { x })
        }
        "HardSigmoid" => {
            let (a, b) = (a.unwrap_or(0.2), b.unwrap_or(0.5));
            Box::new(move |x: f64| (a * x + b).clamp(0.0, 1.0))
        }
        "Elu" => {
            let a = a.unwrap_or(1.0);
            Box::new(move |x: f64| if x < 0.0 { a * (x.exp() - 1.0) } else { x })
        }
        "Softsign" => Box::new(|x: f64| x / (1.0 + x.abs())),
        "Softplus" => Box::new(|x: f64| x.exp().ln_1p()),
        "Affine" => {
            let (a, b) = (a.unwrap_or(1.0), b.unwrap_or(0.0));
            Box::new(move |x: f64| a * x + b)
        }
        "ScaledTanh" => {
            let (a, b) = (a.unwrap_or(1.0), b.unwrap_or(1.0));
            Box::new(move |x: f64| a * (b * x).tanh())
        }
        other => bail!("activation {other} is not supported"),
    })
}

pub fn build_rnn(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let cell = match ctx.node.op_type.as_str() {
        "RNN" => Cell::Rnn,
        "GRU" => Cell::Gru,
        _ => Cell::Lstm,
    };
    let gates = match cell {
        Cell::Rnn => 1,
        Cell::Gru => 3,
        Cell::Lstm => 4,
    };
    let hidden = ctx.int("hidden_size", 0).max(0) as usize;
    let direction = ctx.string("direction", "forward");
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let layout = ctx.int("layout", 0);
    let clip = ctx.node.attr_float("clip").map(f64::from);
    let lbr = ctx.int("linear_before_reset", 0) != 0;
    let input_forget = ctx.int("input_forget", 0) != 0;
    let defaults: &[&str] = match cell {
        Cell::Rnn => &["Tanh"],
        Cell::Gru => &["Sigmoid", "Tanh"],
        Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
    };
    let names: Vec<String> = match ctx.node.attr("activations") {
        Some(onnxide_ir::AttrValue::Strings(v)) => v
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        _ => (0..dirs)
            .flat_map(|_| defaults.iter().map(|s| s.to_string()))
            .collect(),
    };
    let alphas = ctx.floats("activation_alpha").unwrap_or_default();
    let betas = ctx.floats("activation_beta").unwrap_or_default();
    let per = defaults.len();
    if names.len() != per * dirs {
        bail!("expected {} activations, got {}", per * dirs, names.len());
    }
    let acts: Vec<Act> = names
        .iter()
        .enumerate()
        .map(|(i, n)| activation(n, alphas.get(i).copied(), betas.get(i).copied()))
        .collect::<OpResult<_>>()?;
    if hidden == 0 {
        bail!("hidden_size must be positive");
    }
    kernel(move |ins| {
        let (x, w, r) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
        require_float(x)?;
        if x.rank() != 3 {
            bail!("X must be 3-D, got {:?}", x.shape());
        }
        let (seq, batch, isz) = if layout == 0 {
            (x.shape()[0], x.shape()[1], x.shape()[2])
        } else {
            (x.shape()[1], x.shape()[0], x.shape()[2])
        };
        let h = hidden;
        let g = gates;
        if w.shape() != [dirs, g * h, isz] || r.shape() != [dirs, g * h, h] {
            bail!(
                "W {:?} / R {:?} do not fit {dirs} directions, {g}x{h} gates, input {isz}",
                w.shape(),
                r.shape()
            );
        }
        let xv = x.to_f64_vec().ok_or("bad X")?;
        let xat = |t: usize, b: usize, i: usize| {
            if layout == 0 {
                xv[(t * batch + b) * isz + i]
            } else {
                xv[(b * seq + t) * isz + i]
            }
        };
        let wv = w.to_f64_vec().ok_or("bad W")?;
        let rv = r.to_f64_vec().ok_or("bad R")?;
        let opt_vec = |i: usize, len: usize, what: &str| -> OpResult<Option<Vec<f64>>> {
            match opt(ins, i) {
                Some(t) => {
                    let v = t.to_f64_vec().ok_or(format!("bad {what}"))?;
                    if v.len() != len {
                        bail!("{what} has {} values, expected {len}", v.len());
                    }
                    Ok(Some(v))
                }
                None => Ok(None),
            }
        };
        let bias = opt_vec(3, dirs * 2 * g * h, "B")?.unwrap_or(vec![0.0; dirs * 2 * g * h]);
        let lens: Vec<usize> = match opt(ins, 4) {
            Some(t) => ints(t)?
                .iter()
                .map(|&v| (v.max(0) as usize).min(seq))
                .collect(),
            None => vec![seq; batch],
        };
        if lens.len() != batch {
            bail!("sequence_lens has {} values for batch {batch}", lens.len());
        }
        // Initial states are [dirs, batch, h] (layout 0) or [batch, dirs, h] (layout 1).
        let state = |i: usize, what: &str| -> OpResult<Vec<f64>> {
            let v = opt_vec(i, dirs * batch * h, what)?.unwrap_or(vec![0.0; dirs * batch * h]);
            if layout == 0 {
                return Ok(v);
            }
            let mut o = vec![0.0; v.len()];
            for b in 0..batch {
                for d in 0..dirs {
                    for k in 0..h {
                        o[(d * batch + b) * h + k] = v[(b * dirs + d) * h + k];
                    }
                }
            }
            Ok(o)
        };
        let mut hs = state(5, "initial_h")?;
        let mut cs = if cell == Cell::Lstm {
            state(6, "initial_c")?
        } else {
            vec![]
        };
        let peep = if cell == Cell::Lstm {
            opt_vec(7, dirs * 3 * h, "P")?.unwrap_or(vec![0.0; dirs * 3 * h])
        } else {
            vec![]
        };
        let mut y = vec![0f64; seq * dirs * batch * h];
        let cl = |v: f64| clip.map_or(v, |c| v.clamp(-c, c));
        for d in 0..dirs {
            let reverse = direction == "reverse" || d == 1;
            let wd = &wv[d * g * h * isz..(d + 1) * g * h * isz];
            let rd = &rv[d * g * h * h..(d + 1) * g * h * h];
            let (wb, rb) = (
                &bias[d * 2 * g * h..d * 2 * g * h + g * h],
                &bias[d * 2 * g * h + g * h..(d + 1) * 2 * g * h],
            );
            let act = &acts[d * per..(d + 1) * per];
            for b in 0..batch {
                let len = lens[b];
                let mut hp: Vec<f64> = hs[(d * batch + b) * h..(d * batch + b + 1) * h].to_vec();
                let mut cp: Vec<f64> = if cell == Cell::Lstm {
                    cs[(d * batch + b) * h..(d * batch + b + 1) * h].to_vec()
                } else {
                    vec![]
                };
                for step in 0..len {
                    let t = if reverse { len - 1 - step } else { step };
                    // xw[gate*h + k] = X_t · W^T + Wb ; hr = H_{t-1} · R^T + Rb
                    let xw: Vec<f64> = (0..g * h)
                        .map(|j| {
                            (0..isz)
                                .map(|i| xat(t, b, i) * wd[j * isz + i])
                                .sum::<f64>()
                                + wb[j]
                        })
                        .collect();
                    let hr: Vec<f64> = (0..g * h)
                        .map(|j| (0..h).map(|i| hp[i] * rd[j * h + i]).sum::<f64>() + rb[j])
                        .collect();
                    let mut hn = vec![0f64; h];
                    match cell {
                        Cell::Rnn => {
                            for k in 0..h {
                                hn[k] = act[0](cl(xw[k] + hr[k]));
                            }
                        }
                        Cell::Gru => {
                            for k in 0..h {
                                let z = act[0](cl(xw[k] + hr[k]));
                                let rg = act[0](cl(xw[h + k] + hr[h + k]));
                                let hh = if lbr {
                                    act[1](cl(xw[2 * h + k] + rg * hr[2 * h + k]))
                                } else {
                                    let rh: f64 = (0..h)
                                        .map(|i| {
                                            rg_i(&xw, &hr, &act[0], &cl, h, i)
                                                * hp[i]
                                                * rd[(2 * h + k) * h + i]
                                        })
                                        .sum::<f64>()
                                        + rb[2 * h + k];
                                    act[1](cl(xw[2 * h + k] + rh))
                                };
                                hn[k] = (1.0 - z) * hh + z * hp[k];
                            }
                        }
                        Cell::Lstm => {
                            let p = &peep[d * 3 * h..(d + 1) * 3 * h];
                            let mut cn = vec![0f64; h];
                            for k in 0..h {
                                let i_g = act[0](cl(xw[k] + hr[k] + p[k] * cp[k]));
                                let mut f_g = act[0](cl(xw[2 * h + k]
                                    + hr[2 * h + k]
                                    + p[2 * h + k] * cp[k]));
                                if input_forget {
                                    f_g = 1.0 - i_g;
                                }
                                let c_g = act[1](cl(xw[3 * h + k] + hr[3 * h + k]));
                                cn[k] = f_g * cp[k] + i_g * c_g;
                                let o_g = act[0](cl(xw[h + k] + hr[h + k] + p[h + k] * cn[k]));
                                hn[k] = o_g * act[2](cn[k]);
                            }
                            cp = cn;
                        }
                    }
                    hp = hn;
                    y[((t * dirs + d) * batch + b) * h..((t * dirs + d) * batch + b + 1) * h]
                        .copy_from_slice(&hp);
                }
                hs[(d * batch + b) * h..(d * batch + b + 1) * h].copy_from_slice(&hp);
                if cell == Cell::Lstm {
                    cs[(d * batch + b) * h..(d * batch + b + 1) * h].copy_from_slice(&cp);
                }
            }
        }
        let dt = x.dtype();
        let mk_out = |v: Vec<f64>, shape: Vec<usize>| -> OpResult<Tensor> {
            super::cast::cast(&tensor(shape, onnxide_ir::TensorData::F64(v))?, dt)
        };
        let (y_t, h_t, c_t) = if layout == 0 {
            (
                mk_out(y, vec![seq, dirs, batch, h])?,
                mk_out(hs, vec![dirs, batch, h])?,
                mk_out(cs, vec![dirs, batch, h]),
            )
        } else {
            let yt =
                super::reshape::transpose(&mk_out(y, vec![seq, dirs, batch, h])?, &[2, 0, 1, 3])?;
            let ht = super::reshape::transpose(&mk_out(hs, vec![dirs, batch, h])?, &[1, 0, 2])?;
            let ct = mk_out(cs, vec![dirs, batch, h])
                .and_then(|c| super::reshape::transpose(&c, &[1, 0, 2]));
            (yt, ht, ct)
        };
        let mut out = vec![y_t, h_t];
        if cell == Cell::Lstm {
            out.push(c_t?);
        }
        Ok(out)
    })
}

/// GRU reset gate value for hidden unit `i` (recomputed where `r ⊙ H` needs it per element).
fn rg_i(xw: &[f64], hr: &[f64], f: &Act, cl: &dyn Fn(f64) -> f64, h: usize, i: usize) -> f64 {
    f(cl(xw[h + i] + hr[h + i]))
}
