//! Small boundaries: MaxPool at 8 (the `Indices` output and `storage_order`), Gemm at 11 (`C`
//! optional from 11: going down a missing `C` becomes a zero scalar), and HardSwish (from 14),
//! which becomes `x * HardSigmoid(x, alpha=1/6, beta=0.5)` below 14, its definition.

use super::common::{base, float_scalar, input, Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::node;
use onnxide_ir::{DType, Node};

/// HardSwish below 14: `Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))`; both ops take float16,
/// float and double at every opset from 7.
pub(crate) fn hardswish(ctx: &mut Ctx, n: &Node) -> Result<Rewrite, String> {
    let b = base(n);
    let x = n.inputs.first().cloned().unwrap_or_default();
    match ctx.inferred.elem(&x) {
        Some(DType::F16 | DType::F32 | DType::F64) => {}
        Some(d) => {
            return Err(format!(
                "'{x}' is {}: no HardSigmoid and Mul below opset 14",
                d.onnx_name()
            ))
        }
        None => return Err(format!("the type of '{x}' is not known")),
    }
    let y = n.outputs.first().cloned().unwrap_or_default();
    let hs = ctx.names.fresh(&format!("{b}_hardsigmoid"));
    let sig = node("HardSigmoid")
        .name(hs.clone())
        .input(&x)
        .output(&hs)
        .attr("alpha", 1.0f32 / 6.0)
        .attr("beta", 0.5f32)
        .build();
    let mul = node("Mul")
        .name(ctx.names.fresh(&format!("{b}_mul")))
        .inputs([x, hs])
        .output(y)
        .build();
    Ok(Rewrite {
        nodes: vec![sig, mul],
        what: "HardSwish -> x * HardSigmoid(x)".into(),
    })
}

/// MaxPool at 8: going down `Indices` must not be read and `storage_order` must be 0.
pub(crate) fn maxpool(n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    if up {
        return Ok(Rewrite::one(n, "unchanged"));
    }
    if n.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err("the Indices output exists only from opset 8".into());
    }
    if n.attr_int("storage_order").unwrap_or(0) != 0 {
        return Err("storage_order=1 exists only from opset 8".into());
    }
    remove_attr(&mut n, "storage_order");
    n.outputs.truncate(1);
    Ok(Rewrite::one(n, "unchanged"))
}

/// Gemm at 11: going down a missing `C` becomes a zero scalar of the output's type.
pub(crate) fn gemm(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    if up || input(&n, 2).is_some() {
        return Ok(Rewrite::one(n, "unchanged"));
    }
    let dtype = n.outputs.first().and_then(|y| ctx.inferred.elem(y));
    let t = match float_scalar(dtype, 0.0, vec![1]) {
        Ok(t) => t,
        Err(why) => return Err(format!("C is required before opset 11: {why}")),
    };
    let name = ctx.initializer(&format!("{}_C", base(&n)), t);
    n.inputs.truncate(2);
    n.inputs.push(name);
    Ok(Rewrite::one(n, "zero C added"))
}
