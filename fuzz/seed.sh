#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the crate's tiny test inputs.
# Usage: bash fuzz/seed.sh   (then: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run pickle -- -max_total_time=60)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../crates/weights/tests/data"
mkdir -p "$here/corpus/pickle" "$here/corpus/pt_zip" "$here/corpus/safetensors"
cp "$data"/*.pt "$here/corpus/pt_zip/"
python3 - "$data" "$here/corpus/pickle" <<'PY'
import sys, zipfile, glob, os
src, dst = sys.argv[1], sys.argv[2]
for f in glob.glob(os.path.join(src, "*.pt")):
    try:
        z = zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        continue
    for n in z.namelist():
        if n.endswith("data.pkl"):
            open(os.path.join(dst, os.path.basename(f) + ".pkl"), "wb").write(z.read(n))
PY
python3 - "$here/corpus/safetensors" <<'PY'
import sys, json, struct, os
dst = sys.argv[1]
def st(tensors, meta):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data
meta = {"format": "pt", "onnxide.format": "onnxide-yolo/1", "onnxide.task": "detect",
        "onnxide.names": '{"0":"cat"}', "onnxide.stride": "[8.0,16.0,32.0]", "onnxide.yaml": '{"nc":1,"scale":"n"}',
        "onnxide.args": "{}", "onnxide.tensor_order": '["b","a"]'}
t = {"a": ("F16", [2], b"\x00\x3c\x00\x40"), "b": ("I64", [1], struct.pack("<q", 7))}
open(os.path.join(dst, "meta.safetensors"), "wb").write(st(t, meta))
open(os.path.join(dst, "plain.safetensors"), "wb").write(st(t, None))
PY
echo "seeded: $(ls "$here"/corpus/* | wc -l) files"
