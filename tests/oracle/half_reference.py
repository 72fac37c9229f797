#!/usr/bin/env python3
"""Check onnxide's half=True export against onnxruntime's own FP16 converter (what Ultralytics runs).

    half_reference.py --ours HALF.onnx --fp32 FP32.onnx --shape 1,3,640,640 [--theirs ULTRA_HALF.onnx]
                      [--layout detect|segment|pose|obb|classify] [--nc 80] [--seed 0]

REFERENCE = onnxruntime.transformers.float16.convert_float_to_float16(FP32, keep_io_types=True), the
call Ultralytics makes on the CPU. Prints one JSON object:
  vs_reference   {nodes, initializers, value_info, io}: list of differences of OURS from REFERENCE
                 (nodes in order with names, op types, inputs, outputs and attributes; initializers
                 with name, dtype, shape and exact values; value_info names and types; graph I/O)
  vs_theirs      the same against THEIRS (when given)
  init_dtypes    {dtype: count} of OURS' initializers;  casts: the Cast nodes of OURS (name, to)
  max_abs        {output: max |OURS - THEIRS|} under onnxruntime (when THEIRS is given)
  vs_fp32        {output: max |OURS - FP32|};  parts: per channel group of output0 vs FP32 (--layout)
  checker        "ok" or onnx.checker.check_model(OURS, full_check=True)'s error
The input is numpy.random.default_rng(seed).random(shape, dtype=float32), the fixtures' recipe.
"""
import argparse
import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.transformers.float16 import convert_float_to_float16


def vi(v):
    t = v.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return (v.name, t.elem_type, dims)


def node_key(n):
    attrs = []
    for a in n.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            arr = numpy_helper.to_array(a.t)
            attrs.append((a.name, a.t.data_type, list(arr.shape), arr.tobytes().hex()))
        else:
            attrs.append((a.name, str(onnx.helper.get_attribute_value(a))))
    return (n.name, n.op_type, list(n.input), list(n.output), attrs)


def init_key(t):
    arr = numpy_helper.to_array(t)
    return (t.name, t.data_type, list(t.dims), arr.tobytes())


def vis(g):
    outs = {o.name for o in g.output}
    return sorted({(v.name, v.type.tensor_type.elem_type) for v in g.value_info if v.name not in outs})


def topo_sorted(graph):
    """graph.node in a stable topological order: ready nodes in file order (a min-heap on the index),
    the rule onnxide's ir::topo::sort follows. The converter appends its Casts last; sorted, each
    moves before its first reader and every other node keeps its place."""
    import heapq
    producer = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    deps = []
    for i, n in enumerate(graph.node):
        reads = set(x for x in n.input if x)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                reads |= {x for m in a.g.node for x in m.input}
        deps.append({producer[x] for x in reads if x in producer and producer[x] != i})
    users = [[] for _ in graph.node]
    pending = [len(d) for d in deps]
    for i, d in enumerate(deps):
        for p in d:
            users[p].append(i)
    ready = [i for i, c in enumerate(pending) if c == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        i = heapq.heappop(ready)
        out.append(graph.node[i])
        for u in users[i]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, u)
    return out


def diff(ours, ref):
    out = {}
    a, b = ours.graph, ref.graph
    for what, fa, fb in [
        # REFERENCE's nodes in the stable topological order onnxide writes (the converter appends its
        # Casts last, which onnx.checker's full check refuses)
        ("nodes", [node_key(n) for n in a.node], [node_key(n) for n in topo_sorted(b)]),
        ("initializers", [init_key(t) for t in a.initializer], [init_key(t) for t in b.initializer]),
        # value_info as a set of (name, element type) (symbolic dims are named differently by onnx's
        # shape inference; Ultralytics' file lists each entry twice, an onnxslim artefact), without
        # the graph outputs (the converter keeps them only if the fp32 file listed them)
        ("value_info", vis(a), vis(b)),
        ("io", [vi(v) for v in a.input] + [vi(v) for v in a.output], [vi(v) for v in b.input] + [vi(v) for v in b.output]),
    ]:
        d = []
        if len(fa) != len(fb):
            d.append(f"count {len(fa)} vs {len(fb)}")
        for i, (x, y) in enumerate(zip(fa, fb)):
            if x != y:
                d.append(f"#{i}: {str(x)[:300]} vs {str(y)[:300]}")
            if len(d) >= 5:
                break
        out[what] = d
    return out


def run(model, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return {o.name: v for o, v in zip(s.get_outputs(), s.run(None, {name: x}))}


def parts(layout, nc, a, b):
    groups = {"box": list(range(4)), "scores": list(range(4, 4 + nc))}
    extra = 4 + nc
    if layout == "segment":
        groups["mask_coef"] = list(range(extra, extra + 32))
    elif layout == "pose":
        k = list(range(extra, a.shape[1]))
        groups["kpt_xy"] = [c for i, c in enumerate(k) if i % 3 != 2]
        groups["kpt_v"] = [c for i, c in enumerate(k) if i % 3 == 2]
    elif layout == "obb":
        groups["angle"] = [extra]
    return {g: float(np.abs(a[:, idx] - b[:, idx]).max()) for g, idx in groups.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--theirs")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", choices=["detect", "segment", "pose", "obb", "classify"])
    ap.add_argument("--nc", type=int, default=80)
    a = ap.parse_args()

    ours = onnx.load(a.ours)
    fp32 = onnx.load(a.fp32)
    ref = convert_float_to_float16(onnx.load(a.fp32), keep_io_types=True)
    rep = {"vs_reference": diff(ours, ref)}
    rep["init_dtypes"] = dict(collections.Counter(onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in ours.graph.initializer))
    rep["casts"] = [[n.name, n.attribute[0].i] for n in ours.graph.node if n.op_type == "Cast"]
    rep["nodes"] = len(ours.graph.node)
    rep["ops"] = dict(sorted(collections.Counter(n.op_type for n in ours.graph.node).items()))
    rep["metadata"] = {p.key: p.value for p in ours.metadata_props}
    try:
        onnx.checker.check_model(ours, full_check=True)
        rep["checker"] = "ok"
    except Exception as e:  # noqa: BLE001
        rep["checker"] = str(e).splitlines()[0]

    x = np.random.default_rng(a.seed).random([int(s) for s in a.shape.split(",")], dtype=np.float32)
    yo = run(ours, x)
    yf = run(fp32, x)
    rep["vs_fp32"] = {k: float(np.abs(yo[k] - yf[k]).max()) for k in yf}
    if a.layout and a.layout != "classify":
        rep["parts"] = parts(a.layout, a.nc, yo["output0"], yf["output0"])
    if a.theirs:
        theirs = onnx.load(a.theirs)
        rep["vs_theirs"] = diff(ours, theirs)
        rep["theirs_metadata"] = {p.key: p.value for p in theirs.metadata_props}
        yt = run(theirs, x)
        rep["max_abs"] = {k: float(np.abs(yo[k] - yt[k]).max()) for k in yt}
    print(json.dumps(rep))


if __name__ == "__main__":
    main()
