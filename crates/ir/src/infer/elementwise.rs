//! Elementwise ops: unary maths and activations, broadcasting binary and variadic ops,
//! comparisons, Where, Cast, Quantize/DequantizeLinear, and the shape-preserving normalisations.

use super::dims::{broadcast, Reason};
use super::{Fact, State};
use crate::{DType, Dim, Node};

/// Same shape and type as input 0.
const UNARY: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "CumSum",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LRN",
    "MeanVarianceNormalization",
    "Mish",
    "Neg",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Trilu",
    "InstanceNormalization",
    "GroupNormalization",
    "BitwiseNot",
];

/// Broadcasting ops whose output type is input 0's.
const BINARY: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Mod",
    "PRelu",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Max",
    "Min",
    "Sum",
    "Mean",
];

/// Broadcasting ops with a bool output.
const COMPARE: &[&str] = &[
    "Equal",
    "Greater",
    "Less",
    "GreaterOrEqual",
    "LessOrEqual",
    "And",
    "Or",
    "Xor",
];

pub(crate) fn infer(st: &State, node: &Node, op: &str) -> Result<Option<Vec<Fact>>, Reason> {
    let x = st.input(node, 0);
    let same = |elem: Option<DType>| Fact::new(elem, x.shape.clone());
    Ok(Some(match op {
        _ if UNARY.contains(&op) => vec![same(x.elem)],
        "Not" | "IsNaN" | "IsInf" => vec![same(Some(DType::Bool))],
        _ if BINARY.contains(&op) => {
            let elem = (0..node.inputs.len()).find_map(|i| st.input(node, i).elem);
            vec![Fact::new(
                elem,
                broadcast_inputs(st, node, 0..node.inputs.len())?,
            )]
        }
        _ if COMPARE.contains(&op) => vec![Fact::new(
            Some(DType::Bool),
            broadcast_inputs(st, node, 0..node.inputs.len())?,
        )],
        "Where" => {
            let elem = st.input(node, 1).elem.or(st.input(node, 2).elem);
            vec![Fact::new(elem, broadcast_inputs(st, node, 0..3)?)]
        }
        "Cast" => {
            let to = node.attr_int("to").and_then(|c| i32::try_from(c).ok());
            let elem = to
                .map(|c| DType::from_onnx_code(c).ok_or(format!("Cast to unknown type {c}")))
                .transpose()?;
            vec![same(elem)]
        }
        "CastLike" => vec![same(st.input(node, 1).elem)],
        "QuantizeLinear" => {
            let elem = st.input(node, 2).elem.or_else(|| {
                node.attr_int("output_dtype")
                    .and_then(|c| DType::from_onnx_code(c as i32))
            });
            vec![same(elem.or(Some(DType::U8)))]
        }
        "DequantizeLinear" => vec![same(st.input(node, 1).elem.or(Some(DType::F32)))],
        "Dropout" => vec![same(x.elem), same(Some(DType::Bool))],
        "BatchNormalization" => {
            check_channels(st, node, &x)?;
            let c = x.shape.as_ref().and_then(|s| s.get(1)).cloned();
            let stat = Fact::new(st.input(node, 3).elem, c.map(|c| vec![c]));
            vec![same(x.elem), stat.clone(), stat]
        }
        "LayerNormalization" => {
            let stash = node
                .attr_int("stash_type")
                .and_then(|c| DType::from_onnx_code(c as i32))
                .unwrap_or(DType::F32);
            let stat = match &x.shape {
                Some(s) => {
                    let a = super::dims::axis(node.attr_int("axis").unwrap_or(-1), s.len())?;
                    let mut d = s[..a].to_vec();
                    d.resize(s.len(), Dim::Fixed(1));
                    Some(d)
                }
                None => None,
            };
            vec![
                same(x.elem),
                Fact::new(Some(stash), stat.clone()),
                Fact::new(Some(stash), stat),
            ]
        }
        _ => return Ok(None),
    }))
}

fn broadcast_inputs(
    st: &State,
    node: &Node,
    range: std::ops::Range<usize>,
) -> Result<Option<Vec<Dim>>, Reason> {
    let facts: Vec<Fact> = range
        .filter(|&i| st.has_input(node, i))
        .map(|i| st.input(node, i))
        .collect();
    let shapes: Vec<Option<&[Dim]>> = facts.iter().map(|f| f.shape.as_deref()).collect();
    broadcast(&shapes)
}

/// BatchNormalization's scale/bias/mean/var have X's channel count.
fn check_channels(st: &State, node: &Node, x: &Fact) -> Result<(), Reason> {
    let Some(Dim::Fixed(c)) = x.shape.as_ref().and_then(|s| s.get(1)) else {
        return Ok(());
    };
    for i in 1..5 {
        if let Some(s) = st.input(node, i).shape {
            if let [Dim::Fixed(n)] = s.as_slice() {
                if n != c {
                    return Err(format!("input {i} has {n} channels, X has {c}"));
                }
            }
        }
    }
    Ok(())
}
