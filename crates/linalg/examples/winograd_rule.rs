//! Times the 3×3 stride-1 layer shapes of YOLO11n/s (640 and 320) and ResNet-18 on the
//! lazy-im2col GEMM (exact mode) and on Winograd F(2×2) and F(4×4), at 1 and 2 threads:
//! the measurements behind the rule in `conv/winograd.rs` (`choose`).
//!
//! `cargo run --release -p onnxide-linalg --example winograd_rule`

use onnxide_linalg::conv::{Conv2dPlan, ConvGeometry, ConvOptions, WinogradTile};
use onnxide_linalg::{Epilogue, Isa};
use std::time::Instant;

/// Fastest ms per image of each plan over 15 runs, the plans run in turn (so load hits all
/// alike; the minimum, since on a shared machine most other runs lose scheduler slices).
fn time(plans: &[Conv2dPlan], x: &[f32], y: &mut [f32], pool: &rayon::ThreadPool) -> Vec<f64> {
    let reps = 15;
    let mut samples = vec![Vec::with_capacity(reps); plans.len()];
    for plan in plans {
        plan.run(x, None, y, Some(pool));
    }
    for _ in 0..reps {
        for (plan, s) in plans.iter().zip(&mut samples) {
            let t = Instant::now();
            plan.run(x, None, y, Some(pool));
            s.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[0]
        })
        .collect()
}

fn main() {
    // (in channels, out channels, side)
    let shapes = [
        (8, 16, 160),
        (16, 8, 160),
        (16, 32, 80),
        (32, 16, 80),
        (16, 16, 80),
        (32, 32, 40),
        (32, 64, 40),
        (64, 32, 40),
        (64, 64, 40),
        (64, 64, 80),
        (128, 64, 40),
        (64, 64, 20),
        (256, 64, 20),
        (64, 64, 10),
        (128, 128, 20),
        (256, 256, 14),
        (512, 512, 7),
        (32, 32, 8),
        (64, 64, 56),
    ];
    let isa = Isa::detect();
    println!("ISA {isa:?}; fastest of 15 runs per image, alternating; ratio = Winograd / exact");
    println!(
        "{:>5} {:>5} {:>5} {:>3} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "ic", "oc", "side", "thr", "exact", "F2", "F4", "F2/ex", "F4/ex"
    );
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let only = std::env::var("WINOGRAD_RULE_SHAPE").ok();
        for &(ic, oc, side) in &shapes {
            if only
                .as_ref()
                .is_some_and(|o| *o != format!("{ic},{oc},{side}"))
            {
                continue;
            }
            let g = ConvGeometry::new(ic, oc, side, side, 3, 3).pads(1, 1, 1, 1);
            let w: Vec<f32> = (0..g.weight_len())
                .map(|i| ((i % 7) as f32 - 3.0) * 0.05)
                .collect();
            let x: Vec<f32> = (0..ic * side * side)
                .map(|i| ((i % 11) as f32 - 5.0) * 0.1)
                .collect();
            let mut y = vec![0.0f32; oc * side * side];
            let plan = |options| {
                Conv2dPlan::try_new_with(isa, g, &w, None, Epilogue::SILU, options).expect("plan")
            };
            let force = |tile| ConvOptions {
                exact: false,
                force_winograd: Some(tile),
            };
            let plans = [
                plan(ConvOptions::default()),
                plan(force(WinogradTile::F2)),
                plan(force(WinogradTile::F4)),
            ];
            let t = time(&plans, &x, &mut y, &pool);
            let (exact, f2, f4) = (t[0], t[1], t[2]);
            println!(
                "{ic:>5} {oc:>5} {side:>5} {threads:>3} {exact:>9.3} {f2:>9.3} {f4:>9.3} {:>6.2} {:>6.2}",
                f2 / exact,
                f4 / exact
            );
        }
    }
}
