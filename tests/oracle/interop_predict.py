#!/usr/bin/env python3
"""Does Ultralytics accept onnxide's file as its own? (developer machine: needs ultralytics)

    interop_predict.py --ours OURS.onnx --pt CHECKPOINT.pt --images a.jpg b.jpg [--imgsz 640] [--dynamic]

Exports CHECKPOINT.pt with Ultralytics (format=onnx) into a temp folder, then runs
`YOLO(file).predict(image)` on both files and compares `Results.boxes.data` (x1 y1 x2 y2 conf cls,
original-image pixels) row for row. Prints one JSON object; exit status 1 when they differ.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--pt", required=True)
    ap.add_argument("--images", nargs="+", required=True)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--dynamic", action="store_true", help="OURS is a dynamic export; export THEIRS dynamic too")
    a = ap.parse_args()
    from ultralytics import YOLO

    report = {"dynamic": a.dynamic, "images": {}}
    ok = True
    with tempfile.TemporaryDirectory() as d:
        pt = os.path.join(d, "theirs.pt")
        shutil.copy(a.pt, pt)
        theirs = YOLO(pt).export(format="onnx", imgsz=a.imgsz, dynamic=a.dynamic)
        m_ours, m_theirs = YOLO(a.ours, task="detect"), YOLO(theirs, task="detect")
        for img in a.images:
            r_ours = m_ours.predict(img, verbose=False)[0]
            r_theirs = m_theirs.predict(img, verbose=False)[0]
            bo = r_ours.boxes.data.cpu().numpy()
            bt = r_theirs.boxes.data.cpu().numpy()
            same_shape = bo.shape == bt.shape
            delta = float(np.abs(bo - bt).max()) if same_shape and bo.size else (0.0 if same_shape else None)
            same_cls = same_shape and bool((bo[:, 5] == bt[:, 5]).all())
            good = same_shape and same_cls and delta is not None and delta <= 1e-3
            ok &= good
            report["images"][os.path.basename(img)] = {
                "boxes_ours": int(bo.shape[0]),
                "boxes_ultralytics": int(bt.shape[0]),
                "same_classes": same_cls,
                "max_abs_delta": delta,
                "speed_ms_ours": {k: round(v, 1) for k, v in r_ours.speed.items()},
                "first_box_ours": [round(float(v), 2) for v in bo[0]] if bo.size else None,
            }
    report["match"] = ok
    print(json.dumps(report, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
