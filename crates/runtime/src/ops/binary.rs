//! Elementwise binary and variadic ops with broadcasting: arithmetic, comparisons, logic.

use crate::broadcast;
use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::{Element, Tensor, TensorData};

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "Add", build_arith),
    ("", "Sub", build_arith),
    ("", "Mul", build_arith),
    ("", "Div", build_arith),
    ("", "Mod", build_arith),
    ("", "Pow", build_pow),
    ("", "PRelu", build_prelu),
    ("", "Min", build_variadic),
    ("", "Max", build_variadic),
    ("", "Sum", build_variadic),
    ("", "Mean", build_variadic),
    ("", "Equal", build_compare),
    ("", "Less", build_compare),
    ("", "Greater", build_compare),
    ("", "LessOrEqual", build_compare),
    ("", "GreaterOrEqual", build_compare),
    ("", "And", build_logic),
    ("", "Or", build_logic),
    ("", "Xor", build_logic),
    ("", "BitShift", build_bitwise),
    ("", "BitwiseAnd", build_bitwise),
    ("", "BitwiseOr", build_bitwise),
    ("", "BitwiseXor", build_bitwise),
    ("", "BitwiseNot", build_bitwise),
];

/// Native arithmetic for every numeric element type (integers wrap; x/0 is 0 for integers).
pub trait Num: Copy + PartialOrd + Send + Sync + Element {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// C fmod: the sign of the dividend.
    fn fmod(self, o: Self) -> Self;
    /// Python mod: the sign of the divisor.
    fn pymod(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn zero() -> Self;
}

macro_rules! num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn div(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_div(o) } }
            fn fmod(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_rem(o) } }
            #[allow(unused_comparisons)]
            fn pymod(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let r = self.wrapping_rem(o);
                if r != 0 && ((r < 0) != (o < 0)) { r.wrapping_add(o) } else { r }
            }
            fn is_nan(self) -> bool { false }
            fn zero() -> Self { 0 }
        }
    )*};
}
num_int!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! num_float {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn add(self, o: Self) -> Self { self + o }
            fn sub(self, o: Self) -> Self { self - o }
            fn mul(self, o: Self) -> Self { self * o }
            fn div(self, o: Self) -> Self { self / o }
            fn fmod(self, o: Self) -> Self { self % o }
            fn pymod(self, o: Self) -> Self {
                let r = self % o;
                if r != 0.0 && ((r < 0.0) != (o < 0.0)) { r + o } else { r }
            }
            fn is_nan(self) -> bool { self != self }
            fn zero() -> Self { 0.0 }
        }
    )*};
}
num_float!(f32, f64);

/// Runs `$body` with `$x`, `$y` bound to same-typed numeric slices (after f16/bf16 widening).
macro_rules! same_num {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (TensorData::F32($x), TensorData::F32($y)) => $body,
            (TensorData::F64($x), TensorData::F64($y)) => $body,
            (TensorData::I8($x), TensorData::I8($y)) => $body,
            (TensorData::I16($x), TensorData::I16($y)) => $body,
            (TensorData::I32($x), TensorData::I32($y)) => $body,
            (TensorData::I64($x), TensorData::I64($y)) => $body,
            (TensorData::U8($x), TensorData::U8($y)) => $body,
            (TensorData::U16($x), TensorData::U16($y)) => $body,
            (TensorData::U32($x), TensorData::U32($y)) => $body,
            (TensorData::U64($x), TensorData::U64($y)) => $body,
            (x, y) => bail!("unsupported element types {} and {}", x.dtype(), y.dtype()),
        }
    };
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Fmod,
    PyMod,
    Min,
    Max,
}

fn apply<T: Num>(op: Arith, a: T, b: T) -> T {
    match op {
        Arith::Add => a.add(b),
        Arith::Sub => a.sub(b),
        Arith::Mul => a.mul(b),
        Arith::Div => a.div(b),
        Arith::Fmod => a.fmod(b),
        Arith::PyMod => a.pymod(b),
        Arith::Min => {
            if a.is_nan() || b.is_nan() {
                if a.is_nan() {
                    a
                } else {
                    b
                }
            } else if b < a {
                b
            } else {
                a
            }
        }
        Arith::Max => {
            if a.is_nan() || b.is_nan() {
                if a.is_nan() {
                    a
                } else {
                    b
                }
            } else if b > a {
                b
            } else {
                a
            }
        }
    }
}

fn arith_t<T: Num>(op: Arith, x: &[T], xs: &[usize], y: &[T], ys: &[usize]) -> OpResult<Tensor> {
    let (shape, v) = match op {
        // Monomorphised closures keep the hot loops branch-free.
        Arith::Add => broadcast::binary(x, xs, y, ys, |a: T, b: T| a.add(b))?,
        Arith::Sub => broadcast::binary(x, xs, y, ys, |a: T, b: T| a.sub(b))?,
        Arith::Mul => broadcast::binary(x, xs, y, ys, |a: T, b: T| a.mul(b))?,
        Arith::Div => broadcast::binary(x, xs, y, ys, |a: T, b: T| a.div(b))?,
        _ => broadcast::binary(x, xs, y, ys, |a, b| apply(op, a, b))?,
    };
    tensor(shape, T::wrap(v))
}

/// `a op b` with broadcasting; f16/bf16 compute in f32 and round back.
pub fn arith(op: Arith, a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    if a.dtype() != b.dtype() {
        bail!("element types differ: {} and {}", a.dtype(), b.dtype());
    }
    let dtype = a.dtype();
    let (wa, wb) = (widen(a), widen(b));
    let out = same_num!(wa.data(), wb.data(), |x, y| arith_t(
        op,
        x,
        wa.shape(),
        y,
        wb.shape()
    ))?;
    Ok(narrow(out, dtype))
}

pub fn build_arith(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = match ctx.node.op_type.as_str() {
        "Add" => Arith::Add,
        "Sub" => Arith::Sub,
        "Mul" => Arith::Mul,
        "Div" => Arith::Div,
        "Mod" => {
            if ctx.int("fmod", 0) != 0 {
                Arith::Fmod
            } else {
                Arith::PyMod
            }
        }
        o => bail!("{o} is not an arithmetic op"),
    };
    if ctx.opset < 7 && ctx.int("broadcast", 0) != 0 && ctx.node.attr_int("axis").is_some() {
        bail!("legacy broadcast with an axis (opset < 7) is not supported");
    }
    kernel(move |ins| Ok(vec![arith(op, req(ins, 0)?, req(ins, 1)?)?]))
}

/// Min, Max, Sum, Mean: variadic with broadcasting.
pub fn build_variadic(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let name = ctx.node.op_type.clone();
    kernel(move |ins| {
        let op = match name.as_str() {
            "Min" => Arith::Min,
            "Max" => Arith::Max,
            _ => Arith::Add,
        };
        let mut acc = req(ins, 0)?.clone();
        for t in ins.iter().skip(1).flatten() {
            acc = arith(op, &acc, t)?;
        }
        if name == "Mean" {
            let n = ins.iter().flatten().count() as f32;
            acc = via_f32(&acc, |t| {
                let v = f32s(t)?;
                from_f32(
                    t.dtype(),
                    t.shape().to_vec(),
                    v.iter().map(|x| x / n).collect(),
                )
            })?;
        }
        Ok(vec![acc])
    })
}

/// Pow: base and exponent may have different types; the result has the base's type.
pub fn build_pow(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (a, b) = (req(ins, 0)?, req(ins, 1)?);
        let e = b
            .to_f64_vec()
            .ok_or_else(|| format!("exponent type {} is not numeric", b.dtype()))?;
        let dtype = a.dtype();
        let wa = widen(a);
        let out = match wa.data() {
            TensorData::F32(x) => {
                // Exact f32 powf (numpy computes float32 ** float32 in float32).
                let (s, v) = broadcast::binary(x, wa.shape(), &e, b.shape(), |p: f32, q: f64| {
                    p.powf(q as f32)
                })?;
                tensor(s, TensorData::F32(v))?
            }
            d => {
                macro_rules! go {
                    ($x:expr, $t:ty, $variant:ident) => {{
                        let (s, v) =
                            broadcast::binary($x, wa.shape(), &e, b.shape(), |p: $t, q: f64| {
                                (p as f64).powf(q) as $t
                            })?;
                        tensor(s, TensorData::$variant(v))?
                    }};
                }
                match d {
                    TensorData::F64(x) => go!(x, f64, F64),
                    TensorData::I32(x) => go!(x, i32, I32),
                    TensorData::I64(x) => go!(x, i64, I64),
                    TensorData::I8(x) => go!(x, i8, I8),
                    TensorData::I16(x) => go!(x, i16, I16),
                    TensorData::U8(x) => go!(x, u8, U8),
                    TensorData::U16(x) => go!(x, u16, U16),
                    TensorData::U32(x) => go!(x, u32, U32),
                    TensorData::U64(x) => go!(x, u64, U64),
                    d => bail!("unsupported base type {}", d.dtype()),
                }
            }
        };
        Ok(vec![narrow(out, dtype)])
    })
}

/// PRelu: `x < 0 ? slope * x : x`, slope broadcast to x.
pub fn build_prelu(_: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    kernel(|ins| {
        let (x, s) = (req(ins, 0)?, req(ins, 1)?);
        if x.dtype() != s.dtype() {
            bail!("element types differ: {} and {}", x.dtype(), s.dtype());
        }
        let dtype = x.dtype();
        let (wx, ws) = (widen(x), widen(s));
        let out = same_num!(wx.data(), ws.data(), |a, b| {
            let (shape, v) = broadcast::binary(a, wx.shape(), b, ws.shape(), |p, q| {
                if p < Num::zero() {
                    p.mul(q)
                } else {
                    p
                }
            })?;
            tensor(shape, Element::wrap(v))
        })?;
        Ok(vec![narrow(out, dtype)])
    })
}

#[derive(Clone, Copy)]
enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

fn cmp<T: PartialOrd>(c: Cmp, a: T, b: T) -> bool {
    match c {
        Cmp::Eq => a == b,
        Cmp::Lt => a < b,
        Cmp::Gt => a > b,
        Cmp::Le => a <= b,
        Cmp::Ge => a >= b,
    }
}

pub fn build_compare(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let c = match ctx.node.op_type.as_str() {
        "Equal" => Cmp::Eq,
        "Less" => Cmp::Lt,
        "Greater" => Cmp::Gt,
        "LessOrEqual" => Cmp::Le,
        _ => Cmp::Ge,
    };
    kernel(move |ins| {
        let (a, b) = (req(ins, 0)?, req(ins, 1)?);
        if a.dtype() != b.dtype() {
            bail!("element types differ: {} and {}", a.dtype(), b.dtype());
        }
        let (wa, wb) = (widen(a), widen(b));
        let (sa, sb) = (wa.shape(), wb.shape());
        let (shape, v) = match (wa.data(), wb.data()) {
            (TensorData::Bool(x), TensorData::Bool(y)) => {
                broadcast::binary(x, sa, y, sb, |p, q| cmp(c, p, q))?
            }
            (TensorData::String(x), TensorData::String(y)) => {
                let xi: Vec<usize> = (0..x.len()).collect();
                let yi: Vec<usize> = (0..y.len()).collect();
                broadcast::binary(&xi, sa, &yi, sb, |p, q| cmp(c, &x[p], &y[q]))?
            }
            (d1, d2) => same_num!(d1, d2, |x, y| broadcast::binary(x, sa, y, sb, |p, q| cmp(
                c, p, q
            ))?),
        };
        Ok(vec![tensor(shape, TensorData::Bool(v))?])
    })
}

pub fn build_logic(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    kernel(move |ins| {
        let (a, b) = (req(ins, 0)?, req(ins, 1)?);
        let (TensorData::Bool(x), TensorData::Bool(y)) = (a.data(), b.data()) else {
            bail!(
                "{op} needs bool inputs, got {} and {}",
                a.dtype(),
                b.dtype()
            );
        };
        let (shape, v) = broadcast::binary(x, a.shape(), y, b.shape(), |p, q| match op.as_str() {
            "And" => p && q,
            "Or" => p || q,
            _ => p ^ q,
        })?;
        Ok(vec![tensor(shape, TensorData::Bool(v))?])
    })
}

/// BitShift and the Bitwise ops on integers. Shifts outside [0, bits) give 0, or -1 when
/// shifting a negative value right (sign fill).
#[allow(unused_comparisons)]
pub fn build_bitwise(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let op = ctx.node.op_type.clone();
    let left = ctx.string("direction", "") == "LEFT";
    kernel(move |ins| {
        let x = req(ins, 0)?;
        if op == "BitwiseNot" {
            let data = match x.data() {
                TensorData::I8(v) => TensorData::I8(v.iter().map(|a| !a).collect()),
                TensorData::I16(v) => TensorData::I16(v.iter().map(|a| !a).collect()),
                TensorData::I32(v) => TensorData::I32(v.iter().map(|a| !a).collect()),
                TensorData::I64(v) => TensorData::I64(v.iter().map(|a| !a).collect()),
                TensorData::U8(v) => TensorData::U8(v.iter().map(|a| !a).collect()),
                TensorData::U16(v) => TensorData::U16(v.iter().map(|a| !a).collect()),
                TensorData::U32(v) => TensorData::U32(v.iter().map(|a| !a).collect()),
                TensorData::U64(v) => TensorData::U64(v.iter().map(|a| !a).collect()),
                d => bail!("unsupported element type {}", d.dtype()),
            };
            return Ok(vec![tensor(x.shape().to_vec(), data)?]);
        }
        let y = req(ins, 1)?;
        macro_rules! go {
            ($a:expr, $b:expr, $variant:ident, $t:ty) => {{
                let (s, v) =
                    broadcast::binary($a, x.shape(), $b, y.shape(), |p: $t, q: $t| {
                        match op.as_str() {
                            "BitwiseAnd" => p & q,
                            "BitwiseOr" => p | q,
                            "BitwiseXor" => p ^ q,
                            _ => {
                                let sh = q as i128;
                                let zero: $t = 0;
                                if sh < 0 || sh >= <$t>::BITS as i128 {
                                    if !left && p < zero {
                                        !zero
                                    } else {
                                        zero
                                    }
                                } else if left {
                                    p << sh as u32
                                } else {
                                    p >> sh as u32
                                }
                            }
                        }
                    })?;
                tensor(s, TensorData::$variant(v))?
            }};
        }
        let out = match (x.data(), y.data()) {
            (TensorData::I8(a), TensorData::I8(b)) => go!(a, b, I8, i8),
            (TensorData::I16(a), TensorData::I16(b)) => go!(a, b, I16, i16),
            (TensorData::I32(a), TensorData::I32(b)) => go!(a, b, I32, i32),
            (TensorData::I64(a), TensorData::I64(b)) => go!(a, b, I64, i64),
            (TensorData::U8(a), TensorData::U8(b)) => go!(a, b, U8, u8),
            (TensorData::U16(a), TensorData::U16(b)) => go!(a, b, U16, u16),
            (TensorData::U32(a), TensorData::U32(b)) => go!(a, b, U32, u32),
            (TensorData::U64(a), TensorData::U64(b)) => go!(a, b, U64, u64),
            (a, b) => bail!("unsupported element types {} and {}", a.dtype(), b.dtype()),
        };
        Ok(vec![out])
    })
}
