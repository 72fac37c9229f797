#!/usr/bin/env python3
"""Validate Triton model repositories against Triton's own ModelConfig schema.

    triton_check.py REPO_DIR NAME [NAME ...]

For each NAME: parses REPO/NAME/config.pbtxt with google.protobuf.text_format into
tritonclient's `model_config_pb2.ModelConfig` (the schema Triton reads; loaded from its file so that
tritonclient's grpc extra is not needed), loads REPO/NAME/1/model.onnx with onnx and onnxruntime, and
prints one JSON object {NAME: report}:
  problems     what does not agree between the config and the model (empty when all is well):
               name, platform, every input/output name, data type and dims (dim 0 left out when
               max_batch_size > 0, -1 for a symbolic dim), dynamic_batching present iff batchable,
               the `metadata` parameter equal (ast.literal_eval) to the model's metadata_props
  max_batch_size, inputs, outputs (as parsed), metadata_keys, ort_inputs (onnxruntime's view)
"""
import ast
import importlib.util
import json
import os
import sys

import onnx
import onnxruntime as ort
from google.protobuf import text_format

TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64", onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.INT8: "TYPE_INT8", onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32", onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.UINT8: "TYPE_UINT8", onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32", onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.BOOL: "TYPE_BOOL", onnx.TensorProto.STRING: "TYPE_STRING",
}


def model_config_pb2():
    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        sys.exit("tritonclient is not installed (pip install -r tests/requirements.txt)")
    path = os.path.join(spec.submodule_search_locations[0], "grpc", "model_config_pb2.py")
    mod_spec = importlib.util.spec_from_file_location("model_config_pb2", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def dims(v):
    return [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]


def check(pb2, repo, name):
    problems = []
    text = open(os.path.join(repo, name, "config.pbtxt")).read()
    cfg = text_format.Parse(text, pb2.ModelConfig())
    path = os.path.join(repo, name, "1", "model.onnx")
    m = onnx.load(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    if cfg.name != name:
        problems.append(f"name {cfg.name!r}")
    if cfg.platform != "onnxruntime_onnx":
        problems.append(f"platform {cfg.platform!r}")
    batch = cfg.max_batch_size
    if (batch > 0) != cfg.HasField("dynamic_batching"):
        problems.append(f"max_batch_size {batch} but dynamic_batching {cfg.HasField('dynamic_batching')}")
    inits = {t.name for t in m.graph.initializer}
    for section, values in (("input", [v for v in m.graph.input if v.name not in inits]), ("output", list(m.graph.output))):
        got = list(getattr(cfg, section))
        if [g.name for g in got] != [v.name for v in values]:
            problems.append(f"{section} names {[g.name for g in got]} vs {[v.name for v in values]}")
            continue
        for g, v in zip(got, values):
            want_type = TYPES.get(v.type.tensor_type.elem_type)
            if pb2.DataType.Name(g.data_type) != want_type:
                problems.append(f"{section} {v.name}: {pb2.DataType.Name(g.data_type)} vs {want_type}")
            want = dims(v)[1:] if batch > 0 else dims(v)
            shape = list(g.reshape.shape) if g.HasField("reshape") else list(g.dims)
            if shape != want:
                problems.append(f"{section} {v.name}: dims {shape} vs {want}")
    meta = {p.key: p.value for p in m.metadata_props}
    if meta:
        if "metadata" not in cfg.parameters:
            problems.append("no metadata parameter")
        else:
            parsed = ast.literal_eval(cfg.parameters["metadata"].string_value)
            if parsed != meta:
                problems.append("metadata parameter differs from metadata_props")
    return {
        "problems": problems,
        "max_batch_size": batch,
        "inputs": [[i.name, pb2.DataType.Name(i.data_type), list(i.dims)] for i in cfg.input],
        "outputs": [[o.name, pb2.DataType.Name(o.data_type), list(o.dims)] for o in cfg.output],
        "metadata_keys": sorted(meta),
        "ort_inputs": [[i.name, i.type, [d if isinstance(d, int) else -1 for d in i.shape]] for i in sess.get_inputs()],
    }


def main():
    repo, names = sys.argv[1], sys.argv[2:]
    pb2 = model_config_pb2()
    print(json.dumps({n: check(pb2, repo, n) for n in names}))


if __name__ == "__main__":
    main()
