//! `onnxide predict` against Ultralytics' `predict(save_txt=True, save_conf=True)` labels recorded by
//! `cargo xtask fixtures predict` (fixtures/predict/) on the fixture exports: same lines, equal
//! classes, coordinates and scores within 1e-3. Also the errors of unreadable sources.

use onnxide_tests::fixture;
use std::path::Path;
use std::process::Command;

/// Largest allowed |Δ| of a normalised coordinate or a score.
const TOL: f64 = 1e-3;

fn onnxide() -> Command {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
}

struct Case {
    name: &'static str,
    model: &'static str,
    args: &'static [&'static str],
}

const CASES: [Case; 8] = [
    Case {
        name: "detect",
        model: "detect/default.onnx",
        args: &["conf=0.75"],
    },
    Case {
        name: "detect_nms",
        model: "detect/nms.onnx",
        args: &["conf=0.75"],
    },
    Case {
        name: "detect_dynamic_b2",
        model: "detect/dynamic.onnx",
        args: &["conf=0.75", "batch=2"],
    },
    Case {
        name: "detect_dynamic_b1",
        model: "detect/dynamic.onnx",
        args: &["conf=0.75", "batch=1"],
    },
    Case {
        name: "segment",
        model: "segment/default.onnx",
        args: &["conf=0.6"],
    },
    Case {
        name: "pose",
        model: "pose/default.onnx",
        args: &["conf=0.6"],
    },
    Case {
        name: "obb",
        model: "obb/default.onnx",
        args: &["conf=0.7"],
    },
    Case {
        name: "classify",
        model: "classify/default.onnx",
        args: &[],
    },
];

/// Runs predict on `sources` into `project/name`; returns (success, stdout, stderr).
fn predict(
    model: &Path,
    sources: &str,
    args: &[&str],
    project: &Path,
    name: &str,
) -> (bool, String, String) {
    let out = onnxide()
        .arg("predict")
        .arg(format!("model={}", model.display()))
        .arg(format!("source={sources}"))
        .args(args)
        .args(["save_txt=True", "save_conf=True", "threads=2"])
        .arg(format!("project={}", project.display()))
        .arg(format!("name={name}"))
        .output()
        .expect("run onnxide");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares two label files; returns the largest |Δ| over matched values, or the first mismatch.
fn compare(ours: &str, theirs: &str, classify: bool) -> Result<f64, String> {
    let a: Vec<&str> = ours.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    if a.len() != b.len() {
        return Err(format!("{} lines, Ultralytics {}", a.len(), b.len()));
    }
    let mut worst = 0f64;
    for (i, (la, lb)) in a.iter().zip(&b).enumerate() {
        if classify {
            let (pa, na) = la.split_once(' ').unwrap_or((la, ""));
            let (pb, nb) = lb.split_once(' ').unwrap_or((lb, ""));
            if na != nb || pa != pb {
                return Err(format!("line {i}: '{la}' vs '{lb}'"));
            }
            continue;
        }
        let va: Vec<f64> = la.split(' ').map(|v| v.parse().unwrap()).collect();
        let vb: Vec<f64> = lb.split(' ').map(|v| v.parse().unwrap()).collect();
        if va.len() != vb.len() || va[0] != vb[0] {
            return Err(format!("line {i}: '{la}' vs '{lb}'"));
        }
        for (x, y) in va.iter().zip(&vb).skip(1) {
            let d = (x - y).abs();
            worst = worst.max(d);
            if d > TOL {
                return Err(format!("line {i}: |Δ| {d:.2e}: '{la}' vs '{lb}'"));
            }
        }
    }
    Ok(worst)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn labels_equal_ultralytics() {
    let images = fixture("predict/images");
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in &CASES {
        let model = fixture(&format!("exports/{}", case.model));
        // bus and zidane in one source (the folder), like the fixture script's list.
        let (ok, stdout, stderr) = predict(
            &model,
            &images.display().to_string(),
            case.args,
            tmp.path(),
            case.name,
        );
        assert!(ok, "{}: {stderr}", case.name);
        assert!(stdout.contains("Speed: "), "{}: {stdout}", case.name);
        for stem in ["bus", "zidane"] {
            let ours = read(
                &tmp.path()
                    .join(case.name)
                    .join("labels")
                    .join(format!("{stem}.txt")),
            );
            let theirs = read(&fixture(&format!("predict/{}/{stem}.txt", case.name)));
            match compare(&ours, &theirs, case.name == "classify") {
                Ok(d) => println!(
                    "{} {stem}: {} lines, max |Δ| {d:.2e}",
                    case.name,
                    theirs.lines().count()
                ),
                Err(e) => failures.push(format!("{} {stem}: {e}", case.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The photos as JPEG (onnxide's decoder, not libjpeg-turbo) against the labels Ultralytics made
/// from cv2's decoding: the difference is measured and printed (2026-12-08: bus 78 lines against
/// 79, zidane the same 4 lines with |Δ| up to 3.6e-3); asserted only: the line counts within 20%.
#[test]
fn jpeg_decoder_effect_on_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("exports/detect/default.onnx");
    let src = fixture("images").join("*.jpg");
    let (ok, _, stderr) = predict(
        &model,
        &src.display().to_string(),
        &["conf=0.75"],
        tmp.path(),
        "jpeg",
    );
    assert!(ok, "{stderr}");
    for stem in ["bus", "zidane"] {
        let ours = read(&tmp.path().join("jpeg/labels").join(format!("{stem}.txt")));
        let theirs = read(&fixture(&format!("predict/detect/{stem}.txt")));
        let res = compare(&ours, &theirs, false);
        println!(
            "jpeg {stem}: ours {} lines, Ultralytics {} lines: {res:?}",
            ours.lines().count(),
            theirs.lines().count()
        );
        // Lines may differ near the threshold; at least 80% of the boxes must be there.
        let n = ours.lines().count() as f64;
        let m = theirs.lines().count() as f64;
        assert!((n - m).abs() <= 0.2 * m + 1.0, "{stem}: {n} vs {m} lines");
    }
}

#[test]
fn unreadable_sources_are_reported_and_the_rest_processed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imgs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("images/zidane.jpg"), dir.join("a.jpg")).unwrap();
    std::fs::write(dir.join("b.jpg"), b"not a jpeg").unwrap();
    let model = fixture("exports/detect/default.onnx");
    let (ok, stdout, stderr) = predict(&model, &dir.display().to_string(), &[], tmp.path(), "bad");
    assert!(!ok, "a bad image must fail the run");
    assert!(
        stderr.contains("b.jpg") && stderr.contains("cannot decode"),
        "{stderr}"
    );
    assert!(
        stdout.contains("image 1/2") && stdout.contains("a.jpg"),
        "{stdout}"
    );
    assert!(tmp.path().join("bad/labels/a.txt").exists());

    // A list with a missing entry: the others run, the exit status says something failed.
    let list = tmp.path().join("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\n{}\n",
            dir.join("a.jpg").display(),
            dir.join("missing.jpg").display()
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) =
        predict(&model, &list.display().to_string(), &[], tmp.path(), "list");
    assert!(!ok);
    assert!(stderr.contains("missing.jpg"), "{stderr}");
    assert!(stdout.contains("a.jpg"), "{stdout}");

    // A missing path and an empty folder: one clear line each.
    let (ok, _, stderr) = predict(&model, "/nonexistent/x.jpg", &[], tmp.path(), "m");
    assert!(!ok && stderr.contains("no such file or folder"), "{stderr}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, stderr) = predict(&model, &empty.display().to_string(), &[], tmp.path(), "e");
    assert!(
        !ok && stderr.contains("no images in this folder"),
        "{stderr}"
    );
    let (ok, _, stderr) = predict(&model, "clip.mp4", &[], tmp.path(), "v");
    assert!(!ok && stderr.contains("not supported yet"), "{stderr}");
    // Did-you-mean and refused keys.
    let out = onnxide()
        .args(["predict", "model=m.onnx", "source=x.jpg", "cnf=0.5"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean 'conf'"));
    let out = onnxide()
        .args(["predict", "model=m.onnx", "source=x.jpg", "half=True"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported yet"));
}

#[test]
fn output_folders_increment_and_json_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("exports/detect/default.onnx");
    let img = fixture("predict/images/bus.png");
    for _ in 0..2 {
        let (ok, _, stderr) = predict(
            &model,
            &img.display().to_string(),
            &["conf=0.8"],
            tmp.path(),
            "predict",
        );
        assert!(ok, "{stderr}");
    }
    assert!(tmp.path().join("predict/labels/bus.txt").exists());
    assert!(tmp.path().join("predict2/labels/bus.txt").exists());
    // save=True is the default, as with `yolo predict`: the annotated image, decodable, same size.
    let drawn = onnxide_vision::decode(&std::fs::read(tmp.path().join("predict/bus.png")).unwrap())
        .unwrap();
    let orig = onnxide_vision::decode(&std::fs::read(&img).unwrap()).unwrap();
    assert_eq!((drawn.width, drawn.height), (orig.width, orig.height));
    assert_ne!(drawn.data, orig.data, "nothing was drawn");
    let out = onnxide()
        .args([
            "predict",
            &format!("model={}", model.display()),
            &format!("source={}", img.display()),
            "conf=0.8",
            "save=False",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["task"], "detect");
    let labels = read(&tmp.path().join("predict/labels/bus.txt"));
    assert_eq!(v["boxes"].as_array().unwrap().len(), labels.lines().count());
}
