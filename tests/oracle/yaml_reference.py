#!/usr/bin/env python3
"""Make the reference output of Ultralytics' own export for a model built from a config name with
onnxide's seeded random weights (developer machine: needs ultralytics + torch + onnxruntime).

    yaml_reference.py --weights W.safetensors --yaml yolo11s.yaml --imgsz 320 --out OUT.npy

W.safetensors holds the *unfused* float16 weights onnxide generates for that config
(`cargo xtask interop reference` writes it). They are loaded into `YOLO(yaml)`, Ultralytics
exports ONNX (fusing BatchNorm itself), and onnxruntime runs that file on
numpy.random.default_rng(0).random((1, 3, imgsz, imgsz), float32). OUT.npy is output0, which
onnxide's own export of the same config name must reproduce (crates/yolo/tests/scales.rs). Only
the output is committed: the ~38 MB checkpoint and export stay out of the repository.
"""
import argparse
import json
import os
import struct
import sys
import tempfile

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F16": np.float16, "F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--yaml", required=True)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    weights = {k: torch.from_numpy(v.astype(np.float32)) for k, v in read_safetensors(a.weights).items()}
    model = YOLO(a.yaml)
    missing, unexpected = model.model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"state_dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with tempfile.TemporaryDirectory() as d:
        cwd = os.getcwd()
        os.chdir(d)
        try:
            f = model.export(format="onnx", imgsz=a.imgsz)
            x = np.random.default_rng(0).random((1, 3, a.imgsz, a.imgsz), dtype=np.float32)
            s = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
            y = s.run(None, {"images": x})[0]
        finally:
            os.chdir(cwd)
    np.save(a.out, y)
    print(f"{a.out}: output0 {list(y.shape)}, max |value| {float(np.abs(y).max()):.3f}")


if __name__ == "__main__":
    main()
