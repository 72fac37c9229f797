//! BatchNormalization at 14 (`training_mode`; the statistics outputs changed meaning) and at 9
//! (`spatial` removed). Inference (one output, `training_mode` 0, `spatial` 1) crosses both;
//! anything else refuses.

use super::common::{Ctx, Rewrite};
use super::schema::remove_attr;
use onnxide_ir::Node;

pub(crate) const BOUNDARIES: &[i64] = &[9, 14];

pub(crate) fn adapt(ctx: &Ctx, node: &Node, from: i64, to: i64) -> Result<Rewrite, String> {
    let mut n = node.clone();
    if n.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("the training statistics outputs are not converted".into());
    }
    n.outputs.truncate(1);
    let mut what = Vec::new();
    let (lo, hi) = (from.min(to), from.max(to));
    if lo < 14 && 14 <= hi {
        if n.attr_int("training_mode").is_some_and(|t| t != 0) {
            return Err("training_mode=1 exists only from opset 14".into());
        }
        if to < 14 {
            remove_attr(&mut n, "training_mode");
            // Before 14 every input has X's type.
            let x = n.inputs.first().and_then(|x| ctx.inferred.elem(x));
            for i in n.inputs.iter().skip(1) {
                let t = ctx.inferred.elem(i);
                if t.is_none() || t != x {
                    return Err(format!(
                        "'{i}' does not have the input's type: mixed types exist only from opset 14"
                    ));
                }
            }
        }
        what.push("inference form kept across 14");
    }
    if lo < 9 && 9 <= hi {
        if n.attr_int("spatial").is_some_and(|s| s != 1) {
            return Err("spatial=0 has no equivalent from opset 9".into());
        }
        remove_attr(&mut n, "spatial");
        what.push("spatial dropped");
    }
    Ok(Rewrite::one(n, what.join(", ")))
}
