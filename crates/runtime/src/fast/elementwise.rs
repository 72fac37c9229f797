//! Sigmoid, Softmax, MaxPool, nearest Resize and Transpose on f32 tensors through
//! onnxide-linalg (or a strided copy for Transpose); any other input goes to the reference.

use crate::kernel::{BuildCtx, Builder, Kernel, RunContext};
use crate::value::*;
use onnxide_ir::{DType, Tensor, TensorData};
use onnxide_linalg::pool::PoolGeometry;
use onnxide_linalg::Activation;
use rayon::prelude::*;

/// A fast f32 path plus the reference kernel for everything else.
struct WithFallback<F> {
    fast: F,
    reference: Box<dyn Kernel>,
}

impl<F> Kernel for WithFallback<F>
where
    F: Fn(&RunContext, &[Option<&Tensor>]) -> OpResult<Option<Tensor>> + Send + Sync,
{
    fn run(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        match (self.fast)(run, inputs)? {
            Some(t) => Ok(vec![t]),
            None => self.reference.run(run, inputs),
        }
    }
}

pub(super) fn wrap<F>(
    ctx: &BuildCtx,
    reference: Builder,
    fast: F,
) -> OpResult<Option<Box<dyn Kernel>>>
where
    F: Fn(&RunContext, &[Option<&Tensor>]) -> OpResult<Option<Tensor>> + Send + Sync + 'static,
{
    Ok(Some(Box::new(WithFallback {
        fast,
        reference: reference(ctx)?,
    })))
}

/// The f32 values of input `i`, if it is an f32 tensor.
pub(super) fn f32_input<'a>(
    inputs: &[Option<&'a Tensor>],
    i: usize,
) -> Option<(&'a Tensor, &'a [f32])> {
    let t = opt(inputs, i)?;
    match t.data() {
        TensorData::F32(v) => Some((t, v.as_slice())),
        _ => None,
    }
}

/// Values per task of the element-wise kernels.
const CHUNK: usize = 1 << 15;

pub(crate) fn build_sigmoid(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let isa = ctx.isa;
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let mut y = run.take_f32(x.len());
        let act = Activation::Sigmoid;
        if x.len() > CHUNK && rayon::current_num_threads() > 1 {
            y.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(d, s)| onnxide_linalg::activation::activation(isa, act, s, d));
        } else {
            onnxide_linalg::activation::activation(isa, act, x, &mut y);
        }
        Ok(Some(mk(t.shape().to_vec(), TensorData::F32(y))))
    })
}

pub(crate) fn build_exp(ctx: &BuildCtx, reference: Builder) -> OpResult<Option<Box<dyn Kernel>>> {
    let isa = ctx.isa;
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let mut y = run.take_f32(x.len());
        onnxide_linalg::activation::exp(isa, x, &mut y);
        Ok(Some(mk(t.shape().to_vec(), TensorData::F32(y))))
    })
}

pub(crate) fn build_softmax(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let legacy = ctx.opset < 13;
    let ax = ctx.int("axis", if legacy { 1 } else { -1 });
    let isa = ctx.isa;
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let shape = t.shape();
        if shape.is_empty() {
            return Ok(None);
        }
        let a = axis(ax, shape.len())?;
        let outer: usize = shape[..a].iter().product();
        let (mid, inner) = if legacy {
            (shape[a..].iter().product(), 1)
        } else {
            (shape[a], shape[a + 1..].iter().product())
        };
        let mut y = run.take_f32(x.len());
        onnxide_linalg::softmax::softmax(isa, x, &mut y, outer, mid, inner, None);
        Ok(Some(mk(shape.to_vec(), TensorData::F32(y))))
    })
}

pub(crate) fn build_maxpool(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let indices = ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty());
    let auto_pad = ctx.string("auto_pad", "NOTSET");
    let kernel = ctx.ints("kernel_shape").unwrap_or_default();
    let strides = ctx.ints("strides").unwrap_or(vec![1, 1]);
    let dilations = ctx.ints("dilations").unwrap_or(vec![1, 1]);
    let pads = ctx.ints("pads").unwrap_or(vec![0; 4]);
    let ok = !indices
        && ctx.int("ceil_mode", 0) == 0
        && (auto_pad == "NOTSET" || auto_pad == "VALID")
        && kernel.len() == 2
        && strides.len() == 2
        && pads.len() == 4
        && dilations.iter().all(|&d| d == 1)
        && kernel.iter().chain(&strides).all(|&v| v >= 1)
        && pads.iter().all(|&p| p >= 0)
        && (0..4).all(|i| pads[i] < kernel[i % 2]);
    if !ok {
        return Ok(None);
    }
    let pads = if auto_pad == "VALID" {
        [0; 4]
    } else {
        [
            pads[0] as usize,
            pads[1] as usize,
            pads[2] as usize,
            pads[3] as usize,
        ]
    };
    let (kh, kw, sh, sw) = (
        kernel[0] as usize,
        kernel[1] as usize,
        strides[0] as usize,
        strides[1] as usize,
    );
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let s = t.shape();
        if s.len() != 4 || x.is_empty() {
            return Ok(None);
        }
        let g = PoolGeometry {
            in_h: s[2],
            in_w: s[3],
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            pads,
        };
        if s[2] + pads[0] + pads[2] < kh || s[3] + pads[1] + pads[3] < kw {
            return Ok(None);
        }
        let out_shape = vec![s[0], s[1], g.out_h(), g.out_w()];
        crate::limits::alloc_elems(&out_shape, 4)?;
        let mut y = run.take_f32(numel(&out_shape));
        onnxide_linalg::pool::max_pool2d(&g, s[0] * s[1], x, &mut y, None);
        Ok(Some(mk(out_shape, TensorData::F32(y))))
    })
}

pub(crate) fn build_resize(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let mode = ctx.string("mode", "nearest");
    let ctm = ctx.string("coordinate_transformation_mode", "half_pixel");
    let nearest = ctx.string("nearest_mode", "round_prefer_floor");
    let ok = ctx.opset >= 11
        && mode == "nearest"
        && ctm == "asymmetric"
        && (nearest == "floor" || nearest == "round_prefer_floor")
        && ctx.int("antialias", 0) == 0
        && ctx.ints("axes").is_none();
    // Integer scales [1, 1, sh, sw] from the constant `scales` input.
    let scales = ctx
        .konst(2)
        .filter(|t| t.dtype() == DType::F32 && numel(t.shape()) == 4)
        .and_then(|t| f32s(t).ok().map(|v| v.into_owned()));
    let (Some(scales), true) = (scales, ok) else {
        return Ok(None);
    };
    let int = |v: f32| (v >= 1.0 && v.fract() == 0.0 && v <= 64.0).then_some(v as usize);
    let (Some(1), Some(1), Some(sh), Some(sw)) = (
        int(scales[0]),
        int(scales[1]),
        int(scales[2]),
        int(scales[3]),
    ) else {
        return Ok(None);
    };
    // round_prefer_floor equals floor only when no source coordinate has a fraction > 1/2.
    if nearest == "round_prefer_floor" && (sh > 2 || sw > 2) {
        return Ok(None);
    }
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let s = t.shape();
        if s.len() != 4 || opt(ins, 3).is_some() {
            return Ok(None);
        }
        let out_shape = vec![
            s[0],
            s[1],
            s[2].checked_mul(sh).ok_or("output too large")?,
            s[3].checked_mul(sw).ok_or("output too large")?,
        ];
        crate::limits::alloc_elems(&out_shape, 4)?;
        let mut y = run.take_f32(numel(&out_shape));
        onnxide_linalg::pool::upsample_nearest(s[0] * s[1], s[2], s[3], sh, sw, x, &mut y, None);
        Ok(Some(mk(out_shape, TensorData::F32(y))))
    })
}

pub(crate) fn build_transpose(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let perm = ctx.ints("perm");
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let shape = t.shape();
        let r = shape.len();
        let perm: Vec<usize> = match &perm {
            None => (0..r).rev().collect(),
            Some(p) => {
                let mut seen = vec![false; r];
                let mut v = Vec::with_capacity(r);
                for &a in p {
                    match usize::try_from(a).ok().filter(|&a| a < r && !seen[a]) {
                        Some(a) => {
                            seen[a] = true;
                            v.push(a);
                        }
                        None => return Ok(None),
                    }
                }
                if v.len() != r {
                    return Ok(None);
                }
                v
            }
        };
        if r == 0 || x.is_empty() {
            return Ok(None);
        }
        Ok(Some(transpose_f32(run, x, shape, &perm)))
    })
}

/// `y = transpose(x, perm)`: walks the output row-major; each innermost run is a strided
/// (or, when the last axis stays last, contiguous) read of the input.
pub(crate) fn transpose_f32(
    run: &RunContext,
    x: &[f32],
    shape: &[usize],
    perm: &[usize],
) -> Tensor {
    let r = shape.len();
    let in_strides = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let src_stride: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let inner = out_shape[r - 1];
    let inner_stride = src_stride[r - 1];
    let rows = numel(&out_shape) / inner;
    let mut y = run.take_f32(rows * inner);
    let mut idx = vec![0usize; r - 1];
    let mut base = 0usize;
    for row in y.chunks_exact_mut(inner) {
        if inner_stride == 1 {
            row.copy_from_slice(&x[base..base + inner]);
        } else {
            for (j, v) in row.iter_mut().enumerate() {
                *v = x[base + j * inner_stride];
            }
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            base += src_stride[d];
            if idx[d] < out_shape[d] {
                break;
            }
            base -= src_stride[d] * out_shape[d];
            idx[d] = 0;
        }
    }
    mk(out_shape, TensorData::F32(y))
}

/// Several outputs from a fast path, or `None` for the reference.
struct WithFallbackN<F> {
    fast: F,
    reference: Box<dyn Kernel>,
}

impl<F> Kernel for WithFallbackN<F>
where
    F: Fn(&RunContext, &[Option<&Tensor>]) -> OpResult<Option<Vec<Tensor>>> + Send + Sync,
{
    fn run(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        match (self.fast)(run, inputs)? {
            Some(t) => Ok(t),
            None => self.reference.run(run, inputs),
        }
    }
}

/// Concat of f32 tensors into a recycled buffer (block copies per outer index).
pub(crate) fn build_concat(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    let Some(ax) = ctx.node.attr_int("axis") else {
        return Ok(None);
    };
    Ok(Some(Box::new(FastConcat {
        axis: ax,
        reference: reference(ctx)?,
    })))
}

/// The fast Concat, and its in-place form when the planner hands it input 0 by value.
struct FastConcat {
    axis: i64,
    reference: Box<dyn Kernel>,
}

impl Kernel for FastConcat {
    fn run(&self, run: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        match concat_copy(run, ins, self.axis)? {
            Some(t) => Ok(vec![t]),
            None => self.reference.run(run, ins),
        }
    }

    fn run_consuming(
        &self,
        run: &RunContext,
        ins: &[Option<&Tensor>],
        index: usize,
        owned: Tensor,
    ) -> OpResult<Vec<Tensor>> {
        match crate::ops::concat::append_in_place(ins, index, owned, self.axis)? {
            Ok(t) => Ok(vec![t]),
            Err(owned) => {
                let mut all: Vec<Option<&Tensor>> = ins.to_vec();
                if let Some(slot) = all.get_mut(index) {
                    *slot = Some(&owned);
                }
                self.run(run, &all)
            }
        }
    }
}

/// Concat of f32 tensors into a recycled buffer; `None` when an input is not f32 or the
/// shapes do not fit (the reference reports it).
fn concat_copy(run: &RunContext, ins: &[Option<&Tensor>], ax: i64) -> OpResult<Option<Tensor>> {
    let mut parts: Vec<(&Tensor, &[f32])> = Vec::with_capacity(ins.len());
    for i in 0..ins.len() {
        match (opt(ins, i), f32_input(ins, i)) {
            (Some(_), Some(p)) => parts.push(p),
            (None, _) => {}
            (Some(_), None) => return Ok(None),
        }
    }
    let Some((first, _)) = parts.first() else {
        return Ok(None);
    };
    let r = first.rank();
    if r == 0 {
        return Ok(None);
    }
    let a = axis(ax, r)?;
    let mut shape = first.shape().to_vec();
    shape[a] = 0;
    for (p, _) in &parts {
        if p.rank() != r || (0..r).any(|d| d != a && p.shape()[d] != first.shape()[d]) {
            return Ok(None);
        }
        shape[a] += p.shape()[a];
    }
    let outer = numel(&shape[..a]);
    let row = numel(&shape[a..]);
    let mut y = run.take_f32(numel(&shape));
    let mut off = 0;
    for (p, v) in &parts {
        let c = numel(&p.shape()[a..]);
        if c > 0 {
            for o in 0..outer {
                y[o * row + off..o * row + off + c].copy_from_slice(&v[o * c..(o + 1) * c]);
            }
        }
        off += c;
    }
    Ok(Some(mk(shape, TensorData::F32(y))))
}

/// Split of an f32 tensor into recycled buffers; sizes from the `split` input (opset 13+),
/// the `split` attribute (older), or an even split (opset 18's `num_outputs` ceil rule).
pub(crate) fn build_split(ctx: &BuildCtx, reference: Builder) -> OpResult<Option<Box<dyn Kernel>>> {
    let ax = ctx.int("axis", 0);
    let n_out = ctx.node.outputs.len();
    // opset 18's `num_outputs`: chunks of ceil(dim / n), the last one smaller.
    let uneven_ok = ctx.opset >= 18 && ctx.node.attr_int("num_outputs").is_some();
    let opset = ctx.opset;
    let explicit: Option<Vec<i64>> = if opset < 13 {
        ctx.ints("split")
    } else if ctx.node.inputs.get(1).is_some_and(|s| !s.is_empty()) {
        match ctx.konst(1) {
            Some(t) => Some(ints(t)?),
            None => return Ok(None),
        }
    } else {
        None
    };
    let reference = reference(ctx)?;
    let fast = move |run: &RunContext, ins: &[Option<&Tensor>]| -> OpResult<Option<Vec<Tensor>>> {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let r = t.rank();
        if r == 0 || n_out == 0 {
            return Ok(None);
        }
        let a = axis(ax, r)?;
        let dim = t.shape()[a];
        let sizes: Vec<usize> = match &explicit {
            Some(v) => {
                if v.len() != n_out || v.iter().any(|&s| s < 0) {
                    return Ok(None);
                }
                v.iter().map(|&s| s as usize).collect()
            }
            None if dim % n_out == 0 => vec![dim / n_out; n_out],
            None if uneven_ok => {
                let c = dim.div_ceil(n_out);
                (0..n_out)
                    .map(|i| c.min(dim.saturating_sub(i * c)))
                    .collect()
            }
            None => return Ok(None),
        };
        if sizes.iter().sum::<usize>() != dim {
            return Ok(None);
        }
        let outer = numel(&t.shape()[..a]);
        let inner = numel(&t.shape()[a + 1..]);
        let mut outs = Vec::with_capacity(n_out);
        let mut start = 0;
        for &s in &sizes {
            let mut shape = t.shape().to_vec();
            shape[a] = s;
            let c = s * inner;
            let mut y = run.take_f32(outer * c);
            if c > 0 {
                for o in 0..outer {
                    let base = (o * dim + start) * inner;
                    y[o * c..(o + 1) * c].copy_from_slice(&x[base..base + c]);
                }
            }
            outs.push(mk(shape, TensorData::F32(y)));
            start += s;
        }
        Ok(Some(outs))
    };
    Ok(Some(Box::new(WithFallbackN { fast, reference })))
}

/// Reshape of an f32 tensor by a constant shape, copied into a recycled buffer.
pub(crate) fn build_reshape(
    ctx: &BuildCtx,
    reference: Builder,
) -> OpResult<Option<Box<dyn Kernel>>> {
    if ctx.opset < 5 {
        return Ok(None);
    }
    let Some(target) = ctx.konst(1).map(ints).transpose()? else {
        return Ok(None);
    };
    let allowzero = ctx.int("allowzero", 0) != 0;
    wrap(ctx, reference, move |run, ins| {
        let Some((t, x)) = f32_input(ins, 0) else {
            return Ok(None);
        };
        let mut shape = Vec::with_capacity(target.len());
        let mut infer = None;
        for (i, &d) in target.iter().enumerate() {
            match d {
                0 if !allowzero => match t.shape().get(i) {
                    Some(&s) => shape.push(s),
                    None => return Ok(None),
                },
                -1 if infer.is_none() => {
                    infer = Some(i);
                    shape.push(1);
                }
                d if d >= 0 => shape.push(d as usize),
                _ => return Ok(None),
            }
        }
        let known = numel(&shape);
        if let Some(i) = infer {
            if known == 0 || x.len() % known != 0 {
                return Ok(None);
            }
            shape[i] = x.len() / known;
        }
        if numel(&shape) != x.len() {
            return Ok(None);
        }
        let mut y = run.take_f32(x.len());
        y.copy_from_slice(x);
        Ok(Some(mk(shape, TensorData::F32(y))))
    })
}
