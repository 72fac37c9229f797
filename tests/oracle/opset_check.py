#!/usr/bin/env python3
"""Check opset conversions of one model against the original with onnxruntime.

    opset_check.py --shape 1,3,320,320 [--seed 0] ORIGINAL.onnx VARIANT.onnx ...

Every model (the original first) runs on numpy.random.default_rng(seed).random(shape,
dtype=float32) (the fixtures' recipe) fed to its first input. Prints one JSON object:
  original   {opset, outputs: {name: shape}, checker: as for a variant}
  variants   [{path, opset, ir_version, checker: "ok" or the onnx.checker.check_model(full_check=True)
              error, max_rel: max over outputs of max|v - o| / max(max|o|, 1e-30), shapes_equal}]
"""
import argparse
import json

import numpy as np
import onnx
import onnxruntime as ort


def run(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    outs = s.run(None, {name: x})
    return {o.name: v for o, v in zip(s.get_outputs(), outs)}


def check(m):
    try:
        onnx.checker.check_model(m, full_check=True)
        return "ok"
    except Exception as e:  # the checker's message is the result
        return str(e).splitlines()[0] if str(e) else type(e).__name__


def opset(m):
    return next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("original")
    ap.add_argument("variants", nargs="*")
    a = ap.parse_args()
    shape = [int(s) for s in a.shape.split(",")]
    x = np.random.default_rng(a.seed).random(shape, dtype=np.float32)
    ref = run(a.original, x)
    om = onnx.load(a.original, load_external_data=False)
    report = {
        "original": {"opset": opset(om), "outputs": {k: list(v.shape) for k, v in ref.items()}},
        "variants": [],
    }
    report["original"]["checker"] = check(onnx.load(a.original))
    for p in a.variants:
        m = onnx.load(p)
        checker = check(m)
        got = run(p, x)
        max_rel, shapes_equal = 0.0, list(got) == list(ref)
        for k, o in ref.items():
            v = got.get(k)
            if v is None or v.shape != o.shape:
                shapes_equal = False
                continue
            o64, v64 = o.astype(np.float64), v.astype(np.float64)
            scale = max(float(np.abs(o64).max()) if o64.size else 0.0, 1e-30)
            d = float(np.abs(v64 - o64).max()) if o64.size else 0.0
            max_rel = max(max_rel, d / scale)
        report["variants"].append({
            "path": p, "opset": opset(m), "ir_version": m.ir_version, "checker": checker,
            "max_rel": max_rel, "shapes_equal": shapes_equal,
        })
    print(json.dumps(report))


if __name__ == "__main__":
    main()
