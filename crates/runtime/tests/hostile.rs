//! Hostile models: allocation bombs, endless loops, malformed graphs. Each case is built here,
//! must fail with its typed, one-line error (no panic text) within a bounded time, and never
//! allocate what it asks for (every case asks for far more than the machine has).

use onnxide_ir::rewrite;
use onnxide_ir::{
    AttrValue, DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo,
    ValueType,
};
use onnxide_runtime::{RunOptions, RuntimeError, Session, SessionOptions};
use std::time::{Duration, Instant};

/// Each case must end within this (the issue's bound is 10 s).
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Every case runs in this process; its peak RSS (VmHWM, which only grows) after a case bounds
/// what that case and every earlier one took.
const RSS_LIMIT: u64 = 1 << 30;

/// This process's peak resident set (`VmHWM` in /proc/self/status), in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> Node {
    rewrite::node(op)
        .name(format!("{op}_0"))
        .inputs(inputs.iter().copied())
        .outputs(outputs.iter().copied())
        .attributes(attrs.into_iter().map(|(n, v)| rewrite::attr(n, v)))
        .build()
}

fn init(name: &str, t: Tensor) -> NamedTensor {
    NamedTensor::new(name, t)
}

fn i64s(v: &[i64]) -> Tensor {
    Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap()
}

fn f32_info(name: &str, dims: &[u64]) -> ValueInfo {
    ValueInfo::tensor(
        name,
        DType::F32,
        dims.iter().map(|&d| Dim::Fixed(d)).collect(),
    )
}

fn untyped(name: &str) -> ValueInfo {
    ValueInfo {
        name: name.into(),
        ty: ValueType::Unknown,
        doc_string: String::new(),
        metadata_props: Vec::new(),
    }
}

fn model(
    nodes: Vec<Node>,
    inputs: Vec<ValueInfo>,
    outputs: &[&str],
    inits: Vec<NamedTensor>,
) -> Model {
    Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            name: "hostile".into(),
            nodes,
            inputs,
            outputs: outputs.iter().map(|o| untyped(o)).collect(),
            initializers: inits,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Plans and (if planning succeeds) runs `m` on `feeds`; returns the error, checking that it
/// came in time and reads as one clean line.
fn fails(
    case: &str,
    m: &Model,
    options: &SessionOptions,
    run: &RunOptions,
    feeds: Vec<(String, Tensor)>,
) -> RuntimeError {
    let t0 = Instant::now();
    let result = Session::new(m, options).and_then(|s| s.run_with(feeds, run));
    let elapsed = t0.elapsed();
    let err = match result {
        Ok(_) => panic!("{case}: expected an error, the model ran"),
        Err(e) => e,
    };
    let text = err.to_string();
    println!("{case}: {:.1} ms: {text}", elapsed.as_secs_f64() * 1e3);
    assert!(elapsed < TIME_LIMIT, "{case}: took {elapsed:?}");
    let peak = peak_rss_bytes();
    assert!(
        peak < RSS_LIMIT,
        "{case}: this test process's peak RSS reached {peak} bytes"
    );
    assert!(!text.contains('\n'), "{case}: not one line: {text}");
    for bad in [
        "panicked",
        "internal error",
        "capacity overflow",
        "backtrace",
    ] {
        assert!(!text.contains(bad), "{case}: panic text in: {text}");
    }
    err
}

fn budget_error(case: &str, m: &Model, feeds: Vec<(String, Tensor)>) {
    let err = fails(
        case,
        m,
        &SessionOptions::default(),
        &RunOptions::default(),
        feeds,
    );
    assert!(
        matches!(err, RuntimeError::MemoryBudget { .. }),
        "{case}: expected a memory-budget error, got {err:?}"
    );
}

fn x_4x4() -> (String, Tensor) {
    (
        "x".into(),
        Tensor::from_vec(vec![1, 1, 4, 4], vec![1f32; 16]).unwrap(),
    )
}

#[test]
fn allocation_bombs_are_refused_before_allocating() {
    let huge = [100_000i64, 100_000, 100];
    // ConstantOfShape: shape as an initializer (folded at load) and as an input (at run).
    let cos = model(
        vec![node("ConstantOfShape", &["s"], &["y"], vec![])],
        vec![],
        &["y"],
        vec![init("s", i64s(&huge))],
    );
    budget_error("ConstantOfShape initializer", &cos, vec![]);
    let cos_in = model(
        vec![node("ConstantOfShape", &["s"], &["y"], vec![])],
        vec![ValueInfo::tensor("s", DType::I64, vec![Dim::Fixed(3)])],
        &["y"],
        vec![],
    );
    budget_error(
        "ConstantOfShape input",
        &cos_in,
        vec![("s".into(), i64s(&huge))],
    );
    let expand = model(
        vec![node("Expand", &["x", "s"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init("s", i64s(&[100_000, 100_000, 4, 4]))],
    );
    budget_error("Expand", &expand, vec![x_4x4()]);
    let tile = model(
        vec![node("Tile", &["x", "r"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init("r", i64s(&[1, 1, 1_000_000_000_000, 1]))],
    );
    budget_error("Tile repeats 1e12", &tile, vec![x_4x4()]);
    let range = model(
        vec![node("Range", &["a", "b", "d"], &["y"], vec![])],
        vec![ValueInfo::tensor("b", DType::I64, vec![])],
        &["y"],
        vec![
            init("a", Tensor::scalar(0i64)),
            init("d", Tensor::scalar(1i64)),
        ],
    );
    budget_error(
        "int64 Range 0..1e15",
        &range,
        vec![("b".into(), Tensor::scalar(1_000_000_000_000_000i64))],
    );
    let frange = model(
        vec![node("Range", &["a", "b", "d"], &["y"], vec![])],
        vec![ValueInfo::tensor("b", DType::F32, vec![])],
        &["y"],
        vec![
            init("a", Tensor::scalar(0f32)),
            init("d", Tensor::scalar(1e-30f32)),
        ],
    );
    let err = fails(
        "float Range 0..1e30 step 1e-30",
        &frange,
        &SessionOptions::default(),
        &RunOptions::default(),
        vec![("b".into(), Tensor::scalar(1e30f32))],
    );
    assert!(matches!(
        err,
        RuntimeError::Node { .. } | RuntimeError::MemoryBudget { .. }
    ));
    let onehot = model(
        vec![node("OneHot", &["i", "depth", "v"], &["y"], vec![])],
        vec![ValueInfo::tensor("i", DType::I64, vec![Dim::Fixed(4)])],
        &["y"],
        vec![
            init("depth", Tensor::scalar(1_000_000_000_000i64)),
            init("v", Tensor::from_vec(vec![2], vec![0f32, 1.0]).unwrap()),
        ],
    );
    budget_error(
        "OneHot depth 1e12",
        &onehot,
        vec![("i".into(), i64s(&[0, 1, 2, 3]))],
    );
    let pad = model(
        vec![node("Pad", &["x", "p"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init(
            "p",
            i64s(&[0, 0, 1_000_000, 1_000_000, 0, 0, 1_000_000, 1_000_000]),
        )],
    );
    budget_error("Pad pads 1e6", &pad, vec![x_4x4()]);
    let resize_scales = model(
        vec![node("Resize", &["x", "", "sc"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init(
            "sc",
            Tensor::from_vec(vec![4], vec![1f32, 1.0, 1e6, 1e6]).unwrap(),
        )],
    );
    budget_error("Resize scales 1e6", &resize_scales, vec![x_4x4()]);
    let resize_sizes = model(
        vec![node("Resize", &["x", "", "", "sz"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init("sz", i64s(&[1, 1, 1_000_000_000, 1_000_000_000]))],
    );
    budget_error("Resize sizes 1e9", &resize_sizes, vec![x_4x4()]);
    // Found by the onnx_session fuzz target: an empty output whose other axis is huge still
    // sized the interpolation taps of that axis.
    let resize_empty = model(
        vec![node("Resize", &["x", "", "sc"], &["y"], vec![])],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init(
            "sc",
            Tensor::from_vec(vec![4], vec![1f32, 1.0, 1e-30, 1e12]).unwrap(),
        )],
    );
    budget_error(
        "Resize to [1, 1, 0, 4e12] (scales 1e-30, 1e12)",
        &resize_empty,
        vec![x_4x4()],
    );
    let w = Tensor::from_vec(vec![1, 1, 3, 3], vec![1f32; 9]).unwrap();
    let convt = model(
        vec![node(
            "ConvTranspose",
            &["x", "w"],
            &["y"],
            vec![("strides", AttrValue::Ints(vec![1_000_000, 1_000_000]))],
        )],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init("w", w.clone())],
    );
    budget_error("ConvTranspose strides 1e6", &convt, vec![x_4x4()]);
    let maxpool = model(
        vec![node(
            "MaxPool",
            &["x"],
            &["y"],
            vec![
                ("kernel_shape", AttrValue::Ints(vec![2, 2])),
                ("pads", AttrValue::Ints(vec![1_000_000; 4])),
            ],
        )],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![],
    );
    budget_error("MaxPool pads 1e6", &maxpool, vec![x_4x4()]);
    let conv = model(
        vec![node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![("pads", AttrValue::Ints(vec![1_000_000_000; 4]))],
        )],
        vec![f32_info("x", &[1, 1, 4, 4])],
        &["y"],
        vec![init("w", w)],
    );
    budget_error("Conv pads 1e9", &conv, vec![x_4x4()]);
    let reshape = model(
        vec![node("Reshape", &["x", "s"], &["y"], vec![])],
        vec![f32_info("x", &[0])],
        &["y"],
        vec![init("s", i64s(&[1 << 32, 1 << 32]))],
    );
    let err = fails(
        "Reshape of 0 elements to [2**32, 2**32]",
        &reshape,
        &SessionOptions::default(),
        &RunOptions::default(),
        vec![(
            "x".into(),
            Tensor::from_vec(vec![0], Vec::<f32>::new()).unwrap(),
        )],
    );
    assert!(matches!(err, RuntimeError::Node { .. }), "{err:?}");
}

#[test]
fn a_small_budget_is_obeyed_at_load_and_at_run() {
    let cos = model(
        vec![node("ConstantOfShape", &["s"], &["y"], vec![])],
        vec![],
        &["y"],
        vec![init("s", i64s(&[1000, 1000]))],
    );
    let small = SessionOptions {
        memory: Some(1 << 20),
        ..SessionOptions::default()
    };
    let err = fails(
        "4 MB constant, 1 MB budget",
        &cos,
        &small,
        &RunOptions::default(),
        vec![],
    );
    match err {
        RuntimeError::MemoryBudget {
            node,
            op,
            shape,
            bytes,
            budget,
        } => {
            assert_eq!(
                (node.as_str(), op.as_str()),
                ("ConstantOfShape_0", "ConstantOfShape")
            );
            assert_eq!(shape, vec![1000, 1000]);
            assert_eq!(bytes, Some(8_000_000)); // the index buffer, 8 bytes an element
            assert_eq!(budget, 1 << 20);
        }
        other => panic!("expected MemoryBudget, got {other:?}"),
    }
    // The same model fits the default budget.
    let s = Session::new(&cos, &SessionOptions::default()).unwrap();
    assert_eq!(s.run(vec![]).unwrap()[0].1.shape(), &[1000, 1000]);
}

/// A Loop with trip count `trip` whose body passes `v` through and emits `scan` per iteration.
fn endless_loop(trip: i64, scan_len: usize) -> Model {
    let body = Graph {
        name: "body".into(),
        nodes: vec![
            node("Identity", &["cond"], &["cond_out"], vec![]),
            node("Identity", &["v"], &["v_out"], vec![]),
            node("Identity", &["big"], &["scan_out"], vec![]),
        ],
        inputs: vec![
            ValueInfo::tensor("i", DType::I64, vec![]),
            ValueInfo::tensor("cond", DType::Bool, vec![]),
            f32_info("v", &[1]),
        ],
        outputs: vec![untyped("cond_out"), untyped("v_out"), untyped("scan_out")],
        ..Default::default()
    };
    model(
        vec![node(
            "Loop",
            &["M", "", "v0"],
            &["v_final", "scans"],
            vec![("body", AttrValue::Graph(Box::new(body)))],
        )],
        vec![f32_info("v0", &[1])],
        &["v_final", "scans"],
        vec![
            init("M", Tensor::scalar(trip)),
            init(
                "big",
                Tensor::from_vec(vec![scan_len], vec![0f32; scan_len]).unwrap(),
            ),
        ],
    )
}

fn v0() -> Vec<(String, Tensor)> {
    vec![("v0".into(), Tensor::from_vec(vec![1], vec![1f32]).unwrap())]
}

#[test]
fn loops_are_bounded_by_iterations_deadline_and_memory() {
    let m = endless_loop(1_000_000_000_000, 1);
    let capped = SessionOptions {
        max_iterations: 1000,
        ..SessionOptions::default()
    };
    let err = fails(
        "Loop 1e12 iterations, cap 1000",
        &m,
        &capped,
        &RunOptions::default(),
        v0(),
    );
    assert!(
        matches!(err, RuntimeError::IterationLimit { ref op, limit: 1000, .. } if op == "Loop"),
        "{err:?}"
    );
    // Default cap, a deadline: the run stops when it passes.
    let deadline = RunOptions {
        timeout: Some(Duration::from_millis(300)),
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let err = fails(
        "Loop 1e12 iterations, 300 ms timeout",
        &m,
        &SessionOptions::default(),
        &deadline,
        v0(),
    );
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        t0.elapsed()
    );
    // A scan output gathered 1e12 times runs into the memory budget (64 MB here).
    let scans = endless_loop(1_000_000_000_000, 1024);
    let small = SessionOptions {
        memory: Some(64 << 20),
        ..SessionOptions::default()
    };
    let err = fails(
        "Loop scan output 1e12 times",
        &scans,
        &small,
        &RunOptions::default(),
        v0(),
    );
    assert!(err.to_string().contains("memory budget"), "{err}");
    // A cancel flag set before the run stops it at its first step.
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let cancel = RunOptions {
        cancel: Some(flag),
        ..RunOptions::default()
    };
    let err = fails(
        "cancelled run",
        &m,
        &SessionOptions::default(),
        &cancel,
        v0(),
    );
    assert!(matches!(err, RuntimeError::Cancelled { .. }), "{err:?}");
}

#[test]
fn threads_are_capped_at_the_core_count_unless_forced() {
    let m = endless_loop(1, 1);
    let cores = std::thread::available_parallelism().unwrap().get();
    let s = Session::new(
        &m,
        &SessionOptions {
            threads: Some(100_000),
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.threads(), cores);
    let forced = Session::new(
        &m,
        &SessionOptions {
            threads: Some(cores + 1),
            force_threads: true,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert_eq!(forced.threads(), cores + 1);
}

fn invalid(case: &str, m: &Model, field: &str) {
    let err = fails(
        case,
        m,
        &SessionOptions::default(),
        &RunOptions::default(),
        vec![],
    );
    match &err {
        RuntimeError::Invalid { field: f, .. } => assert_eq!(f, field, "{case}: {err}"),
        other => panic!("{case}: expected Invalid, got {other:?}"),
    }
}

fn relu_chain() -> Model {
    model(
        vec![
            node("Relu", &["x"], &["a"], vec![]),
            node("Relu", &["a"], &["y"], vec![]),
        ],
        vec![f32_info("x", &[2])],
        &["y"],
        vec![],
    )
}

#[test]
fn malformed_graphs_are_refused_at_load() {
    let mut m = relu_chain();
    m.graph.nodes[1].outputs = vec!["a".into()];
    m.graph.outputs = vec![untyped("a")];
    invalid("two nodes write one name", &m, "output");
    let mut m = relu_chain();
    m.graph.nodes[1].outputs = vec!["x".into()];
    invalid("a node writes a graph input", &m, "output");
    let mut m = relu_chain();
    m.graph.outputs = vec![untyped("y"), untyped("y")];
    invalid("duplicate graph outputs", &m, "output");
    for (case, ir, opset) in [
        ("opset 0", 8, 0),
        ("opset 999", 8, 999),
        ("ir_version 999", 999, 18),
    ] {
        let mut m = relu_chain();
        m.ir_version = ir;
        m.opset_imports[0].version = opset;
        invalid(
            case,
            &m,
            if ir == 999 {
                "ir_version"
            } else {
                "opset_import"
            },
        );
    }
    let split = model(
        vec![node(
            "Split",
            &["x"],
            &["a", "b"],
            vec![("num_outputs", AttrValue::Int(0))],
        )],
        vec![f32_info("x", &[2])],
        &["a", "b"],
        vec![],
    );
    invalid("Split num_outputs=0", &split, "num_outputs");
    // Element type 77 and a negative dim, as the proto reader keeps them.
    for (case, elem, dim, field) in [
        ("element type 77", 77, 2, "elem_type"),
        ("negative dim", 1, -5, "shape"),
    ] {
        let mut m = relu_chain();
        let tp = onnxide_proto::TypeProto {
            value: Some(onnxide_proto::type_proto::Value::TensorType(
                onnxide_proto::type_proto::Tensor {
                    elem_type: Some(elem),
                    shape: Some(onnxide_proto::TensorShapeProto {
                        dim: vec![onnxide_proto::tensor_shape_proto::Dimension {
                            value: Some(
                                onnxide_proto::tensor_shape_proto::dimension::Value::DimValue(dim),
                            ),
                            denotation: None,
                        }],
                    }),
                },
            )),
            denotation: None,
        };
        m.graph.inputs[0].ty = ValueType::Other(tp);
        invalid(case, &m, field);
    }
    // Subgraphs nested deeper than allowed.
    let mut g = relu_chain().graph;
    for depth in 0..4 {
        g.name = format!("level{depth}");
        let then = g.clone();
        g = Graph {
            name: format!("outer{depth}"),
            nodes: vec![node(
                "If",
                &["c"],
                &["y"],
                vec![
                    ("then_branch", AttrValue::Graph(Box::new(then.clone()))),
                    ("else_branch", AttrValue::Graph(Box::new(then))),
                ],
            )],
            inputs: vec![
                ValueInfo::tensor("c", DType::Bool, vec![]),
                f32_info("x", &[2]),
            ],
            outputs: vec![untyped("y")],
            ..Default::default()
        };
    }
    let nested = Model {
        graph: g,
        ..relu_chain()
    };
    let err = fails(
        "If nested 4 deep, limit 2",
        &nested,
        &SessionOptions {
            max_nesting: 2,
            ..SessionOptions::default()
        },
        &RunOptions::default(),
        vec![],
    );
    assert!(
        matches!(err, RuntimeError::Invalid { ref field, .. } if field == "nesting"),
        "{err:?}"
    );
}
