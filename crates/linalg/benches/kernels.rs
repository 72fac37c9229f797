//! Criterion benchmarks on YOLO11n's real layer shapes; throughput is reported in
//! "elements" = flops, so criterion's `elem/s` column reads as FLOP/s.
//!
//! `cargo bench -p onnxide-linalg --bench kernels -- <filter>`; set `LINALG_BENCH_THREADS`
//! (default 1) to time the parallel paths.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnxide_linalg::gemm::{gemm, GemmOutput, MatRef, PackedWeights};
use onnxide_linalg::{Epilogue, Isa};
use std::hint::black_box;

fn threads() -> usize {
    std::env::var("LINALG_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap()
}

fn data(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3)
        .collect()
}

fn bench_gemm(c: &mut Criterion) {
    let pool = pool();
    let mut group = c.benchmark_group(format!("gemm_t{}", threads()));
    // (m, k, n): 1×1 convs of YOLO11n as GEMMs (oc, ic, H·W).
    for &(m, k, n) in &[
        (64, 48, 25600),
        (64, 64, 6400),
        (128, 128, 1600),
        (256, 256, 400),
        (64, 576, 6400),
    ] {
        for isa in Isa::all_supported() {
            if isa == Isa::Generic {
                continue;
            }
            let a = data(m * k);
            let b = data(k * n);
            let mut out = vec![0.0f32; m * n];
            let packed = PackedWeights::new(isa, &a, m, k, Some(&data(m)));
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            group.bench_function(
                BenchmarkId::new(format!("{isa:?}"), format!("{m}x{k}x{n}")),
                |bench| {
                    bench.iter(|| {
                        gemm(
                            &packed,
                            MatRef::row_major(&b, k, n),
                            GemmOutput {
                                data: &mut out,
                                ldc: n,
                                accumulate: false,
                            },
                            None,
                            Epilogue::SILU,
                            Some(&pool),
                        );
                        black_box(&out);
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_gemm
}
criterion_main!(benches);
