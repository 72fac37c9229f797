#!/usr/bin/env python3
"""Run an ONNX model with onnxruntime and write one ``<output name>.npy`` per graph output.

    python3 tests/oracle/ort_run.py MODEL.onnx --input images=x.npy [--input NAME=FILE.npy ...] \
        --output-dir DIR [--threads N] [--optimization {none,all}]

The same contract as ``onnxide run``.  onnxruntime runs on the CPUExecutionProvider with every graph optimisation
disabled (ORT_DISABLE_ALL), sequential execution and 1 intra-op thread by default, so results are reproducible and
reflect the graph as written.  ``--optimization all`` (ORT_ENABLE_ALL) shows onnxruntime's own spread between its
optimisation levels, for scale.  Needs only numpy, onnx and onnxruntime (see tests/requirements.txt).

Exit status: 0 on success, 2 on bad arguments / unreadable files, 1 when onnxruntime fails.
"""
from __future__ import annotations

import argparse
import os
import re
import sys


ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(int16)": "int16", "tensor(int32)": "int32", "tensor(int64)": "int64",
    "tensor(uint8)": "uint8", "tensor(uint16)": "uint16", "tensor(uint32)": "uint32", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}

OPTIMIZATION_LEVELS = {"none": "ORT_DISABLE_ALL", "all": "ORT_ENABLE_ALL"}


def die(msg: str, code: int = 2):
    print(f"ort_run.py: error: {msg}", file=sys.stderr)
    sys.exit(code)


def safe_file_name(name: str) -> str:
    """Output names become file names; keep them as-is unless they contain path separators or NULs."""
    if name and not re.search(r"[/\\\0]", name) and name not in (".", ".."):
        return name
    return re.sub(r"[/\\\0]", "_", name) or "_"


def parse_inputs(items):
    feeds = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            die(f"--input expects NAME=FILE.npy, got {item!r}")
        if name in feeds:
            die(f"input {name!r} given twice")
        feeds[name] = path
    return feeds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="path to the .onnx file (external data is resolved relative to it)")
    ap.add_argument("--input", action="append", metavar="NAME=FILE.npy", help="graph input (repeatable)")
    ap.add_argument("--output-dir", required=True, help="directory to write <output name>.npy files into")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--optimization", choices=sorted(OPTIMIZATION_LEVELS), default="none",
                    help="graph optimisation level (default none: ORT_DISABLE_ALL)")
    args = ap.parse_args(argv)

    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        die(f"{e}; install tests/requirements.txt (numpy, onnx, onnxruntime)")

    if args.threads < 1:
        die(f"--threads must be >= 1, got {args.threads}")
    if not os.path.isfile(args.model):
        die(f"model file not found: {args.model}")
    paths = parse_inputs(args.input)

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[args.optimization])
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(args.model, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        die(f"onnxruntime could not load {args.model}: {e}", 1)

    graph_inputs = {i.name: i for i in sess.get_inputs()}
    unknown = sorted(set(paths) - set(graph_inputs))
    if unknown:
        die(f"unknown input name(s) {unknown}; the model's inputs are {list(graph_inputs)}")
    missing = [n for n in graph_inputs if n not in paths]
    if missing:
        die(f"missing --input for {missing}; the model's inputs are "
            + ", ".join(f"{i.name} {i.type} {i.shape}" for i in graph_inputs.values()))

    feeds = {}
    for name, path in paths.items():
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            die(f"input file not found: {path}")
        except Exception as e:  # noqa: BLE001
            die(f"cannot read {path} as .npy: {e}")
        gi = graph_inputs[name]
        want = ORT_DTYPES.get(gi.type)
        if want is not None and arr.dtype != np.dtype(want):
            die(f"input {name!r}: array dtype {arr.dtype} does not match the model's {gi.type} ({np.dtype(want)})")
        shape = gi.shape
        if len(shape) != arr.ndim or any(isinstance(d, int) and d != s for d, s in zip(shape, arr.shape)):
            die(f"input {name!r}: array shape {list(arr.shape)} does not match the model's {shape}")
        feeds[name] = arr

    try:
        outs = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        die(f"onnxruntime failed running {args.model}: {e}", 1)

    os.makedirs(args.output_dir, exist_ok=True)
    for o, arr in zip(sess.get_outputs(), outs):
        dst = os.path.join(args.output_dir, safe_file_name(o.name) + ".npy")
        np.save(dst, np.asarray(arr))
        print(f"{o.name}: {arr.dtype} {list(np.shape(arr))} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
