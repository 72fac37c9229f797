//! Hand-built graphs, one or more per pass, and the hostile `ConstantOfShape`.

use onnxide_ir::rewrite::{node, structural_problems};
use onnxide_ir::{DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo};

fn dims(d: &[u64]) -> Vec<Dim> {
    d.iter().map(|&n| Dim::Fixed(n)).collect()
}

fn model(
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    nodes: Vec<Node>,
    initializers: Vec<NamedTensor>,
) -> Model {
    Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            name: "g".into(),
            inputs,
            outputs,
            nodes,
            initializers,
            ..Graph::default()
        },
        ..Model::default()
    }
}

fn i64s(name: &str, v: &[i64]) -> NamedTensor {
    NamedTensor::new(name, Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap())
}

fn f32s(name: &str, shape: &[usize], v: Vec<f32>) -> NamedTensor {
    NamedTensor::new(name, Tensor::from_vec(shape.to_vec(), v).unwrap())
}

fn ops(m: &Model) -> Vec<&str> {
    m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

/// Slims, checks the graph's structure, checks that a second run changes nothing, returns the
/// first run's report.
fn slim(m: &mut Model) -> onnxide_ir::rewrite::RunReport {
    let outputs = m.graph.outputs.clone();
    let report = onnxide_slim::slim(m).unwrap();
    assert!(report.converged);
    assert!(
        structural_problems(m).is_empty(),
        "{:?}",
        structural_problems(m)
    );
    assert_eq!(m.graph.outputs, outputs, "graph outputs changed");
    let again = onnxide_slim::slim(m).unwrap();
    assert!(!again.changed(), "second run changed: {:?}", again.passes);
    report
}

fn f32_io(name: &str, d: &[u64]) -> ValueInfo {
    ValueInfo::tensor(name, DType::F32, dims(d))
}

#[test]
fn identity_chain_collapses_and_the_output_keeps_its_name() {
    let mut m = model(
        vec![f32_io("x", &[2, 3])],
        vec![f32_io("y", &[2, 3])],
        vec![
            node("Identity").input("x").output("a").build(),
            node("Identity").input("a").output("b").build(),
            node("Relu").input("b").output("r").build(),
            node("Identity").input("r").output("y").build(),
        ],
        vec![],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Relu"]);
    assert_eq!(m.graph.nodes[0].inputs, ["x"]);
    assert_eq!(m.graph.nodes[0].outputs, ["y"]);
    assert_eq!(r.count("no-ops", "Identity"), 3);
}

#[test]
fn an_identity_from_input_to_output_stays() {
    let mut m = model(
        vec![f32_io("x", &[2])],
        vec![f32_io("y", &[2])],
        vec![node("Identity").input("x").output("y").build()],
        vec![],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Identity"]);
    assert!(!r.changed());
}

fn no_ops_graph() -> Model {
    model(
        vec![f32_io("x", &[2, 3])],
        vec![f32_io("y", &[2, 3])],
        vec![
            node("Cast").input("x").output("c").attr("to", 1i64).build(),
            node("Transpose")
                .input("c")
                .output("t")
                .attr("perm", [0i64, 1])
                .build(),
            node("Concat")
                .input("t")
                .output("k")
                .attr("axis", 0i64)
                .build(),
            node("Dropout").input("k").output("d").build(),
            node("Reshape").inputs(["d", "shape"]).output("r").build(),
            node("Expand").inputs(["r", "shape"]).output("e").build(),
            node("Slice")
                .inputs(["e", "starts", "ends", "axes"])
                .output("s")
                .build(),
            node("Relu").input("s").output("y").build(),
        ],
        vec![
            i64s("shape", &[2, 3]),
            i64s("starts", &[0]),
            i64s("ends", &[i64::MAX]),
            i64s("axes", &[1]),
        ],
    )
}

#[test]
fn every_kind_of_no_op_is_removed() {
    let mut m = no_ops_graph();
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Relu"]);
    assert_eq!(m.graph.nodes[0].inputs, ["x"]);
    assert!(
        m.graph.initializers.is_empty(),
        "{:?}",
        m.graph.initializers
    );
    for op in [
        "Cast",
        "Transpose",
        "Concat",
        "Dropout",
        "Reshape",
        "Expand",
        "Slice",
    ] {
        assert_eq!(r.count("no-ops", op), 1, "{op}");
    }
}

#[test]
fn changing_ops_are_not_no_ops() {
    // A reversing Slice, a real Transpose and a Cast to another type all stay.
    let mut m = model(
        vec![f32_io("x", &[2, 3])],
        vec![ValueInfo::tensor("y", DType::F16, dims(&[3, 2]))],
        vec![
            node("Slice")
                .inputs(["x", "starts", "ends", "axes", "steps"])
                .output("s")
                .build(),
            node("Transpose")
                .input("s")
                .output("t")
                .attr("perm", [1i64, 0])
                .build(),
            node("Cast")
                .input("t")
                .output("y")
                .attr("to", 10i64)
                .build(),
        ],
        vec![
            i64s("starts", &[-1]),
            i64s("ends", &[i64::MIN]),
            i64s("axes", &[1]),
            i64s("steps", &[-1]),
        ],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Slice", "Transpose", "Cast"]);
    // (`starts` and `steps` are both [-1]: stored once.)
    let no_ops = r.passes.iter().find(|p| p.name == "no-ops").unwrap();
    assert!(!no_ops.report.changed(), "{:?}", no_ops.report);
    assert_eq!(r.count("shared-initializers", "initializers"), 1);
}

#[test]
fn duplicate_relu_is_computed_once() {
    let mut m = model(
        vec![f32_io("x", &[4])],
        vec![f32_io("y", &[4])],
        vec![
            node("Relu").input("x").output("a").build(),
            node("Relu").input("x").output("b").build(),
            node("Add").inputs(["a", "b"]).output("y").build(),
        ],
        vec![],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Relu", "Add"]);
    assert_eq!(m.graph.nodes[1].inputs, ["a", "a"]);
    assert_eq!(r.count("cse", "nodes"), 1);
}

#[test]
fn a_duplicate_that_is_a_graph_output_keeps_its_name() {
    let mut m = model(
        vec![f32_io("x", &[4])],
        vec![f32_io("y1", &[4]), f32_io("y2", &[4])],
        vec![
            node("Relu").input("x").output("y1").build(),
            node("Relu").input("x").output("y2").build(),
        ],
        vec![],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Relu", "Relu"]);
    assert!(!r.changed());
}

#[test]
fn random_ops_are_never_merged_or_folded() {
    let mut m = model(
        vec![],
        vec![f32_io("y", &[2])],
        vec![
            node("RandomUniform")
                .output("a")
                .attr("shape", [2i64])
                .build(),
            node("RandomUniform")
                .output("b")
                .attr("shape", [2i64])
                .build(),
            node("Add").inputs(["a", "b"]).output("y").build(),
        ],
        vec![],
    );
    slim(&mut m);
    assert_eq!(ops(&m), ["RandomUniform", "RandomUniform", "Add"]);
}

#[test]
fn identical_initializers_are_stored_once() {
    let w = |name| f32s(name, &[3], vec![1.0, 2.0, 3.0]);
    let mut m = model(
        vec![f32_io("x", &[3])],
        vec![f32_io("y", &[3])],
        vec![
            node("Add").inputs(["x", "w1"]).output("a").build(),
            node("Mul").inputs(["a", "w2"]).output("y").build(),
        ],
        vec![w("w1"), w("w2"), f32s("other", &[3], vec![1.0, 2.0, 4.0])],
    );
    let r = slim(&mut m);
    assert_eq!(r.count("shared-initializers", "initializers"), 1);
    // `other` is unused: dead code.
    let names: Vec<&str> = m
        .graph
        .initializers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["w1"]);
    assert_eq!(m.graph.nodes[1].inputs, ["a", "w1"]);
}

#[test]
fn dead_nodes_and_initializers_go() {
    let mut m = model(
        vec![f32_io("x", &[3])],
        vec![f32_io("y", &[3])],
        vec![
            node("Relu").input("x").output("y").build(),
            node("Neg").input("x").output("unused").build(),
            node("Add")
                .inputs(["unused", "w"])
                .output("unused2")
                .build(),
        ],
        vec![f32s("w", &[3], vec![1.0; 3])],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Relu"]);
    assert!(m.graph.initializers.is_empty());
    assert_eq!(r.count("dead-code", "nodes"), 2);
}

fn shape_gather_graph() -> Model {
    model(
        vec![f32_io("x", &[1, 3, 4, 5])],
        vec![f32_io("y", &[3, 20])],
        vec![
            node("Shape").input("x").output("s").build(),
            node("Gather")
                .inputs(["s", "i"])
                .output("g")
                .attr("axis", 0i64)
                .build(),
            node("Concat")
                .inputs(["g", "minus1"])
                .output("shape")
                .attr("axis", 0i64)
                .build(),
            node("Reshape").inputs(["x", "shape"]).output("y").build(),
        ],
        vec![i64s("i", &[1]), i64s("minus1", &[-1])],
    )
}

#[test]
fn shape_gather_on_a_static_input_folds_to_a_constant() {
    let mut m = shape_gather_graph();
    slim(&mut m);
    assert_eq!(ops(&m), ["Reshape"]);
    let shape = m.graph.initializer(&m.graph.nodes[0].inputs[1]).unwrap();
    assert_eq!(shape.tensor.to_i64_vec().unwrap(), [3, -1]);
}

fn partly_symbolic_graph() -> Model {
    let x = ValueInfo::tensor(
        "x",
        DType::F32,
        vec![Dim::Param("batch".into()), Dim::Fixed(3), Dim::Fixed(4)],
    );
    let y = ValueInfo::tensor(
        "y",
        DType::F32,
        vec![Dim::Param("batch".into()), Dim::Fixed(12)],
    );
    model(
        vec![x],
        vec![y],
        vec![
            node("Shape").input("x").output("s").build(),
            node("Gather")
                .inputs(["s", "i"])
                .output("g")
                .attr("axis", 0i64)
                .build(),
            node("ReduceProd")
                .input("g")
                .output("p")
                .attr("keepdims", 1i64)
                .build(),
            node("Concat")
                .inputs(["minus1", "p"])
                .output("shape")
                .attr("axis", 0i64)
                .build(),
            node("Reshape").inputs(["x", "shape"]).output("y").build(),
        ],
        vec![i64s("i", &[1, 2]), i64s("minus1", &[-1])],
    )
}

#[test]
fn partly_symbolic_shapes_fold_where_the_used_dims_are_static() {
    let mut m = partly_symbolic_graph();
    slim(&mut m);
    assert_eq!(ops(&m), ["Reshape"], "{:?}", m.graph.nodes);
    let shape = m.graph.initializer(&m.graph.nodes[0].inputs[1]).unwrap();
    assert_eq!(shape.tensor.to_i64_vec().unwrap(), [-1, 12]);
}

#[test]
fn a_symbolic_dim_is_not_folded() {
    // Rank 2: a rank-1 to rank-1 Reshape is a no-op whatever its shape input.
    let x = ValueInfo::tensor(
        "x",
        DType::F32,
        vec![Dim::Param("batch".into()), Dim::Fixed(3)],
    );
    let y = ValueInfo::tensor(
        "y",
        DType::F32,
        vec![Dim::Param("batch".into()), Dim::Fixed(3)],
    );
    let mut m = model(
        vec![x],
        vec![y],
        vec![
            node("Shape").input("x").output("s").build(),
            node("Reshape").inputs(["x", "s"]).output("y").build(),
        ],
        vec![],
    );
    slim(&mut m);
    assert_eq!(ops(&m), ["Shape", "Reshape"]);
}

fn constants_graph() -> Model {
    model(
        vec![f32_io("x", &[100, 100])],
        vec![f32_io("y", &[100, 100])],
        vec![
            node("Constant")
                .output("one")
                .attr("value", Tensor::scalar(1.0f32))
                .build(),
            node("Add").inputs(["one", "one"]).output("two").build(),
            node("ConstantOfShape")
                .input("shape")
                .output("big")
                .attr("value", Tensor::from_vec(vec![1], vec![2.0f32]).unwrap())
                .build(),
            node("Mul").inputs(["big", "two"]).output("m").build(),
            node("Add").inputs(["x", "m"]).output("y").build(),
        ],
        vec![i64s("shape", &[100, 100])],
    )
}

#[test]
fn constants_fold_and_a_fold_that_would_inflate_stays() {
    let mut m = constants_graph();
    let r = slim(&mut m);
    // Constant -> initializer; Add(1, 1) folds (4 bytes from 8); the 40 kB ConstantOfShape
    // from 16 bytes stays, and so does the Mul reading it.
    assert_eq!(ops(&m), ["ConstantOfShape", "Mul", "Add"]);
    assert_eq!(r.count("fold-constants", "constants"), 1);
    assert_eq!(r.count("fold-constants", "nodes"), 1);
    let two = m.graph.initializer("two").unwrap();
    assert_eq!(two.tensor.to_f64_vec().unwrap(), [2.0]);
    let size: usize = m
        .graph
        .initializers
        .iter()
        .map(|t| t.tensor.byte_size())
        .sum();
    assert!(size <= 16 + 4, "{size}");
}

#[test]
fn a_huge_constant_of_shape_is_neither_folded_nor_allocated() {
    let huge = 1i64 << 40;
    let mut m = model(
        vec![f32_io("x", &[1])],
        vec![ValueInfo::tensor("y", DType::F32, vec![Dim::Unknown; 3])],
        vec![
            node("ConstantOfShape")
                .input("shape")
                .output("big")
                .attr("value", Tensor::from_vec(vec![1], vec![1.0f32]).unwrap())
                .build(),
            node("Add").inputs(["x", "big"]).output("y").build(),
        ],
        vec![i64s("shape", &[huge, huge, huge])],
    );
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["ConstantOfShape", "Add"]);
    assert!(!r.changed());
}

#[test]
fn hand_built_graphs_agree_with_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    for (name, original) in [
        ("no_ops", no_ops_graph()),
        ("shape_gather", shape_gather_graph()),
        ("partly_symbolic", partly_symbolic_graph()),
        ("constants", constants_graph()),
    ] {
        let mut m = original.clone();
        onnxide_slim::slim(&mut m).unwrap();
        let (a, b) = (
            dir.path().join(format!("{name}.onnx")),
            dir.path().join(format!("{name}_slim.onnx")),
        );
        onnxide_ir::save(&original, &a, &Default::default()).unwrap();
        onnxide_ir::save(&m, &b, &Default::default()).unwrap();
        pairs.push(format!("{}={}", a.display(), b.display()));
    }
    pairs.extend(["--dim", "batch=2"].map(String::from));
    let results = onnxide_tests::oracle::run_json("slim_check.py", &pairs);
    for r in results.as_array().unwrap() {
        let name = r["original"].as_str().unwrap();
        assert_eq!(r["outputs_same"], true, "{name}");
        assert!(
            r["check_slim"].is_null() || !r["check_original"].is_null(),
            "{name}: {r}"
        );
        for (o, d) in r["max_rel_diff"].as_object().unwrap() {
            // The same kernels on both sides except folding: exact agreement expected.
            assert_eq!(d.as_f64(), Some(0.0), "{name}: {o}: {d}");
        }
    }
}
