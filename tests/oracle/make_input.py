#!/usr/bin/env python3
"""Write a deterministic float32 test input: uniform [0, 1) from numpy's default_rng(seed).

    python3 tests/oracle/make_input.py --shape 1,3,640,640 --seed 0 --out FILE.npy

The recipe is exactly ``numpy.random.default_rng(seed).random(shape, dtype=numpy.float32)``, the one used for the
golden inputs (``golden_io.py`` makes them with it: ``--shape 1,3,640,640 --seed 0`` is
fixtures/.cache/io/detect-default/input_images.npy bit for bit).  Needs only numpy.
"""
from __future__ import annotations

import argparse
import os
import sys


def die(msg: str):
    print(f"make_input.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", required=True, help="comma-separated dims, e.g. 1,3,640,640")
    ap.add_argument("--seed", type=int, default=0, help="numpy default_rng seed (default 0)")
    ap.add_argument("--out", required=True, help="output .npy path")
    args = ap.parse_args(argv)
    try:
        shape = tuple(int(s) for s in args.shape.replace("x", ",").split(",") if s.strip() != "")
    except ValueError:
        die(f"--shape must be comma-separated integers, got {args.shape!r}")
    if not shape or any(d < 0 for d in shape):
        die(f"--shape must be non-empty and non-negative, got {args.shape!r}")
    try:
        import numpy as np
    except ImportError as e:
        die(f"{e}; install tests/requirements.txt")
    arr = np.random.default_rng(args.seed).random(shape, dtype=np.float32)
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    np.save(args.out, arr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
