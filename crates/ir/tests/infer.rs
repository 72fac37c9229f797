//! Shape and type inference on hand-built graphs, one group of ops at a time.

mod common;

use common::{shape, Builder};
use onnxide_ir::infer::{infer, infer_shapes, Inferred, Sym};
use onnxide_ir::{format_shape, DType, IrError, Tensor};

fn run(b: &Builder) -> Inferred {
    infer(&b.model).unwrap_or_else(|e| panic!("{e}"))
}

/// The inferred shape of `name` as text, e.g. `[batch, 16, 320, 320]`.
fn s(r: &Inferred, name: &str) -> String {
    format_shape(r.shape(name))
}

/// The inference error, which must name the node.
fn fails(b: &Builder, node: &str) -> String {
    match infer(&b.model) {
        Err(e @ IrError::Inference { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(node), "error does not name {node}: {msg}");
            msg
        }
        other => panic!("expected an inference error, got {other:?}"),
    }
}

#[test]
fn unary_ops_keep_shape_and_type() {
    let mut b = Builder::new(18);
    b.input("x", DType::F16, "batch,3,h,w");
    for (i, op) in [
        "Sigmoid",
        "Relu",
        "HardSwish",
        "Erf",
        "Tanh",
        "Softmax",
        "Clip",
        "Trilu",
    ]
    .iter()
    .enumerate()
    {
        b.node(op, &["x"], &[&format!("y{i}")]);
    }
    b.node("Not", &["x"], &["n"]);
    b.node("Cast", &["x"], &["c"]).int("to", 1);
    b.node("Dropout", &["x"], &["d", "mask"]);
    let r = run(&b);
    for i in 0..8 {
        let y = format!("y{i}");
        assert_eq!(s(&r, &y), "[batch, 3, h, w]");
        assert_eq!(r.elem(&y), Some(DType::F16));
    }
    assert_eq!(r.elem("n"), Some(DType::Bool));
    assert_eq!(r.elem("c"), Some(DType::F32));
    assert_eq!(r.elem("mask"), Some(DType::Bool));
    assert_eq!(s(&r, "mask"), "[batch, 3, h, w]");
}

#[test]
fn binary_ops_broadcast() {
    let mut b = Builder::new(18);
    b.input("a", DType::F32, "batch,3,1")
        .input("b", DType::F32, "4")
        .input("c", DType::F32, "other,1,4")
        .input("u", DType::F32, "?,5");
    b.node("Add", &["a", "b"], &["ab"]);
    b.node("Mul", &["a", "c"], &["ac"]);
    b.node("Greater", &["a", "b"], &["gt"]);
    b.node("Sub", &["u", "u"], &["uu"]);
    b.node("Max", &["a", "b", "c"], &["m"]);
    b.node("Where", &["gt", "a", "b"], &["w"]);
    b.node("Pow", &["a", "b"], &["p"]);
    let r = run(&b);
    assert_eq!(s(&r, "ab"), "[batch, 3, 4]");
    // Two different names: either could be 1, so the result is unknown.
    assert_eq!(s(&r, "ac"), "[?, 3, 4]");
    assert_eq!(r.elem("gt"), Some(DType::Bool));
    assert_eq!(s(&r, "uu"), "[?, 5]");
    assert_eq!(s(&r, "m"), "[?, 3, 4]");
    assert_eq!(s(&r, "w"), "[batch, 3, 4]");
    assert_eq!(r.elem("w"), Some(DType::F32));
    assert_eq!(s(&r, "p"), "[batch, 3, 4]");
}

#[test]
fn broadcast_mismatch_is_an_error_naming_the_node() {
    let mut b = Builder::new(18);
    b.input("a", DType::F32, "2,3").input("b", DType::F32, "4");
    b.node("Add", &["a", "b"], &["y"]);
    let msg = fails(&b, "Add 'y_node'");
    assert!(msg.contains("3") && msg.contains("4"), "{msg}");
}

#[test]
fn conv_and_pool_output_sizes() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,3,640,640");
    b.weight("w0", &[16, 3, 3, 3]).weight("w1", &[16, 1, 3, 3]);
    b.weight("wt", &[16, 16, 2, 2]).weight("bt", &[16]);
    b.node("Conv", &["x", "w0"], &["c0"])
        .ints("strides", &[2, 2])
        .ints("pads", &[1, 1, 1, 1]);
    b.node("Conv", &["c0", "w1"], &["dw"])
        .int("group", 16)
        .ints("pads", &[1, 1, 1, 1]);
    b.node("ConvTranspose", &["dw", "wt", "bt"], &["up"])
        .ints("strides", &[2, 2]);
    b.node("MaxPool", &["c0"], &["mp"])
        .ints("kernel_shape", &[5, 5])
        .ints("pads", &[2, 2, 2, 2]);
    b.node("MaxPool", &["c0"], &["ceil"])
        .ints("kernel_shape", &[3, 3])
        .ints("strides", &[2, 2])
        .int("ceil_mode", 1);
    b.node("AveragePool", &["c0"], &["same"])
        .ints("kernel_shape", &[3, 3])
        .ints("strides", &[3, 3])
        .string("auto_pad", "SAME_UPPER");
    b.node("GlobalAveragePool", &["c0"], &["gap"]);
    let r = run(&b);
    assert_eq!(s(&r, "c0"), "[1, 16, 320, 320]");
    assert_eq!(s(&r, "dw"), "[1, 16, 320, 320]");
    assert_eq!(s(&r, "up"), "[1, 16, 640, 640]");
    assert_eq!(s(&r, "mp"), "[1, 16, 320, 320]");
    assert_eq!(s(&r, "ceil"), "[1, 16, 160, 160]");
    assert_eq!(s(&r, "same"), "[1, 16, 107, 107]");
    assert_eq!(s(&r, "gap"), "[1, 16, 1, 1]");
}

/// Symbolic sizes go through windows as exact formulas (`Dim::Param` expressions).
#[test]
fn conv_pool_resize_write_symbolic_sizes_as_expressions() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,3,height,width");
    b.weight("w1", &[8, 3, 1, 1]).weight("w3", &[8, 8, 3, 3]);
    b.weight("wt", &[8, 8, 2, 2]);
    b.floats("up", &[1.0, 1.0, 2.0, 2.0]);
    b.node("Conv", &["x", "w1"], &["c1"]);
    b.node("Conv", &["c1", "w3"], &["s1"])
        .ints("pads", &[1, 1, 1, 1]);
    b.node("MaxPool", &["s1"], &["mp"])
        .ints("kernel_shape", &[5, 5])
        .ints("pads", &[2, 2, 2, 2]);
    b.node("Conv", &["mp", "w3"], &["d2"])
        .ints("strides", &[2, 2])
        .ints("pads", &[1, 1, 1, 1]);
    b.node("Conv", &["d2", "w3"], &["d4"])
        .ints("strides", &[2, 2])
        .ints("pads", &[1, 1, 1, 1]);
    b.node("Conv", &["d4", "w3"], &["d8"])
        .ints("strides", &[2, 2])
        .ints("pads", &[1, 1, 1, 1]);
    b.node("ConvTranspose", &["d8", "wt"], &["t"])
        .ints("strides", &[2, 2]);
    b.node("Resize", &["d8", "", "up"], &["r"]);
    b.node("Concat", &["r", "d4"], &["cat"]).int("axis", 1);
    b.node("Concat", &["d8", "d8", "c1"], &["cat3"])
        .int("axis", 3);
    let r = run(&b);
    // Stride-1 windows that keep the size keep the name.
    assert_eq!(s(&r, "c1"), "[batch, 8, height, width]");
    assert_eq!(s(&r, "mp"), "[batch, 8, height, width]");
    assert_eq!(
        s(&r, "d2"),
        "[batch, 8, floor((height - 1)/2) + 1, floor((width - 1)/2) + 1]"
    );
    // Nested floor divisions merge.
    assert_eq!(
        s(&r, "d8"),
        "[batch, 8, floor((height - 1)/8) + 1, floor((width - 1)/8) + 1]"
    );
    assert_eq!(
        s(&r, "t"),
        "[batch, 8, 2*(floor((height - 1)/8) + 1), 2*(floor((width - 1)/8) + 1)]"
    );
    assert_eq!(r.shape("r"), r.shape("t"));
    // Concat keeps the first input's name where the sizes must agree.
    assert_eq!(r.shape("cat").unwrap()[2], r.shape("r").unwrap()[2]);
    // A symbolic Concat axis is the sum of its inputs' sizes.
    assert_eq!(
        r.shape("cat3").unwrap()[3].to_string(),
        "2*floor((width - 1)/8) + width + 2"
    );
}

#[test]
fn conv_contradictions_are_errors() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,4,8,8")
        .weight("w", &[8, 3, 3, 3]);
    b.node("Conv", &["x", "w"], &["y"]);
    fails(&b, "Conv 'y_node'");

    let mut b = Builder::new(18);
    b.input("x", DType::F32, "4,8,8").weight("w", &[8, 4, 3, 3]);
    b.node("Conv", &["x", "w"], &["y"]);
    let msg = fails(&b, "Conv 'y_node'");
    assert!(msg.contains("rank"), "{msg}");
}

#[test]
fn reshape_with_zero_and_minus_one() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "2,64,80,80");
    b.ints("s1", &[0, 4, 16, -1]).ints("s2", &[2, -1]);
    b.node("Reshape", &["x", "s1"], &["r1"]);
    b.node("Reshape", &["x", "s2"], &["r2"]);
    b.node("Flatten", &["x"], &["f"]).int("axis", 2);
    b.node("Transpose", &["r1"], &["t"])
        .ints("perm", &[0, 2, 1, 3]);
    let r = run(&b);
    assert_eq!(s(&r, "r1"), "[2, 4, 16, 6400]");
    assert_eq!(s(&r, "r2"), "[2, 409600]");
    assert_eq!(s(&r, "f"), "[128, 6400]");
    assert_eq!(s(&r, "t"), "[2, 16, 4, 6400]");
}

#[test]
fn reshape_element_count_mismatch_is_an_error() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "2,3").ints("s", &[4, 2]);
    b.node("Reshape", &["x", "s"], &["y"]);
    fails(&b, "Reshape 'y_node'");
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "2,3").ints("s", &[4, -1]);
    b.node("Reshape", &["x", "s"], &["y"]);
    fails(&b, "Reshape 'y_node'");
}

/// The in-graph shape arithmetic dynamic exports emit: `x.view(B, 64, -1)` with B read from
/// `Shape`, and a `Div` on a symbolic dim.
#[test]
fn known_values_flow_through_shape_chains() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,64,h,w");
    b.ints("zero", &[0]).ints("c", &[64]).ints("m1", &[-1]);
    b.init("one", Tensor::scalar(1i64));
    b.node("Shape", &["x"], &["shape"]);
    b.node("Gather", &["shape", "zero"], &["b"]);
    b.node("Concat", &["b", "c", "m1"], &["target"])
        .int("axis", 0);
    b.node("Reshape", &["x", "target"], &["y"]);
    b.node("Shape", &["x"], &["tail"]).int("start", 2);
    b.node("Cast", &["tail"], &["tailf"]).int("to", 1);
    b.node("Div", &["tailf", "one"], &["same"]);
    b.node("Mul", &["c", "c"], &["sq"]);
    b.node("Squeeze", &["b"], &["bs"]).ints("axes", &[0]);
    b.node("Unsqueeze", &["bs", "zero"], &["bu"]);
    b.node("Concat", &["bu", "sq"], &["t2"]).int("axis", 0);
    b.node("ConstantOfShape", &["t2"], &["zeros"]);
    let r = run(&b);
    assert_eq!(
        r.value("target").unwrap(),
        [Sym::Param("batch".into()), Sym::Int(64), Sym::Int(-1)]
    );
    assert_eq!(s(&r, "y"), "[batch, 64, h*w]");
    assert_eq!(
        r.value("same").unwrap(),
        [Sym::Param("h".into()), Sym::Param("w".into())]
    );
    assert_eq!(s(&r, "zeros"), "[batch, 4096]");
    assert_eq!(r.elem("zeros"), Some(DType::F32));
}

#[test]
fn reshape_cancels_symbolic_factors() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,2,128,n");
    b.ints("s", &[0, 256, -1]);
    b.node("Reshape", &["x", "s"], &["y"]);
    let r = run(&b);
    assert_eq!(s(&r, "y"), "[batch, 256, n]");
}

#[test]
fn concat_and_split() {
    let mut b = Builder::new(18);
    b.input("a", DType::F32, "batch,16,8,8")
        .input("b", DType::F32, "batch,32,8,8");
    b.ints("sizes", &[16, 32]);
    b.node("Concat", &["a", "b"], &["c"]).int("axis", 1);
    b.node("Split", &["c", "sizes"], &["s0", "s1"])
        .int("axis", 1);
    b.node("Split", &["c"], &["e0", "e1", "e2"]).int("axis", -3);
    b.node("Split", &["a"], &["n0", "n1", "n2"])
        .int("axis", 1)
        .int("num_outputs", 3);
    let r = run(&b);
    assert_eq!(s(&r, "c"), "[batch, 48, 8, 8]");
    assert_eq!(s(&r, "s0"), "[batch, 16, 8, 8]");
    assert_eq!(s(&r, "s1"), "[batch, 32, 8, 8]");
    assert_eq!(s(&r, "e2"), "[batch, 16, 8, 8]");
    // Opset 18's uneven split: 16 = 6 + 6 + 4.
    assert_eq!(s(&r, "n0"), "[batch, 6, 8, 8]");
    assert_eq!(s(&r, "n2"), "[batch, 4, 8, 8]");
}

#[test]
fn split_sizes_as_attribute_before_opset_13() {
    let mut b = Builder::new(11);
    b.input("x", DType::F32, "1,64,4");
    b.node("Split", &["x"], &["a", "b"])
        .int("axis", 1)
        .ints("split", &[16, 48]);
    let r = run(&b);
    assert_eq!(s(&r, "b"), "[1, 48, 4]");
}

#[test]
fn concat_and_split_contradictions_are_errors() {
    let mut b = Builder::new(18);
    b.input("a", DType::F32, "1,16,8,8")
        .input("b", DType::F32, "1,16,4,8");
    b.node("Concat", &["a", "b"], &["c"]).int("axis", 1);
    fails(&b, "Concat 'c_node'");
    let mut b = Builder::new(18);
    b.input("a", DType::F32, "1,16").ints("sz", &[4, 4]);
    b.node("Split", &["a", "sz"], &["p", "q"]).int("axis", 1);
    fails(&b, "Split 'p_node'");
}

#[test]
fn slice_from_inputs_and_attributes() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,84,8400");
    b.ints("st", &[0]).ints("en", &[4]).ints("ax", &[1]);
    b.ints("st2", &[4]).ints("en2", &[i64::MAX]);
    b.ints("rs", &[-1])
        .ints("re", &[i64::MIN])
        .ints("rstep", &[-2]);
    b.node("Slice", &["x", "st", "en", "ax"], &["box"]);
    b.node("Slice", &["x", "st2", "en2", "ax"], &["cls"]);
    b.node("Slice", &["x", "rs", "re", "ax", "rstep"], &["rev"]);
    b.node("Slice", &["x", "st", "en2"], &["all"]);
    let r = run(&b);
    assert_eq!(s(&r, "box"), "[batch, 4, 8400]");
    assert_eq!(s(&r, "cls"), "[batch, 80, 8400]");
    assert_eq!(s(&r, "rev"), "[batch, 42, 8400]");
    assert_eq!(s(&r, "all"), "[batch, 84, 8400]");

    let mut b = Builder::new(9);
    b.input("x", DType::F32, "10,20");
    b.node("Slice", &["x"], &["y"])
        .ints("starts", &[2, -5])
        .ints("ends", &[100, -1])
        .ints("axes", &[0, 1]);
    let r = run(&b);
    assert_eq!(s(&r, "y"), "[8, 4]");
}

/// NMS exports pad the batch and cut it back with `x[:batch]`, batch read from `Shape`.
#[test]
fn slice_to_a_symbolic_end() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,3")
        .input("padded", DType::F32, "?,300,6")
        .input("fixed", DType::F32, "2,300,6");
    b.ints("zero", &[0]);
    b.node("Shape", &["x"], &["sh"]).int("end", 1);
    b.node("Slice", &["padded", "zero", "sh", "zero"], &["a"]);
    b.node("Slice", &["x", "zero", "sh", "zero"], &["b"]);
    b.node("Slice", &["fixed", "zero", "sh", "zero"], &["c"]);
    let r = run(&b);
    assert_eq!(s(&r, "a"), "[batch, 300, 6]");
    assert_eq!(s(&r, "b"), "[batch, 3]");
    // min(2, batch) is not known.
    assert_eq!(s(&r, "c"), "[?, 300, 6]");
}

#[test]
fn squeeze_unsqueeze_attributes_and_inputs() {
    let mut b = Builder::new(11);
    b.input("x", DType::F32, "1,3,1,5");
    b.node("Squeeze", &["x"], &["a"]).ints("axes", &[0, -2]);
    b.node("Unsqueeze", &["a"], &["b"]).ints("axes", &[0, 3]);
    b.node("Squeeze", &["x"], &["all"]);
    let r = run(&b);
    assert_eq!(s(&r, "a"), "[3, 5]");
    assert_eq!(s(&r, "b"), "[1, 3, 5, 1]");
    assert_eq!(s(&r, "all"), "[3, 5]");

    let mut b = Builder::new(13);
    b.input("x", DType::F32, "1,3,1,5")
        .ints("ax", &[2])
        .ints("ux", &[-1]);
    b.node("Squeeze", &["x", "ax"], &["a"]);
    b.node("Unsqueeze", &["a", "ux"], &["b"]);
    let r = run(&b);
    assert_eq!(s(&r, "a"), "[1, 3, 5]");
    assert_eq!(s(&r, "b"), "[1, 3, 5, 1]");

    let mut b = Builder::new(13);
    b.input("x", DType::F32, "2,3").ints("ax", &[0]);
    b.node("Squeeze", &["x", "ax"], &["a"]);
    fails(&b, "Squeeze 'a_node'");
}

#[test]
fn expand_tile_pad_resize() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,1,20,20");
    b.ints("to", &[1, 3, 1, 1]).ints("rep", &[1, 2, 1, 3]);
    b.ints("pads", &[0, 0, 1, 2, 0, 0, 3, 4]);
    b.floats("scales", &[1.0, 1.0, 2.0, 2.0])
        .ints("sizes", &[7, 9]);
    b.node("Expand", &["x", "to"], &["e"]);
    b.node("Tile", &["x", "rep"], &["t"]);
    b.node("Pad", &["x", "pads"], &["p"]);
    b.node("Resize", &["x", "", "scales"], &["r"])
        .string("mode", "nearest");
    b.node("Resize", &["x", "", "", "sizes"], &["rs"])
        .ints("axes", &[2, 3]);
    let r = run(&b);
    assert_eq!(s(&r, "e"), "[batch, 3, 20, 20]");
    assert_eq!(s(&r, "t"), "[batch, 2, 20, 60]");
    assert_eq!(s(&r, "p"), "[batch, 1, 24, 26]");
    assert_eq!(s(&r, "r"), "[batch, 1, 40, 40]");
    assert_eq!(s(&r, "rs"), "[batch, 1, 7, 9]");

    // Opset 9 Upsample reads scales from an input; opset 7 from an attribute.
    let mut b = Builder::new(9);
    b.input("x", DType::F32, "1,8,10,10")
        .floats("sc", &[1.0, 1.0, 2.0, 2.0]);
    b.node("Upsample", &["x", "sc"], &["u"]);
    assert_eq!(s(&run(&b), "u"), "[1, 8, 20, 20]");
    let mut b = Builder::new(7);
    b.input("x", DType::F32, "1,8,10,10");
    b.node("Upsample", &["x"], &["u"])
        .floats("scales", &[1.0, 1.0, 3.0, 3.0]);
    assert_eq!(s(&run(&b), "u"), "[1, 8, 30, 30]");
    // Opset 10 Resize: scales are input 1.
    let mut b = Builder::new(10);
    b.input("x", DType::F32, "1,8,10,10")
        .floats("sc", &[1.0, 1.0, 0.5, 0.5]);
    b.node("Resize", &["x", "sc"], &["u"]);
    assert_eq!(s(&run(&b), "u"), "[1, 8, 5, 5]");
}

#[test]
fn generators_shape_range_constant() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,3,h,w");
    b.init("start", Tensor::scalar(0.0f32))
        .init("limit", Tensor::scalar(20.0f32))
        .init("delta", Tensor::scalar(1.5f32));
    b.node("Range", &["start", "limit", "delta"], &["rng"]);
    b.node("Shape", &["x"], &["sh"])
        .int("start", 1)
        .int("end", -1);
    b.node("Size", &["x"], &["size"]);
    b.node("Constant", &[], &["k"]).tensor(
        "value",
        Tensor::from_vec(vec![2, 3], vec![1i32; 6]).unwrap(),
    );
    b.node("Constant", &[], &["kf"])
        .floats("value_floats", &[0.5, 2.0]);
    b.node("ConstantOfShape", &["sh"], &["cos"])
        .tensor("value", Tensor::from_vec(vec![1], vec![1i64]).unwrap());
    b.node("EyeLike", &["k"], &["eye"]);
    let r = run(&b);
    assert_eq!(s(&r, "rng"), "[14]");
    assert_eq!(r.elem("rng"), Some(DType::F32));
    assert_eq!(s(&r, "sh"), "[2]");
    assert_eq!(
        r.value("sh").unwrap(),
        [Sym::Int(3), Sym::Param("h".into())]
    );
    assert_eq!(s(&r, "size"), "[]");
    assert_eq!(s(&r, "k"), "[2, 3]");
    assert_eq!(r.elem("k"), Some(DType::I32));
    assert_eq!(s(&r, "kf"), "[2]");
    assert_eq!(s(&r, "cos"), "[3, h]");
    assert_eq!(r.elem("cos"), Some(DType::I64));
    assert_eq!(s(&r, "eye"), "[2, 3]");
}

#[test]
fn matmul_gemm() {
    let mut b = Builder::new(18);
    b.input("q", DType::F32, "batch,2,400,32")
        .input("k", DType::F32, "batch,2,32,400")
        .input("v", DType::F32, "32")
        .input("a", DType::F32, "batch,1280");
    b.weight("wl", &[1000, 1280]).weight("bl", &[1000]);
    b.node("MatMul", &["q", "k"], &["qk"]);
    b.node("MatMul", &["q", "v"], &["qv"]);
    b.node("MatMul", &["v", "k"], &["vk"]);
    b.node("Gemm", &["a", "wl", "bl"], &["g"]).int("transB", 1);
    let r = run(&b);
    assert_eq!(s(&r, "qk"), "[batch, 2, 400, 400]");
    assert_eq!(s(&r, "qv"), "[batch, 2, 400]");
    assert_eq!(s(&r, "vk"), "[batch, 2, 400]");
    assert_eq!(s(&r, "g"), "[batch, 1000]");

    let mut b = Builder::new(18);
    b.input("a", DType::F32, "4,5")
        .input("c", DType::F32, "6,7");
    b.node("MatMul", &["a", "c"], &["y"]);
    fails(&b, "MatMul 'y_node'");
}

#[test]
fn reductions_argmax_topk() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,8400,80").ints("ax", &[-1]);
    b.init("k", Tensor::from_vec(vec![1], vec![300i64]).unwrap());
    b.node("ReduceMax", &["x", "ax"], &["mx"])
        .int("keepdims", 0);
    b.node("ReduceSum", &["x"], &["all"]);
    b.node("ReduceMean", &["x", "ax"], &["mean"]);
    b.node("ArgMax", &["x"], &["am"])
        .int("axis", -1)
        .int("keepdims", 0);
    b.node("TopK", &["x", "k"], &["tv", "ti"]).int("axis", 1);
    let r = run(&b);
    assert_eq!(s(&r, "mx"), "[1, 8400]");
    assert_eq!(s(&r, "all"), "[1, 1, 1]");
    assert_eq!(s(&r, "mean"), "[1, 8400, 1]");
    assert_eq!(s(&r, "am"), "[1, 8400]");
    assert_eq!(r.elem("am"), Some(DType::I64));
    assert_eq!(s(&r, "tv"), "[1, 300, 80]");
    assert_eq!(r.elem("ti"), Some(DType::I64));

    // Before opset 18 ReduceMax takes axes as an attribute; ReduceSum moved at 13.
    let mut b = Builder::new(13);
    b.input("x", DType::F32, "2,3,4").ints("ax", &[1]);
    b.node("ReduceMax", &["x"], &["m"]).ints("axes", &[0, 2]);
    b.node("ReduceSum", &["x", "ax"], &["s"]).int("keepdims", 0);
    let r = run(&b);
    assert_eq!(s(&r, "m"), "[1, 3, 1]");
    assert_eq!(s(&r, "s"), "[2, 4]");
}

#[test]
fn indexing_ops() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,8400,84")
        .input("boxes", DType::F32, "1,n,4")
        .input("scores", DType::F32, "1,1,n");
    b.init("i", Tensor::scalar(0i64)).ints("idx", &[0, 2]);
    b.node("Gather", &["x", "i"], &["g0"]);
    b.node("Gather", &["x", "idx"], &["g1"]).int("axis", 2);
    b.node("NonZero", &["x"], &["nz"]);
    b.node("Transpose", &["nz"], &["nzt"]);
    b.node("GatherND", &["x", "nzt"], &["gnd"]);
    b.node("NonMaxSuppression", &["boxes", "scores"], &["sel"]);
    b.node("ScatterND", &["x", "nzt", "gnd"], &["sc"]);
    let r = run(&b);
    assert_eq!(s(&r, "g0"), "[8400, 84]");
    assert_eq!(s(&r, "g1"), "[1, 8400, 2]");
    assert_eq!(s(&r, "nz"), "[3, ?]");
    assert_eq!(s(&r, "gnd"), "[?]");
    assert_eq!(s(&r, "sel"), "[?, 3]");
    assert_eq!(r.elem("sel"), Some(DType::I64));
    assert_eq!(s(&r, "sc"), "[1, 8400, 84]");

    let mut b = Builder::new(18);
    b.input("x", DType::F32, "4,5").ints("idx", &[4]);
    b.node("Gather", &["x", "idx"], &["y"]);
    fails(&b, "Gather 'y_node'");
}

#[test]
fn normalisations() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "2,16,8,8");
    for n in ["s", "b", "m", "v"] {
        b.weight(n, &[16]);
    }
    b.weight("ln_s", &[8]);
    b.node("BatchNormalization", &["x", "s", "b", "m", "v"], &["bn"]);
    b.node("LayerNormalization", &["x", "ln_s"], &["ln", "mean", "inv"])
        .int("axis", -2);
    b.node("InstanceNormalization", &["x", "s", "b"], &["in"]);
    let r = run(&b);
    assert_eq!(s(&r, "bn"), "[2, 16, 8, 8]");
    assert_eq!(s(&r, "ln"), "[2, 16, 8, 8]");
    assert_eq!(s(&r, "mean"), "[2, 16, 1, 1]");
    assert_eq!(s(&r, "in"), "[2, 16, 8, 8]");

    let mut b = Builder::new(18);
    b.input("x", DType::F32, "2,16,8,8");
    for n in ["s", "b", "m"] {
        b.weight(n, &[16]);
    }
    b.weight("v", &[15]);
    b.node("BatchNormalization", &["x", "s", "b", "m", "v"], &["bn"]);
    fails(&b, "BatchNormalization 'bn_node'");
}

#[test]
fn unknown_ops_are_reported_not_errors() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,3");
    b.node("FancyOp", &["x"], &["y"]);
    b.node("Relu", &["y"], &["z"]);
    b.node("Gelu", &["x"], &["q"]).domain("com.example");
    let r = run(&b);
    assert_eq!(r.shape("y"), None);
    assert_eq!(r.elem("z"), None);
    let ops: Vec<&str> = r.unsupported_ops().into_iter().collect();
    assert_eq!(ops, ["FancyOp", "Gelu"]);
    assert_eq!(r.not_inferred[0].node, "FancyOp 'y_node'");
}

#[test]
fn unsorted_graphs_are_inferred_in_dependency_order() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,3");
    b.node("Relu", &["a"], &["b"]);
    b.node("Cast", &["x"], &["a"]).int("to", 10);
    let r = run(&b);
    assert_eq!(r.elem("b"), Some(DType::F16));
    assert_eq!(s(&r, "b"), "[1, 3]");
}

#[test]
fn infer_shapes_writes_and_merges_value_info() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,3,8,8")
        .weight("w", &[4, 3, 1, 1]);
    b.node("Conv", &["x", "w"], &["c"]);
    b.node("Sigmoid", &["c"], &["y"]);
    b.output("y");
    b.model.graph.value_info.push(onnxide_ir::ValueInfo::tensor(
        "c",
        DType::F32,
        shape("n,?,8,h"),
    ));
    let mut m = b.model.clone();
    infer_shapes(&mut m).unwrap();
    let vi = &m.graph.value_info;
    assert_eq!(vi.len(), 1, "{vi:?}");
    // The declared name wins over the inferred one; fixed dims fill unknowns.
    assert_eq!(format_shape(vi[0].shape()), "[n, 4, 8, 8]");
    assert_eq!(format_shape(m.graph.outputs[0].shape()), "[batch, 4, 8, 8]");
    assert_eq!(m.graph.outputs[0].elem_type(), Some(DType::F32));

    b.model.graph.value_info[0] = onnxide_ir::ValueInfo::tensor("c", DType::F32, shape("1,5,8,8"));
    let err = infer_shapes(&mut b.model).unwrap_err().to_string();
    assert!(err.contains("'c'"), "{err}");
}

/// Values from a hostile file must give errors or unknowns, never panics or huge allocations.
#[test]
fn hostile_values_do_not_panic() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "1,3,8,8")
        .input("big", DType::I64, "1000000000000000")
        .input("xs", DType::I64, "?");
    b.weight("w", &[4, 3, 1, 1]).weight("wt", &[3, 4, 1, 1]);
    b.ints("min", &[i64::MIN])
        .ints("m1", &[-1])
        .ints("ax", &[3]);
    b.ints("st", &[0]).ints("hugestep", &[i64::MAX]);
    b.node("Reshape", &["x", "big"], &["r"]);
    b.node("Expand", &["x", "big"], &["e"]);
    b.node("ConstantOfShape", &["big"], &["c"]);
    b.node("Unsqueeze", &["x", "big"], &["u"]);
    b.node("Mod", &["min", "m1"], &["mod"]);
    b.node("Div", &["min", "m1"], &["div"]);
    b.node("Slice", &["x", "st", "min", "ax", "hugestep"], &["s"]);
    b.node("Slice", &["x", "min", "hugestep", "ax", "min"], &["s2"]);
    b.node("Range", &["min", "hugestep", "m1"], &["rg"]);
    b.node("Conv", &["x", "w"], &["cv"])
        .ints("strides", &[i64::MAX, i64::MAX])
        .ints("pads", &[i64::MAX, i64::MAX, i64::MAX, i64::MAX]);
    b.node("ConvTranspose", &["x", "wt"], &["ct"])
        .ints("strides", &[i64::MAX, i64::MAX]);
    let r = run(&b);
    assert_eq!(r.shape("r"), None);
    assert_eq!(s(&r, "cv"), "[1, 4, 3, 3]");
    assert_eq!(r.shape("ct").map(<[_]>::len), Some(4));

    for (op, attr, v) in [
        ("Split", "num_outputs", i64::MAX),
        ("Transpose", "perm", i64::MAX),
        ("Concat", "axis", i64::MIN),
        ("Gather", "axis", i64::MAX),
        ("Flatten", "axis", i64::MIN),
    ] {
        let mut b = Builder::new(18);
        b.input("x", DType::F32, "2,3");
        let inputs: &[&str] = if op == "Concat" || op == "Gather" {
            &["x", "x"]
        } else {
            &["x"]
        };
        let n = b.node(op, inputs, &["y"]);
        if attr == "perm" {
            n.ints(attr, &[v, 0]);
        } else {
            n.int(attr, v);
        }
        assert!(infer(&b.model).is_err(), "{op} {attr}={v}");
    }
}

#[test]
fn quantisation_sampling_and_one_hot() {
    let mut b = Builder::new(21);
    b.input("x", DType::F32, "batch,8,16,16")
        .input("grid", DType::F32, "batch,5,7,2")
        .input("rois", DType::F32, "n,4")
        .input("idx", DType::I64, "batch,3");
    b.init("scale", Tensor::scalar(0.5f32))
        .init("zp", Tensor::scalar(0i8))
        .init("depth", Tensor::scalar(10i64))
        .init(
            "vals",
            Tensor::from_vec(vec![2], vec![0.0f32, 1.0]).unwrap(),
        );
    b.node("QuantizeLinear", &["x", "scale", "zp"], &["q"]);
    b.node("DequantizeLinear", &["q", "scale", "zp"], &["dq"]);
    b.node("GridSample", &["x", "grid"], &["gs"]);
    b.node("RoiAlign", &["x", "rois", "idx"], &["ra"])
        .int("output_height", 7)
        .int("output_width", 7);
    b.node("OneHot", &["idx", "depth", "vals"], &["oh"])
        .int("axis", 1);
    let r = run(&b);
    assert_eq!(r.elem("q"), Some(DType::I8));
    assert_eq!(s(&r, "q"), "[batch, 8, 16, 16]");
    assert_eq!(r.elem("dq"), Some(DType::F32));
    assert_eq!(s(&r, "gs"), "[batch, 8, 5, 7]");
    assert_eq!(s(&r, "ra"), "[n, 8, 7, 7]");
    assert_eq!(s(&r, "oh"), "[batch, 10, 3]");
    assert_eq!(r.elem("oh"), Some(DType::F32));
}

/// Dynamic exports compute anchor grids and attention shapes in-graph: `arange(w)`,
/// `h * w`, `h // 2`, `max(2 - batch, 0)`, concatenated with partly unknown pieces.
#[test]
fn symbolic_value_arithmetic() {
    let mut b = Builder::new(18);
    b.input("x", DType::F32, "batch,8,h,w")
        .input("n", DType::I64, "1");
    b.ints("i0", &[0])
        .ints("i1", &[1])
        .ints("i2", &[2])
        .ints("two", &[2]);
    b.init("zero", Tensor::scalar(0i64))
        .init("one", Tensor::scalar(1i64));
    b.node("Shape", &["x"], &["s"]);
    b.node("Gather", &["s", "i2"], &["h"]);
    b.node("Gather", &["s", "i0"], &["bt"]);
    b.node("Shape", &["x"], &["ws"]).int("start", 3);
    b.node("Squeeze", &["ws"], &["wsc"]);
    b.node("Range", &["zero", "wsc", "one"], &["grid"]);
    b.node("Mul", &["h", "ws"], &["hw"]);
    b.node("Div", &["h", "two"], &["half"]);
    b.node("Add", &["hw", "i1"], &["hw1"]);
    b.node("Sub", &["two", "bt"], &["pad"]);
    b.node("Clip", &["two", "zero"], &["clipped"]);
    b.node("Concat", &["bt", "n", "hw", "half", "clipped"], &["target"])
        .int("axis", 0);
    b.node("ConstantOfShape", &["target"], &["z"]);
    let r = run(&b);
    assert_eq!(s(&r, "grid"), "[w]");
    assert_eq!(r.value("hw").unwrap(), [Sym::Param("h*w".into())]);
    assert_eq!(r.value("half").unwrap(), [Sym::Param("floor(h/2)".into())]);
    assert_eq!(r.value("hw1").unwrap(), [Sym::Param("h*w + 1".into())]);
    assert_eq!(r.value("pad").unwrap(), [Sym::Unknown]);
    assert_eq!(r.value("clipped").unwrap(), [Sym::Int(2)]);
    assert_eq!(s(&r, "z"), "[batch, ?, h*w, floor(h/2), 2]");
}
