#!/usr/bin/env python3
"""onnx.checker.check_model(full_check=True) on each file given.

    full_check.py FILE.onnx [FILE.onnx ...]

Prints one JSON object {FILE: "ok" or the checker's first error line}.
"""
import json
import sys

import onnx


def check(path):
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        return "ok"
    except Exception as e:  # the checker's ValidationError, or a file onnx cannot read
        return str(e).splitlines()[0] if str(e) else type(e).__name__


print(json.dumps({p: check(p) for p in sys.argv[1:]}))
