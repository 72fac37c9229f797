//! `slice-chains`: Slice → Slice becomes one Slice: slices of distinct axes are merged; a
//! slice of an axis the first one already sliced is composed when both steps are 1 and the
//! axis size is known.

use crate::util::{constant_ints, default_domain, only_read_by};
use onnxide_ir::infer::infer;
use onnxide_ir::rewrite::{GraphIndex, Pass, PassReport, Patch, UniqueNames};
use onnxide_ir::{Graph, IrError, Model, NamedTensor, Node, Tensor};
use std::collections::BTreeMap;

/// `Slice(Slice(x, s1, e1, a1, t1), s2, e2, a2, t2)` ⇒ one `Slice(x, ...)` (opset ≥ 10 form,
/// every starts/ends/axes/steps a constant), when the intermediate value is read by the second
/// Slice only. Distinct axes: the lists are concatenated. A shared axis: composed exactly when
/// both steps are 1 and the axis size of `x` is static (`start = s1 + s2`, `end = s1 + e2`
/// after clamping each to its input). Negative axes need the rank from inference.
pub struct SliceChains;

/// axis -> (start, end, step) of Slice `n`, axes normalised against `rank`.
fn params(
    g: &Graph,
    ix: &GraphIndex,
    n: &Node,
    rank: Option<usize>,
) -> Option<BTreeMap<i64, (i64, i64, i64)>> {
    if n.inputs.len() < 3 || n.inputs.len() > 5 {
        return None;
    }
    let get = |k: usize| n.inputs.get(k).filter(|s| !s.is_empty());
    let starts = constant_ints(g, ix, get(1)?)?;
    let ends = constant_ints(g, ix, get(2)?)?;
    let axes = match get(3) {
        Some(a) => constant_ints(g, ix, a)?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match get(4) {
        Some(s) => constant_ints(g, ix, s)?,
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let mut m = BTreeMap::new();
    for k in 0..starts.len() {
        let mut a = axes[k];
        if a < 0 {
            a += i64::try_from(rank?).ok()?;
        }
        if a < 0 || steps[k] == 0 || m.insert(a, (starts[k], ends[k], steps[k])).is_some() {
            return None;
        }
    }
    Some(m)
}

/// A step-1 bound clamped into `[0, dim]`.
fn clamp(v: i64, dim: i64) -> i64 {
    let v = if v < 0 { v.saturating_add(dim) } else { v };
    v.clamp(0, dim)
}

fn ints(name: String, v: Vec<i64>) -> Option<NamedTensor> {
    Tensor::from_vec(vec![v.len()], v)
        .ok()
        .map(|t| NamedTensor::new(name, t))
}

impl Pass for SliceChains {
    fn name(&self) -> &'static str {
        "slice-chains"
    }

    fn run(&mut self, model: &mut Model) -> Result<PassReport, IrError> {
        if model.default_opset().unwrap_or(1) < 10 {
            return Ok(PassReport::new());
        }
        let facts = infer(model).ok();
        let g = &model.graph;
        let ix = GraphIndex::new(g);
        let mut names = UniqueNames::new(g);
        let mut patch = Patch::new();
        let mut report = PassReport::new();
        for (j, second) in g.nodes.iter().enumerate() {
            if second.op_type != "Slice"
                || !default_domain(second)
                || second.outputs.len() != 1
                || second.inputs.len() < 3
            {
                continue;
            }
            let mid = &second.inputs[0];
            let Some(i) = ix.producer(mid) else { continue };
            let first = &g.nodes[i];
            if first.op_type != "Slice"
                || !default_domain(first)
                || first.inputs.len() < 3
                || patch.touches_node(i)
                || patch.touches_node(j)
                || !only_read_by(&ix, mid, j)
            {
                continue;
            }
            let x = &first.inputs[0];
            let shape = facts.as_ref().and_then(|f| f.shape(x).map(<[_]>::to_vec));
            let rank = shape.as_ref().map(Vec::len);
            let (Some(p1), Some(p2)) = (params(g, &ix, first, rank), params(g, &ix, second, rank))
            else {
                continue;
            };
            let mut merged = p1.clone();
            let mut exact = true;
            for (&a, &(s2, e2, t2)) in &p2 {
                let Some(&(s1, e1, t1)) = p1.get(&a) else {
                    merged.insert(a, (s2, e2, t2));
                    continue;
                };
                let dim = shape
                    .as_ref()
                    .and_then(|s| s.get(usize::try_from(a).ok()?).cloned())
                    .and_then(|d| match d {
                        onnxide_ir::Dim::Fixed(n) => i64::try_from(n).ok(),
                        _ => None,
                    });
                let (1, 1, Some(d)) = (t1, t2, dim) else {
                    exact = false;
                    break;
                };
                let (b1, f1) = (clamp(s1, d), clamp(e1, d));
                let len = (f1 - b1).max(0);
                let (b2, f2) = (clamp(s2, len), clamp(e2, len));
                merged.insert(a, (b1 + b2, b1 + f2.max(b2), 1));
            }
            if !exact {
                continue;
            }
            let base = if second.name.is_empty() {
                mid.clone()
            } else {
                second.name.clone()
            };
            let lists = [
                merged.values().map(|v| v.0).collect::<Vec<_>>(),
                merged.values().map(|v| v.1).collect(),
                merged.keys().copied().collect(),
                merged.values().map(|v| v.2).collect(),
            ];
            let mut inputs = vec![x.clone()];
            let mut ok = true;
            for (what, v) in ["starts", "ends", "axes", "steps"].into_iter().zip(lists) {
                let name = names.fresh(&format!("{base}_{what}"));
                match ints(name.clone(), v) {
                    Some(t) => patch.add_initializer(t),
                    None => ok = false,
                }
                inputs.push(name);
            }
            if !ok {
                continue;
            }
            let mut fused = second.clone();
            fused.inputs = inputs;
            patch.replace_node(j, fused);
            patch.remove_node(i);
            report.add("Slice", 1);
        }
        if !patch.is_empty() {
            patch.apply(&mut model.graph);
        }
        Ok(report)
    }
}
