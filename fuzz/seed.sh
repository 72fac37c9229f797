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
mkdir -p "$here/corpus/onnx_session" "$here/corpus/npy" "$here/corpus/keyvalue"
# Small ONNX models (one op each, the ops of issue 14's hostile list), .npy arrays, key=value lines.
python3 - "$here/corpus" <<'PY'
import sys, os
import numpy as np
import onnx
from onnx import helper as h, TensorProto as T
dst = sys.argv[1]
def model(name, nodes, inputs, outputs, inits=()):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)], ir_version=8)
    open(os.path.join(dst, "onnx_session", name + ".onnx"), "wb").write(m.SerializeToString())
x = h.make_tensor_value_info("x", T.FLOAT, [1, 1, 4, 4])
y = h.make_tensor_value_info("y", T.FLOAT, None)
i64 = lambda n, v: h.make_tensor(n, T.INT64, [len(v)], v)
model("relu", [h.make_node("Relu", ["x"], ["y"])], [x], [y])
model("pad", [h.make_node("Pad", ["x", "p"], ["y"])], [x], [y], [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])])
model("tile", [h.make_node("Tile", ["x", "r"], ["y"])], [x], [y], [i64("r", [1, 1, 2, 2])])
model("expand", [h.make_node("Expand", ["x", "s"], ["y"])], [x], [y], [i64("s", [2, 1, 4, 4])])
model("cos", [h.make_node("ConstantOfShape", ["s"], ["y"])], [], [y], [i64("s", [2, 3])])
model("range", [h.make_node("Range", ["a", "b", "d"], ["y"])], [], [y],
      [h.make_tensor("a", T.INT64, [], [0]), h.make_tensor("b", T.INT64, [], [10]), h.make_tensor("d", T.INT64, [], [2])])
model("conv", [h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [x], [y],
      [h.make_tensor("w", T.FLOAT, [1, 1, 3, 3], [0.1] * 9)])
model("maxpool", [h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1])], [x], [y])
model("resize", [h.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest")], [x], [y],
      [h.make_tensor("sc", T.FLOAT, [4], [1, 1, 2, 2])])
body = h.make_graph([h.make_node("Identity", ["c"], ["c_out"]), h.make_node("Identity", ["v"], ["v_out"])], "body",
                    [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
                     h.make_tensor_value_info("v", T.FLOAT, [1, 1, 4, 4])],
                    [h.make_tensor_value_info("c_out", T.BOOL, []), h.make_tensor_value_info("v_out", T.FLOAT, [1, 1, 4, 4])])
model("loop", [h.make_node("Loop", ["M", "", "x"], ["y"], body=body)], [x], [y], [h.make_tensor("M", T.INT64, [], [3])])
for name, a in [("f32", np.arange(6, dtype=np.float32).reshape(2, 3)), ("i64", np.arange(4, dtype=np.int64)),
                ("bool", np.array([True, False])), ("f16", np.ones((2, 2), np.float16)), ("empty", np.zeros((0, 3), np.float32))]:
    np.save(os.path.join(dst, "npy", name + ".npy"), a)
for i, line in enumerate(["imgsz=640 batch=1", "model=a.pt imgsz=384,640 memory=4G", "threads=2 timeout=0.5",
                          "imgz=640", "memory=512M", "half=True"]):
    open(os.path.join(dst, "keyvalue", f"{i}.txt"), "w").write(line)
PY
echo "seeded: $(ls "$here"/corpus/* | wc -l) files"
