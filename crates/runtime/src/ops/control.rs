//! Control flow: If and Loop. Their subgraphs are planned once, at the parent's plan time;
//! outer-scope values they read arrive as extra kernel inputs after the node's own inputs.

use crate::kernel::{BuildCtx, Kernel, Registration, RunContext, Subgraph};
use crate::value::*;
use onnxide_ir::{AttrValue, DType, Graph, Tensor, TensorData};
use std::sync::Arc;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[
    ("", "If", build_if),
    ("", "Loop", build_loop),
    ("", "Scan", build_scan),
];

fn graph_attr<'a>(ctx: &'a BuildCtx, name: &str) -> OpResult<&'a Graph> {
    match ctx.node.attr(name) {
        Some(AttrValue::Graph(g)) => Ok(g),
        _ => Err(format!("graph attribute '{name}' is missing")),
    }
}

fn arcs(ts: &[Option<&Tensor>]) -> Vec<Option<Arc<Tensor>>> {
    ts.iter().map(|t| t.map(|t| Arc::new(t.clone()))).collect()
}

fn flag(t: &Tensor) -> OpResult<bool> {
    match t.data() {
        TensorData::Bool(v) if v.len() == 1 => Ok(v[0]),
        _ => Err(format!(
            "condition must be a single bool, got {} {:?}",
            t.dtype(),
            t.shape()
        )),
    }
}

struct If {
    then_plan: Arc<dyn Subgraph>,
    else_plan: Arc<dyn Subgraph>,
}

impl Kernel for If {
    fn run(&self, run: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let cond = flag(req(ins, 0)?)?;
        let plan = if cond {
            &self.then_plan
        } else {
            &self.else_plan
        };
        plan.run(run, arcs(&ins[1..])).map_err(|e| e.to_string())
    }
}

pub fn build_if(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let then_plan = (ctx.compile)(graph_attr(ctx, "then_branch")?, &ctx.captures)?;
    let else_plan = (ctx.compile)(graph_attr(ctx, "else_branch")?, &ctx.captures)?;
    Ok(Box::new(If {
        then_plan,
        else_plan,
    }))
}

struct Loop {
    body: Arc<dyn Subgraph>,
    n_carried: usize,
    /// Element types of the scan outputs (for zero-iteration loops).
    scan_types: Vec<DType>,
    n_inputs: usize,
}

impl Kernel for Loop {
    fn run(&self, run: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let max = match opt(ins, 0) {
            Some(t) => Some(ints(t)?.first().copied().ok_or("M is empty")?),
            None => None,
        };
        let mut cond = match opt(ins, 1) {
            Some(t) => Some(flag(t)?),
            None => None,
        };
        if max.is_none() && cond.is_none() {
            bail!("a Loop without trip count and condition never ends");
        }
        let mut carried: Vec<Option<Arc<Tensor>>> = arcs(&ins[2..self.n_inputs]);
        if carried.iter().any(Option::is_none) {
            bail!("loop-carried initial values must be given");
        }
        let captured = arcs(&ins[self.n_inputs..]);
        let mut scans: Vec<Vec<Tensor>> = vec![Vec::new(); self.scan_types.len()];
        let mut i = 0i64;
        // Bytes of the scan outputs gathered so far: they count against the memory budget.
        let mut scan_bytes = 0usize;
        while max.is_none_or(|m| i < m) && cond.unwrap_or(true) {
            crate::limits::check_iterations(i as u64 + 1)?;
            crate::limits::check_cancelled()?;
            let mut feeds = vec![
                Some(Arc::new(Tensor::scalar(i))),
                Some(Arc::new(Tensor::scalar(cond.unwrap_or(true)))),
            ];
            feeds.extend(carried.iter().cloned());
            feeds.extend(captured.iter().cloned());
            let outs = self.body.run(run, feeds).map_err(|e| e.to_string())?;
            if outs.len() != 1 + self.n_carried + self.scan_types.len() {
                bail!("the body returned {} values", outs.len());
            }
            let mut it = outs.into_iter();
            let c = it.next().ok_or("no condition output")?;
            cond = Some(flag(&c)?);
            carried = (0..self.n_carried)
                .map(|_| it.next().map(Arc::new))
                .collect();
            for (k, t) in it.enumerate() {
                scan_bytes = scan_bytes.saturating_add(t.byte_size());
                crate::limits::alloc_elems(&[scan_bytes], 2)?;
                scans[k].push(t);
            }
            i += 1;
        }
        let mut out: Vec<Tensor> = carried
            .into_iter()
            .map(|t| {
                t.map(Arc::unwrap_or_clone)
                    .ok_or_else(|| "missing loop-carried value".to_string())
            })
            .collect::<OpResult<_>>()?;
        for (k, parts) in scans.into_iter().enumerate() {
            if parts.is_empty() {
                out.push(Tensor::zeros(self.scan_types[k], vec![0]).map_err(|e| e.to_string())?);
                continue;
            }
            let mut shape = vec![1];
            shape.extend_from_slice(parts[0].shape());
            let views: Vec<Tensor> = parts
                .into_iter()
                .map(|p| {
                    let mut s = vec![1];
                    s.extend_from_slice(p.shape());
                    p.reshaped(s).map_err(|e| e.to_string())
                })
                .collect::<OpResult<_>>()?;
            let refs: Vec<&Tensor> = views.iter().collect();
            out.push(super::concat::concat(&refs, 0)?);
        }
        Ok(out)
    }
}

pub fn build_loop(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let g = graph_attr(ctx, "body")?;
    let n_inputs = ctx.node.inputs.len();
    if n_inputs < 2 || g.inputs.len() != n_inputs {
        bail!(
            "the body has {} inputs for {} loop inputs",
            g.inputs.len(),
            n_inputs
        );
    }
    let n_carried = n_inputs - 2;
    if g.outputs.len() < 1 + n_carried {
        bail!("the body has too few outputs");
    }
    let scan_types = g.outputs[1 + n_carried..]
        .iter()
        .map(|v| v.elem_type().unwrap_or(DType::F32))
        .collect();
    let body = (ctx.compile)(g, &ctx.captures)?;
    Ok(Box::new(Loop {
        body,
        n_carried,
        scan_types,
        n_inputs,
    }))
}

/// Slice `t` at index `i` along `ax`, dropping that axis.
fn index_along(t: &Tensor, ax: usize, i: usize) -> OpResult<Tensor> {
    let mut p: Vec<(i64, i64, usize)> = t.shape().iter().map(|&d| (0, 1, d)).collect();
    p[ax] = (i as i64, 1, 1);
    let s = super::slicing::slice(t, &p)?;
    let mut shape = t.shape().to_vec();
    shape.remove(ax);
    s.reshaped(shape).map_err(|e| e.to_string())
}

/// Stacks equally shaped tensors along a new axis `ax`.
fn stack(parts: &[Tensor], ax: usize) -> OpResult<Tensor> {
    let views: Vec<Tensor> = parts
        .iter()
        .map(|p| {
            let mut s = p.shape().to_vec();
            s.insert(ax.min(s.len()), 1);
            p.clone().reshaped(s).map_err(|e| e.to_string())
        })
        .collect::<OpResult<_>>()?;
    let refs: Vec<&Tensor> = views.iter().collect();
    super::concat::concat(&refs, ax as i64)
}

struct Scan {
    body: Arc<dyn Subgraph>,
    n_state: usize,
    n_scan: usize,
    in_axes: Vec<i64>,
    in_dirs: Vec<i64>,
    out_axes: Vec<i64>,
    out_dirs: Vec<i64>,
    /// Opset 8: a leading batch dimension and an optional sequence_lens input.
    v8: bool,
    n_inputs: usize,
}

impl Scan {
    /// One scan over `states` and `scans` (no batch dimension).
    fn scan(
        &self,
        run: &RunContext,
        states: Vec<Tensor>,
        scans: &[Tensor],
        captured: &[Option<Arc<Tensor>>],
        limit: Option<usize>,
    ) -> OpResult<Vec<Tensor>> {
        let mut axes = Vec::with_capacity(self.n_scan);
        let mut len = None;
        for (j, t) in scans.iter().enumerate() {
            let a = axis(self.in_axes.get(j).copied().unwrap_or(0), t.rank())?;
            let d = t.shape()[a];
            if len.is_some_and(|l| l != d) {
                bail!("scan inputs differ in sequence length");
            }
            len = Some(d);
            axes.push(a);
        }
        let len = limit.unwrap_or(len.unwrap_or(0)).min(len.unwrap_or(0));
        crate::limits::check_iterations(len as u64)?;
        let mut states: Vec<Option<Arc<Tensor>>> =
            states.into_iter().map(|t| Some(Arc::new(t))).collect();
        let n_out = self.body.output_count().saturating_sub(self.n_state);
        let mut outs: Vec<Vec<Tensor>> = vec![Vec::new(); n_out];
        for step in 0..len {
            let mut feeds = states.clone();
            for (j, t) in scans.iter().enumerate() {
                let i = if self.in_dirs.get(j).copied().unwrap_or(0) == 1 {
                    len - 1 - step
                } else {
                    step
                };
                feeds.push(Some(Arc::new(index_along(t, axes[j], i)?)));
            }
            feeds.extend(captured.iter().cloned());
            let r = self.body.run(run, feeds).map_err(|e| e.to_string())?;
            let mut it = r.into_iter();
            states = (0..self.n_state).map(|_| it.next().map(Arc::new)).collect();
            for (k, t) in it.enumerate() {
                outs[k].push(t);
            }
        }
        let mut res: Vec<Tensor> = states
            .into_iter()
            .map(|t| {
                t.map(Arc::unwrap_or_clone)
                    .ok_or_else(|| "missing state".to_string())
            })
            .collect::<OpResult<_>>()?;
        for (k, mut parts) in outs.into_iter().enumerate() {
            if parts.is_empty() {
                bail!("a scan of length 0 has no output shape");
            }
            if self.out_dirs.get(k).copied().unwrap_or(0) == 1 {
                parts.reverse();
            }
            let r = parts[0].rank() + 1;
            let a = axis(self.out_axes.get(k).copied().unwrap_or(0), r)?;
            res.push(stack(&parts, a)?);
        }
        Ok(res)
    }
}

impl Kernel for Scan {
    fn run(&self, run: &RunContext, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let captured = arcs(&ins[self.n_inputs..]);
        let first = if self.v8 { 1 } else { 0 };
        let own: Vec<&Tensor> = ins[first..self.n_inputs]
            .iter()
            .map(|t| t.ok_or_else(|| "Scan inputs must be given".to_string()))
            .collect::<OpResult<_>>()?;
        let (states, scans) = own.split_at(self.n_state);
        if !self.v8 {
            return self.scan(
                run,
                states.iter().map(|t| (*t).clone()).collect(),
                &scans.iter().map(|t| (*t).clone()).collect::<Vec<_>>(),
                &captured,
                None,
            );
        }
        // Opset 8: batch dimension 0 everywhere; scan axis 1 of the scan inputs.
        let batch = own
            .first()
            .map(|t| t.shape().first().copied().unwrap_or(0))
            .unwrap_or(0);
        let lens = match opt(ins, 0) {
            Some(t) => Some(ints(t)?),
            None => None,
        };
        let mut per_batch: Vec<Vec<Tensor>> = Vec::new();
        for b in 0..batch {
            let st: Vec<Tensor> = states
                .iter()
                .map(|t| index_along(t, 0, b))
                .collect::<OpResult<_>>()?;
            let sc: Vec<Tensor> = scans
                .iter()
                .map(|t| index_along(t, 0, b))
                .collect::<OpResult<_>>()?;
            let limit = lens
                .as_ref()
                .and_then(|l| l.get(b))
                .map(|&v| v.max(0) as usize);
            per_batch.push(self.scan(run, st, &sc, &captured, limit)?);
        }
        let n_res = per_batch.first().map_or(0, Vec::len);
        (0..n_res)
            .map(|k| {
                let parts: Vec<Tensor> = per_batch.iter().map(|r| r[k].clone()).collect();
                stack(&parts, 0)
            })
            .collect()
    }
}

pub fn build_scan(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let g = graph_attr(ctx, "body")?;
    let v8 = ctx.opset < 9;
    let n_inputs = ctx.node.inputs.len();
    let n_scan = ctx.int("num_scan_inputs", 0).max(0) as usize;
    let own = n_inputs
        .checked_sub(usize::from(v8))
        .ok_or("Scan needs inputs")?;
    if n_scan > own {
        bail!("num_scan_inputs {n_scan} exceeds the {own} inputs");
    }
    let n_state = own - n_scan;
    if g.inputs.len() != own {
        bail!(
            "the body has {} inputs for {own} scan inputs and states",
            g.inputs.len()
        );
    }
    let dirs_attr = if v8 {
        "directions"
    } else {
        "scan_input_directions"
    };
    let body = (ctx.compile)(g, &ctx.captures)?;
    Ok(Box::new(Scan {
        body,
        n_state,
        n_scan,
        in_axes: if v8 {
            vec![0; n_scan]
        } else {
            ctx.ints("scan_input_axes").unwrap_or(vec![0; n_scan])
        },
        in_dirs: ctx.ints(dirs_attr).unwrap_or(vec![0; n_scan]),
        out_axes: ctx.ints("scan_output_axes").unwrap_or_default(),
        out_dirs: ctx.ints("scan_output_directions").unwrap_or_default(),
        v8,
        n_inputs,
    }))
}
