//! In-place Concat (a batch-1 channel Concat appends to its first input's buffer, which the
//! producer allocated with room for the whole output) against onnxruntime, on a hand-made
//! graph: a concat of conv outputs, of a conv and a graph input (both orders), a concat of a
//! concat, Split parts concatenated again, a concat whose first input is also a graph output,
//! a concat on a later axis; at batch 1 (in place where allowed) and batch 2 (never in place).

use onnxide_ir::{AttrValue, Attribute, DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport};
use onnxide_ir::{Tensor, ValueInfo};
use onnxide_runtime::{Session, SessionOptions};
use onnxide_tests::{max_abs_diff, oracle, repo_root};

/// Largest |onnxide - onnxruntime| accepted: the same convolutions, summed in the same order
/// (onnxide's kernels follow onnxruntime's), then copied: equal up to a rounding or two.
const TOLERANCE: f64 = 1e-5;

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<Attribute>) -> Node {
    Node {
        name: outputs[0].to_string(),
        op_type: op.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attributes: attrs,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Ints(v.to_vec()),
        doc_string: String::new(),
        ref_attr_name: String::new(),
    }
}

fn int(name: &str, v: i64) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Int(v),
        doc_string: String::new(),
        ref_attr_name: String::new(),
    }
}

/// Seeded weights in [-0.5, 0.5).
fn weights(name: &str, shape: &[usize], seed: u64) -> NamedTensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    NamedTensor {
        name: name.into(),
        doc_string: String::new(),
        tensor: Tensor::from_vec(shape.to_vec(), v).unwrap(),
    }
}

fn info(name: &str, dims: &[usize]) -> ValueInfo {
    ValueInfo::tensor(
        name,
        DType::F32,
        dims.iter().map(|&d| Dim::Fixed(d as u64)).collect(),
    )
}

fn model(batch: usize) -> Model {
    let conv = |x: &str, w: &str, y: &str, k: i64| {
        node(
            "Conv",
            &[x, w],
            &[y],
            vec![ints("kernel_shape", &[k, k]), ints("pads", &[k / 2; 4])],
        )
    };
    let cat = |ins: &[&str], y: &str, axis: i64| node("Concat", ins, &[y], vec![int("axis", axis)]);
    let nodes = vec![
        conv("x", "w1", "c1", 3),
        conv("x", "w2", "c2", 1),
        // conv outputs; c1 only read here: in place at batch 1
        cat(&["c1", "c2"], "cat1", 1),
        conv("x", "w3", "c3", 3),
        // a graph input first: not in place
        cat(&["x", "c3"], "cat2", 1),
        conv("x", "w4", "c4", 1),
        // a conv, then a graph input appended; negative axis
        cat(&["c4", "x"], "cat3", -3),
        conv("x", "w5", "c5", 3),
        // a concat of a concat
        cat(&["cat1", "c5"], "cat4", 1),
        // Split parts concatenated again, with a conv of one part between
        conv("x", "w6", "c6", 1),
        node(
            "Split",
            &["c6"],
            &["s0", "s1"],
            vec![int("axis", 1), int("num_outputs", 2)],
        ),
        conv("s1", "w7", "m", 3),
        cat(&["s0", "s1", "m"], "cat5", 1),
        // first input also a graph output: not in place, c7 stays as it was
        conv("x", "w8", "c7", 1),
        cat(&["c7", "c2"], "cat6", 1),
        // along the width: not contiguous, not in place
        conv("x", "w9", "c8", 3),
        cat(&["c8", "c1b"], "cat7", 3),
        conv("x", "w10", "c1b", 1),
    ];
    let hw = 12;
    let out = |name: &str, c: usize| info(name, &[batch, c, hw, hw]);
    Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            name: "concat_in_place".into(),
            nodes,
            inputs: vec![info("x", &[batch, 3, hw, hw])],
            outputs: vec![
                out("cat2", 3 + 6),
                out("cat3", 5 + 3),
                out("cat4", 4 + 5 + 7),
                out("cat5", 8 + 5),
                out("c7", 2),
                out("cat6", 2 + 5),
                info("cat7", &[batch, 3, hw, 2 * hw]),
            ],
            initializers: vec![
                weights("w1", &[4, 3, 3, 3], 1),
                weights("w2", &[5, 3, 1, 1], 2),
                weights("w3", &[6, 3, 3, 3], 3),
                weights("w4", &[5, 3, 1, 1], 4),
                weights("w5", &[7, 3, 3, 3], 5),
                weights("w6", &[8, 3, 1, 1], 6),
                weights("w7", &[5, 4, 3, 3], 7),
                weights("w8", &[2, 3, 1, 1], 8),
                weights("w9", &[3, 3, 3, 3], 9),
                weights("w10", &[3, 3, 1, 1], 10),
            ],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn in_place_concats_equal_onnxruntime() {
    let dir = repo_root().join("fixtures/.cache/concat_in_place");
    std::fs::create_dir_all(&dir).unwrap();
    // Batch 1: cat1 (conv outputs), cat3 (conv, then the input), cat4 (cat1 first), cat5
    // (a Split part first). Not: cat2 (graph input first), cat6 (first input is a graph
    // output), cat7 (width axis). Batch 2: none.
    for (batch, expected_in_place) in [(1usize, 4usize), (2, 0)] {
        let m = model(batch);
        let path = dir.join(format!("model_b{batch}.onnx"));
        onnxide_ir::save(&m, &path, &Default::default()).unwrap();
        let x_path = dir.join(format!("x_b{batch}.npy"));
        oracle::make_input(&[batch, 3, 12, 12], 7, &x_path);
        let x = onnxide_ir::npy::read(&x_path).unwrap();
        let out_dir = dir.join(format!("ort_b{batch}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let expected = oracle::ort_run(&path, &[("x", &x_path)], &out_dir);
        for optimize in [true, false] {
            let session = Session::new(
                &m,
                &SessionOptions {
                    threads: Some(1),
                    optimize,
                    exact: true,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(
                session.summary().in_place_concats,
                expected_in_place,
                "batch {batch}, optimize {optimize}"
            );
            let first = session.run(vec![("x".into(), x.clone())]).unwrap();
            // A second run (recycled buffers) gives the same bits.
            let second = session.run(vec![("x".into(), x.clone())]).unwrap();
            assert!(first == second, "batch {batch}: a second run differs");
            assert_eq!(first.len(), expected.len());
            for ((name, ours), (oname, theirs)) in first.iter().zip(&expected) {
                assert_eq!(name, oname);
                assert_eq!(ours.shape(), theirs.shape(), "{name}");
                let d = max_abs_diff(ours, theirs);
                println!("batch {batch}, optimize {optimize}: {name} max |Δ| {d:e}");
                assert!(
                    d <= TOLERANCE,
                    "batch {batch}: {name} max |Δ| {d} > {TOLERANCE}"
                );
            }
        }
    }
}
