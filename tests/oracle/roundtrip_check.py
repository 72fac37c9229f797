#!/usr/bin/env python3
"""Check that a model onnxide re-saved behaves exactly like the original.

    python3 tests/oracle/roundtrip_check.py ORIGINAL.onnx RESAVED.onnx

Runs both in onnxruntime (CPU, ORT_DISABLE_ALL, 1 thread) on the same seeded input (numpy default_rng(0),
uniform [0,1); symbolic dims: 'height'/'width' -> 320, anything else -> 1), requires every output to be
bit-identical, and runs onnx.checker.check_model(RESAVED, full_check=True). Prints one summary line.
Exit 1 on any difference or checker failure.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

NP = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def session(path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def dim(d):
    if isinstance(d, int):
        return d
    name = str(d).lower()
    return 320 if ("height" in name or "width" in name) else 1


def main():
    orig, saved = sys.argv[1], sys.argv[2]
    a, b = session(orig), session(saved)
    rng = np.random.default_rng(0)
    feeds = {}
    for i in a.get_inputs():
        shape = [dim(d) for d in i.shape]
        dtype = NP.get(i.type)
        if dtype is None:
            print(f"roundtrip_check.py: input {i.name} has unsupported type {i.type}", file=sys.stderr)
            return 1
        feeds[i.name] = rng.random(shape).astype(dtype)
    oa, ob = a.run(None, feeds), b.run(None, feeds)
    names = [o.name for o in a.get_outputs()]
    if names != [o.name for o in b.get_outputs()]:
        print(f"output names differ: {names} vs {[o.name for o in b.get_outputs()]}", file=sys.stderr)
        return 1
    for n, x, y in zip(names, oa, ob):
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            print(f"{n}: outputs differ (max |d| {np.max(np.abs(x.astype(np.float64) - y)):.3g})", file=sys.stderr)
            return 1
    try:
        onnx.checker.check_model(saved, full_check=True)
    except Exception as e:  # noqa: BLE001
        print(f"checker rejects {saved}: {e}", file=sys.stderr)
        return 1
    shapes = ", ".join(f"{n}{list(x.shape)}" for n, x in zip(names, oa))
    print(f"{orig}: bit-identical ({shapes}); full_check ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
