//! Control flow: If and Loop. Their subgraphs are planned once, at the parent's plan time;
//! outer-scope values they read arrive as extra kernel inputs after the node's own inputs.

use crate::plan::{run_with, Plan};
use crate::registry::{BuildCtx, Kernel};
use crate::value::*;
use onnxide_ir::{AttrValue, DType, Graph, Tensor, TensorData};
use std::sync::Arc;

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
    then_plan: Arc<Plan>,
    else_plan: Arc<Plan>,
}

impl Kernel for If {
    fn run(&self, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        let cond = flag(req(ins, 0)?)?;
        let plan = if cond {
            &self.then_plan
        } else {
            &self.else_plan
        };
        run_with(plan, arcs(&ins[1..])).map_err(|e| e.to_string())
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
    body: Arc<Plan>,
    n_carried: usize,
    /// Element types of the scan outputs (for zero-iteration loops).
    scan_types: Vec<DType>,
    n_inputs: usize,
}

impl Kernel for Loop {
    fn run(&self, ins: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
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
        while max.map_or(true, |m| i < m) && cond.unwrap_or(true) {
            let mut feeds = vec![
                Some(Arc::new(Tensor::scalar(i))),
                Some(Arc::new(Tensor::scalar(cond.unwrap_or(true)))),
            ];
            feeds.extend(carried.iter().cloned());
            feeds.extend(captured.iter().cloned());
            let outs = run_with(&self.body, feeds).map_err(|e| e.to_string())?;
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
            out.push(super::shape::concat(&refs, 0)?);
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
