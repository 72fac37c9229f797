//! One small hand-built graph per adapter (and per refusal): converted across its boundaries,
//! then run under onnxruntime next to the original (relative 1e-5) and checked by
//! `onnx.checker.check_model(full_check=True)`, one Python call per graph.

use onnxide_convert::opset::convert_opset;
use onnxide_ir::rewrite::node;
use onnxide_ir::{DType, Dim, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo, ValueType};
use onnxide_tests::oracle;

const REL_TOL: f64 = 1e-5;

fn ints(name: &str, v: &[i64]) -> NamedTensor {
    NamedTensor::new(
        name,
        Tensor::from_vec(vec![v.len()], v.to_vec()).expect("tensor"),
    )
}

fn floats(name: &str, v: &[f32]) -> NamedTensor {
    NamedTensor::new(
        name,
        Tensor::from_vec(vec![v.len()], v.to_vec()).expect("tensor"),
    )
}

/// A model at `opset` reading float `x` of `shape`, with `outputs` (float, shape unknown).
fn model(
    opset: i64,
    shape: &[u64],
    nodes: Vec<Node>,
    inits: Vec<NamedTensor>,
    outputs: &[&str],
) -> Model {
    let mut m = Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: opset,
        }],
        ..Model::default()
    };
    m.graph.name = "g".into();
    m.graph.inputs = vec![ValueInfo::tensor(
        "x",
        DType::F32,
        shape.iter().map(|&d| Dim::Fixed(d)).collect(),
    )];
    m.graph.outputs = outputs
        .iter()
        .map(|o| ValueInfo {
            name: o.to_string(),
            ty: ValueType::Tensor {
                elem: Some(DType::F32),
                shape: None,
            },
            doc_string: String::new(),
            metadata_props: Vec::new(),
        })
        .collect();
    m.graph.nodes = nodes;
    m.graph.initializers = inits;
    m.ir_version = onnxide_convert::opset::min_ir_for_opset(opset);
    // Output shapes from inference (onnx.checker wants them declared).
    let inferred = onnxide_ir::infer::infer(&m).expect("infer");
    for o in &mut m.graph.outputs {
        if let Some(v) = inferred.value_info(&o.name) {
            o.ty = v.ty;
        }
    }
    m
}

/// Converts `m` to each target (and back), runs all under onnxruntime next to `m`.
fn check_equal(case: &str, m: &Model, targets: &[i64]) {
    let own = m.default_opset().expect("opset");
    let dir = tempfile::tempdir().expect("tempdir");
    let orig = dir.path().join("orig.onnx");
    onnxide_ir::save(m, &orig, &Default::default()).expect("save");
    let mut args = vec![
        "--shape".to_string(),
        shape_arg(m),
        orig.display().to_string(),
    ];
    for &t in targets {
        let mut c = m.clone();
        convert_opset(&mut c, t).unwrap_or_else(|e| panic!("{case}: {own} -> {t}: {e}"));
        let p = dir.path().join(format!("to{t}.onnx"));
        onnxide_ir::save(&c, &p, &Default::default()).expect("save");
        args.push(p.display().to_string());
        convert_opset(&mut c, own).unwrap_or_else(|e| panic!("{case}: {t} -> {own}: {e}"));
        let p = dir.path().join(format!("to{t}_back.onnx"));
        onnxide_ir::save(&c, &p, &Default::default()).expect("save");
        args.push(p.display().to_string());
    }
    let report = oracle::run_json("opset_check.py", &args);
    let results = report["variants"].as_array().expect("variants");
    assert_eq!(results.len(), 2 * targets.len(), "{case}");
    for v in results {
        let name = v["path"].as_str().unwrap_or("?");
        assert_eq!(v["checker"], "ok", "{case}: {name}: {}", v["checker"]);
        assert_eq!(
            v["shapes_equal"], true,
            "{case}: {name}: outputs differ in shape"
        );
        let r = v["max_rel"].as_f64().expect("max_rel");
        assert!(r <= REL_TOL, "{case}: {name}: relative difference {r:e}");
    }
    println!("{case}: {own} -> {targets:?} and back: equal under onnxruntime");
}

fn shape_arg(m: &Model) -> String {
    let shape = m.graph.inputs[0].shape().expect("shape");
    shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            _ => "1".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Converting `m` to `target` fails, the model is unchanged, and the message has each of `needles`.
fn check_refused(m: &Model, target: i64, needles: &[&str]) {
    let mut c = m.clone();
    let msg = match convert_opset(&mut c, target) {
        Ok(_) => panic!("conversion to {target} should fail"),
        Err(e) => e.to_string(),
    };
    assert_eq!(&c, m, "a refused conversion changed the model");
    for n in needles {
        assert!(msg.contains(n), "'{msg}' lacks '{n}'");
    }
}

#[test]
fn split() {
    // Sizes as an attribute (11) -> input (13) -> input (18).
    let s11 = model(
        11,
        &[2, 6, 4],
        vec![node("Split")
            .name("s")
            .input("x")
            .outputs(["a", "b"])
            .attr("axis", 1i64)
            .attr("split", vec![2i64, 4])
            .build()],
        vec![],
        &["a", "b"],
    );
    check_equal("Split sizes attribute", &s11, &[13, 18, 22]);
    // Equal parts without sizes (13) -> num_outputs (18).
    let s13 = model(
        13,
        &[2, 6, 4],
        vec![node("Split")
            .name("s")
            .input("x")
            .outputs(["a", "b", "c"])
            .attr("axis", 1i64)
            .build()],
        vec![],
        &["a", "b", "c"],
    );
    check_equal("Split equal parts", &s13, &[11, 18]);
    // num_outputs with a smaller last part (18) -> sizes [2, 2, 1] below 18.
    let s18 = model(
        18,
        &[2, 5],
        vec![node("Split")
            .name("s")
            .input("x")
            .outputs(["a", "b", "c"])
            .attr("axis", -1i64)
            .attr("num_outputs", 3i64)
            .build()],
        vec![],
        &["a", "b", "c"],
    );
    check_equal("Split num_outputs uneven", &s18, &[11, 13, 17]);
    // Sizes computed at run time (here by an Identity) cannot become an attribute.
    let dynamic = model(
        13,
        &[6, 2],
        vec![
            node("Identity")
                .name("id")
                .input("sizes")
                .output("sz")
                .build(),
            node("Split")
                .name("dyn_split")
                .inputs(["x", "sz"])
                .outputs(["a", "b"])
                .build(),
        ],
        vec![ints("sizes", &[2, 4])],
        &["a", "b"],
    );
    check_refused(&dynamic, 11, &["Split 'dyn_split'", "computed at run time"]);
}

#[test]
fn axes_ops() {
    let sq = model(
        11,
        &[2, 1, 3],
        vec![
            node("Squeeze")
                .name("sq")
                .input("x")
                .output("y")
                .attr("axes", vec![1i64])
                .build(),
            node("Unsqueeze")
                .name("un")
                .input("y")
                .output("z")
                .attr("axes", vec![0i64, 3])
                .build(),
            node("ReduceSum")
                .name("rs")
                .input("z")
                .output("s")
                .attr("axes", vec![1i64])
                .attr("keepdims", 0i64)
                .build(),
            node("ReduceMean")
                .name("rm")
                .input("s")
                .output("t")
                .attr("axes", vec![-1i64])
                .build(),
        ],
        vec![],
        &["t"],
    );
    check_equal("Squeeze/Unsqueeze/ReduceSum/ReduceMean", &sq, &[13, 18, 22]);
    // From inputs (18) down: constant axes become attributes.
    let r18 = model(
        18,
        &[2, 3, 4],
        vec![
            node("ReduceMax")
                .name("rmax")
                .inputs(["x", "ax"])
                .output("m")
                .build(),
            node("Unsqueeze")
                .name("un")
                .inputs(["m", "ax0"])
                .output("y")
                .build(),
        ],
        vec![ints("ax", &[2]), ints("ax0", &[0])],
        &["y"],
    );
    check_equal("ReduceMax/Unsqueeze axes inputs", &r18, &[11, 13, 17]);
    // noop_with_empty_axes=1 without axes is an identity with no older form.
    let noop = model(
        18,
        &[2, 3],
        vec![node("ReduceMax")
            .name("noop")
            .input("x")
            .output("y")
            .attr("noop_with_empty_axes", 1i64)
            .build()],
        vec![],
        &["y"],
    );
    check_refused(&noop, 17, &["ReduceMax 'noop'", "noop_with_empty_axes"]);
}

#[test]
fn resize() {
    // Opset 18 form (no roi, scales) down to 11/13 and up to 19/22.
    let r18 = model(
        18,
        &[1, 2, 3, 3],
        vec![node("Resize")
            .name("up")
            .inputs(["x", "", "scales"])
            .output("y")
            .attr("mode", "nearest")
            .build()],
        vec![floats("scales", &[1.0, 1.0, 2.0, 2.0])],
        &["y"],
    );
    check_equal("Resize scales", &r18, &[11, 13, 19, 22]);
    // Sizes, linear, from 11 (roi and scales as empty tensors).
    let r11 = model(
        11,
        &[1, 2, 3, 3],
        vec![node("Resize")
            .name("up")
            .inputs(["x", "roi", "sc", "sizes"])
            .output("y")
            .attr("mode", "linear")
            .attr("coordinate_transformation_mode", "half_pixel")
            .build()],
        vec![
            floats("roi", &[]),
            floats("sc", &[]),
            ints("sizes", &[1, 2, 5, 7]),
        ],
        &["y"],
    );
    check_equal("Resize sizes linear", &r11, &[13, 18, 19]);
    let aa = model(
        18,
        &[1, 2, 4, 4],
        vec![node("Resize")
            .name("aa")
            .inputs(["x", "", "scales"])
            .output("y")
            .attr("mode", "linear")
            .attr("antialias", 1i64)
            .build()],
        vec![floats("scales", &[1.0, 1.0, 0.5, 0.5])],
        &["y"],
    );
    check_refused(&aa, 17, &["Resize 'aa'", "antialias"]);
}

#[test]
fn softmax() {
    // Before 13, axis 1 of a rank-3 input normalizes over the flattened tail.
    let old = model(
        11,
        &[2, 3, 4],
        vec![
            node("Softmax")
                .name("sm")
                .input("x")
                .output("y")
                .attr("axis", 1i64)
                .build(),
            node("LogSoftmax")
                .name("lsm")
                .input("x")
                .output("z")
                .build(),
        ],
        vec![],
        &["y", "z"],
    );
    check_equal("Softmax/LogSoftmax old axis", &old, &[13, 18, 22]);
    // From 13, one axis that is not the last.
    let new = model(
        13,
        &[2, 3, 4],
        vec![
            node("Softmax")
                .name("sm")
                .input("x")
                .output("y")
                .attr("axis", 1i64)
                .build(),
            node("LogSoftmax")
                .name("lsm")
                .input("x")
                .output("z")
                .build(),
        ],
        vec![],
        &["y", "z"],
    );
    check_equal("Softmax/LogSoftmax new axis", &new, &[11, 12]);
}

#[test]
fn pad_clip_reshape() {
    let m = model(
        11,
        &[2, 3],
        vec![
            node("Pad")
                .name("pad")
                .inputs(["x", "pads", "cv"])
                .output("p")
                .attr("mode", "constant")
                .build(),
            node("Clip")
                .name("clip")
                .inputs(["p", "lo", "hi"])
                .output("c")
                .build(),
            node("Reshape")
                .name("rs")
                .inputs(["c", "shape"])
                .output("y")
                .build(),
        ],
        vec![
            ints("pads", &[0, 1, 1, 0]),
            floats("cv", &[0.5]),
            floats("lo", &[0.2]),
            floats("hi", &[0.8]),
            ints("shape", &[-1]),
        ],
        &["y"],
    );
    // Scalars for constant_value/min/max.
    let mut m = m;
    for t in m
        .graph
        .initializers
        .iter_mut()
        .filter(|t| ["cv", "lo", "hi"].contains(&t.name.as_str()))
    {
        t.tensor = t.tensor.clone().reshaped(vec![]).expect("scalar");
    }
    check_equal("Pad/Clip/Reshape", &m, &[13, 14, 18, 19, 22]);
    let axes = model(
        18,
        &[2, 3],
        vec![node("Pad")
            .name("pad_axes")
            .inputs(["x", "pads", "", "axes"])
            .output("y")
            .build()],
        vec![ints("pads", &[1, 1]), ints("axes", &[1])],
        &["y"],
    );
    check_refused(&axes, 17, &["Pad 'pad_axes'", "axes input"]);
    let az = model(
        14,
        &[2, 3],
        vec![node("Reshape")
            .name("az")
            .inputs(["x", "shape"])
            .output("y")
            .attr("allowzero", 1i64)
            .build()],
        vec![ints("shape", &[3, 2])],
        &["y"],
    );
    check_refused(&az, 13, &["Reshape 'az'", "allowzero"]);
}

#[test]
fn refusals_name_every_node() {
    let m = model(
        18,
        &[3, 3],
        vec![
            node("Trilu").name("tri").input("x").output("t").build(),
            node("Softmax").name("sm").input("t").output("s").build(),
            node("Celu").name("celu").input("s").output("y").build(),
        ],
        vec![],
        &["y"],
    );
    check_refused(
        &m,
        11,
        &[
            "Trilu 'tri': Trilu exists only from opset 14",
            "Celu 'celu': Celu exists only from opset 12",
        ],
    );
    check_refused(&m, 6, &["outside the supported range"]);
}

#[test]
fn subgraphs_are_converted() {
    // If whose branches ReduceSum with axes inputs (13), outer constants, read an outer value:
    // below 13 the axes become attributes inside the branches (non-negative below 11).
    let branch = |name: &str, op: &str, axes: &str| onnxide_ir::Graph {
        name: name.into(),
        nodes: vec![node(op)
            .name(format!("{name}_op"))
            .inputs(["x", axes])
            .output(format!("{name}_y"))
            .build()],
        outputs: vec![ValueInfo {
            name: format!("{name}_y"),
            ty: ValueType::Tensor {
                elem: Some(DType::F32),
                shape: Some(vec![Dim::Fixed(1), Dim::Fixed(3)]),
            },
            doc_string: String::new(),
            metadata_props: Vec::new(),
        }],
        ..Default::default()
    };
    let if_node = node("If")
        .name("if")
        .input("c")
        .output("y")
        .attr(
            "then_branch",
            onnxide_ir::AttrValue::Graph(Box::new(branch("then", "ReduceSum", "axes_a"))),
        )
        .attr(
            "else_branch",
            onnxide_ir::AttrValue::Graph(Box::new(branch("else", "ReduceSum", "axes_b"))),
        )
        .build();
    let mut m = model(
        13,
        &[2, 3],
        vec![
            node("ReduceSum")
                .name("total")
                .input("x")
                .output("s")
                .attr("keepdims", 0i64)
                .build(),
            node("Greater")
                .name("gt")
                .inputs(["s", "zero"])
                .output("c")
                .build(),
            if_node,
        ],
        vec![
            ints("axes_a", &[0]),
            ints("axes_b", &[-2]),
            NamedTensor::new("zero", Tensor::scalar(0.0f32)),
        ],
        &["y"],
    );
    // (onnx.checker wants declared output shapes at opset 7.)
    m.graph.outputs[0].ty = ValueType::Tensor {
        elem: Some(DType::F32),
        shape: Some(vec![Dim::Fixed(1), Dim::Fixed(3)]),
    };
    let mut c = m.clone();
    let r = convert_opset(&mut c, 11).expect("convert");
    assert!(
        r.rewritten
            .iter()
            .any(|w| w.node == "If 'if' > ReduceSum 'then_op'"),
        "{:?}",
        r.rewritten
    );
    check_equal("If branches", &m, &[7, 11, 12, 22]);
}

#[test]
fn old_opsets() {
    // Clip (11), TopK and Slice (10), Pad (11), Resize ↔ Upsample (10/9), Gemm C (11),
    // a negative Softmax axis (11): from 13 down to 7..10 and back.
    let m = model(
        13,
        &[1, 2, 4, 4],
        vec![
            node("Clip")
                .name("clip")
                .inputs(["x", "lo", "hi"])
                .output("c")
                .build(),
            node("Resize")
                .name("up")
                .inputs(["c", "", "scales"])
                .output("r")
                .attr("mode", "nearest")
                .attr("coordinate_transformation_mode", "asymmetric")
                .attr("nearest_mode", "floor")
                .build(),
            node("Slice")
                .name("slice")
                .inputs(["r", "starts", "ends", "axes"])
                .output("s")
                .build(),
            node("Pad")
                .name("pad")
                .inputs(["s", "pads", "pv"])
                .output("p")
                .build(),
            node("Softmax")
                .name("sm")
                .input("p")
                .output("sm_y")
                .attr("axis", -1i64)
                .build(),
            node("Flatten")
                .name("flat")
                .input("sm_y")
                .output("f")
                .attr("axis", -1i64)
                .build(),
            node("TopK")
                .name("topk")
                .inputs(["f", "k"])
                .outputs(["v", "i"])
                .build(),
            node("Gemm")
                .name("gemm")
                .inputs(["v", "w"])
                .output("g")
                .build(),
        ],
        vec![
            NamedTensor::new("lo", Tensor::scalar(0.2f32)),
            NamedTensor::new("hi", Tensor::scalar(0.8f32)),
            floats("scales", &[1.0, 1.0, 2.0, 2.0]),
            ints("starts", &[1]),
            ints("ends", &[7]),
            ints("axes", &[-1]),
            ints("pads", &[0, 0, 1, 0, 0, 0, 1, 0]),
            NamedTensor::new("pv", Tensor::scalar(0.5f32)),
            ints("k", &[3]),
            NamedTensor::new(
                "w",
                Tensor::from_vec(vec![3, 2], vec![1.0f32, -1.0, 0.5, 2.0, 0.0, 1.0])
                    .expect("tensor"),
            ),
        ],
        &["g", "i"],
    );
    check_equal("old opsets", &m, &[7, 8, 9, 10, 11]);
    let mut c = m.clone();
    let r = convert_opset(&mut c, 8).expect("convert");
    let ops: Vec<&str> = c.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert!(ops.contains(&"Upsample"), "{ops:?} ({:?})", r.rewritten);
    assert_eq!(c.ir_version, 4);
    // Mod exists only from 10; GridSample from 16.
    let m = model(
        13,
        &[1, 1, 2, 2],
        vec![
            node("Mod")
                .name("mod")
                .inputs(["x", "x"])
                .output("y")
                .build(),
            node("GridSample")
                .name("gs")
                .inputs(["y", "grid"])
                .output("z")
                .build(),
        ],
        vec![NamedTensor::new(
            "grid",
            Tensor::from_vec(vec![1, 1, 1, 2], vec![0.0f32, 0.0]).expect("tensor"),
        )],
        &["z"],
    );
    check_refused(
        &m,
        9,
        &[
            "Mod 'mod': Mod exists only from opset 10",
            "GridSample 'gs': GridSample exists only from opset 16",
        ],
    );
}
