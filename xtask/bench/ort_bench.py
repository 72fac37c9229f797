#!/usr/bin/env python3
"""Time a model on onnxruntime (CPUExecutionProvider), the same way `onnxide bench` times onnxide.

    python3 xtask/bench/ort_bench.py MODEL.onnx --threads N --runs N --warmup N --batch B --imgsz S

Default graph optimisation (ORT_ENABLE_ALL), intra_op_num_threads=N. Symbolic dims: axis 0 takes the batch,
others imgsz. Prints one JSON line: median_ms, min_ms, mean_ms, p90_ms, runs, threads, batch, session_ms
(InferenceSession creation), peak_rss_mb (ru_maxrss: the process's high-water mark), rss_growth_mb (peak minus
the RSS after imports, before the session is created), samples_ms and version.
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
    import onnxruntime as ort

    before = rss_mb()
    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    session_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else (a.batch if ax == 0 else a.imgsz) for ax, d in enumerate(i.shape)]
        dtype = np.float16 if i.type == "tensor(float16)" else np.float32
        feeds[i.name] = rng.random(shape).astype(dtype)
    for _ in range(a.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    s = sorted(times)
    print(json.dumps({
        "median_ms": statistics.median(s), "min_ms": s[0], "mean_ms": statistics.fmean(s),
        "p90_ms": s[max(0, int(len(s) * 0.9 + 0.999) - 1)], "runs": a.runs, "threads": a.threads,
        "batch": a.batch, "session_ms": session_ms, "peak_rss_mb": peak, "rss_growth_mb": peak - before,
        "samples_ms": times, "version": ort.__version__,
    }))


if __name__ == "__main__":
    sys.exit(main())
