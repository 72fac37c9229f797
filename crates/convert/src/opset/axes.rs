//! `axes` as an attribute ↔ as input 1: Squeeze, Unsqueeze and ReduceSum at opset 13, the other
//! Reduce* ops at 18 (which also added `noop_with_empty_axes`).

use super::common::{input, out_base, trim_inputs, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::Node;

/// The opset at which `op` moved `axes` to an input.
pub(crate) fn boundary(op: &str) -> Option<i64> {
    match op {
        "Squeeze" | "Unsqueeze" | "ReduceSum" => Some(13),
        "ReduceMax" | "ReduceMin" | "ReduceMean" | "ReduceProd" | "ReduceL1" | "ReduceL2"
        | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" => Some(18),
        _ => None,
    }
}

pub(crate) fn adapt(ctx: &mut Ctx, node: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = node.clone();
    if up {
        let Some(axes) = n.attr_ints("axes").map(<[i64]>::to_vec) else {
            return Ok(Rewrite::one(n, "no axes: unchanged"));
        };
        remove_attr(&mut n, "axes");
        let name = ctx.int64_initializer(&format!("{}_axes", out_base(&n)), &axes)?;
        n.inputs.truncate(1);
        n.inputs.push(name);
        return Ok(Rewrite::one(
            n,
            format!("axes {axes:?}: attribute -> input"),
        ));
    }
    let is_reduce = n.op_type.starts_with("Reduce");
    let noop = n.attr_int("noop_with_empty_axes").unwrap_or(0);
    remove_attr(&mut n, "noop_with_empty_axes");
    let Some(axes_in) = input(&n, 1).map(str::to_string) else {
        if is_reduce && noop != 0 {
            return Err(
                "noop_with_empty_axes=1 without axes (an identity) has no older form".into(),
            );
        }
        return Ok(Rewrite::one(n, "no axes: unchanged"));
    };
    let Some(axes) = ctx.const_ints(&axes_in) else {
        return Err(format!(
            "axes '{axes_in}' is computed at run time; the older schema needs it as an attribute"
        ));
    };
    if axes.is_empty() && is_reduce && noop != 0 {
        return Err(
            "noop_with_empty_axes=1 with empty axes (an identity) has no older form".into(),
        );
    }
    n.inputs.truncate(1);
    trim_inputs(&mut n);
    if !axes.is_empty() {
        n.attributes.push(attr("axes", axes.clone()));
    }
    Ok(Rewrite::one(
        n,
        format!("axes {axes:?}: input -> attribute"),
    ))
}
