//! The browser: every export variant `onnxide export` writes loads and runs in onnxruntime-web
//! (wasm backend, one thread) in headless Chromium, with outputs close to native onnxruntime's on
//! the same seeded input.
//!
//! Needs Node.js, Debian's `chromium` (`/usr/bin/chromium`, or `$ONNXIDE_CHROMIUM`) and the npm
//! packages pinned in `tests/web/package-lock.json` (`npm ci` in `tests/web`); `.ci/run` installs
//! them. Anything missing fails the test: nothing is skipped.

use onnxide_ir::Tensor;
use onnxide_tests::{oracle, repo_root};
use std::path::PathBuf;
use std::process::Command;

/// Largest relative difference per channel allowed for float32 exports: the 1e-4.
const REL_TOL_F32: f64 = 1e-4;

/// For `half=True`: the wasm build computes the float16 graph in float16 where onnxruntime's CPU
/// provider computes float32 (it inserts casts around float16 kernels it lacks), so the two
/// engines round differently at every layer, and 1e-4 cannot hold. Measured here (seeded yolo11n
/// checkpoint, imgsz 320, seed 1007): 4.9e-3; reference/deploy.md saw up to ~3.5e-2 on other
/// inputs. The bound is 4x the measured value.
const REL_TOL_HALF: f64 = 2e-2;

/// Along which axis an output's scale is taken: relative differences are |web - native| over the
/// largest |native| in the same channel, so box coordinates (hundreds of pixels) and scores (0..1)
/// are each judged on their own scale.
#[derive(Clone, Copy)]
enum Scale {
    /// Channels along this axis.
    Axis(usize),
    /// The whole tensor (classification probabilities).
    Whole,
}

struct Case {
    name: &'static str,
    checkpoint: &'static str,
    args: &'static [&'static str],
    input: [usize; 4],
    scale: Scale,
    tol: f64,
}

const CASES: &[Case] = &[
    Case {
        name: "detect",
        checkpoint: "yolo11n.pt",
        args: &["imgsz=320"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "segment",
        checkpoint: "yolo11n-seg.pt",
        args: &["imgsz=320"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "pose",
        checkpoint: "yolo11n-pose.pt",
        args: &["imgsz=320"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "obb",
        checkpoint: "yolo11n-obb.pt",
        args: &["imgsz=320"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "classify",
        checkpoint: "yolo11n-cls.pt",
        args: &["imgsz=224"],
        input: [1, 3, 224, 224],
        scale: Scale::Whole,
        tol: REL_TOL_F32,
    },
    Case {
        name: "detect-dynamic",
        checkpoint: "yolo11n.pt",
        args: &["imgsz=320", "dynamic=True"],
        input: [2, 3, 256, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    // nms output [batch, 300, 6]: x1, y1, x2, y2, score, class per detection; channels are columns.
    Case {
        name: "detect-nms",
        checkpoint: "yolo11n.pt",
        args: &["imgsz=320", "nms=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "detect-half",
        checkpoint: "yolo11n.pt",
        args: &["imgsz=320", "half=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_HALF,
    },
];

/// Largest per-channel relative difference of `web` against `native` (same shape).
fn relative_diff(web: &Tensor, native: &Tensor, scale: Scale) -> f64 {
    assert_eq!(
        web.shape(),
        native.shape(),
        "web and native output shapes differ"
    );
    let shape = native.shape();
    let (w, n) = (
        web.to_f64_vec().expect("numeric output"),
        native.to_f64_vec().expect("numeric output"),
    );
    // Element i's channel: (i / inner) % channels.
    let (channels, inner) = match scale {
        Scale::Whole => (1, 1),
        Scale::Axis(a) => (shape[a], shape[a + 1..].iter().product::<usize>()),
    };
    let mut peak = vec![0.0f64; channels];
    for (i, v) in n.iter().enumerate() {
        let c = (i / inner) % channels;
        peak[c] = peak[c].max(v.abs());
    }
    let mut worst = 0.0f64;
    for (i, (a, b)) in w.iter().zip(&n).enumerate() {
        let d = (a - b).abs();
        assert!(
            d.is_finite(),
            "non-finite difference at element {i}: web {a}, native {b}"
        );
        let s = peak[(i / inner) % channels];
        worst = worst.max(if s > 0.0 { d / s } else { d });
    }
    worst
}

fn node() -> String {
    std::env::var("ONNXIDE_NODE").unwrap_or_else(|_| "node".to_string())
}

#[test]
fn every_export_variant_runs_in_onnxruntime_web() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = repo_root();
    let mut jobs = Vec::new();
    let mut models: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    for (k, case) in CASES.iter().enumerate() {
        let case_dir = d.join(case.name);
        std::fs::create_dir_all(&case_dir).unwrap();
        let pt = case_dir.join(case.checkpoint);
        std::fs::copy(root.join("fixtures/checkpoints").join(case.checkpoint), &pt).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
            .arg("export")
            .arg(format!("model={}", pt.display()))
            .args(case.args)
            .output()
            .expect("run onnxide");
        assert!(
            out.status.success(),
            "{}: export failed: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let model = pt.with_extension("onnx");
        let input = case_dir.join("images.npy");
        oracle::make_input(&case.input, 1000 + k as u64, &input);
        let web_dir = case_dir.join("web");
        jobs.push(serde_json::json!({
            "model": model, "inputs": { "images": input }, "out_dir": web_dir,
        }));
        models.push((model, input, web_dir));
    }
    let jobs_path = d.join("jobs.json");
    std::fs::write(&jobs_path, serde_json::json!({ "jobs": jobs }).to_string()).unwrap();

    let script = root.join("tests/web/run_models.mjs");
    let out = Command::new(node())
        .arg(&script)
        .arg(&jobs_path)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not start `{}` (Node.js is needed for the browser tests): {e}",
                node()
            )
        });
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut failures = Vec::new();
    for (case, (model, input, web_dir)) in CASES.iter().zip(&models) {
        let native = oracle::ort_run(
            model,
            &[("images", input.as_path())],
            &model.with_extension("ort"),
        );
        assert!(!native.is_empty(), "{}: no outputs", case.name);
        for (name, reference) in &native {
            let web_path = web_dir.join(format!("{}.npy", name.replace(['/', '\\'], "_")));
            let web =
                onnxide_ir::npy::read(&web_path).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let rel = relative_diff(&web, reference, case.scale);
            println!(
                "{:<15} {:<8} {:?}: relative per-channel difference {rel:.2e} (tolerance {:.0e})",
                case.name,
                name,
                reference.shape(),
                case.tol
            );
            if rel > case.tol {
                failures.push(format!(
                    "{} {name}: {rel:.2e} > {:.0e}",
                    case.name, case.tol
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "web differs from native onnxruntime: {failures:?}"
    );
}
