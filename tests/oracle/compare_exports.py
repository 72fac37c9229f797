#!/usr/bin/env python3
"""Compare onnxide's export with Ultralytics' on the same input (onnxruntime + onnx only).

    compare_exports.py --ours OURS.onnx [--theirs THEIRS.onnx] --shape 1,3,640,640 [--seed 0]
    compare_exports.py --ours A.onnx B.onnx ... --shape 1,3,320,320     (checker + run of each: {"models": [...]})

Prints one JSON object:
  checker        "ok" or the onnx.checker.check_model(full_check=True) error for OURS
  ours / theirs  {nodes, ops: {op: count}, inputs/outputs: [{name, dtype, shape}], opset, ir_version}
  outputs        {name: shape} of OURS on the input
  max_abs        {output name: max |ours - theirs|} (when THEIRS is given)
  parts          with --layout: max |Δ| of output0 per channel group along axis 1
                 (detect: box, scores; pose: + kpt_xy, kpt_v; obb: + angle; segment: + mask_coef,
                 and proto: max |Δ| of output1, the mask prototypes)
  nms            with --nms: output0 is an embedded-NMS output [B, max_det, 6 + extras]; max |Δ| per column
                 group (box, score, class, then the task's extras), rows paired as in
                 crates/runtime/tests/models.rs (near-tie scores may swap rows), plus "rows" (detections
                 per image, score > 0) and "class_mismatch" (paired rows whose class ids differ)
The input is numpy.random.default_rng(seed).random(shape, dtype=float32), the fixtures' recipe, or with
--image PATH a letterboxed photo (uint8 RGB .npy from xtask/fixtures/letterbox_images.py) instead of the seeded input.
"""
import argparse
import collections
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def describe(path):
    m = onnx.load(path, load_external_data=False)

    def vi(v):
        dims = []
        for d in v.type.tensor_type.shape.dim:
            dims.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
        return {"name": v.name, "dtype": v.type.tensor_type.elem_type, "shape": dims}

    return {
        "nodes": len(m.graph.node),
        "initializers": len(m.graph.initializer),
        "node_names": sorted(n.name for n in m.graph.node),
        "ops": dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items())),
        "inputs": [vi(v) for v in m.graph.input],
        "outputs": [vi(v) for v in m.graph.output],
        "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0],
        "ir_version": m.ir_version,
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def run(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return {o.name: v for o, v in zip(s.get_outputs(), s.run(None, {name: x}))}


def parts(a, d):
    """Max |Δ| per channel group of output0 ([B, C, A])."""
    nc = a.nc
    groups = {"box": list(range(4)), "scores": list(range(4, 4 + nc))}
    rest = list(range(4 + nc, d.shape[1]))
    if a.layout == "pose":
        groups["kpt_xy"] = [c for c in rest if (c - 4 - nc) % a.kpt_dim < 2]
        groups["kpt_v"] = [c for c in rest if (c - 4 - nc) % a.kpt_dim >= 2]
    elif a.layout == "obb":
        groups["angle"] = rest
    elif a.layout == "segment":
        groups["mask_coef"] = rest
    return {k: (float(d[:, v].max()) if v else 0.0) for k, v in groups.items()}


def letterbox(path, shape):
    """The network input for a photo letterboxed to the input size: a ``.npy`` of uint8 RGB [h, w, 3] made by
    xtask/fixtures/letterbox_images.py (no image decoder needed), repeated over the batch."""
    b, _, h, w = shape
    im = np.load(path)
    if im.dtype != np.uint8 or im.shape != (h, w, 3):
        raise SystemExit(f"compare_exports.py: error: {path}: expected uint8 [{h}, {w}, 3] (letterboxed RGB), got {im.dtype} {list(im.shape)}")
    x = im.transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(np.repeat(x[None], b, axis=0))


SCORE_TOL = 1e-4


def nms_parts(a, ours, theirs):
    """Max |Δ| per column group of an NMS output [B, N, C], rows paired like models.rs does."""
    b, n, c = ours.shape
    groups = {"box": [0, 1, 2, 3], "score": [4], "class": [5]}
    rest = list(range(6, c))
    if a.layout == "pose":
        groups["kpt_xy"] = [k for k in rest if (k - 6) % a.kpt_dim < 2]
        groups["kpt_v"] = [k for k in rest if (k - 6) % a.kpt_dim >= 2]
    elif a.layout == "obb":
        groups["angle"] = rest
    elif a.layout == "segment":
        groups["mask_coef"] = rest
    worst = {k: 0.0 for k in groups}
    rows, mismatch = [], 0
    for bi in range(b):
        o, t = ours[bi].astype(np.float64), theirs[bi].astype(np.float64)
        rows.append(int((t[:, 4] > 0).sum()))
        used = [False] * n
        for i in range(n):
            best = None
            for j in range(max(0, i - 16), min(n, i + 17)):
                if used[j] or abs(o[i, 4] - t[j, 4]) > SCORE_TOL:
                    continue
                d = float(np.abs(o[i] - t[j]).max())
                if best is None or d < best[1]:
                    best = (j, d)
            j = i if best is None else best[0]
            used[j] = True
            d = np.abs(o[i] - t[j])
            for k, cols in groups.items():
                if cols:
                    worst[k] = max(worst[k], float(d[cols].max()))
            mismatch += int(o[i, 5] != t[j, 5])
    return {"parts": worst, "rows": rows, "class_mismatch": mismatch}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True, nargs="+", help="several files: check and run each (no THEIRS)")
    ap.add_argument("--theirs")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-npy", help="compare OURS with this saved output0 instead of running THEIRS")
    ap.add_argument("--layout", choices=["detect", "segment", "pose", "obb"], help="split output0's |Δ| by channel group")
    ap.add_argument("--nc", type=int, default=80, help="classes (for --layout)")
    ap.add_argument("--kpt-dim", type=int, default=3, help="values per keypoint (pose --layout)")
    ap.add_argument("--nms", action="store_true", help="output0 is an embedded-NMS output: pair rows (with --layout)")
    ap.add_argument("--image", help="letterbox this photo to --shape instead of the seeded random input")
    a = ap.parse_args()
    shape = tuple(int(s) for s in a.shape.split(","))
    if a.image:
        x = letterbox(a.image, shape)
    else:
        x = np.random.default_rng(a.seed).random(shape, dtype=np.float32)
    if len(a.ours) > 1:
        models = []
        for path in a.ours:
            r = {"path": path}
            try:
                onnx.checker.check_model(onnx.load(path), full_check=True)
                r["checker"] = "ok"
            except Exception as e:
                r["checker"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            out = run(path, x)
            r["outputs"] = {k: list(v.shape) for k, v in out.items()}
            r["finite"] = all(bool(np.isfinite(v).all()) for v in out.values())
            models.append(r)
        json.dump({"models": models}, sys.stdout)
        print()
        return
    a.ours = a.ours[0]
    res = {}
    try:
        onnx.checker.check_model(onnx.load(a.ours), full_check=True)
        res["checker"] = "ok"
    except Exception as e:  # report, the Rust test asserts
        res["checker"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    res["ours"] = describe(a.ours)
    ours = run(a.ours, x)
    res["outputs"] = {k: list(v.shape) for k, v in ours.items()}
    res["finite"] = all(bool(np.isfinite(v).all()) for v in ours.values())
    if a.theirs:
        res["theirs"] = describe(a.theirs)
        theirs = run(a.theirs, x)
        res["max_abs"] = {
            k: (float(np.abs(ours[k].astype(np.float64) - theirs[k]).max()) if ours[k].shape == theirs[k].shape else None)
            for k in theirs if k in ours
        }
        res["max_value"] = {k: float(np.abs(v).max()) for k, v in theirs.items()}
        if a.nms and a.layout and ours["output0"].shape == theirs["output0"].shape:
            res["nms"] = nms_parts(a, ours["output0"], theirs["output0"])
            res["parts"] = res["nms"]["parts"]
            if a.layout == "segment":
                res["parts"]["proto"] = res["max_abs"].get("output1")
        elif a.layout and ours["output0"].shape == theirs["output0"].shape:
            res["parts"] = parts(a, np.abs(ours["output0"].astype(np.float64) - theirs["output0"]))
            if a.layout == "segment":
                res["parts"]["proto"] = res["max_abs"].get("output1")
    if a.reference_npy:
        ref = np.load(a.reference_npy)
        o = next(iter(ours.values()))
        res["max_abs"] = {"output0": float(np.abs(o.astype(np.float64) - ref).max()) if o.shape == ref.shape else None}
        res["max_value"] = {"output0": float(np.abs(ref).max())}
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
