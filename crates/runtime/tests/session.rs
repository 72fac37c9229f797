//! Session API behaviour: planning errors, input validation, node errors, thread sharing.

use onnxide_ir::{
    AttrValue, Attribute, DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport, Tensor,
    ValueInfo,
};
use onnxide_runtime::{
    eval_node, is_deterministic, registered_ops, RuntimeError, Session, SessionOptions,
};

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> Node {
    Node {
        name: name.into(),
        op_type: op.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<Node>,
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    inits: Vec<NamedTensor>,
) -> Model {
    Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            nodes,
            inputs,
            outputs,
            initializers: inits,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn f32_info(name: &str, dims: &[Dim]) -> ValueInfo {
    ValueInfo::tensor(name, DType::F32, dims.to_vec())
}

fn add_model() -> Model {
    let b = NamedTensor {
        name: "b".into(),
        doc_string: String::new(),
        tensor: Tensor::from_vec(vec![3], vec![1f32, 2.0, 3.0]).unwrap(),
    };
    model(
        vec![
            node("Add", "add", &["x", "b"], &["s"]),
            node("Sigmoid", "sig", &["s"], &["y"]),
        ],
        vec![f32_info("x", &[Dim::Param("batch".into()), Dim::Fixed(3)])],
        vec![f32_info("y", &[Dim::Param("batch".into()), Dim::Fixed(3)])],
        vec![b],
    )
}

#[test]
fn runs_and_reports_io() {
    let s = Session::new(&add_model(), &SessionOptions::default()).unwrap();
    assert_eq!(s.inputs().len(), 1);
    assert_eq!(s.outputs()[0].name, "y");
    let x = Tensor::from_vec(vec![2, 3], vec![0f32, -1.0, -2.0, 1.0, 2.0, 3.0]).unwrap();
    let out = s.run(vec![("x".into(), x)]).unwrap();
    assert_eq!(out[0].0, "y");
    assert_eq!(out[0].1.shape(), &[2, 3]);
    let v = out[0].1.as_slice::<f32>().unwrap();
    assert!((v[0] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
    println!("ran Add+Sigmoid: {v:?}");
}

#[test]
fn one_error_lists_every_missing_op_and_its_nodes() {
    let m = model(
        vec![
            node("FooOp", "f1", &["x"], &["a"]),
            node("Relu", "r", &["a"], &["b"]),
            node("FooOp", "f2", &["b"], &["c"]),
            node("BarOp", "b1", &["c"], &["y"]),
        ],
        vec![f32_info("x", &[Dim::Fixed(1)])],
        vec![f32_info("y", &[Dim::Fixed(1)])],
        vec![],
    );
    match Session::new(&m, &SessionOptions::default()) {
        Err(RuntimeError::UnsupportedOps { missing }) => {
            assert_eq!(missing.len(), 2);
            assert_eq!(
                missing[0],
                (
                    "FooOp".to_string(),
                    vec!["f1".to_string(), "f2".to_string()]
                )
            );
            assert_eq!(missing[1], ("BarOp".to_string(), vec!["b1".to_string()]));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("planned a model with unknown ops"),
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let s = Session::new(&add_model(), &SessionOptions::default()).unwrap();
    let good = || Tensor::from_vec(vec![1, 3], vec![0f32; 3]).unwrap();
    let e = s.run(vec![("nope".into(), good())]).unwrap_err();
    assert!(matches!(e, RuntimeError::UnknownInput { .. }), "{e}");
    let e = s.run(vec![]).unwrap_err();
    assert!(matches!(e, RuntimeError::MissingInput { .. }), "{e}");
    let e = s
        .run(vec![(
            "x".into(),
            Tensor::from_vec(vec![1, 3], vec![0i64; 3]).unwrap(),
        )])
        .unwrap_err();
    assert!(matches!(e, RuntimeError::WrongDType { .. }), "{e}");
    let e = s
        .run(vec![(
            "x".into(),
            Tensor::from_vec(vec![3], vec![0f32; 3]).unwrap(),
        )])
        .unwrap_err();
    assert!(matches!(e, RuntimeError::WrongShape { .. }), "{e}");
    let e = s
        .run(vec![(
            "x".into(),
            Tensor::from_vec(vec![1, 4], vec![0f32; 4]).unwrap(),
        )])
        .unwrap_err();
    assert!(matches!(e, RuntimeError::WrongShape { .. }), "{e}");
    let e = s
        .run(vec![("x".into(), good()), ("x".into(), good())])
        .unwrap_err();
    assert!(matches!(e, RuntimeError::DuplicateInput { .. }), "{e}");
}

#[test]
fn node_failures_name_the_node_and_op() {
    // Reshape to a shape with the wrong element count fails at run time.
    let shape = NamedTensor {
        name: "shape".into(),
        doc_string: String::new(),
        tensor: Tensor::from_vec(vec![2], vec![5i64, 7]).unwrap(),
    };
    let m = model(
        vec![node("Reshape", "/model.0/Reshape", &["x", "shape"], &["y"])],
        vec![f32_info("x", &[Dim::Unknown])],
        vec![f32_info("y", &[Dim::Unknown, Dim::Unknown])],
        vec![shape],
    );
    let s = Session::new(&m, &SessionOptions::default()).unwrap();
    let e = s
        .run(vec![(
            "x".into(),
            Tensor::from_vec(vec![4], vec![0f32; 4]).unwrap(),
        )])
        .unwrap_err();
    match &e {
        RuntimeError::Node { node, op, .. } => {
            assert_eq!(node, "/model.0/Reshape");
            assert_eq!(op, "Reshape");
        }
        _ => panic!("unexpected {e}"),
    }
    println!("{e}");
}

#[test]
fn bad_attributes_fail_at_plan_time() {
    let mut n = node("Cast", "c", &["x"], &["y"]);
    n.attributes.push(Attribute {
        name: "to".into(),
        value: AttrValue::Int(999),
        doc_string: String::new(),
        ref_attr_name: String::new(),
    });
    let m = model(
        vec![n],
        vec![f32_info("x", &[Dim::Fixed(1)])],
        vec![f32_info("y", &[Dim::Fixed(1)])],
        vec![],
    );
    let e = Session::new(&m, &SessionOptions::default())
        .err()
        .expect("plan must fail");
    assert!(matches!(e, RuntimeError::Node { .. }), "{e}");
}

#[test]
fn constant_subgraphs_fold_and_optimize_off_gives_the_same_result() {
    let m = add_model();
    let x = Tensor::from_vec(vec![1, 3], vec![0.5f32, 1.5, -2.0]).unwrap();
    let a = Session::new(&m, &SessionOptions::default())
        .unwrap()
        .run(vec![("x".into(), x.clone())])
        .unwrap();
    let b = Session::new(
        &m,
        &SessionOptions {
            threads: Some(1),
            optimize: false,
            exact: false,
            ..SessionOptions::default()
        },
    )
    .unwrap()
    .run(vec![("x".into(), x)])
    .unwrap();
    // Same names and shapes; values within the fast sigmoid's documented error (it is
    // onnxruntime's approximation, |Δ| < 2e-7, where the reference computes 1/(1+e^-x)).
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!((na, ta.shape()), (nb, tb.shape()));
        let (va, vb) = (ta.as_slice::<f32>().unwrap(), tb.as_slice::<f32>().unwrap());
        for (p, q) in va.iter().zip(vb) {
            assert!((p - q).abs() < 2e-7, "{va:?} vs {vb:?}");
        }
    }
}

/// The planner's constant folding and the public `eval_node` compute the same values.
#[test]
fn folding_matches_eval_node() {
    let konst = |name: &str, v: Vec<f32>| NamedTensor {
        name: name.into(),
        doc_string: String::new(),
        tensor: Tensor::from_vec(vec![v.len()], v).unwrap(),
    };
    let (a, b, c) = (
        konst("a", vec![0.1, 0.2, 0.3]),
        konst("b", vec![1e-8, 3.0, -0.7]),
        konst("c", vec![3.0, 1.0 / 3.0, 7.0]),
    );
    let add = node("Add", "add", &["a", "b"], &["s"]);
    let mul = node("Mul", "mul", &["s", "c"], &["y"]);
    let m = model(
        vec![add.clone(), mul.clone()],
        vec![],
        vec![f32_info("y", &[Dim::Fixed(3)])],
        vec![a.clone(), b.clone(), c.clone()],
    );
    let session = Session::new(&m, &SessionOptions::default()).unwrap();
    assert_eq!((session.summary().folded, session.summary().steps), (2, 0));
    let folded = session.run(vec![]).unwrap();
    let s = eval_node(&add, 18, &[Some(&a.tensor), Some(&b.tensor)]).unwrap();
    let y = eval_node(&mul, 18, &[Some(&s[0]), Some(&c.tensor)]).unwrap();
    assert_eq!(folded, vec![("y".to_string(), y[0].clone())]);
    assert!(is_deterministic("Add") && !is_deterministic("RandomUniform"));
}

#[test]
fn a_session_is_shared_across_threads() {
    let s = Session::new(
        &add_model(),
        &SessionOptions {
            threads: Some(2),
            optimize: true,
            exact: false,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    std::thread::scope(|scope| {
        for i in 0..4 {
            let s = &s;
            scope.spawn(move || {
                let x = Tensor::from_vec(vec![1, 3], vec![i as f32; 3]).unwrap();
                let out = s.run(vec![("x".into(), x)]).unwrap();
                assert_eq!(out[0].1.shape(), &[1, 3]);
            });
        }
    });
}

#[test]
fn registry_lists_the_yolo_ops() {
    let ops = registered_ops();
    for op in [
        "Conv",
        "Sigmoid",
        "Resize",
        "NonMaxSuppression",
        "TopK",
        "Trilu",
        "ScatterND",
        "Softmax",
    ] {
        assert!(ops.contains(&("", op)), "{op} missing");
    }
    println!("{} ops registered", ops.len());
}
