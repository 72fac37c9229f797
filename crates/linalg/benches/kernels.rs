//! Criterion benchmarks on YOLO11n's real layer shapes. Throughput is declared in
//! "elements" = floating-point operations (2 per multiply-add), so criterion's `elem/s`
//! column reads directly as FLOP/s. `fma_peak` measures the machine's register-only FMA
//! rate in the same run, so ratios to peak stay meaningful on a shared, noisy machine.
//!
//! `cargo bench -p onnxide-linalg --bench kernels -- <filter>`; set `LINALG_BENCH_THREADS`
//! (default 1) to time the parallel paths.

#[path = "yolo_layers.rs"]
mod yolo_layers;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnxide_linalg::activation::activation_inplace;
use onnxide_linalg::conv::{Conv2dPlan, ConvGeometry};
use onnxide_linalg::gemm::{gemm, GemmOutput, MatRef, PackedWeights};
use onnxide_linalg::pool::{max_pool2d, upsample_nearest, PoolGeometry};
use onnxide_linalg::softmax::softmax;
use onnxide_linalg::{Activation, Epilogue, Isa};
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

fn conv_plan(isa: Isa, layer: &yolo_layers::Layer) -> Conv2dPlan {
    let &(_, ic, oc, h, w, k, s, g) = layer;
    let p = k / 2;
    let geo = ConvGeometry::new(ic, oc, h, w, k, k)
        .stride(s, s)
        .pads(p, p, p, p)
        .groups(g);
    let weights: Vec<f32> = data(geo.weight_len()).iter().map(|v| v * 0.1).collect();
    Conv2dPlan::new(isa, geo, &weights, Some(&data(oc)), Epilogue::SILU)
}

fn bench_fma_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("fma_peak");
    let iters = 1_000_000;
    group.throughput(Throughput::Elements((iters * 12 * 32) as u64));
    group.bench_function("zmm_12_chains", |b| {
        b.iter(|| onnxide_linalg::gemm::fma_peak_probe(black_box(iters)))
    });
    group.finish();
}

fn bench_gemm(c: &mut Criterion) {
    let pool = pool();
    let mut group = c.benchmark_group(format!("gemm_t{}", threads()));
    // (m, k, n) = the 1×1 convs of YOLO11n as GEMMs (oc, ic, H·W), plus a 3×3's K.
    for &(m, k, n) in &[
        (64, 48, 25600),
        (128, 96, 6400),
        (128, 192, 1600),
        (256, 384, 400),
        (64, 576, 6400),
    ] {
        for isa in Isa::all_supported()
            .into_iter()
            .filter(|&i| i != Isa::Generic)
        {
            let a = data(m * k);
            let b = data(k * n);
            let mut out = vec![0.0f32; m * n];
            let packed = PackedWeights::new(isa, &a, m, k, Some(&data(m)));
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            group.bench_function(
                BenchmarkId::new(format!("{isa:?}"), format!("{m}x{k}x{n}")),
                |bench| {
                    bench.iter(|| {
                        let output = GemmOutput {
                            data: &mut out,
                            ldc: n,
                            accumulate: false,
                        };
                        gemm(
                            &packed,
                            MatRef::row_major(&b, k, n),
                            output,
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

/// Representative YOLO11n convolutions, one per algorithm and size class.
const CONV_LAYERS: &[&str] = &[
    "0.conv",        // 3→16 3×3 s2 at 640: the stem, K = 27
    "1.conv",        // 16→32 3×3 s2 at 320
    "3.conv",        // 64→64 3×3 s2 at 160
    "2.m0.cv1",      // 16→8 3×3 at 160: tiny M
    "23.cv2.0.0",    // 64→64 3×3 at 80: the biggest stride-1 3×3
    "8.m0.m0.cv1",   // 64→64 3×3 at 20
    "2.cv2",         // 48→64 1×1 at 160
    "16.cv1",        // 256→64 1×1 at 80
    "9.cv2",         // 512→256 1×1 at 20
    "23.cv3.0.0.dw", // depthwise 64 at 80
    "23.cv3.2.0.dw", // depthwise 256 at 20
];

fn bench_conv(c: &mut Criterion) {
    let pool = pool();
    let isa = Isa::detect();
    let mut group = c.benchmark_group(format!("conv_t{}", threads()));
    for name in CONV_LAYERS {
        let layer = yolo_layers::YOLO11N.iter().find(|l| l.0 == *name).unwrap();
        let plan = conv_plan(isa, layer);
        let x = data(plan.input_len());
        let mut y = vec![0.0f32; plan.output_len()];
        group.throughput(Throughput::Elements(plan.flops_per_image() as u64));
        group.bench_function(format!("{name}/{:?}", plan.algorithm()), |b| {
            b.iter(|| {
                plan.run(&x, None, &mut y, Some(&pool));
                black_box(&y);
            })
        });
    }
    // Batch 8 of a mid-network 3×3 (the YOLO bench also measures batch 8).
    let layer = yolo_layers::YOLO11N
        .iter()
        .find(|l| l.0 == "23.cv2.1.1")
        .unwrap();
    let plan = conv_plan(isa, layer);
    let x = data(8 * plan.input_len());
    let mut y = vec![0.0f32; 8 * plan.output_len()];
    group.throughput(Throughput::Elements(8 * plan.flops_per_image() as u64));
    group.bench_function(format!("23.cv2.1.1_batch8/{:?}", plan.algorithm()), |b| {
        b.iter(|| {
            plan.run(&x, None, &mut y, Some(&pool));
            black_box(&y);
        })
    });
    group.finish();
}

/// Every convolution of YOLO11n in sequence (6.48 GFLOP): the conv share of one inference.
fn bench_yolo_convs(c: &mut Criterion) {
    let pool = pool();
    let isa = Isa::detect();
    let plans: Vec<Conv2dPlan> = yolo_layers::YOLO11N
        .iter()
        .map(|l| conv_plan(isa, l))
        .collect();
    let inputs: Vec<Vec<f32>> = plans.iter().map(|p| data(p.input_len())).collect();
    let mut outputs: Vec<Vec<f32>> = plans.iter().map(|p| vec![0.0; p.output_len()]).collect();
    let flops: usize = plans.iter().map(Conv2dPlan::flops_per_image).sum();
    let mut group = c.benchmark_group(format!("yolo11n_t{}", threads()));
    group.sample_size(10);
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function("all_convs", |b| {
        b.iter(|| {
            for ((plan, x), y) in plans.iter().zip(&inputs).zip(outputs.iter_mut()) {
                plan.run(x, None, y, Some(&pool));
            }
            black_box(&outputs);
        })
    });
    group.finish();
}

fn bench_elementwise(c: &mut Criterion) {
    let pool = pool();
    let isa = Isa::detect();
    let mut group = c.benchmark_group(format!("elementwise_t{}", threads()));
    // SiLU over the largest activation (16×320×320).
    let mut x = data(16 * 320 * 320);
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("silu_1.6M", |b| {
        b.iter(|| activation_inplace(isa, Activation::Silu, black_box(&mut x)))
    });
    // The DFL softmax: [4, 16, 8400] over the 16-axis (stride 8400).
    let x = data(4 * 16 * 8400);
    let mut y = vec![0.0; x.len()];
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("softmax_dfl_4x16x8400_axis1", |b| {
        b.iter(|| softmax(isa, &x, &mut y, 4, 16, 8400, Some(&pool)))
    });
    // Attention softmax: [2·400, 400] over the last axis.
    let x = data(800 * 400);
    let mut y = vec![0.0; x.len()];
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("softmax_attn_800x400_last", |b| {
        b.iter(|| softmax(isa, &x, &mut y, 800, 400, 1, Some(&pool)))
    });
    // SPPF max pool: 5×5 s1 p2 on [128, 20, 20].
    let g = PoolGeometry {
        in_h: 20,
        in_w: 20,
        kernel_h: 5,
        kernel_w: 5,
        stride_h: 1,
        stride_w: 1,
        pads: [2; 4],
    };
    let x = data(128 * 400);
    let mut y = vec![0.0; x.len()];
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("maxpool_5x5_128x20x20", |b| {
        b.iter(|| max_pool2d(&g, 128, &x, &mut y, Some(&pool)))
    });
    // Upsample ×2 of [256, 20, 20].
    let x = data(256 * 400);
    let mut y = vec![0.0; 4 * x.len()];
    group.throughput(Throughput::Elements(y.len() as u64));
    group.bench_function("upsample2x_256x20x20", |b| {
        b.iter(|| upsample_nearest(256, 20, 20, 2, 2, &x, &mut y, Some(&pool)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench_fma_peak, bench_gemm, bench_conv, bench_yolo_convs, bench_elementwise
}
criterion_main!(benches);
