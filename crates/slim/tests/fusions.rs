//! One hand-made graph per fusion and chain pass: the rewrite it makes (ops, inputs,
//! attributes), its count in the report, a second slim changing nothing, and onnxruntime's
//! outputs of the original and the slimmed model on a seeded input agreeing within
//! [`REL_TOL`] (|Δ| ≤ 1e-5 · max(1, |original|), one `slim_check.py` run for every graph).
//! Graphs that must not be rewritten (a reflect Pad, a 3-D MatMul, a full-size Mul, Concats
//! on different axes) are in the same graphs.

use onnxide_ir::rewrite::{node, structural_problems, RunReport};
use onnxide_ir::{DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo};
use onnxide_tests::oracle;

/// |slim − original| ≤ REL_TOL · max(1, |original|), per element.
const REL_TOL: f64 = 1e-5;

fn io(name: &str, d: &[u64]) -> ValueInfo {
    ValueInfo::tensor(name, DType::F32, d.iter().map(|&n| Dim::Fixed(n)).collect())
}

fn model(
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    nodes: Vec<Node>,
    inits: Vec<NamedTensor>,
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
            initializers: inits,
            ..Graph::default()
        },
        ..Model::default()
    }
}

/// Seeded values in [-1, 1) (a small LCG: the test needs no RNG crate).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn f32s(name: &str, shape: &[usize], seed: u64) -> NamedTensor {
    let n = shape.iter().product();
    NamedTensor::new(
        name,
        Tensor::from_vec(shape.to_vec(), values(n, seed)).unwrap(),
    )
}

fn f32c(name: &str, shape: &[usize], v: Vec<f32>) -> NamedTensor {
    NamedTensor::new(name, Tensor::from_vec(shape.to_vec(), v).unwrap())
}

fn i64s(name: &str, v: &[i64]) -> NamedTensor {
    NamedTensor::new(name, Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap())
}

fn ops(m: &Model) -> Vec<&str> {
    m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

fn slim(m: &mut Model) -> RunReport {
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

fn conv_bn() -> Model {
    let bn = |name: &str, x: &str, y: &str, p: &str| {
        node("BatchNormalization")
            .name(name)
            .inputs([
                x.to_string(),
                format!("{p}g"),
                format!("{p}b"),
                format!("{p}m"),
                format!("{p}v"),
            ])
            .output(y)
            .attr("epsilon", 1e-3f32)
            .build()
    };
    let params = |p: &str, c: usize, seed: u64| {
        let var: Vec<f32> = values(c, seed).iter().map(|v| v.abs() + 0.1).collect();
        vec![
            f32s(&format!("{p}g"), &[c], seed + 1),
            f32s(&format!("{p}b"), &[c], seed + 2),
            f32s(&format!("{p}m"), &[c], seed + 3),
            f32c(&format!("{p}v"), &[c], var),
        ]
    };
    let mut inits = vec![
        f32s("w", &[4, 3, 3, 3], 1),
        f32s("bias", &[4], 2),
        f32s("wt", &[4, 3, 3, 3], 3),
    ];
    inits.extend(params("p", 4, 10));
    inits.extend(params("q", 6, 20));
    model(
        vec![io("x", &[1, 3, 8, 8]), io("z", &[1, 4, 5, 5])],
        vec![io("y", &[1, 4, 8, 8]), io("yt", &[1, 6, 7, 7])],
        vec![
            node("Conv")
                .name("conv")
                .inputs(["x", "w", "bias"])
                .output("c")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            bn("bn", "c", "y", "p"),
            node("ConvTranspose")
                .name("convt")
                .inputs(["z", "wt"])
                .output("ct")
                .attr("group", 2i64)
                .build(),
            bn("bnt", "ct", "yt", "q"),
        ],
        inits,
    )
}

#[test]
fn conv_and_conv_transpose_absorb_batch_normalization() {
    let mut m = conv_bn();
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Conv", "ConvTranspose"]);
    assert_eq!(m.graph.nodes[0].outputs, ["y"]);
    assert_eq!(m.graph.nodes[1].inputs.len(), 3, "a bias was added");
    assert_eq!(r.count("fuse-conv-bn", "Conv"), 1);
    assert_eq!(r.count("fuse-conv-bn", "ConvTranspose"), 1);
}

fn conv_add_mul() -> Model {
    model(
        vec![io("x", &[1, 3, 8, 8])],
        vec![
            io("y1", &[1, 4, 8, 8]),
            io("y2", &[1, 4, 8, 8]),
            io("y3", &[1, 4, 8, 8]),
            io("y4", &[1, 4, 8, 8]),
        ],
        vec![
            node("Conv")
                .inputs(["x", "w"])
                .output("c1")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            node("Add").inputs(["c1", "k1"]).output("y1").build(),
            node("Conv")
                .inputs(["x", "w", "b"])
                .output("c2")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            node("Add").inputs(["k2", "c2"]).output("a2").build(),
            node("Mul").inputs(["a2", "m"]).output("y2").build(),
            node("Conv")
                .inputs(["x", "w", "b"])
                .output("c3")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            node("Mul").inputs(["c3", "s"]).output("y3").build(),
            // Not per channel: stays.
            node("Conv")
                .inputs(["x", "w"])
                .output("c4")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            node("Mul").inputs(["c4", "full"]).output("y4").build(),
        ],
        vec![
            f32s("w", &[4, 3, 3, 3], 1),
            f32s("b", &[4], 2),
            f32s("k1", &[1, 4, 1, 1], 3),
            f32s("k2", &[4, 1, 1], 4),
            f32s("m", &[1, 4, 1, 1], 5),
            f32s("s", &[1], 6),
            f32s("full", &[1, 4, 8, 8], 7),
        ],
    )
}

#[test]
fn conv_absorbs_per_channel_add_and_mul() {
    let mut m = conv_add_mul();
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Conv", "Conv", "Conv", "Conv", "Mul"]);
    assert_eq!(r.count("fuse-conv-add", "Add"), 2);
    assert_eq!(r.count("fuse-conv-mul", "Mul"), 2);
}

fn gemm() -> Model {
    model(
        vec![io("a", &[3, 5]), io("a3", &[2, 3, 5])],
        vec![io("y", &[3, 4]), io("y3", &[2, 3, 4])],
        vec![
            node("MatMul").inputs(["a", "bm"]).output("p").build(),
            node("Add").inputs(["p", "cv"]).output("y").build(),
            node("MatMul").inputs(["a3", "bm"]).output("p3").build(),
            node("Add").inputs(["cv", "p3"]).output("y3").build(),
        ],
        vec![f32s("bm", &[5, 4], 1), f32s("cv", &[4], 2)],
    )
}

#[test]
fn matmul_add_becomes_gemm_for_2d_a_only() {
    let mut m = gemm();
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Gemm", "MatMul", "Add"]);
    assert_eq!(m.graph.nodes[0].inputs, ["a", "bm", "cv"]);
    assert_eq!(r.count("fuse-gemm", "MatMul+Add"), 1);
}

fn pad_conv() -> Model {
    model(
        vec![io("x", &[1, 3, 8, 8])],
        vec![io("y", &[1, 4, 11, 11]), io("y2", &[1, 4, 8, 8])],
        vec![
            node("Pad")
                .inputs(["x", "pads"])
                .output("p")
                .attr("mode", "constant")
                .build(),
            node("Conv")
                .inputs(["p", "w"])
                .output("y")
                .attr("pads", vec![1i64, 1, 1, 1])
                .build(),
            node("Pad")
                .inputs(["x", "pads1"])
                .output("r")
                .attr("mode", "reflect")
                .build(),
            node("Conv").inputs(["r", "w"]).output("y2").build(),
        ],
        vec![
            i64s("pads", &[0, 0, 1, 2, 0, 0, 2, 1]),
            i64s("pads1", &[0, 0, 1, 1, 0, 0, 1, 1]),
            f32s("w", &[4, 3, 3, 3], 1),
        ],
    )
}

#[test]
fn zero_pad_folds_into_conv_pads_and_reflect_stays() {
    let mut m = pad_conv();
    let r = slim(&mut m);
    assert_eq!(ops(&m), ["Conv", "Pad", "Conv"]);
    assert_eq!(
        m.graph.nodes[0].attr_ints("pads"),
        Some(&[2i64, 3, 3, 2][..])
    );
    assert_eq!(m.graph.nodes[0].inputs[0], "x");
    assert_eq!(r.count("fuse-pad-conv", "Pad"), 1);
}

fn chains() -> Model {
    model(
        vec![
            io("x", &[2, 3, 4]),
            io("v", &[4, 6, 8]),
            io("a", &[2, 3]),
            io("q", &[2, 1, 3]),
        ],
        vec![
            io("t", &[4, 3, 2]),
            io("t2", &[2, 3, 4]),
            io("r", &[6, 2, 2]),
            io("u", &[2, 3]),
            io("s", &[2, 4, 8]),
            io("s2", &[4, 6, 3]),
            io("k", &[6, 3]),
            io("k2", &[2, 9]),
            io("qy", &[2, 1, 3]),
            io("uu", &[1, 2, 1, 3]),
            io("tr", &[6, 1]),
        ],
        vec![
            node("Transpose")
                .input("x")
                .output("t0")
                .attr("perm", vec![1i64, 0, 2])
                .build(),
            node("Transpose")
                .input("t0")
                .output("t")
                .attr("perm", vec![2i64, 0, 1])
                .build(),
            node("Transpose")
                .input("x")
                .output("i0")
                .attr("perm", vec![1i64, 0, 2])
                .build(),
            node("Transpose")
                .input("i0")
                .output("i1")
                .attr("perm", vec![1i64, 0, 2])
                .build(),
            node("Relu").input("i1").output("t2").build(),
            node("Reshape").inputs(["x", "sh1"]).output("r0").build(),
            node("Reshape").inputs(["r0", "sh2"]).output("r1").build(),
            node("Relu").input("r1").output("r").build(),
            node("Unsqueeze").inputs(["a", "ax0"]).output("u0").build(),
            node("Squeeze").inputs(["u0", "ax0"]).output("u1").build(),
            node("Squeeze").inputs(["u1x", "ax1"]).output("u3").build(),
            node("Unsqueeze")
                .inputs(["a", "axm1"])
                .output("u1x")
                .build(),
            node("Add").inputs(["u1", "u3"]).output("u").build(),
            node("Slice")
                .inputs(["v", "s_st", "s_en", "ax0"])
                .output("s0")
                .build(),
            node("Slice")
                .inputs(["s0", "s_st2", "s_en2", "ax1"])
                .output("s1")
                .build(),
            node("Relu").input("s1").output("s").build(),
            node("Slice")
                .inputs(["v", "c_st", "c_en", "ax2"])
                .output("c0")
                .build(),
            node("Slice")
                .inputs(["c0", "c_st2", "c_en2", "ax2"])
                .output("s2")
                .build(),
            node("Concat")
                .inputs(["a", "a"])
                .output("k0")
                .attr("axis", 0i64)
                .build(),
            node("Concat")
                .inputs(["k0", "a"])
                .output("k1")
                .attr("axis", -2i64)
                .build(),
            node("Relu").input("k1").output("k").build(),
            node("Concat")
                .inputs(["a", "a"])
                .output("n0")
                .attr("axis", 0i64)
                .build(),
            node("Concat")
                .inputs(["a", "a", "a"])
                .output("k2")
                .attr("axis", 1i64)
                .build(),
            node("Identity").input("n0").output("n1").build(),
            node("Squeeze").inputs(["q", "ax1"]).output("q0").build(),
            node("Unsqueeze")
                .inputs(["q0", "axm1"])
                .output("q1")
                .build(),
            node("Relu").input("q1").output("qy").build(),
            node("Unsqueeze").inputs(["a", "ax0"]).output("uu0").build(),
            node("Unsqueeze")
                .inputs(["uu0", "axm1"])
                .output("uu")
                .build(),
            node("Reshape").inputs(["a", "sh6"]).output("tr0").build(),
            node("Transpose")
                .input("tr0")
                .output("tr1")
                .attr("perm", vec![1i64, 0])
                .build(),
            node("Relu").input("tr1").output("tr").build(),
        ],
        vec![
            i64s("sh1", &[6, 4]),
            i64s("sh2", &[0, 2, 2]),
            i64s("sh6", &[1, 6]),
            i64s("ax0", &[0]),
            i64s("ax1", &[1]),
            i64s("ax2", &[2]),
            i64s("axm1", &[-2]),
            i64s("s_st", &[1]),
            i64s("s_en", &[3]),
            i64s("s_st2", &[2]),
            i64s("s_en2", &[i64::MAX]),
            i64s("c_st", &[1]),
            i64s("c_en", &[7]),
            i64s("c_st2", &[2]),
            i64s("c_en2", &[-1]),
        ],
    )
}

#[test]
fn transpose_reshape_squeeze_slice_and_concat_chains_collapse() {
    let mut m = chains();
    let r = slim(&mut m);
    assert_eq!(
        ops(&m),
        [
            "Transpose",
            "Relu",
            "Reshape",
            "Relu",
            "Add",
            "Slice",
            "Relu",
            "Slice",
            "Concat",
            "Relu",
            "Concat",
            "Relu",
            "Unsqueeze",
            "Reshape",
            "Relu"
        ],
        "{:#?}",
        m.graph.nodes
    );
    assert_eq!(m.graph.nodes[0].attr_ints("perm"), Some(&[2i64, 1, 0][..]));
    assert_eq!(
        m.graph.nodes[1].inputs,
        ["x"],
        "Transpose pair with identity perm removed"
    );
    assert_eq!(
        m.graph.nodes[4].inputs,
        ["a", "a"],
        "both squeeze pairs cancel"
    );
    let concat = &m.graph.nodes[8];
    assert_eq!(concat.inputs, ["a", "a", "a"]);
    assert_eq!(r.count("transpose-chains", "Transpose"), 2);
    assert_eq!(r.count("reshape-chains", "Reshape"), 2);
    assert_eq!(r.count("transpose-chains", "Transpose as Reshape"), 1);
    assert_eq!(r.count("squeeze-pairs", "Unsqueeze+Unsqueeze"), 1);
    let uu = &m.graph.nodes[m.graph.nodes.len() - 3];
    let axes = m
        .graph
        .initializer(&uu.inputs[1])
        .unwrap()
        .tensor
        .to_i64_vec();
    assert_eq!((uu.inputs[0].as_str(), axes), ("a", Some(vec![0, 2])));
    assert_eq!(r.count("squeeze-pairs", "Unsqueeze+Squeeze"), 2);
    assert_eq!(r.count("squeeze-pairs", "Squeeze+Unsqueeze"), 1);
    assert_eq!(r.count("slice-chains", "Slice"), 2);
    assert_eq!(r.count("concat-chains", "Concat"), 1);
}

#[test]
fn onnxruntime_outputs_are_unchanged_by_every_fusion() {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    for (name, original) in [
        ("conv_bn", conv_bn()),
        ("conv_add_mul", conv_add_mul()),
        ("gemm", gemm()),
        ("pad_conv", pad_conv()),
        ("chains", chains()),
    ] {
        let mut m = original.clone();
        slim(&mut m);
        let (a, b) = (
            dir.path().join(format!("{name}.onnx")),
            dir.path().join(format!("{name}_slim.onnx")),
        );
        onnxide_ir::save(&original, &a, &Default::default()).unwrap();
        onnxide_ir::save(&m, &b, &Default::default()).unwrap();
        pairs.push(format!("{}={}", a.display(), b.display()));
    }
    let results = oracle::run_json("slim_check.py", &pairs);
    let results = results.as_array().expect("a JSON list");
    assert_eq!(results.len(), pairs.len());
    for r in results {
        let name = r["original"].as_str().unwrap_or("?");
        assert_eq!(r["outputs_same"], true, "{name}");
        assert!(r["check_slim"].is_null(), "{name}: {}", r["check_slim"]);
        for (output, d) in r["max_rel_diff"].as_object().expect("diffs") {
            let d = d
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {output}: {d}"));
            println!("{name}: {output}: max relative |Δ| {d:e}");
            assert!(d <= REL_TOL, "{name}: {output}: max relative |Δ| {d:e}");
        }
    }
}
