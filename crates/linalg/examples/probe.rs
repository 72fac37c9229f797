//! Developer probe: thread-CPU-time measurements that stay meaningful while other jobs
//! share the machine (criterion's wall-clock medians do not).
//! `cargo run --release -p onnxide-linalg --example probe -- kernel | yolo [threads]`
#[path = "../benches/yolo_layers.rs"]
mod yolo_layers;

use onnxide_linalg::conv::{Conv2dPlan, ConvGeometry};
use onnxide_linalg::{Epilogue, Isa};
use std::time::Instant;

fn thread_cpu_time() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec; 3 is CLOCK_THREAD_CPUTIME_ID on Linux.
    unsafe { clock_gettime(3, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let t = thread_cpu_time();
    let f = onnxide_linalg::gemm::fma_peak_probe(50_000_000);
    let peak = f / (thread_cpu_time() - t) * 1e-9;
    println!("fma peak now: {peak:.1} GFLOP/s (thread CPU time)");
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    match args.first().map(String::as_str) {
        Some("kernel") => {
            for isa in Isa::all_supported() {
                let t = thread_cpu_time();
                let f = onnxide_linalg::gemm::microkernel_probe(isa, 160, 200_000);
                let dt = thread_cpu_time() - t;
                println!("{isa:?} microkernel: {:.1} GFLOP/s", f / dt * 1e-9);
            }
        }
        Some("yolo") => {
            let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let isa = Isa::detect();
            let (mut total_t, mut total_f) = (0.0, 0.0);
            let filter = args.get(2).cloned().unwrap_or_default();
            for &(name, ic, oc, h, w, k, s, g) in yolo_layers::YOLO11N {
                if !name.contains(filter.as_str()) {
                    continue;
                }
                let p = k / 2;
                let geo = ConvGeometry::new(ic, oc, h, w, k, k)
                    .stride(s, s)
                    .pads(p, p, p, p)
                    .groups(g);
                let wts: Vec<f32> = (0..geo.weight_len())
                    .map(|i| ((i % 13) as f32 - 6.0) * 0.01)
                    .collect();
                let plan = Conv2dPlan::new(isa, geo, &wts, Some(&vec![0.1; oc]), Epilogue::SILU);
                let x: Vec<f32> = (0..plan.input_len())
                    .map(|i| ((i % 7) as f32) * 0.1)
                    .collect();
                let mut y = vec![0.0; plan.output_len()];
                let mut best = f64::MAX;
                for _ in 0..reps {
                    // Wall time with a pool (the work runs on its threads); take the best of 15.
                    let t = Instant::now();
                    plan.run(&x, None, &mut y, Some(&pool));
                    best = best.min(t.elapsed().as_secs_f64());
                }
                let flops = plan.flops_per_image() as f64;
                total_t += best;
                total_f += flops;
                println!(
                    "{name:16} {:?} {ic:4}->{oc:4} {h:3}x{w:3} k{k} s{s} g{g:3}: {:8.3} ms {:6.1} GFLOP/s",
                    plan.algorithm(),
                    best * 1e3,
                    flops / best * 1e-9
                );
            }
            println!(
                "TOTAL convs: {:.2} ms, {:.2} GFLOP, {:.1} GFLOP/s",
                total_t * 1e3,
                total_f * 1e-9,
                total_f / total_t * 1e-9
            );
        }
        _ => eprintln!("usage: probe kernel | yolo [threads]"),
    }
}
