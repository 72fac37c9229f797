//! Conv on `onnxide_linalg::conv::Conv2dPlan` (weights packed once per input geometry,
//! bias and activation fused into the GEMM epilogue, residual added in the same pass), and
//! the internal `ai.onnxide::FusedConv` op: `Conv` attributes, inputs `X, W, B?, R?`, output
//! `SiLU(conv(X, W) + B) + R`.

use crate::kernel::{BuildCtx, Builder, Kernel, RunContext};
use crate::ops::conv::{geometry, WindowAttrs};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};
use onnxide_linalg::conv::{Conv2dPlan, ConvGeometry, ConvOptions};
use onnxide_linalg::{Activation, Epilogue};
use std::sync::{Arc, Mutex};

/// Plans per input `[C, H, W]` (one for a static model; a few for dynamic spatial sizes).
type PlanCache = Mutex<Vec<([usize; 3], Option<Arc<Conv2dPlan>>)>>;

/// Plans kept per conv node before new geometries stop being cached.
const MAX_CACHED_GEOMETRIES: usize = 8;

pub(crate) struct FastConv {
    attrs: WindowAttrs,
    group: usize,
    /// `[M, C/group, kh, kw]`, f32.
    weight: Arc<Tensor>,
    bias: Option<Vec<f32>>,
    activation: Activation,
    plans: PlanCache,
    /// The SIMD flavour the session chose.
    isa: onnxide_linalg::Isa,
    /// `SessionOptions::exact`: no Winograd, onnxruntime's summation order.
    exact: bool,
    /// The reference Conv (inputs X, W, B), for everything the fast plan does not cover.
    reference: Box<dyn Kernel>,
}

fn f32_konst(t: Option<&Tensor>) -> Option<&Tensor> {
    t.filter(|t| t.dtype() == DType::F32)
}

fn new_fast(
    ctx: &BuildCtx,
    reference: Builder,
    activation: Activation,
) -> OpResult<Option<FastConv>> {
    let Some(w) = f32_konst(ctx.konst(1)).filter(|w| w.rank() == 4) else {
        return Ok(None);
    };
    let has_bias = ctx.node.inputs.get(2).is_some_and(|b| !b.is_empty());
    let bias = if has_bias {
        match f32_konst(ctx.konst(2)) {
            Some(b) => Some(f32s(b)?.into_owned()),
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(FastConv {
        attrs: WindowAttrs::read(ctx),
        group: ctx.int("group", 1).max(0) as usize,
        weight: Arc::new(w.clone()),
        bias,
        activation,
        plans: Mutex::new(Vec::new()),
        isa: ctx.isa,
        exact: ctx.exact,
        reference: reference(ctx)?,
    }))
}

/// `Conv` with constant f32 weights: the fast plan, else `None` (the caller keeps the reference).
pub(crate) fn build_conv(ctx: &BuildCtx, reference: Builder) -> OpResult<Option<Box<dyn Kernel>>> {
    Ok(new_fast(ctx, reference, Activation::Identity)?.map(|k| Box::new(k) as Box<dyn Kernel>))
}

/// `ai.onnxide::FusedConv`: the fast plan with a SiLU epilogue when the weights allow it,
/// else the reference Conv followed by SiLU and the residual add.
pub(crate) fn build_fused(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let act = ctx.string("activation", "Silu");
    if act != "Silu" {
        bail!("FusedConv: unsupported activation {act}");
    }
    if let Some(k) = new_fast(ctx, crate::ops::conv::build_conv, Activation::Silu)? {
        return Ok(Box::new(k));
    }
    let reference = crate::ops::conv::build_conv(ctx)?;
    Ok(Box::new(FusedReference { reference }))
}

impl FastConv {
    fn plan_for(&self, x: &Tensor) -> Option<Arc<Conv2dPlan>> {
        let s = x.shape();
        let key = [s[1], s[2], s[3]];
        let mut cache = self.plans.lock().ok()?;
        if let Some((_, p)) = cache.iter().find(|(k, _)| *k == key) {
            return p.clone();
        }
        let plan = self.make_plan(key).map(Arc::new);
        if cache.len() < MAX_CACHED_GEOMETRIES {
            cache.push((key, plan.clone()));
        }
        plan
    }

    fn make_plan(&self, [c, h, w]: [usize; 3]) -> Option<Conv2dPlan> {
        let ws = self.weight.shape();
        let (m, kh, kw) = (ws[0], ws[2], ws[3]);
        if self.group == 0 || ws[1] * self.group != c {
            return None;
        }
        let geo = geometry(&[h, w], &[kh, kw], &self.attrs).ok()?;
        if geo.pb.iter().chain(&geo.pe).any(|&p| p < 0) {
            return None;
        }
        let g = ConvGeometry::new(c, m, h, w, kh, kw)
            .stride(geo.s[1], geo.s[2])
            .pads(
                geo.pb[1] as usize,
                geo.pb[2] as usize,
                geo.pe[1] as usize,
                geo.pe[2] as usize,
            )
            .dilation(geo.d[1], geo.d[2])
            .groups(self.group);
        if g.validate().is_err() || g.out_h() != geo.out[1] || g.out_w() != geo.out[2] {
            return None;
        }
        let weights = match self.weight.data() {
            TensorData::F32(v) => v.as_slice(),
            _ => return None,
        };
        let options = ConvOptions {
            exact: self.exact,
            force_winograd: None,
        };
        Conv2dPlan::try_new_with(
            self.isa,
            g,
            weights,
            self.bias.as_deref(),
            Epilogue::new(self.activation),
            options,
        )
        .ok()
    }

    fn run_reference(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let conv_in = &inputs[..inputs.len().min(3)];
        let out = self.reference.run(run, conv_in)?;
        if self.activation == Activation::Identity {
            return Ok(out);
        }
        epilogue_reference(out, opt(inputs, 3))
    }
}

impl Kernel for FastConv {
    fn run(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let x = req(inputs, 0)?;
        let residual = opt(inputs, 3);
        // The weight/bias inputs are the constants the plan was built from.
        let usable = x.dtype() == DType::F32
            && x.rank() == 4
            && x.shape()[0] > 0
            && residual.is_none_or(|r| r.dtype() == DType::F32);
        let plan = if usable { self.plan_for(x) } else { None };
        let Some(plan) = plan else {
            return self.run_reference(run, inputs);
        };
        let n = x.shape()[0];
        let g = plan.geometry();
        let out_shape = vec![n, g.out_channels, g.out_h(), g.out_w()];
        let xs = match x.data() {
            TensorData::F32(v) => v.as_slice(),
            _ => return self.run_reference(run, inputs),
        };
        // A residual of another shape (the fusion pass could not prove it equal) is
        // broadcast-added after the conv, as the unfused Add would.
        let (res, late) = match residual {
            Some(r) if r.shape() != out_shape.as_slice() => (None, Some(r)),
            Some(r) => match r.data() {
                TensorData::F32(v) => (Some(v.as_slice()), None),
                _ => return self.run_reference(run, inputs),
            },
            None => (None, None),
        };
        crate::limits::alloc_elems(&out_shape, 4)?;
        let mut out = run.take_f32(numel(&out_shape));
        plan.try_run(xs, res, &mut out, None)
            .map_err(|e| e.to_string())?;
        let out = mk(out_shape, TensorData::F32(out));
        match late {
            Some(r) => Ok(vec![add(out, r)?]),
            None => Ok(vec![out]),
        }
    }
}

/// FusedConv whose weights are not constant f32: reference Conv, then SiLU and residual.
struct FusedReference {
    reference: Box<dyn Kernel>,
}

impl Kernel for FusedReference {
    fn run(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let out = self.reference.run(run, &inputs[..inputs.len().min(3)])?;
        epilogue_reference(out, opt(inputs, 3))
    }
}

/// `y = SiLU(y) (+ residual)` on the reference Conv's output, in the output's float type.
fn epilogue_reference(mut out: Vec<Tensor>, residual: Option<&Tensor>) -> OpResult<Vec<Tensor>> {
    let Some(y) = out.first() else {
        bail!("FusedConv: the conv produced no output");
    };
    let dtype = y.dtype();
    let shape = y.shape().to_vec();
    let mut v = f32s(y)?.into_owned();
    for x in v.iter_mut() {
        *x /= 1.0 + (-*x).exp();
    }
    match residual {
        Some(r) if r.shape() == shape.as_slice() => {
            for (x, r) in v.iter_mut().zip(f32s(r)?.iter()) {
                *x += r;
            }
            out[0] = from_f32(dtype, shape, v)?;
        }
        Some(r) => out[0] = add(from_f32(dtype, shape, v)?, r)?,
        None => out[0] = from_f32(dtype, shape, v)?,
    }
    Ok(out)
}

/// `y + r` with ONNX broadcasting (the unfused `Add`).
fn add(y: Tensor, r: &Tensor) -> OpResult<Tensor> {
    crate::ops::binary::arith(crate::ops::binary::Arith::Add, &y, r)
}
