//! Softmax / LogSoftmax at 13: before it the input is coerced to 2-D at `axis` (default 1) and
//! normalized over the flattened tail; from 13 over the single `axis` (default -1). When `axis`
//! is the last one both agree; otherwise, going up, the node becomes Flatten → op(axis=1) →
//! Reshape back to the input's shape (as onnx's version converter does), and going down the
//! axis is moved last by a Transpose and back.

use super::common::{Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::rewrite::{attr, node};
use onnxide_ir::Node;

pub(crate) fn adapt(ctx: &mut Ctx, n0: &Node, up: bool) -> Result<Rewrite, String> {
    let mut n = n0.clone();
    let x = n.inputs.first().cloned().unwrap_or_default();
    let rank = ctx.rank(&x).map(|r| r as i64);
    let axis = n.attr_int("axis").unwrap_or(if up { 1 } else { -1 });
    let norm = rank.map(|r| if axis < 0 { axis + r } else { axis });
    remove_attr(&mut n, "axis");
    if let (Some(r), Some(a)) = (rank, norm) {
        if a == r - 1 && a >= 0 {
            n.attributes.push(attr("axis", a));
            return Ok(Rewrite::one(n, format!("axis {a} is the last: kept")));
        }
    }
    let y = n.outputs.first().cloned().unwrap_or_default();
    let base = if n.name.is_empty() {
        y.clone()
    } else {
        n.name.clone()
    };
    if up {
        let flat = ctx.names.fresh(&format!("{base}_flat"));
        let shape = ctx.names.fresh(&format!("{base}_shape"));
        let inner = ctx.names.fresh(&format!("{base}_2d"));
        let flatten = node("Flatten")
            .name(ctx.names.fresh(&format!("{base}_flatten")))
            .input(&x)
            .output(&flat)
            .attr("axis", axis)
            .build();
        let shape_n = node("Shape")
            .name(ctx.names.fresh(&format!("{base}_shape_of")))
            .input(&x)
            .output(&shape)
            .build();
        n.inputs = vec![flat];
        n.outputs = vec![inner.clone()];
        n.attributes.push(attr("axis", 1i64));
        let reshape = node("Reshape")
            .name(ctx.names.fresh(&format!("{base}_reshape")))
            .inputs([inner, shape])
            .output(&y)
            .build();
        return Ok(Rewrite {
            nodes: vec![flatten, shape_n, n, reshape],
            what: format!("axis {axis}: Flatten -> {} -> Reshape", n0.op_type),
        });
    }
    let (Some(r), Some(a)) = (rank, norm) else {
        return Err(format!(
            "axis {axis} over an input of unknown rank: the 2-D semantics before opset 13 may differ"
        ));
    };
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is out of range for rank {r}"));
    }
    let mut perm: Vec<i64> = (0..r).collect();
    perm.swap(a as usize, (r - 1) as usize);
    let xt = ctx.names.fresh(&format!("{base}_t"));
    let yt = ctx.names.fresh(&format!("{base}_yt"));
    let t1 = node("Transpose")
        .name(ctx.names.fresh(&format!("{base}_transpose_in")))
        .input(&x)
        .output(&xt)
        .attr("perm", perm.clone())
        .build();
    n.inputs = vec![xt];
    n.outputs = vec![yt.clone()];
    n.attributes.push(attr("axis", r - 1));
    let t2 = node("Transpose")
        .name(ctx.names.fresh(&format!("{base}_transpose_out")))
        .input(&yt)
        .output(&y)
        .attr("perm", perm)
        .build();
    Ok(Rewrite {
        nodes: vec![t1, n, t2],
        what: format!(
            "axis {a} of rank {r}: Transpose -> {} -> Transpose",
            n0.op_type
        ),
    })
}
