#!/usr/bin/env python3
"""What the onnx Python package reads from a model, in `onnxide info --json`'s schema.

    python3 tests/oracle/onnx_info.py MODEL.onnx

Prints JSON with inputs and outputs (name, dtype, shape with dim_params as strings), metadata (ordered),
op_histogram, ir_version, opset_imports and node count. Used to cross-check `onnxide info --json`.
"""
import collections
import json
import sys

import onnx
from onnx import helper


def value(v, inits):
    t = v.type.tensor_type
    shape = None
    if t.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None) for d in t.shape.dim]
    dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else None
    return {"name": v.name, "dtype": dtype, "shape": shape}


def main():
    m = onnx.load(sys.argv[1], load_external_data=False)
    g = m.graph
    inits = {t.name for t in g.initializer}
    hist = collections.Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}" for n in g.node)
    out = {
        "ir_version": m.ir_version,
        "opset_imports": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
        "inputs": [value(v, inits) for v in g.input if v.name not in inits],
        "outputs": [value(v, inits) for v in g.output],
        "metadata": collections.OrderedDict((p.key, p.value) for p in m.metadata_props),
        "op_histogram": dict(sorted(hist.items())),
        "nodes": len(g.node),
        "initializers": len(g.initializer),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
