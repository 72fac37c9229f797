#!/usr/bin/env python3
"""Build small float16 models that exercise onnxruntime's f16 cast placement, and record its outputs.

    python3 tests/oracle/f16_cases.py --out-dir DIR [--seed N] [--only CASE ...]

onnxruntime's CPU provider has f16 kernels only for data-movement ops; everything else runs in f32 between
inserted Casts, so where values get rounded to f16 depends on the graph around each op (see
crates/runtime/src/optimize/fp16.rs).  Each case here is a tiny graph built to hit one of those placement rules.
For every case the script writes

    DIR/<case>/model.onnx             opset 18, ir_version 9, seeded random f16 weights
    DIR/<case>/<input name>.npy       one per graph input (seeded, uniform in [-2, 2])
    DIR/<case>/ort/<output name>.npy  onnxruntime's outputs (CPUExecutionProvider, ORT_DISABLE_ALL, 1 thread)

and prints one line per case.  Needs only numpy, onnx and onnxruntime (see tests/requirements.txt).

Exit status: 0 on success, 2 on bad arguments / unwritable output directory, 1 when onnx or onnxruntime fails.
"""
from __future__ import annotations

import argparse
import os
import sys

OPSET = 18
IR_VERSION = 9
SHAPE = [1, 4, 8, 8]


def die(msg: str, code: int = 2):
    print(f"f16_cases.py: error: {msg}", file=sys.stderr)
    sys.exit(code)


class Builder:
    """Collects nodes and initializers of one graph; weights come from a shared seeded generator."""

    def __init__(self, rng, np, helper, tp):
        self.rng, self.np, self.h, self.tp = rng, np, helper, tp
        self.nodes, self.inits = [], []

    def f16(self, name, shape, scale):
        vals = (self.rng.standard_normal(shape) * scale).astype(self.np.float16)
        self.inits.append(self.h.make_tensor(name, self.tp.FLOAT16, shape, vals.tobytes(), raw=True))

    def i64(self, name, values):
        self.inits.append(self.h.make_tensor(name, self.tp.INT64, [len(values)], values))

    def op(self, op_type, inputs, outputs, name, **attrs):
        self.nodes.append(self.h.make_node(op_type, inputs, outputs, name=name, **attrs))
        return self.nodes[-1]

    def conv(self, x, y, cin=4, cout=4):
        """1x1 Conv named after its output; weights ~ N(0, 0.5), bias ~ N(0, 0.1)."""
        self.f16(f"{y}.w", [cout, cin, 1, 1], 0.5)
        self.f16(f"{y}.b", [cout], 0.1)
        return self.op("Conv", [x, f"{y}.w", f"{y}.b"], [y], y, kernel_shape=[1, 1])

    def model(self, inputs, outputs):
        """inputs: [(name, elem type, shape)], outputs: [(name, elem type)]."""
        g = self.h.make_graph(
            self.nodes, "f16_case",
            [self.h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
            [self.h.make_tensor_value_info(n, t, None) for n, t in outputs],
            initializer=self.inits)
        m = self.h.make_model(g, opset_imports=[self.h.make_opsetid("", OPSET)], producer_name="onnxide-f16-cases")
        m.ir_version = IR_VERSION
        return m


def build_cases(rng, np, helper, tp):
    """Returns {case name: (model, {input name: array}, node order or None)}, in a fixed order.

    Models are built topologically sorted; a node order, when given, is applied after validation.
    """
    F, F32 = tp.FLOAT16, tp.FLOAT
    cases = {}

    def new():
        return Builder(rng, np, helper, tp)

    def add(name, b, inputs, outputs, order=None):
        feeds = {}
        for n, t, s in inputs:
            dt = np.float16 if t == F else np.float32
            feeds[n] = rng.uniform(-2.0, 2.0, size=s).astype(dt)
        cases[name] = (b.model(inputs, outputs), feeds, order)

    # Concat reading a Conv (input 0) and a graph input, feeding a Conv: the Concat is isolated -> f32.
    b = new()
    b.conv("x", "c1")
    b.op("Concat", ["c1", "x2"], ["cat"], "cat", axis=1)
    b.conv("cat", "y", 8, 4)
    add("concat_conv_then_input", b, [("x", F, SHAPE), ("x2", F, SHAPE)], [("y", F)])

    # Same, inputs swapped: only Concat's first input counts, and it is a graph input -> Concat stays f16.
    b = new()
    b.conv("x", "c1")
    b.op("Concat", ["x2", "c1"], ["cat"], "cat", axis=1)
    b.conv("cat", "y", 8, 4)
    add("concat_input_then_conv", b, [("x", F, SHAPE), ("x2", F, SHAPE)], [("y", F)])

    # Concat(Conv, Split output): the Split on a graph input stays f16.
    b = new()
    b.conv("x", "c1")
    b.op("Split", ["x2"], ["s0", "s1"], "split", axis=1, num_outputs=2)
    b.op("Concat", ["c1", "s0"], ["cat"], "cat", axis=1)
    b.conv("cat", "y", 6, 4)
    b.conv("s1", "y2", 2, 2)
    add("concat_conv_split", b, [("x", F, SHAPE), ("x2", F, SHAPE)], [("y", F), ("y2", F)])

    # Split of a Conv: output 0 -> Mul (graph output), output 1 -> Reshape -> graph output.
    b = new()
    b.conv("x", "c1")
    b.op("Split", ["c1"], ["s0", "s1"], "split", axis=1, num_outputs=2)
    b.op("Mul", ["s0", "s0"], ["m"], "mul")
    b.i64("shp", [1, 2, 64])
    b.op("Reshape", ["s1", "shp"], ["r"], "reshape")
    add("split_mul_reshape_out", b, [("x", F, SHAPE)], [("m", F), ("r", F)])

    # Split of a Conv read only by compute ops: the Split is isolated -> f32, nothing rounded until the output.
    b = new()
    b.conv("x", "c1")
    b.op("Split", ["c1"], ["s0", "s1"], "split", axis=1, num_outputs=2)
    b.op("Mul", ["s0", "s1"], ["m"], "mul")
    b.op("Sigmoid", ["s1"], ["sg"], "sig")
    b.op("Add", ["m", "sg"], ["y"], "add")
    add("split_muls", b, [("x", F, SHAPE)], [("y", F)])

    # Conv -> Reshape -> graph output (Reshape keeps f16), Conv also -> Mul -> graph output.
    b = new()
    b.conv("x", "c1")
    b.i64("shp", [1, 4, 64])
    b.op("Reshape", ["c1", "shp"], ["r"], "reshape")
    b.op("Mul", ["c1", "c1"], ["m"], "mul")
    add("reshape_to_output", b, [("x", F, SHAPE)], [("r", F), ("m", F)])

    # Split(Conv) -> (Conv, Concat(s1, x2) -> Conv): the Split's decision depends on the Concat's, which is made
    # first when the nodes are in topological order and after it when the Concat is listed before the Split.
    for name, order in (("propagate_split_concat", None), ("propagate_concat_first", [0, 3, 1, 2, 4])):
        b = new()
        b.conv("x", "c1")
        b.op("Split", ["c1"], ["s0", "s1"], "split", axis=1, num_outputs=2)
        b.conv("s0", "y1", 2, 2)
        b.op("Concat", ["s1", "x2"], ["cat"], "cat", axis=1)
        b.conv("cat", "y2", 6, 2)
        add(name, b, [("x", F, SHAPE), ("x2", F, SHAPE)], [("y1", F), ("y2", F)], order)

    # f32 graph input Cast to f16, read by a Conv (which takes the f32 source unrounded) and by an f16 Concat.
    b = new()
    b.op("Cast", ["xf"], ["x"], "incast", to=F)
    b.conv("x", "c1")
    b.op("Concat", ["x", "c1"], ["cat"], "cat", axis=1)
    b.i64("shp", [1, 8, 64])
    b.op("Reshape", ["cat", "shp"], ["r"], "reshape")
    add("input_cast_two_consumers", b, [("xf", F32, SHAPE)], [("r", F)])

    # Conv -> Mul -> Cast(to f32) graph output: the Mul result is never rounded to f16.
    b = new()
    b.conv("x", "c1")
    b.op("Mul", ["c1", "c1"], ["m"], "mul")
    b.op("Cast", ["m"], ["yf"], "outcast", to=F32)
    add("output_cast_after_f32", b, [("x", F, SHAPE)], [("yf", F32)])

    # Transpose -> Softmax (expanded to f32 ops) -> Transpose -> Relu (f16 Max) -> Conv.
    b = new()
    b.conv("x", "c1")
    b.op("Transpose", ["c1"], ["t1"], "tr1", perm=[0, 1, 3, 2])
    b.op("Softmax", ["t1"], ["sm"], "sm", axis=-1)
    b.op("Transpose", ["sm"], ["t2"], "tr2", perm=[0, 1, 3, 2])
    b.op("Relu", ["t2"], ["rl"], "relu")
    b.conv("rl", "y")
    add("softmax_transpose_relu", b, [("x", F, SHAPE)], [("y", F)])

    # Concat of two Convs read by a Conv and by an f16 Transpose (so the Concat keeps its f16 kernel).
    b = new()
    b.conv("x", "c1")
    b.conv("x", "c2")
    b.op("Concat", ["c1", "c2"], ["cat"], "cat", axis=1)
    b.conv("cat", "y", 8, 4)
    b.op("Transpose", ["cat"], ["t"], "tr", perm=[0, 1, 3, 2])
    b.conv("t", "y2", 8, 4)
    add("concat_mixed_consumers", b, [("x", F, SHAPE)], [("y", F), ("y2", F)])

    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", required=True, help="directory to write one sub-directory per case into")
    ap.add_argument("--seed", type=int, default=20240611, help="numpy default_rng seed (default %(default)s)")
    ap.add_argument("--only", action="append", metavar="CASE", help="build only this case (repeatable)")
    args = ap.parse_args(argv)

    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError as e:
        die(f"{e}; install tests/requirements.txt (numpy, onnx, onnxruntime)")

    rng = np.random.default_rng(args.seed)
    cases = build_cases(rng, np, helper, TensorProto)
    if args.only:
        unknown = sorted(set(args.only) - set(cases))
        if unknown:
            die(f"unknown case(s) {unknown}; the cases are {list(cases)}")
        cases = {k: v for k, v in cases.items() if k in args.only}

    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except OSError as e:
        die(f"cannot create --out-dir {args.out_dir}: {e}")

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3

    for name, (model, feeds, order) in cases.items():
        try:
            # Graph outputs are declared without shapes; give them onnx's inferred ones (nothing else is added).
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
            for out, typed in zip(model.graph.output, inferred.graph.output):
                out.type.CopyFrom(typed.type)
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # noqa: BLE001
            die(f"case {name}: the built model is not valid ONNX: {e}", 1)
        if order is not None:
            # Deliberately not topologically sorted (valid for onnxruntime, rejected by onnx's checker).
            nodes = [model.graph.node[i] for i in order]
            del model.graph.node[:]
            model.graph.node.extend(nodes)
        case_dir = os.path.join(args.out_dir, name)
        ort_dir = os.path.join(case_dir, "ort")
        try:
            os.makedirs(ort_dir, exist_ok=True)
            path = os.path.join(case_dir, "model.onnx")
            onnx.save(model, path)
            for n, arr in feeds.items():
                np.save(os.path.join(case_dir, n + ".npy"), arr)
        except OSError as e:
            die(f"case {name}: cannot write into {case_dir}: {e}")
        try:
            sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
            outs = sess.run(None, feeds)
        except Exception as e:  # noqa: BLE001
            die(f"case {name}: onnxruntime failed: {e}", 1)
        described = []
        for o, arr in zip(sess.get_outputs(), outs):
            arr = np.asarray(arr)
            np.save(os.path.join(ort_dir, o.name + ".npy"), arr)
            described.append(f"{o.name} {arr.dtype} {list(arr.shape)}")
        print(f"{name}: {len(model.graph.node)} nodes, outputs: {', '.join(described)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
