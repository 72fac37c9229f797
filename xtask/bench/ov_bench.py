#!/usr/bin/env python3
"""Time a model on OpenVINO (CPU plugin, f32), the same way `onnxide bench` times onnxide.

    python3 xtask/bench/ov_bench.py MODEL.onnx --threads N --runs N --warmup N --batch B --imgsz S

CPU device with INFERENCE_PRECISION_HINT=f32 (no bf16 even where the CPU has it), PERFORMANCE_HINT=LATENCY and
INFERENCE_NUM_THREADS=N. Symbolic dims: axis 0 takes the batch, others imgsz (the model is reshaped to them
before compiling). Prints one JSON line like ort_bench.py: median_ms, min_ms, mean_ms, p90_ms, runs, threads,
batch, session_ms (read_model + compile_model + create_infer_request), peak_rss_mb (ru_maxrss: the process's
high-water mark), rss_growth_mb (peak minus the RSS after imports), samples_ms, version. Without the `openvino`
module it prints {"missing": "..."} and exits 0, so the caller can say so.
"""
import argparse
import json
import resource
import statistics
import sys
import time


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--imgsz", type=int, default=640)
    a = ap.parse_args()
    import numpy as np
    try:
        import openvino as ov
    except ImportError as e:
        print(json.dumps({"missing": f"openvino not installed ({e})"}))
        return 0

    before = rss_mb()
    t0 = time.perf_counter()
    core = ov.Core()
    model = core.read_model(a.model)
    shapes = {}
    for inp in model.inputs:
        ps = inp.get_partial_shape()
        shape = [d.get_length() if d.is_static else (a.batch if ax == 0 else a.imgsz) for ax, d in enumerate(ps)]
        shapes[inp.get_any_name()] = shape
    if any(not inp.get_partial_shape().is_static for inp in model.inputs):
        model.reshape(shapes)
    compiled = core.compile_model(model, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": a.threads,
    })
    req = compiled.create_infer_request()
    session_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in compiled.inputs:
        dtype = np.float16 if inp.get_element_type() == ov.Type.f16 else np.float32
        feeds[inp.get_any_name()] = rng.random(shapes[inp.get_any_name()]).astype(dtype)
    for _ in range(a.warmup):
        req.infer(feeds)
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        req.infer(feeds)
        times.append((time.perf_counter() - t) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    s = sorted(times)
    print(json.dumps({
        "median_ms": statistics.median(s), "min_ms": s[0], "mean_ms": statistics.fmean(s),
        "p90_ms": s[max(0, int(len(s) * 0.9 + 0.999) - 1)], "runs": a.runs, "threads": a.threads,
        "batch": a.batch, "session_ms": session_ms, "peak_rss_mb": peak, "rss_growth_mb": peak - before,
        "samples_ms": times, "version": ov.__version__,
    }))


if __name__ == "__main__":
    sys.exit(main())
