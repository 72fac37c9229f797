//! Evaluating one node on constant inputs: the planner's constant folding and
//! [`eval_node`], which folding outside the runtime (a simplifier) uses, so that both compute
//! with the executor's own kernels through one code path (`run_on_constants`). `eval_node`
//! runs the reference kernel; the planner, with `optimize` on, folds with the kernel the step
//! would have run (the fast one where there is one), so that folding never changes a result.

use crate::error::RuntimeError;
use crate::kernel::{run_guarded, BuildCtx, Builder, Kernel, RunContext};
use crate::registry;
use onnxide_ir::{Node, Tensor};

/// Ops whose outputs are not a function of their inputs (random generators): they must not
/// be evaluated ahead of a run. Every other op may be folded when all its inputs are constant.
pub fn is_deterministic(op_type: &str) -> bool {
    !matches!(
        op_type,
        "RandomNormal"
            | "RandomUniform"
            | "RandomNormalLike"
            | "RandomUniformLike"
            | "Multinomial"
            | "Bernoulli"
    )
}

/// Evaluates `node` on `inputs` (`None` = omitted optional input) with its reference kernel,
/// built as the planner builds it with every given input a plan-time constant. `opset` is
/// the model's opset version for the node's domain. Returns the node's outputs in order
/// (trailing optional outputs may be left off).
///
/// Errors name the node and op: an op the executor lacks
/// ([`RuntimeError::UnsupportedOps`]), a node with subgraphs (If, Loop, Scan: they need the
/// enclosing graph), bad attributes or inputs, and a kernel failure
/// ([`RuntimeError::Node`]). Random ops are evaluated like any other; ask
/// [`is_deterministic`] first to fold only what a run would compute the same way.
pub fn eval_node(
    node: &Node,
    opset: i64,
    inputs: &[Option<&Tensor>],
) -> Result<Vec<Tensor>, RuntimeError> {
    let builder = lookup(node)?;
    let no_subgraphs = |_: &onnxide_ir::Graph, _: &[String]| {
        Err("a node with subgraphs cannot be evaluated on its own".to_string())
    };
    let ctx = BuildCtx {
        node,
        opset,
        consts: inputs.to_vec(),
        captures: Vec::new(),
        compile: &no_subgraphs,
        isa: onnxide_linalg::Isa::detect(),
        exact: true,
    };
    let kernel = builder(&ctx).map_err(|m| node_error(node, m))?;
    run_on_constants(node, &*kernel, &RunContext::default(), inputs)
}

/// The builder the registry has for `node`'s op.
pub(crate) fn lookup(node: &Node) -> Result<Builder, RuntimeError> {
    registry::lookup(&node.domain, &node.op_type).ok_or_else(|| RuntimeError::UnsupportedOps {
        missing: vec![(node.op_type.clone(), vec![label(node)])],
    })
}

/// Runs a kernel built for `node` on constant inputs, guarded, and checks that it produced
/// every output the node names. The one code path for every plan-time evaluation.
pub(crate) fn run_on_constants(
    node: &Node,
    kernel: &dyn Kernel,
    run: &RunContext,
    inputs: &[Option<&Tensor>],
) -> Result<Vec<Tensor>, RuntimeError> {
    let outputs = run_guarded(kernel, run, inputs).map_err(|m| node_error(node, m))?;
    for (i, name) in node.outputs.iter().enumerate() {
        if !name.is_empty() && i >= outputs.len() {
            return Err(node_error(
                node,
                format!("the op did not produce output {i}"),
            ));
        }
    }
    Ok(outputs)
}

/// The node's error, naming it and its op.
pub(crate) fn node_error(node: &Node, message: String) -> RuntimeError {
    RuntimeError::from_kernel(&label(node), &node.op_type, message)
}

/// How errors and profiles name a node: its name, or its first output when it has none.
pub(crate) fn label(node: &Node) -> String {
    if node.name.is_empty() {
        node.outputs.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onnxide_ir::{AttrValue, Attribute};

    fn node(op: &str, inputs: usize, attributes: Vec<(&str, AttrValue)>) -> Node {
        Node {
            name: format!("my_{op}"),
            op_type: op.to_string(),
            inputs: (0..inputs).map(|i| format!("in{i}")).collect(),
            outputs: vec!["out".to_string()],
            attributes: attributes
                .into_iter()
                .map(|(name, value)| Attribute {
                    name: name.to_string(),
                    value,
                    doc_string: String::new(),
                    ref_attr_name: String::new(),
                })
                .collect(),
            ..Node::default()
        }
    }

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
    }

    #[test]
    fn add_broadcasts() {
        let a = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f32s(&[2], &[10.0, 20.0]);
        let out = eval_node(&node("Add", 2, vec![]), 18, &[Some(&a), Some(&b)]).unwrap();
        assert_eq!(out, vec![f32s(&[2, 2], &[11.0, 22.0, 13.0, 24.0])]);
    }

    #[test]
    fn reshape_with_a_constant_shape() {
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let shape = Tensor::from_vec(vec![2], vec![3i64, -1]).unwrap();
        let out = eval_node(&node("Reshape", 2, vec![]), 18, &[Some(&x), Some(&shape)]).unwrap();
        assert_eq!(out[0].shape(), &[3, 2]);
        assert_eq!(out[0].as_slice::<f32>(), x.as_slice::<f32>());
    }

    #[test]
    fn concat_along_an_axis() {
        let a = Tensor::from_vec(vec![1, 2], vec![1i64, 2]).unwrap();
        let b = Tensor::from_vec(vec![1, 1], vec![3i64]).unwrap();
        let concat = node("Concat", 2, vec![("axis", AttrValue::Int(1))]);
        let out = eval_node(&concat, 13, &[Some(&a), Some(&b)]).unwrap();
        assert_eq!(
            out,
            vec![Tensor::from_vec(vec![1, 3], vec![1i64, 2, 3]).unwrap()]
        );
    }

    #[test]
    fn an_unknown_op_is_an_error_naming_the_node() {
        let x = f32s(&[1], &[1.0]);
        let err = eval_node(&node("NoSuchOp", 1, vec![]), 18, &[Some(&x)]).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::UnsupportedOps { missing }
                if missing == &[("NoSuchOp".to_string(), vec!["my_NoSuchOp".to_string()])]),
            "{err}"
        );
    }

    #[test]
    fn a_kernel_error_names_the_node_and_op() {
        let a = f32s(&[2], &[1.0, 2.0]);
        let b = f32s(&[3], &[1.0, 2.0, 3.0]);
        let err = eval_node(&node("Add", 2, vec![]), 18, &[Some(&a), Some(&b)]).unwrap_err();
        match err {
            RuntimeError::Node { node, op, .. } => {
                assert_eq!((node, op), ("my_Add".into(), "Add".into()))
            }
            other => panic!("expected a node error, got {other}"),
        }
    }

    #[test]
    fn a_node_with_subgraphs_is_refused() {
        let branch = AttrValue::Graph(Box::default());
        let cond = Tensor::scalar(true);
        let if_node = node(
            "If",
            1,
            vec![("then_branch", branch.clone()), ("else_branch", branch)],
        );
        let err = eval_node(&if_node, 18, &[Some(&cond)]).unwrap_err();
        assert!(err.to_string().contains("subgraphs"), "{err}");
    }

    #[test]
    fn random_ops_are_not_deterministic() {
        assert!(!is_deterministic("RandomNormal"));
        assert!(is_deterministic("Add"));
    }
}
