#!/usr/bin/env python3
"""Generate the golden io of the fixture exports into the (git-ignored) cache.

    python3 tests/oracle/golden_io.py [--manifest fixtures/manifest.json] [--only detect/default ...]

For every export whose ``golden_io`` entry in ``fixtures/manifest.json`` is set, writes
``input_<name>.npy`` (``make_input.py``'s recipe: numpy ``default_rng(0)``, uniform [0,1) float32, the shape the
manifest records) and ``output_<name>.npy`` (``ort_run.py``: onnxruntime, CPUExecutionProvider, ORT_DISABLE_ALL,
1 thread) to the paths the manifest names (``fixtures/.cache/io/<task>-<variant>/``).  These are the files
``make_fixtures.py`` used to commit under ``fixtures/io/``; on the machine that made the fixtures they come out
byte for byte the same (the manifest's sha256 of each output says so; a mismatch is printed as a warning, since
another CPU may make onnxruntime pick other kernels).

Generated once: a case folder whose ``stamp`` holds the sha256 of the export and of its external-data blob (as the
manifest records them) is reused as it is.  Each case is
written into a temporary folder and renamed into place, so concurrent test processes never read half a case.
Prints one line per case (``cached``, ``generated``) to stdout.  Needs numpy, onnx and onnxruntime.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_input  # noqa: E402
import ort_run  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STAMP = "stamp"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def case_dir(io: dict) -> Path:
    """The one folder every file of a case lives in (as the manifest records them)."""
    files = list(io["inputs"].values()) + list(io["outputs"].values())
    dirs = {(REPO / f["path"]).parent for f in files}
    if len(dirs) != 1:
        raise SystemExit(f"golden_io.py: error: a case's files must share one folder, got {sorted(map(str, dirs))}")
    return dirs.pop()


def stamp_of(entry: dict, blobs: dict) -> str:
    """What the case's outputs depend on: the export's file and its external-data blob, by sha256."""
    blob = str(Path(entry["path"]).parent / entry["external_data"]["location"]) if entry.get("external_data") else None
    return f"{entry['file_sha256']} {blobs.get(blob, {}).get('sha256', 'no-blob')}\n"


def generate(key: str, entry: dict, io: dict, into: Path, stamp: str):
    """Writes the case's inputs and onnxruntime's outputs into `into` (file names as in the manifest)."""
    model = REPO / entry["path"]
    feeds = []
    for name, spec in io["inputs"].items():
        dst = into / Path(spec["path"]).name
        shape = ",".join(str(d) for d in spec["shape"])
        if spec["dtype"] != "float32" or make_input.main(["--shape", shape, "--seed", "0", "--out", str(dst)]):
            raise SystemExit(f"golden_io.py: error: {key}: cannot make input {name} ({spec['dtype']} {shape})")
        feeds += ["--input", f"{name}={dst}"]
    with tempfile.TemporaryDirectory(dir=into) as ort_out:
        with open(os.devnull, "w") as quiet:  # ort_run prints one line per output; ours is one per case
            stdout, sys.stdout = sys.stdout, quiet
            try:
                status = ort_run.main([str(model), *feeds, "--output-dir", ort_out])
            finally:
                sys.stdout = stdout
        if status:
            raise SystemExit(f"golden_io.py: error: {key}: ort_run.py failed ({status})")
        for name, spec in io["outputs"].items():
            os.replace(Path(ort_out) / f"{ort_run.safe_file_name(name)}.npy", into / Path(spec["path"]).name)
    for name, spec in io["outputs"].items():
        got = sha256_file(into / Path(spec["path"]).name)
        if got != spec.get("sha256"):
            print(f"golden_io.py: warning: {key}: {name} differs from the committed golden's sha256 "
                  f"(onnxruntime on another CPU?)", file=sys.stderr)
    (into / STAMP).write_text(stamp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", default=str(REPO / "fixtures" / "manifest.json"))
    ap.add_argument("--only", action="append", metavar="TASK/VARIANT", help="only these exports (repeatable)")
    args = ap.parse_args(argv)
    manifest = json.loads(Path(args.manifest).read_text())
    exports, blobs = manifest["exports"], manifest.get("blobs", {})
    unknown = sorted(set(args.only or []) - set(exports))
    if unknown:
        ap.error(f"no such export(s) in the manifest: {unknown}")
    for key, entry in exports.items():
        io = entry.get("golden_io")
        if not io or (args.only and key not in args.only):
            continue
        final = case_dir(io)
        stamp = stamp_of(entry, blobs)
        if (final / STAMP).is_file() and (final / STAMP).read_text() == stamp:
            print(f"cached    {key}: {final.relative_to(REPO)}")
            continue
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        try:
            generate(key, entry, io, staging, stamp)
            if final.exists():
                shutil.rmtree(final)  # stale: made from another version of the export
            os.replace(staging, final)
        except OSError:
            if not (final / STAMP).is_file():  # another process may have renamed its copy into place first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"generated {key}: {final.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
