//! Pad across 18 (`axes` input) and 19 (`wrap` mode).

use super::common::{input, trim_inputs, Rewrite};
use onnxide_ir::Node;

pub(crate) const BOUNDARIES: &[i64] = &[18, 19];

pub(crate) fn adapt(node: &Node, from: i64, to: i64) -> Result<Rewrite, String> {
    let mut n = node.clone();
    if from >= 19 && to < 19 && n.attr_string("mode") == Some("wrap") {
        return Err("mode=wrap exists only from opset 19".into());
    }
    if from >= 18 && to < 18 {
        if let Some(a) = input(&n, 3) {
            return Err(format!("axes input '{a}' exists only from opset 18"));
        }
        n.inputs.truncate(3);
        trim_inputs(&mut n);
    }
    Ok(Rewrite::one(n, "unchanged"))
}
