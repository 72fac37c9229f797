#!/usr/bin/env python3
"""Regenerate a zoo model's seeded random weights (``fixtures/zoo/<model>.weights.bin``) from its recipe.

    python3 tests/oracle/materialize_weights.py fixtures/zoo/resnet18.weights.json [more.json ...] [--out FILE] [--force]

The zoo's ``.onnx`` files keep their large float initializers as ONNX external data in ``<model>.weights.bin``,
which is not committed (size); ``<model>.weights.json`` is.  For every stripped tensor it records name, dtype,
shape, offset, length and a generation rule with a seed; this script writes the blob from those rules with numpy
only, byte-identical on every run and machine (numpy's PCG64 ``default_rng(seed)`` stream, float64 arithmetic,
one rounding to the tensor's dtype, little-endian).  ``xtask/fixtures/make_zoo.py`` uses the same
:func:`generate` to write the weights it records.

Rules (``z = default_rng(seed).standard_normal(numel)`` in float64, in row-major order; ``scale`` defaults to 1):
  {"rule": "normal", "mean": m, "std": s, "scale": c, "seed": k}                every element  c * (m + s * z)
  {"rule": "normal_rows", "mean": [m_i], "std": [s_i], "scale": c, "seed": k}  row i of axis 0: c * (m_i + s_i * z)
  {"rule": "uniform", "low": a, "high": b, "seed": k}                          a + (b - a) * default_rng(k).random(numel)

The blob starts each tensor at its recorded offset (gaps are zero bytes).  Idempotent: when the blob already exists
with the recorded size and sha256 it is left alone (unless --force); otherwise it is written to a temporary file
and renamed, so concurrent runs are safe.  Exit status 0 on success, 1 when the result does not match the recorded
sha256, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

DTYPES = {"float32": "<f4", "float16": "<f2", "float64": "<f8"}


def generate(entry: dict) -> np.ndarray:
    """The values of one tensor from its recipe entry (shape, dtype, rule)."""
    shape = tuple(int(d) for d in entry["shape"])
    dtype = np.dtype(DTYPES[entry["dtype"]])
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    r = entry["rule"]
    rng = np.random.default_rng(int(r["seed"]))
    kind = r["rule"]
    if kind == "normal":
        v = float(r["mean"]) + float(r["std"]) * rng.standard_normal(n)
    elif kind == "normal_rows":
        rows = shape[0]
        mean = np.asarray(r["mean"], dtype=np.float64)
        std = np.asarray(r["std"], dtype=np.float64)
        if mean.shape != (rows,) or std.shape != (rows,):
            raise ValueError(f"{entry['name']}: normal_rows needs {rows} means and stds")
        z = rng.standard_normal(n).reshape(rows, -1)
        v = (mean[:, None] + std[:, None] * z).reshape(-1)
    elif kind == "uniform":
        lo, hi = float(r["low"]), float(r["high"])
        v = lo + (hi - lo) * rng.random(n)
    else:
        raise ValueError(f"{entry['name']}: unknown rule {kind!r}")
    if kind != "uniform" and "scale" in r:
        v = float(r["scale"]) * v
    return v.astype(dtype).reshape(shape)


def tensor_bytes(entry: dict) -> bytes:
    raw = generate(entry).tobytes()
    if len(raw) != int(entry["length"]):
        raise ValueError(f"{entry['name']}: generated {len(raw)} bytes, recipe says {entry['length']}")
    return raw


def build_blob(recipe: dict) -> bytes:
    size = int(recipe["size"])
    buf = bytearray(size)
    for e in recipe["tensors"]:
        off, ln = int(e["offset"]), int(e["length"])
        if off + ln > size:
            raise ValueError(f"{e['name']}: [{off}, {off + ln}) is beyond the blob size {size}")
        buf[off : off + ln] = tensor_bytes(e)
    return bytes(buf)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def materialize(recipe_path: str, out: str | None = None, force: bool = False) -> tuple[str, bool]:
    """Writes the blob of `recipe_path` (default: its `location`, next to the json). Returns (path, written)."""
    with open(recipe_path) as f:
        recipe = json.load(f)
    if out is None:
        out = os.path.join(os.path.dirname(os.path.abspath(recipe_path)), recipe["location"])
    want = recipe.get("sha256")
    if not force and want and os.path.exists(out) and os.path.getsize(out) == int(recipe["size"]):
        if sha256_file(out) == want:
            return out, False
    data = build_blob(recipe)
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise RuntimeError(f"{recipe_path}: generated blob sha256 {got} != recorded {want} (numpy {np.__version__})")
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".weights-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out, True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipes", nargs="+", help="<model>.weights.json")
    ap.add_argument("--out", help="write here instead of the recipe's location (one recipe only)")
    ap.add_argument("--force", action="store_true", help="rewrite even when the blob is already up to date")
    a = ap.parse_args(argv)
    if a.out and len(a.recipes) != 1:
        print("materialize_weights.py: error: --out takes one recipe", file=sys.stderr)
        return 2
    for r in a.recipes:
        try:
            path, written = materialize(r, a.out, a.force)
        except (OSError, ValueError, KeyError) as e:
            print(f"materialize_weights.py: error: {r}: {e}", file=sys.stderr)
            return 2
        except RuntimeError as e:
            print(f"materialize_weights.py: error: {e}", file=sys.stderr)
            return 1
        print(f"{path}: {'written' if written else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
