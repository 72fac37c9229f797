#!/usr/bin/env python3
"""Run opset conversions of ONNX backend node tests in onnxruntime against the tests' expected outputs.

    opset_nodetests.py MANIFEST.json [--version-converter]

MANIFEST is a JSON list of {"test": DIR, "target": N, "path": CONVERTED.onnx or null (onnxide
refused the conversion: "ours" is "refused")}; DIR holds the node
test (model.onnx, test_data_set_*/input_*.pb, output_*.pb). For every test the original model runs
first: a test whose original onnxruntime cannot load, run or match is "baseline" (not counted).
Each converted model then runs on every data set and is compared as onnx's backend runner does
(same dtype and shape; numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7), NaN equal to NaN;
integers, bools and strings exact). With --version-converter, onnx.version_converter.convert_version
of the original to the same target is run and compared the same way.

A converted model onnxruntime has no kernel for (NOT_IMPLEMENTED) that passes
onnx.checker.check_model(full_check=True) is "no_kernel" (with "error").

Prints one JSON object: {"cases": [{test, target, ours: "ok" | "refused" | "baseline" |
"no_kernel" | error, vc: ...}]}.
"""
import glob
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

RTOL, ATOL = 1e-3, 1e-7

ort.set_default_logger_severity(4)


def load_value(path, type_proto):
    with open(path, "rb") as f:
        data = f.read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return numpy_helper.to_list(s)
    if kind == "optional_type":
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        return numpy_helper.to_optional(o)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def data_sets(test, model):
    ins = {i.name: i.type for i in model.graph.input}
    init = {t.name for t in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in init]
    outs = [(o.name, o.type) for o in model.graph.output]
    sets = []
    for d in sorted(glob.glob(os.path.join(test, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        feeds = {in_names[i]: load_value(os.path.join(d, f"input_{i}.pb"), ins[in_names[i]])
                 for i in range(n_in)}
        want = [load_value(os.path.join(d, f"output_{i}.pb"), outs[i][1]) for i in range(n_out)]
        sets.append((feeds, want))
    return sets


def close(got, want):
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            raise AssertionError("sequence length differs")
        for g, w in zip(got, want):
            close(g, w)
        return
    if want is None:
        if got is not None:
            raise AssertionError("expected an empty optional")
        return
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype:
        raise AssertionError(f"dtype {got.dtype} != expected {want.dtype}")
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape} != expected {want.shape}")
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def run(model_bytes, sets):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    for feeds, want in sets:
        got = s.run(None, feeds)
        for g, w in zip(got, want):
            close(g, w)


def checker_ok(path):
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        return True
    except Exception:
        return False


def first_line(e):
    msg = str(e).strip().splitlines()
    return (type(e).__name__ + ": " + (msg[0] if msg else ""))[:300]


def main():
    manifest = json.load(open(sys.argv[1]))
    vc = "--version-converter" in sys.argv[2:]
    by_test = {}
    for c in manifest:
        by_test.setdefault(c["test"], []).append(c)
    cases = []
    for test, items in by_test.items():
        try:
            original = onnx.load(os.path.join(test, "model.onnx"))
            sets = data_sets(test, original)
            run(original.SerializeToString(), sets)
            baseline = None
        except Exception as e:  # onnxruntime cannot run the original: not counted
            baseline = first_line(e)
        for c in items:
            r = {"test": os.path.basename(test), "target": c["target"]}
            if baseline is not None:
                r["ours"] = r["vc"] = "baseline"
                r["baseline"] = baseline
                cases.append(r)
                continue
            if c["path"] is None:
                r["ours"] = "refused"
            else:
                try:
                    with open(c["path"], "rb") as f:
                        run(f.read(), sets)
                    r["ours"] = "ok"
                except Exception as e:
                    r["ours"] = first_line(e)
                    if "NOT_IMPLEMENTED" in str(e) and checker_ok(c["path"]):
                        r["ours"], r["error"] = "no_kernel", first_line(e)
            if vc:
                try:
                    m = onnx.version_converter.convert_version(original, c["target"])
                    run(m.SerializeToString(), sets)
                    r["vc"] = "ok"
                except Exception as e:
                    r["vc"] = first_line(e)
            cases.append(r)
    print(json.dumps({"cases": cases}))


if __name__ == "__main__":
    main()
