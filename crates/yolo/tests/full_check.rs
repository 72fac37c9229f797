//! Every export variant onnxide writes passes `onnx.checker.check_model(full_check=True)`
//! (tests/oracle/full_check.py): every task × {default, dynamic, half, half dynamic, nms, nms
//! dynamic} × every opset 11..=22, where Ultralytics allows the combination (no nms for classify;
//! obb's nms from opset 14 and not dynamic). `half` included: the float16 converter's I/O Casts
//! are written before their readers (Ultralytics' own half file fails this check).

use onnxide_tests::oracle;
use onnxide_yolo::{export, ExportOptions, YoloModel, MAX_OPSET, MIN_OPSET};

/// (built-in config, task) — seeded random weights; the graph is what the checker looks at.
const TASKS: [(&str, &str); 5] = [
    ("yolo11n.yaml", "detect"),
    ("yolo11n-seg.yaml", "segment"),
    ("yolo11n-pose.yaml", "pose"),
    ("yolo11n-obb.yaml", "obb"),
    ("yolo11n-cls.yaml", "classify"),
];

/// (name, dynamic, half, nms)
const VARIANTS: [(&str, bool, bool, bool); 6] = [
    ("default", false, false, false),
    ("dynamic", true, false, false),
    ("half", false, true, false),
    ("half_dynamic", true, true, false),
    ("nms", false, false, true),
    ("nms_dynamic", true, false, true),
];

fn allowed(task: &str, opset: i64, dynamic: bool, nms: bool) -> bool {
    if !nms {
        return true;
    }
    match task {
        "classify" => false,
        "obb" => opset >= 14 && !dynamic,
        _ => true,
    }
}

#[test]
fn every_export_variant_passes_the_full_checker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut total = 0;
    let mut failures = Vec::new();
    for (config, task) in TASKS {
        let model = YoloModel::from_builtin(config, 0).expect(config);
        // One Python call per task; the files of a task are removed before the next.
        let mut files = Vec::new();
        for opset in MIN_OPSET..=MAX_OPSET {
            for (name, dynamic, half, nms) in VARIANTS {
                if !allowed(task, opset, dynamic, nms) {
                    continue;
                }
                let opts = ExportOptions {
                    imgsz: (64, 64),
                    opset: Some(opset),
                    dynamic,
                    half,
                    nms: Some(nms),
                    ..Default::default()
                };
                let m = export(&model, &opts)
                    .unwrap_or_else(|e| panic!("{task} {name} opset {opset}: {e}"));
                let path = dir.path().join(format!("{task}-{name}-op{opset}.onnx"));
                onnxide_ir::save(&m, &path, &Default::default()).expect("save");
                files.push(path.display().to_string());
            }
        }
        let report = oracle::run_json("full_check.py", &files);
        for f in &files {
            total += 1;
            let verdict = report[f.as_str()].as_str().unwrap_or("no verdict");
            if verdict != "ok" {
                failures.push(format!("{f}: {verdict}"));
            }
            std::fs::remove_file(f).expect("remove");
        }
        println!("{task}: {} variants checked", files.len());
    }
    println!(
        "{total} export variants, {} failing the full check",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
