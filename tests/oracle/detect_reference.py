#!/usr/bin/env python3
"""Reference detection on a letterboxed image: onnxruntime + Ultralytics' post-processing in numpy.

    python3 tests/oracle/detect_reference.py MODEL.onnx IMAGE_640.npy --orig W,H [--conf 0.25] [--iou 0.7]

IMAGE_640.npy is an HxWx3 uint8 RGB image already letterboxed to the model's input size (as
``fixtures/images/bus_640.npy``, made by Ultralytics' LetterBox).  The model is a plain (no embedded NMS) detect
export: output0 [1, 4 + classes, anchors].  Post-processing follows ultralytics.utils.ops.non_max_suppression for
one image (multi_label=False, agnostic=False: boxes offset by class, IoU threshold ``--iou``, at most 300 boxes,
sorted by score) and scale_boxes (gain and centred padding, clipped to the original W,H).  Prints JSON
``{"boxes": [[x1, y1, x2, y2, score, class], ...]}`` in original-image pixels.
"""
from __future__ import annotations

import argparse
import json
import sys


def nms(boxes, scores, iou_thr):
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thr]
    return np.array(keep, dtype=np.int64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("image")
    ap.add_argument("--orig", required=True, help="original image size W,H")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    args = ap.parse_args()
    import numpy as np
    import onnxruntime as ort

    ow, oh = (int(v) for v in args.orig.split(","))
    img = np.load(args.image, allow_pickle=False)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        print(f"detect_reference.py: {args.image}: expected HxWx3 uint8", file=sys.stderr)
        return 2
    x = (img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0).copy()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(args.model, sess_options=so, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    p = out[0].T  # [anchors, 4 + classes]
    cls_scores = p[:, 4:]
    cls = cls_scores.argmax(1)
    score = cls_scores.max(1)
    m = score > args.conf
    xywh, score, cls = p[m, :4], score[m], cls[m]
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    offset = cls[:, None].astype(np.float32) * 7680.0  # Ultralytics' max_wh class offset
    keep = nms(xyxy + offset, score, args.iou)[:300]
    xyxy, score, cls = xyxy[keep], score[keep], cls[keep]
    # scale_boxes: the letterbox of ultralytics.data.augment.LetterBox (centred, padding rounded).
    h, w = img.shape[:2]
    gain = min(h / oh, w / ow)
    padw = round((w - ow * gain) / 2 - 0.1)
    padh = round((h - oh * gain) / 2 - 0.1)
    xyxy = xyxy.copy()
    xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - padw) / gain).clip(0, ow)
    xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - padh) / gain).clip(0, oh)
    boxes = [[float(v) for v in b] + [float(s), int(c)] for b, s, c in zip(xyxy, score, cls)]
    print(json.dumps({"boxes": boxes, "candidates": int(m.sum())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
