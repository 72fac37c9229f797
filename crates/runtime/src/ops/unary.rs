//! Elementwise unary ops (and Swish). Float ops compute in f32 (f16/bf16/f64 round-trip
//! through f32).

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::TensorData;
use rayon::prelude::*;
use std::sync::Arc;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Sigmoid", build_float),
    ("", "Exp", build_float),
    ("", "Log", build_float),
    ("", "Sqrt", build_float),
    ("", "Cos", build_float),
    ("", "Sin", build_float),
    ("", "Tan", build_float),
    ("", "Acos", build_float),
    ("", "Asin", build_float),
    ("", "Atan", build_float),
    ("", "Cosh", build_float),
    ("", "Sinh", build_float),
    ("", "Acosh", build_float),
    ("", "Asinh", build_float),
    ("", "Atanh", build_float),
    ("", "Tanh", build_float),
    ("", "Erf", build_float),
    ("", "Floor", build_float),
    ("", "Ceil", build_float),
    ("", "Round", build_float),
    ("", "Reciprocal", build_float),
    ("", "Softplus", build_float),
    ("", "Softsign", build_float),
    ("", "Mish", build_float),
    ("", "HardSwish", build_float),
    ("", "HardSigmoid", build_float),
    ("", "LeakyRelu", build_float),
    ("", "Elu", build_float),
    ("", "Celu", build_float),
    ("", "Selu", build_float),
    ("", "ThresholdedRelu", build_float),
    ("", "Gelu", build_float),
    ("", "Neg", build_signed),
    ("", "Abs", build_signed),
    ("", "Sign", build_signed),
    ("", "Relu", build_signed),
    ("", "IsNaN", build_isx),
    ("", "IsInf", build_isx),
    ("", "Not", build_not),
    ("", "Clip", build_clip),
    ("", "Shrink", build_shrink),
    ("", "Swish", build_swish),
];

type F = Arc<dyn Fn(f32) -> f32 + Send + Sync>;

/// Elements per rayon task for cheap elementwise loops.
const CHUNK: usize = 1 << 15;

/// `f` over `v`, split over the rayon pool for large inputs. Generic so that hot functions
/// (Sigmoid, ...) are inlined and vectorised; `&dyn Fn` callers still work.
pub fn map_f32<F: Fn(f32) -> f32 + Sync + ?Sized>(v: &[f32], f: &F) -> Vec<f32> {
    if v.len() >= 2 * CHUNK {
        let mut out = vec![0f32; v.len()];
        out.par_chunks_mut(CHUNK)
            .zip(v.par_chunks(CHUNK))
            .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &x)| *o = f(x)));
        out
    } else {
        v.iter().map(|&x| f(x)).collect()
    }
}

fn float_kernel(f: F) -> OpResult<Box<dyn Kernel>> {
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = f32s(x)?;
        Ok(vec![from_f32(
            x.dtype(),
            x.shape().to_vec(),
            map_f32(&v, &*f),
        )?])
    })
}

pub fn erf(x: f32) -> f32 {
    erf64(x as f64) as f32
}

/// erf in f64: Taylor series near 0, continued-fraction-free Chebyshev fit (Numerical Recipes
/// `erfc`, fractional error < 1.2e-7) elsewhere.
pub fn erf64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 0.5 {
        // 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for n in 1..20 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    let t = 1.0 / (1.0 + 0.5 * a);
    let y = t
        * (-a * a - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let e = 1.0 - y;
    if x < 0.0 {
        -e
    } else {
        e
    }
}

/// Logistic via the rational approximation onnxruntime's MLAS uses (|error| ~1 ulp), so the two
/// executors agree bit for bit on most inputs.
pub fn sigmoid(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-18.0, 18.0);
    let x2 = x * x;
    let mut p = x2 * 4.370_31e-11 + 1.156_273_2e-7;
    p = p * x2 + 6.085_748_6e-5;
    p = p * x2 + 8.513_771e-3;
    p = p * x2 + 2.482_879_5e-1;
    p *= x;
    let mut q = x2 * 6.102_474e-13 + 5.761_021_4e-9;
    q = q * x2 + 6.291_068e-6;
    q = q * x2 + 1.701_988_2e-3;
    q = q * x2 + 1.168_176_6e-1;
    q = q * x2 + 9.931_519e-1;
    p / q + 0.5
}

fn float_fn(op: &str, ctx: &BuildCtx) -> Option<F> {
    let alpha = |d| ctx.float("alpha", d);
    Some(match op {
        "Sigmoid" => Arc::new(sigmoid),
        "Exp" => Arc::new(f32::exp),
        "Log" => Arc::new(f32::ln),
        "Sqrt" => Arc::new(f32::sqrt),
        "Cos" => Arc::new(f32::cos),
        "Sin" => Arc::new(f32::sin),
        "Tan" => Arc::new(f32::tan),
        "Acos" => Arc::new(f32::acos),
        "Asin" => Arc::new(f32::asin),
        "Atan" => Arc::new(f32::atan),
        "Cosh" => Arc::new(f32::cosh),
        "Sinh" => Arc::new(f32::sinh),
        "Acosh" => Arc::new(f32::acosh),
        "Asinh" => Arc::new(f32::asinh),
        "Atanh" => Arc::new(f32::atanh),
        "Tanh" => Arc::new(f32::tanh),
        "Erf" => Arc::new(erf),
        "Floor" => Arc::new(f32::floor),
        "Ceil" => Arc::new(f32::ceil),
        "Round" => Arc::new(f32::round_ties_even),
        "Reciprocal" => Arc::new(|x: f32| 1.0 / x),
        "Softplus" => Arc::new(|x: f32| if x > 20.0 { x } else { x.exp().ln_1p() }),
        "Softsign" => Arc::new(|x: f32| x / (1.0 + x.abs())),
        "Mish" => Arc::new(|x: f32| {
            let sp = if x > 20.0 { x } else { x.exp().ln_1p() };
            x * sp.tanh()
        }),
        "HardSwish" => Arc::new(|x: f32| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
        "LeakyRelu" => {
            let a = alpha(0.01);
            Arc::new(move |x: f32| if x < 0.0 { a * x } else { x })
        }
        "Elu" => {
            let a = alpha(1.0);
            Arc::new(move |x: f32| if x < 0.0 { a * (x.exp() - 1.0) } else { x })
        }
        "Celu" => {
            let a = alpha(1.0);
            Arc::new(move |x: f32| x.max(0.0) + (a * ((x / a).exp() - 1.0)).min(0.0))
        }
        "Selu" => {
            let a = alpha(1.673_263_2);
            let g = ctx.float("gamma", 1.050_701);
            Arc::new(move |x: f32| {
                if x <= 0.0 {
                    g * (a * x.exp() - a)
                } else {
                    g * x
                }
            })
        }
        "ThresholdedRelu" => {
            let a = alpha(1.0);
            Arc::new(move |x: f32| if x > a { x } else { 0.0 })
        }
        "HardSigmoid" => {
            let a = alpha(0.2);
            let b = ctx.float("beta", 0.5);
            Arc::new(move |x: f32| (a * x + b).clamp(0.0, 1.0))
        }
        "Gelu" => {
            if ctx.string("approximate", "none") == "tanh" {
                Arc::new(|x: f32| {
                    let k = (2.0f32 / std::f32::consts::PI).sqrt();
                    0.5 * x * (1.0 + (k * (x + 0.044_715 * x * x * x)).tanh())
                })
            } else {
                Arc::new(|x: f32| {
                    (0.5 * x as f64 * (1.0 + erf64(x as f64 / std::f64::consts::SQRT_2))) as f32
                })
            }
        }
        _ => return None,
    })
}

pub fn build_float(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    if ctx.node.op_type == "Sigmoid" {
        // The hottest op of YOLO graphs: statically dispatched.
        return kernel(|ins| {
            let x = req(ins, 0)?;
            require_float(x)?;
            let v = f32s(x)?;
            Ok(vec![from_f32(
                x.dtype(),
                x.shape().to_vec(),
                map_f32(&v, &sigmoid),
            )?])
        });
    }
    match float_fn(&ctx.node.op_type, ctx) {
        Some(f) => float_kernel(f),
        None => bail!("not a float unary op"),
    }
}

/// Neg, Abs, Sign, Relu: numeric types, integers computed natively.
pub fn build_signed(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    kernel(move |ins| {
        let x = req(ins, 0)?;
        via_f32(x, |x| {
            macro_rules! go {
                ($v:expr, $zero:expr, $one:expr) => {{
                    let (z, o) = ($zero, $one);
                    $v.iter()
                        .map(|&a| match op.as_str() {
                            "Neg" => z - a,
                            "Abs" => {
                                if a < z {
                                    z - a
                                } else {
                                    a
                                }
                            }
                            "Relu" => {
                                if a > z {
                                    a
                                } else {
                                    z
                                }
                            }
                            _ => {
                                if a > z {
                                    z + o
                                } else if a < z {
                                    z - o
                                } else {
                                    a
                                }
                            }
                        })
                        .collect()
                }};
            }
            let data = match x.data() {
                TensorData::F32(v) => TensorData::F32(go!(v, 0.0f32, 1.0f32)),
                TensorData::F64(v) => TensorData::F64(go!(v, 0.0f64, 1.0f64)),
                TensorData::I8(v) => {
                    TensorData::I8(v.iter().map(|&a| int_op(&op, a as i64) as i8).collect())
                }
                TensorData::I16(v) => {
                    TensorData::I16(v.iter().map(|&a| int_op(&op, a as i64) as i16).collect())
                }
                TensorData::I32(v) => {
                    TensorData::I32(v.iter().map(|&a| int_op(&op, a as i64) as i32).collect())
                }
                TensorData::I64(v) => TensorData::I64(v.iter().map(|&a| int_op(&op, a)).collect()),
                TensorData::U8(v) => {
                    TensorData::U8(v.iter().map(|&a| uint_op(&op, a as u64) as u8).collect())
                }
                TensorData::U16(v) => {
                    TensorData::U16(v.iter().map(|&a| uint_op(&op, a as u64) as u16).collect())
                }
                TensorData::U32(v) => {
                    TensorData::U32(v.iter().map(|&a| uint_op(&op, a as u64) as u32).collect())
                }
                TensorData::U64(v) => TensorData::U64(v.iter().map(|&a| uint_op(&op, a)).collect()),
                d => bail!("element type {} is not supported", d.dtype()),
            };
            tensor(x.shape().to_vec(), data)
        })
        .map(|t| vec![t])
    })
}

fn int_op(op: &str, a: i64) -> i64 {
    match op {
        "Neg" => a.wrapping_neg(),
        "Abs" => a.wrapping_abs(),
        "Relu" => a.max(0),
        _ => a.signum(),
    }
}

fn uint_op(op: &str, a: u64) -> u64 {
    match op {
        "Neg" => a.wrapping_neg(),
        "Abs" | "Relu" => a,
        _ => (a > 0) as u64,
    }
}

/// IsNaN / IsInf -> bool.
pub fn build_isx(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let nan = ctx.node.op_type == "IsNaN";
    let (pos, neg) = (
        ctx.int("detect_positive", 1) != 0,
        ctx.int("detect_negative", 1) != 0,
    );
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = f32s(x)?;
        let out: Vec<bool> = v
            .iter()
            .map(|&a| {
                if nan {
                    a.is_nan()
                } else {
                    a.is_infinite() && ((a > 0.0 && pos) || (a < 0.0 && neg))
                }
            })
            .collect();
        Ok(vec![tensor(x.shape().to_vec(), TensorData::Bool(out))?])
    })
}

pub fn build_not(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let x = req(ins, 0)?;
        match x.data() {
            TensorData::Bool(v) => Ok(vec![tensor(
                x.shape().to_vec(),
                TensorData::Bool(v.iter().map(|b| !b).collect()),
            )?]),
            d => bail!("Not needs bool, got {}", d.dtype()),
        }
    })
}

#[allow(clippy::unnecessary_cast)]
/// Clip: min/max from attributes (opset < 11) or optional inputs.
pub fn build_clip(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let attr = if ctx.opset < 11 {
        Some((ctx.float("min", f32::MIN), ctx.float("max", f32::MAX)))
    } else {
        None
    };
    kernel(move |ins| {
        let x = req(ins, 0)?;
        let (lo, hi) = match attr {
            Some((lo, hi)) => (Some(lo as f64), Some(hi as f64)),
            None => {
                let scalar = |i| -> OpResult<Option<f64>> {
                    match opt(ins, i) {
                        None => Ok(None),
                        Some(t) => Ok(t.to_f64_vec().and_then(|v| v.first().copied()).or(None)),
                    }
                };
                (scalar(1)?, scalar(2)?)
            }
        };
        via_f32(x, |x| {
            let data = map_num!(x.data(), |v| v
                .iter()
                .map(|&a| {
                    let mut y = a;
                    if let Some(l) = lo {
                        if (y as f64) < l {
                            y = num_from_f64(l, y);
                        }
                    }
                    if let Some(h) = hi {
                        if (y as f64) > h {
                            y = num_from_f64(h, y);
                        }
                    }
                    y
                })
                .collect());
            tensor(x.shape().to_vec(), data)
        })
        .map(|t| vec![t])
    })
}

/// Converts an f64 bound into the element type of `_like`.
fn num_from_f64<T: FromF64>(v: f64, _like: T) -> T {
    T::from_f64(v)
}

pub trait FromF64 {
    fn from_f64(v: f64) -> Self;
}
macro_rules! from_f64 {
    ($($t:ty),*) => {$(impl FromF64 for $t { fn from_f64(v: f64) -> Self { v as $t } })*};
}
from_f64!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

#[allow(clippy::unnecessary_cast)]
/// Shrink.
pub fn build_shrink(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let bias = ctx.float("bias", 0.0) as f64;
    let lambd = ctx.float("lambd", 0.5) as f64;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        via_f32(x, |x| {
            let data = map_num!(x.data(), |v| v
                .iter()
                .map(|&a| {
                    let f = a as f64;
                    let r = if f < -lambd {
                        f + bias
                    } else if f > lambd {
                        f - bias
                    } else {
                        0.0
                    };
                    num_from_f64(r, a)
                })
                .collect());
            tensor(x.shape().to_vec(), data)
        })
        .map(|t| vec![t])
    })
}

pub fn build_swish(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let alpha = ctx.float("alpha", 1.0) as f64;
    kernel(move |ins| {
        let x = req(ins, 0)?;
        require_float(x)?;
        let v = f64s(x)?;
        let out: Vec<f32> = v
            .iter()
            .map(|&a| (a / (1.0 + (-alpha * a).exp())) as f32)
            .collect();
        Ok(vec![from_f32(x.dtype(), x.shape().to_vec(), out)?])
    })
}
