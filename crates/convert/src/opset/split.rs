//! Split: `split` attribute (before 13) ↔ input 1 (13+); `num_outputs` (18+).

use super::common::{input, out_base, trim_inputs, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::{Dim, Node};

/// How the node says where to split.
enum Spec {
    Sizes(Vec<i64>),
    /// `split` input computed at run time.
    Dynamic(String),
    /// No sizes: equal parts, one per output.
    Equal,
    /// `num_outputs` (18+): ceil-sized parts, the last one smaller.
    NumOutputs(i64),
}

pub(crate) fn adapt(ctx: &mut Ctx, node: &Node, from: i64, to: i64) -> Result<Rewrite, String> {
    let mut n = node.clone();
    let spec = if from < 13 {
        match n.attr_ints("split") {
            Some(s) => Spec::Sizes(s.to_vec()),
            None => Spec::Equal,
        }
    } else if let Some(s) = input(&n, 1).map(str::to_string) {
        match ctx.const_ints(&s) {
            Some(v) => Spec::Sizes(v),
            None => Spec::Dynamic(s),
        }
    } else if let Some(k) = n.attr_int("num_outputs") {
        Spec::NumOutputs(k)
    } else {
        Spec::Equal
    };
    remove_attr(&mut n, "split");
    remove_attr(&mut n, "num_outputs");
    let old_input = input(&n, 1).map(str::to_string);
    n.inputs.truncate(1);
    let outputs = n.outputs.len() as i64;
    let spec = match spec {
        Spec::NumOutputs(k) if to < 18 => {
            let axis = n.attr_int("axis").unwrap_or(0);
            let dim = axis_dim(ctx, &n, axis).ok_or_else(|| {
                "num_outputs needs the split axis' size, which is not known".to_string()
            })?;
            if k <= 0 || k != outputs {
                return Err(format!("num_outputs={k} does not match {outputs} outputs"));
            }
            if dim % k == 0 {
                Spec::Equal
            } else {
                // Opset 18: parts of ceil(dim / k), the last one what is left.
                let chunk = dim / k + 1;
                let last = chunk
                    .checked_mul(k - 1)
                    .map(|used| dim - used)
                    .filter(|&last| last > 0)
                    .ok_or_else(|| {
                        format!("num_outputs={k} over size {dim} leaves no last part")
                    })?;
                let mut sizes = vec![chunk; (k - 1) as usize];
                sizes.push(last);
                Spec::Sizes(sizes)
            }
        }
        s => s,
    };
    let what = match spec {
        Spec::Sizes(sizes) if to < 13 => {
            n.attributes.push(attr("split", sizes.clone()));
            format!("split {sizes:?} -> attribute")
        }
        Spec::Sizes(sizes) => {
            let name = match old_input.clone() {
                Some(s) if from >= 13 => s,
                _ => ctx.int64_initializer(&format!("{}_split", out_base(&n)), &sizes)?,
            };
            n.inputs.push(name);
            format!("split {sizes:?} -> input")
        }
        Spec::Dynamic(s) if to < 13 => {
            return Err(format!(
                "split '{s}' is computed at run time; opset {to} needs it as an attribute"
            ))
        }
        Spec::Dynamic(s) => {
            n.inputs.push(s);
            "split input kept".into()
        }
        Spec::Equal if to >= 18 => {
            n.attributes.push(attr("num_outputs", outputs));
            format!("equal split -> num_outputs={outputs}")
        }
        Spec::Equal => "equal split: unchanged".into(),
        Spec::NumOutputs(k) => {
            n.attributes.push(attr("num_outputs", k));
            "num_outputs kept".into()
        }
    };
    trim_inputs(&mut n);
    Ok(Rewrite::one(n, what))
}

fn axis_dim(ctx: &Ctx, n: &Node, axis: i64) -> Option<i64> {
    let shape = ctx.inferred.shape(&n.inputs[0])?;
    let r = shape.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    match shape.get(usize::try_from(a).ok()?)? {
        Dim::Fixed(d) => i64::try_from(*d).ok(),
        _ => None,
    }
}
