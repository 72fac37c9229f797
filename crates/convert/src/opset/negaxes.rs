//! Negative `axis`/`axes` attributes, allowed from opset 11: going below it they are made
//! non-negative with the input's rank (refused when the rank is not known).

use super::common::Ctx;
use super::schema::remove_attr;
use onnxide_ir::rewrite::attr;
use onnxide_ir::Node;

/// The attribute holding the axes of each op that took negative axes from 11.
fn axes_attr(op: &str) -> Option<&'static str> {
    Some(match op {
        "ArgMax" | "ArgMin" | "Compress" | "Concat" | "Flatten" | "Gather" | "Hardmax"
        | "LogSoftmax" | "Softmax" | "Split" | "TopK" | "OneHot" | "Scatter" => "axis",
        "Squeeze" | "Unsqueeze" | "Slice" | "ReduceL1" | "ReduceL2" | "ReduceLogSum"
        | "ReduceLogSumExp" | "ReduceMax" | "ReduceMean" | "ReduceMin" | "ReduceProd"
        | "ReduceSum" | "ReduceSumSquare" => "axes",
        _ => return None,
    })
}

/// The node with its negative axes made non-negative, `None` when it has none.
pub(crate) fn normalize(ctx: &Ctx, n: &Node) -> Result<Option<Node>, String> {
    let Some(name) = axes_attr(&n.op_type) else {
        return Ok(None);
    };
    let values: Vec<i64> = match (n.attr_int(name), n.attr_ints(name)) {
        (Some(v), _) => vec![v],
        (None, Some(v)) => v.to_vec(),
        (None, None) => return Ok(None),
    };
    if values.iter().all(|&v| v >= 0) {
        return Ok(None);
    }
    let x = n.inputs.first().map_or("", String::as_str);
    let Some(rank) = ctx.rank(x) else {
        return Err(format!(
            "negative {name} {values:?} exists only from opset 11 and the rank of '{x}' is not known"
        ));
    };
    let rank = rank as i64
        + match n.op_type.as_str() {
            "Unsqueeze" => values.len() as i64,
            "OneHot" => 1,
            _ => 0,
        };
    let fixed: Vec<i64> = values
        .iter()
        .map(|&v| if v < 0 { v + rank } else { v })
        .collect();
    if fixed.iter().any(|&v| v < 0) {
        return Err(format!("{name} {values:?} is out of range for rank {rank}"));
    }
    let mut out = n.clone();
    remove_attr(&mut out, name);
    if n.attr_int(name).is_some() {
        out.attributes.push(attr(name, fixed[0]));
    } else {
        out.attributes.push(attr(name, fixed));
    }
    Ok(Some(out))
}
