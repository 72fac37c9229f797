//! The browser: the export variants `onnxide export` writes (every task × default, dynamic, nms, nms dynamic,
//! half, where Ultralytics allows the combination) run in onnxruntime-web
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
/// checkpoint, imgsz 320, seed 1007): 4.9e-3 (classify 2.9e-4); reference/deploy.md saw ~3.5e-2 on other
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
    // The other tasks' variants (one thing at a time, small inputs).
    Case {
        name: "segment-nms",
        checkpoint: "yolo11n-seg.pt",
        args: &["imgsz=320", "nms=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "pose-nms",
        checkpoint: "yolo11n-pose.pt",
        args: &["imgsz=320", "nms=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "obb-nms",
        checkpoint: "yolo11n-obb.pt",
        args: &["imgsz=320", "nms=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "segment-dynamic",
        checkpoint: "yolo11n-seg.pt",
        args: &["imgsz=320", "dynamic=True"],
        input: [2, 3, 256, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "classify-half",
        checkpoint: "yolo11n-cls.pt",
        args: &["imgsz=224", "half=True"],
        input: [1, 3, 224, 224],
        scale: Scale::Whole,
        tol: REL_TOL_HALF,
    },
    // The rest of every task × {dynamic, nms, nms dynamic, half}: Ultralytics refuses nms for
    // classify and nms dynamic for obb.
    Case {
        name: "pose-dynamic",
        checkpoint: "yolo11n-pose.pt",
        args: &["imgsz=320", "dynamic=True"],
        input: [2, 3, 256, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "obb-dynamic",
        checkpoint: "yolo11n-obb.pt",
        args: &["imgsz=320", "dynamic=True"],
        input: [2, 3, 256, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_F32,
    },
    Case {
        name: "classify-dynamic",
        checkpoint: "yolo11n-cls.pt",
        args: &["imgsz=224", "dynamic=True"],
        input: [2, 3, 224, 224],
        scale: Scale::Whole,
        tol: REL_TOL_F32,
    },
    Case {
        name: "detect-nms-dynamic",
        checkpoint: "yolo11n.pt",
        args: &["imgsz=320", "nms=True", "dynamic=True", "batch=2"],
        input: [2, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "segment-nms-dynamic",
        checkpoint: "yolo11n-seg.pt",
        args: &["imgsz=320", "nms=True", "dynamic=True", "batch=2"],
        input: [2, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "pose-nms-dynamic",
        checkpoint: "yolo11n-pose.pt",
        args: &["imgsz=320", "nms=True", "dynamic=True", "batch=2"],
        input: [2, 3, 320, 320],
        scale: Scale::Axis(2),
        tol: REL_TOL_F32,
    },
    Case {
        name: "segment-half",
        checkpoint: "yolo11n-seg.pt",
        args: &["imgsz=320", "half=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_HALF,
    },
    Case {
        name: "pose-half",
        checkpoint: "yolo11n-pose.pt",
        args: &["imgsz=320", "half=True"],
        input: [1, 3, 320, 320],
        scale: Scale::Axis(1),
        tol: REL_TOL_HALF,
    },
    Case {
        name: "obb-half",
        checkpoint: "yolo11n-obb.pt",
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

/// `[batch, rows, k]` with each image's rows sorted by (column 5: class, column 0, column 1).
fn rows_sorted(t: &Tensor) -> Tensor {
    let shape = t.shape().to_vec();
    assert_eq!(shape.len(), 3, "nms output rank");
    let (rows, k) = (shape[1], shape[2]);
    let v = t.to_f64_vec().expect("numeric output");
    let mut out = Vec::with_capacity(v.len());
    for image in v.chunks(rows * k) {
        let mut r: Vec<&[f64]> = image.chunks(k).collect();
        r.sort_by(|a, b| {
            (a[5], a[0], a[1])
                .partial_cmp(&(b[5], b[0], b[1]))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        r.into_iter().for_each(|row| out.extend_from_slice(row));
    }
    Tensor::from_vec(shape, out).expect("same shape")
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
            // An nms export's detections are ordered by score; two with scores within rounding
            // of each other may come out in either order, so rows are compared sorted by
            // (class, x1, y1), per image (a detection missing on one side still fails).
            let nms = case.name.contains("nms") && name == "output0";
            let rel = if nms {
                relative_diff(&rows_sorted(&web), &rows_sorted(reference), case.scale)
            } else {
                relative_diff(&web, reference, case.scale)
            };
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

/// Confidence threshold for the example page test: with the seeded random-weight yolo11n checkpoint
/// on bus.jpg, 0.8 leaves about 30 boxes (scores of random weights are high and dense).
const PAGE_CONF: f64 = 0.8;
/// bus.jpg is 810×1080.
const BUS_SIZE: [u64; 2] = [810, 1080];
/// The page's letterbox (Chromium's JPEG decoder and bilinear canvas resize) against Ultralytics'
/// (OpenCV's decoder and cv2.INTER_LINEAR), in 0..255 levels: measured mean 0.54, max 11.
const LETTERBOX_MEAN_TOL: f64 = 1.0;
const LETTERBOX_MAX_TOL: f64 = 24.0;
/// On the page's own letterboxed input, its boxes against onnxruntime + numpy post-processing:
/// measured 4.8e-4 px and 2.9e-6 on scores (the wasm build's arithmetic).
const SAME_INPUT_PX_TOL: f64 = 0.1;
const SAME_INPUT_SCORE_TOL: f64 = 1e-4;
/// On Ultralytics' letterbox of the same file, the random weights amplify the small input
/// differences (scores move by up to 0.1), so only the confident boxes are compared: every
/// reference box scoring at least 0.9 has a page box of the same class with IoU >= 0.9 (measured
/// 5 boxes, smallest IoU 0.94).
const ULTRALYTICS_INPUT_MIN_SCORE: f64 = 0.9;
const ULTRALYTICS_INPUT_MIN_IOU: f64 = 0.9;

/// `[x1, y1, x2, y2, score, class]` rows of a JSON box list.
fn boxes(v: &serde_json::Value) -> Vec<[f64; 6]> {
    v.as_array()
        .expect("a box list")
        .iter()
        .map(|b| {
            let b = b.as_array().expect("a box");
            std::array::from_fn(|k| b[k].as_f64().expect("a number"))
        })
        .collect()
}

fn iou(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    let w = a[2].min(b[2]) - a[0].max(b[0]);
    let h = a[3].min(b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn example_page_detects_on_bus_jpg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = repo_root();
    let pt = d.join("yolo11n.pt");
    std::fs::copy(root.join("fixtures/checkpoints/yolo11n.pt"), &pt).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .arg("export")
        .arg(format!("model={}", pt.display()))
        .output()
        .expect("run onnxide");
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = d.join("yolo11n.onnx");
    let image = root.join("fixtures/images/bus.jpg");
    let ultralytics_letterbox = root.join("fixtures/images/bus_640.npy");
    let shots = root.join("fixtures/.cache/web");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("example_page_bus.png");
    let result = d.join("page.json");

    let script = root.join("tests/web/example_page.mjs");
    let out = Command::new(node())
        .arg(&script)
        .arg(&model)
        .arg(&image)
        .arg(PAGE_CONF.to_string())
        .arg(&ultralytics_letterbox)
        .arg(&screenshot)
        .arg(&result)
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
    let page: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).expect("page result JSON");
    assert_eq!(
        page["image"],
        serde_json::json!(BUS_SIZE),
        "the page saw another image size"
    );
    let page_boxes = boxes(&page["boxes"]);
    assert!(
        (10..=100).contains(&page_boxes.len()),
        "{} boxes at conf {PAGE_CONF}: expected a few dozen",
        page_boxes.len()
    );
    let (mean, max) = (
        page["letterbox_mean_abs_diff"].as_f64().unwrap(),
        page["letterbox_max_abs_diff"].as_f64().unwrap(),
    );
    println!("letterbox vs Ultralytics': mean {mean:.3}, max {max} levels");
    assert!(
        mean <= LETTERBOX_MEAN_TOL && max <= LETTERBOX_MAX_TOL,
        "letterbox differs: mean {mean}, max {max}"
    );

    let orig = format!("{},{}", BUS_SIZE[0], BUS_SIZE[1]);
    let reference = |letterbox: &std::path::Path| {
        let args = [
            model.to_str().unwrap(),
            letterbox.to_str().unwrap(),
            "--orig",
            &orig,
            "--conf",
            &PAGE_CONF.to_string(),
        ];
        boxes(&oracle::run_json("detect_reference.py", &args)["boxes"])
    };

    // 1. Same input: the page's decoding and NMS against onnxruntime + numpy, box for box.
    let same = reference(&d.join("page.letterbox.npy"));
    assert_eq!(
        same.len(),
        page_boxes.len(),
        "box count on the page's own input"
    );
    let (mut px, mut score) = (0.0f64, 0.0f64);
    for (k, (r, p)) in same.iter().zip(&page_boxes).enumerate() {
        assert_eq!(r[5], p[5], "box {k}: class {} vs page {}", r[5], p[5]);
        px = (0..4).map(|i| (r[i] - p[i]).abs()).fold(px, f64::max);
        score = score.max((r[4] - p[4]).abs());
    }
    println!(
        "same input: {} boxes, max |d| {px:.2e} px, {score:.2e} score (tolerances {SAME_INPUT_PX_TOL}, {SAME_INPUT_SCORE_TOL:.0e})",
        same.len()
    );
    assert!(px <= SAME_INPUT_PX_TOL && score <= SAME_INPUT_SCORE_TOL);

    // 2. Ultralytics' letterbox of the same file: the confident boxes are found by the page.
    let ultra = reference(&ultralytics_letterbox);
    let confident: Vec<_> = ultra
        .iter()
        .filter(|b| b[4] >= ULTRALYTICS_INPUT_MIN_SCORE)
        .collect();
    assert!(
        !confident.is_empty(),
        "no reference box scores {ULTRALYTICS_INPUT_MIN_SCORE}"
    );
    let mut worst = 1.0f64;
    for r in &confident {
        let best = page_boxes
            .iter()
            .filter(|p| p[5] == r[5])
            .map(|p| iou(r, p))
            .fold(0.0, f64::max);
        worst = worst.min(best);
    }
    println!(
        "Ultralytics' letterbox: {} reference boxes, {} scoring >= {ULTRALYTICS_INPUT_MIN_SCORE}, smallest IoU with the page's {worst:.3}; screenshot {}",
        ultra.len(),
        confident.len(),
        screenshot.display()
    );
    assert!(
        worst >= ULTRALYTICS_INPUT_MIN_IOU,
        "a confident reference box has no page box (IoU {worst})"
    );
}
