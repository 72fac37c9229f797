//! The families beyond YOLO11 (so far YOLOv8, every task), against Ultralytics' own exports of
//! tiny seeded checkpoints (`fixtures/families/manifest.json`, made by
//! `xtask/fixtures/make_families.py`): one case per export (default, dynamic, nms; classify:
//! default, dynamic), each run through `tests/oracle/compare_exports.py`:
//!
//! - detect, segment, pose, obb: max |Δ| ≤ 1e-3 on coordinates (`box`, `kpt_xy`) and ≤ 1e-4 on
//!   everything else, the same I/O, opset, IR version and metadata (date pinned), no more nodes, no
//!   op type Ultralytics' file lacks, identical node names for static exports, a clean checker;
//!   `nms` exports row-paired on the seeded input and on the two letterboxed photos;
//! - classify: probabilities within 1e-6, the same structure and (static) the same op histogram;
//! - the fused weights of every default export bit for bit;
//! - the fused parameter counts of the built-in `yolov8n[-seg|-pose|-obb|-cls].yaml` and
//!   `yolov8s.yaml` configs against the numbers the fixture script recorded from Ultralytics.
//!
//! Every case runs even when an earlier one fails; the test prints the cases and their count.

mod common;

use common::*;
use onnxide_yolo::{count_parameters, export, ExportOptions, YoloModel};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

/// Coordinates (box corners, keypoint x/y in input pixels).
const COORD_TOLERANCE: f64 = 1e-3;
/// Scores, mask coefficients and prototypes, keypoint visibilities, angles.
const SCORE_TOLERANCE: f64 = 1e-4;
/// Class probabilities of a classifier.
const CLASSIFY_TOLERANCE: f64 = 1e-6;
/// The letterboxed photos every static `nms` export also runs on.
const NMS_PHOTOS: [&str; 2] = ["bus", "zidane"];

fn families() -> &'static Value {
    static M: OnceLock<Value> = OnceLock::new();
    M.get_or_init(|| {
        let path = fixture("fixtures/families/manifest.json");
        let text = std::fs::read_to_string(&path).expect("families manifest");
        serde_json::from_str(&text).expect("families manifest is JSON")
    })
}

/// The checkpoint of a manifest entry (`v8/detect`), loaded once.
fn checkpoint(key: &str) -> &'static YoloModel {
    static MODELS: OnceLock<std::sync::Mutex<HashMap<String, &'static YoloModel>>> =
        OnceLock::new();
    let map = MODELS.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key.to_string()).or_insert_with(|| {
        let rel = families()["checkpoints"][key]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no checkpoint {key} in the families manifest"));
        let pt = fixture(rel);
        let model = YoloModel::load(pt.to_str().expect("utf-8 path")).expect(rel);
        Box::leak(Box::new(model))
    })
}

/// Ultralytics' export arguments as export options (pinned date); an argument this table does
/// not reproduce fails the test.
fn options_of(export: &str, kwargs: &Value) -> ExportOptions {
    let mut opts = ExportOptions {
        date: Some(PINNED_DATE.into()),
        ..Default::default()
    };
    for (key, value) in kwargs.as_object().expect("export_kwargs") {
        match key.as_str() {
            "format" => assert_eq!(value, "onnx", "{export}: format"),
            "dynamic" => opts.dynamic = value.as_bool().expect("bool"),
            "nms" => opts.nms = Some(value.as_bool().expect("bool")),
            other => panic!("{export}: export argument {other}={value} is not reproduced here"),
        }
    }
    opts
}

struct Case {
    export: String,
    entry: &'static Value,
    shape: String,
    image: Option<String>,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} [{}] on {}",
            self.export,
            self.shape,
            self.image.as_deref().unwrap_or("random")
        )
    }
}

fn cases() -> Vec<Case> {
    let m = families();
    let dynamic_shape = m["dynamic_io_shape"]
        .as_array()
        .expect("dynamic_io_shape")
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut out = Vec::new();
    for (export, entry) in m["exports"].as_object().expect("exports") {
        let kwargs = &entry["export_kwargs"];
        let shape = if kwargs["dynamic"] == true {
            dynamic_shape.clone()
        } else {
            let dims = entry["inputs"][0]["shape"].as_array().expect("input shape");
            dims.iter()
                .map(|d| d.as_u64().expect("static dim").to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let case = |image: Option<String>| Case {
            export: export.clone(),
            entry,
            shape: shape.clone(),
            image,
        };
        out.push(case(None));
        if kwargs["nms"] == true {
            for p in NMS_PHOTOS {
                out.push(case(Some(format!("fixtures/images/{p}_640.npy"))));
            }
        }
    }
    out
}

fn compare(case: &Case) {
    let e = case.entry;
    let task = e["task"].as_str().expect("task");
    let model = checkpoint(e["checkpoint"].as_str().expect("checkpoint"));
    let opts = options_of(&case.export, &e["export_kwargs"]);
    let theirs = fixture(e["path"].as_str().expect("path"));
    let dir = tempfile::tempdir().unwrap();
    let ours = export_to(model, &opts, dir.path(), "ours.onnx");
    let image = case.image.as_ref().map(|p| fixture(p));
    let nc = model.names().len().to_string();
    let mut args = vec![
        "--ours",
        ours.to_str().unwrap(),
        "--theirs",
        theirs.to_str().unwrap(),
        "--shape",
        &case.shape,
    ];
    let what = case.label();
    if task == "classify" {
        let r = compare_exports(&args);
        let delta = max_abs(&r);
        eprintln!(
            "{what}: max|Δ| {delta:e}, nodes {} vs Ultralytics {}",
            r["ours"]["nodes"], r["theirs"]["nodes"]
        );
        assert_eq!(r["checker"], "ok", "{what}: onnx.checker");
        assert_eq!(r["finite"], true, "{what}: finite");
        assert!(delta <= CLASSIFY_TOLERANCE, "{what}: max |Δ| {delta}");
        assert_same_structure(&what, &r["ours"], &r["theirs"], !opts.dynamic);
        if !opts.dynamic {
            assert_eq!(r["ours"]["ops"], r["theirs"]["ops"], "{what}: op histogram");
        }
        return;
    }
    args.extend(["--layout", task, "--nc", nc.as_str()]);
    let nms = opts.nms == Some(true);
    if nms {
        args.push("--nms");
    }
    if let Some(image) = &image {
        args.extend(["--image", image.to_str().unwrap()]);
    }
    let r = compare_exports(&args);
    let delta = max_abs(&r);
    eprintln!(
        "{what}: max|Δ| {delta:e} {} {}, nodes {} vs Ultralytics {}",
        r["parts"], r["nms"], r["ours"]["nodes"], r["theirs"]["nodes"]
    );
    assert_eq!(r["checker"], "ok", "{what}: onnx.checker");
    if nms {
        assert_eq!(r["nms"]["class_mismatch"], 0, "{what}: class ids");
        let rows = r["nms"]["rows"].as_array().expect("rows per image");
        assert!(
            rows.iter().all(|n| n.as_u64() > Some(0)),
            "{what}: the input must give detections for the comparison to mean anything"
        );
    }
    for (part, d) in r["parts"].as_object().expect("per-part |Δ|") {
        let limit = if matches!(part.as_str(), "box" | "kpt_xy") {
            COORD_TOLERANCE
        } else {
            SCORE_TOLERANCE
        };
        let d = d.as_f64().expect("a number");
        assert!(d <= limit, "{what}: {part} max |Δ| {d} > {limit}");
    }
    assert!(delta <= COORD_TOLERANCE, "{what}: max |Δ| {delta}");
    assert_same_structure(&what, &r["ours"], &r["theirs"], false);
    if !opts.dynamic {
        assert_same_node_names(&what, &r["ours"], &r["theirs"]);
    }
}

/// Static exports have Ultralytics' node names, but for one: the unscoped `Cast_<n>` of OBB's
/// NMS tail, which torch numbers with a global counter that depends on the whole traced model
/// (onnxide writes YOLO11n's `Cast_564`; this fixture has `Cast_463`).
fn assert_same_node_names(what: &str, o: &Value, t: &Value) {
    let unscoped_cast = |n: &&Value| {
        n.as_str()
            .and_then(|s| s.strip_prefix("Cast_"))
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    let split = |v: &Value| -> (Vec<Value>, usize) {
        let all = v["node_names"].as_array().expect("node_names");
        let kept = all.iter().filter(|n| !unscoped_cast(n)).cloned().collect();
        (kept, all.iter().filter(unscoped_cast).count())
    };
    let ((on, oc), (tn, tc)) = (split(o), split(t));
    assert_eq!(on, tn, "{what}: node names");
    assert_eq!(oc, tc, "{what}: unscoped Cast nodes");
}

#[test]
fn every_family_export_matches_ultralytics() {
    let cases = cases();
    println!(
        "{} cases from {} exports of {}:",
        cases.len(),
        families()["exports"].as_object().map_or(0, |e| e.len()),
        families()["environment"]["ultralytics"]
    );
    for c in &cases {
        println!("  {}", c.label());
    }
    assert!(cases.len() >= 19, "the manifest lost exports");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            std::panic::catch_unwind(AssertUnwindSafe(|| compare(case)))
                .err()
                .map(|p| format!("{}: {}", case.label(), panic_text(&p)))
        })
        .collect();
    println!(
        "{} cases: {} ok, {} failed",
        cases.len(),
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Every fused weight of onnxide's default export is in Ultralytics' file with the same bits,
/// and the two have the same set of `model.*` initializers.
#[test]
fn family_fused_weights_are_bit_identical() {
    let m = families();
    let mut compared = Vec::new();
    for (key, entry) in m["exports"].as_object().expect("exports") {
        if entry["variant"] != "default" {
            continue;
        }
        let model = checkpoint(entry["checkpoint"].as_str().expect("checkpoint"));
        let theirs = onnxide_ir::load(fixture(entry["path"].as_str().unwrap())).unwrap();
        let ours = export(model, &ExportOptions::default()).unwrap();
        let names = |m: &onnxide_ir::Model| {
            let mut v: Vec<String> = m
                .graph
                .initializers
                .iter()
                .map(|t| t.name.clone())
                .filter(|n| n.starts_with("model."))
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&ours), names(&theirs), "{key}: weight names");
        let n = assert_weights_bit_identical(key, &ours, &theirs);
        println!("{key}: {n} fused weights bit-identical");
        compared.push(n);
    }
    assert_eq!(compared.len(), 5, "one default export per task");
}

/// The fused parameter counts of the built-in configs equal Ultralytics' (recorded by the fixture
/// script from `YOLO(name).model.fuse()`): every YOLOv8 task at scale n, and detect at scale s.
#[test]
fn builtin_v8_parameter_counts_match_ultralytics() {
    let path = fixture("fixtures/families/param_counts.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let counts = doc["fused_parameters"]
        .as_object()
        .expect("fused_parameters");
    let mut names: Vec<String> = ["", "-seg", "-pose", "-obb", "-cls"]
        .iter()
        .map(|t| format!("yolov8n{t}.yaml"))
        .collect();
    // Scale s too (m, l and x take seconds each to fill with random weights: not run here).
    names.push("yolov8s.yaml".into());
    let opts = ExportOptions {
        imgsz: (64, 64),
        ..Default::default()
    };
    for name in &names {
        let expected = counts[name.as_str()]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: not recorded"));
        let model = YoloModel::from_builtin(name, 0).unwrap();
        let onnx = export(&model, &opts).unwrap();
        assert_eq!(count_parameters(&onnx) as u64, expected, "{name}");
        println!("{name}: {expected} fused parameters, as Ultralytics");
    }
    println!(
        "{} of {} recorded configs checked",
        names.len(),
        counts.len()
    );
}
