//! The checker on hand-built graphs: one test per rule, plus "all problems at once".

mod common;

use common::Builder;
use onnxide_ir::check::check;
use onnxide_ir::{topo, AttrValue, Attribute, DType, Graph, IrError, Node, OpsetImport};

fn problems(b: &Builder) -> Vec<String> {
    match check(&b.model) {
        Ok(()) => Vec::new(),
        Err(IrError::Check(p)) => p,
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// Asserts exactly one problem, containing every fragment.
fn one(b: &Builder, fragments: &[&str]) {
    let p = problems(b);
    assert_eq!(p.len(), 1, "{p:#?}");
    for f in fragments {
        assert!(p[0].contains(f), "{:?} lacks {f:?}", p[0]);
    }
}

fn valid() -> Builder {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,3").weight("w", &[3]);
    b.node("Add", &["x", "w"], &["a"]);
    b.node("Relu", &["a"], &["y"]);
    b.typed_output("y", DType::F32, "1,3");
    b
}

#[test]
fn a_valid_model_passes() {
    assert_eq!(problems(&valid()), Vec::<String>::new());
}

#[test]
fn dangling_input() {
    let mut b = valid();
    b.node("Mul", &["y", "nowhere"], &["z"]);
    one(&b, &["Mul 'z_node'", "'nowhere'"]);
}

#[test]
fn duplicate_outputs() {
    let mut b = valid();
    b.node("Neg", &["x"], &["a"]);
    one(&b, &["Neg 'a_node'", "'a'", "already defined"]);
    let mut b = valid();
    b.node("Neg", &["x"], &["w"]);
    one(&b, &["Neg 'w_node'", "'w'"]);
    let mut b = valid();
    b.node("Neg", &["a"], &["x"]);
    one(&b, &["Neg 'x_node'", "'x'"]);
}

#[test]
fn duplicate_initializers() {
    let mut b = valid();
    b.weight("w", &[3]);
    one(&b, &["initializer 'w'", "twice"]);
}

#[test]
fn graph_output_nobody_produces() {
    let mut b = valid();
    b.typed_output("ghost", DType::F32, "1");
    one(&b, &["graph output 'ghost'", "not produced"]);
}

#[test]
fn main_graph_inputs_and_outputs_are_typed() {
    let mut b = valid();
    b.model.graph.outputs[0].ty = onnxide_ir::ValueType::Unknown;
    one(&b, &["graph output 'y' has no type"]);
    let mut b = valid();
    b.model.graph.inputs[0].ty = onnxide_ir::ValueType::Tensor {
        elem: None,
        shape: None,
    };
    one(&b, &["graph input 'x' has no element type"]);
}

#[test]
fn missing_opset_import() {
    let mut b = valid();
    b.node("Fancy", &["y"], &["z"]).domain("com.example");
    one(&b, &["Fancy 'z_node'", "com.example", "opset import"]);
    b.model.opset_imports.push(OpsetImport {
        domain: "com.example".into(),
        version: 1,
    });
    assert!(problems(&b).is_empty());
    b.model.opset_imports.retain(|o| !o.domain.is_empty());
    let p = problems(&b);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p.iter().all(|m| m.contains("ai.onnx")), "{p:#?}");
}

#[test]
fn empty_op_type() {
    let mut b = valid();
    b.node("", &["y"], &["z"]);
    one(&b, &["empty op_type", "z_node"]);
}

#[test]
fn unsorted_nodes_are_reported_once_and_sorting_fixes_them() {
    let mut b = valid();
    b.model.graph.nodes.reverse();
    b.node("Neg", &["y"], &["z"]);
    b.node("Neg", &["late"], &["z2"]);
    b.node("Neg", &["z"], &["late"]);
    one(
        &b,
        &[
            "not topologically sorted",
            "Relu 'y_node'",
            "'a'",
            "Add 'a_node'",
        ],
    );
    topo::sort(&mut b.model.graph).unwrap();
    assert!(problems(&b).is_empty(), "{:#?}", problems(&b));
}

#[test]
fn ir_version_too_old_for_the_opset() {
    let mut b = valid();
    b.input("w", DType::F32, "3");
    b.model.ir_version = 2;
    one(&b, &["ir_version 2", "opset 18", ">= 8"]);
    b.model.ir_version = 7;
    one(&b, &["ir_version 7"]);
    b.model.opset_imports[0].version = 13;
    assert!(problems(&b).is_empty());
}

#[test]
fn initializers_must_be_inputs_below_ir_4() {
    let mut b = valid();
    b.model.ir_version = 3;
    b.model.opset_imports[0].version = 7;
    one(&b, &["initializer 'w'", "not a graph input"]);
    b.input("w", DType::F32, "3");
    assert!(problems(&b).is_empty());
}

#[test]
fn subgraphs_see_outer_scope_values() {
    let mut b = valid();
    let then = Graph {
        nodes: vec![Node {
            name: "inner".into(),
            op_type: "Add".into(),
            inputs: vec!["a".into(), "missing".into()],
            outputs: vec!["t".into()],
            ..Default::default()
        }],
        outputs: vec![onnxide_ir::ValueInfo::tensor("t", DType::F32, vec![])],
        ..Default::default()
    };
    b.input("cond", DType::Bool, "");
    b.node("If", &["cond"], &["r"])
        .0
        .attributes
        .push(Attribute {
            name: "then_branch".into(),
            value: AttrValue::Graph(Box::new(then)),
            doc_string: String::new(),
            ref_attr_name: String::new(),
        });
    // 'a' comes from the outer graph; only 'missing' dangles.
    one(
        &b,
        &[
            "subgraph If 'r_node'.then_branch",
            "Add 'inner'",
            "'missing'",
        ],
    );
}

#[test]
fn every_problem_is_collected() {
    let mut b = valid();
    b.model.ir_version = 7;
    b.weight("w", &[3]);
    b.node("Mul", &["nowhere"], &["a"]);
    b.node("", &["y"], &["z"]);
    b.typed_output("ghost", DType::F32, "1");
    let p = problems(&b);
    assert_eq!(p.len(), 6, "{p:#?}");
    let err = check(&b.model).unwrap_err().to_string();
    assert!(
        err.starts_with("the model does not pass the checker"),
        "{err}"
    );
}
