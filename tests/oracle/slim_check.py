#!/usr/bin/env python3
"""Compare slimmed models with their originals under onnxruntime; print one JSON document.

    python3 tests/oracle/slim_check.py ORIGINAL.onnx=SLIM.onnx [...] [--seed 0] [--dim NAME=SIZE ...]

For each pair: graph outputs must have the same names, element types and dims (numbers and dim_param names);
``onnx.checker.check_model(full_check=True)`` must pass on the slimmed model wherever it passes on the original;
both models run on onnxruntime (CPUExecutionProvider, ORT_DISABLE_ALL, 1 thread) on the same seeded input
(``numpy.random.default_rng(seed).random(shape)`` per input, in input order, seed+i; symbolic dims take --dim sizes,
else 1) and the result reports, per output, the largest |a - b| / max(1, |b|) (relative above 1, absolute below).
Needs only numpy, onnx and onnxruntime. Exit 0 with the JSON; the caller asserts on it.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
      "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(uint8)": np.uint8}


def outputs_signature(model):
    sig = []
    for o in model.graph.output:
        t = o.type.tensor_type
        dims = [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
                for d in t.shape.dim] if t.HasField("shape") else None
        sig.append([o.name, t.elem_type, dims])
    return sig


def check(path):
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        return None
    except Exception as e:  # noqa: BLE001
        return str(e).splitlines()[0] if str(e) else type(e).__name__


def session(path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="+", metavar="ORIGINAL=SLIM")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE")
    args = ap.parse_args()
    dims = {k: int(v) for k, v in (d.split("=", 1) for d in args.dim)}
    results = []
    for pair in args.pairs:
        orig, slim = pair.split("=", 1)
        r = {"original": orig, "slim": slim}
        a_model, b_model = onnx.load(orig), onnx.load(slim)
        r["outputs_same"] = outputs_signature(a_model) == outputs_signature(b_model)
        r["outputs"] = [outputs_signature(a_model), outputs_signature(b_model)]
        r["check_original"], r["check_slim"] = check(orig), check(slim)
        a, b = session(orig), session(slim)
        feeds = {}
        for i, inp in enumerate(a.get_inputs()):
            shape = [d if isinstance(d, int) else dims.get(d, 1) for d in inp.shape]
            x = np.random.default_rng(args.seed + i).random(shape)
            feeds[inp.name] = x.astype(NP.get(inp.type, np.float32))
        ya, yb = a.run(None, feeds), b.run(None, feeds)
        diffs = {}
        for o, p, q in zip(a.get_outputs(), ya, yb):
            p, q = np.asarray(p), np.asarray(q)
            if p.shape != q.shape:
                diffs[o.name] = f"shape {list(p.shape)} vs {list(q.shape)}"
                continue
            if p.size == 0:
                diffs[o.name] = 0.0
                continue
            p64, q64 = p.astype(np.float64), q.astype(np.float64)
            d = np.abs(p64 - q64) / np.maximum(1.0, np.abs(q64))
            diffs[o.name] = float(np.nan_to_num(d, nan=np.inf).max()) if not np.array_equal(p, q, equal_nan=True) else 0.0
        r["max_rel_diff"] = diffs
        results.append(r)
    json.dump(results, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
