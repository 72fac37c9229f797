#!/usr/bin/env python3
"""Generate the ONNX backend node-test data (model.onnx + test_data_set_0/*.pb per case).

    python3 xtask/nodetests/generate.py OUT_DIR

The onnx wheel ships only the generators (onnx/backend/test/case/node/*.py), not the data.
This collects every node test case with ``onnx.backend.test.case.node.collect_testcases`` and writes
it with the writer of ``onnx.backend.test.cmd_tools.generate_data`` (the same layout as upstream's
``onnx/backend/test/data/node``): ``OUT_DIR/node/<test name>/...``. Deterministic: the case
generators seed numpy with 0. Takes a few seconds.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="output folder (cases go to OUT_DIR/node/<name>)")
    args = ap.parse_args(argv)
    try:
        import onnx
        from onnx.backend.test import cmd_tools
        from onnx.backend.test.case import node as node_cases
    except ImportError as e:  # pragma: no cover
        print(f"generate.py: error: needs the onnx Python package ({e})", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    cases = node_cases.collect_testcases(None)
    # generate_data writes whatever model_test.collect_testcases returns; point it at the node cases.
    cmd_tools.model_test.collect_testcases = lambda *a, **k: cases
    cmd_tools.generate_data(argparse.Namespace(output=args.out_dir))
    with open(os.path.join(args.out_dir, "VERSION"), "w") as f:
        f.write(f"onnx {onnx.__version__}\n{len(cases)} node cases\n")
    print(f"wrote {len(cases)} node test cases (onnx {onnx.__version__}) to {os.path.join(args.out_dir, 'node')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
