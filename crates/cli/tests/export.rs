//! `onnxide export`: bad arguments and bad files give one clear line on stderr, a non-zero exit
//! and no output file; a good run writes the file where Ultralytics would and prints one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn onnxide(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .arg("export")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run onnxide")
}

fn checkpoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints/yolo11n.pt")
}

/// Files left in `dir` other than the inputs we put there.
fn leftovers(dir: &Path, inputs: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !inputs.contains(&n.as_str()))
        .collect()
}

fn assert_refused(args: &[&str], inputs: &[&str], dir: &Path, needle: &str) {
    let out = onnxide(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected one line, got {stderr:?}"
    );
    assert!(lines[0].starts_with("error: "), "{args:?}: {stderr:?}");
    assert!(
        lines[0].contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert_eq!(
        leftovers(dir, inputs),
        Vec::<String>::new(),
        "{args:?} left files behind"
    );
}

#[test]
fn bad_arguments_are_refused_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&[&str], &str); 11] = [
        (&["model=yolo11n.yaml", "imgz=640"], "did you mean 'imgsz'"),
        (&["model=yolo11n.yaml", "imgsz=abc"], "imgsz"),
        (&["model=yolo11n.yaml", "imgsz=1,2,3"], "imgsz"),
        (
            &["model=yolo11n.yaml", "format=tflite"],
            "supported formats: onnx",
        ),
        (&["model=yolo11n.yaml", "device=0"], "device-independent"),
        (
            &["model=yolo11n.yaml", "half=True", "nms=True"],
            "half=True is not supported yet",
        ),
        (
            &["model=yolo11n-cls.yaml", "nms=True"],
            "'nms=True' is not valid for classification models.",
        ),
        (&["model=yolo11n.yaml", "opset=9"], "11..=22"),
        (
            &["model=yolo11n-obb.yaml", "nms=True", "opset=13"],
            "opset=13 is not supported yet",
        ),
        (
            &[
                "model=yolo11n-obb.yaml",
                "nms=True",
                "dynamic=True",
                "batch=2",
            ],
            "OBB with nms=True and dynamic=True is not implemented yet",
        ),
        (&["model=nope.pt"], "not found"),
    ];
    for (args, needle) in cases {
        assert_refused(args, &[], d, needle);
    }
}

#[test]
fn truncated_checkpoint_is_refused_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(checkpoint()).expect("fixtures/checkpoints/yolo11n.pt");
    for (name, len) in [
        ("half.pt", bytes.len() / 2),
        ("head.pt", 1000),
        ("empty.pt", 0),
    ] {
        std::fs::write(dir.path().join(name), &bytes[..len]).unwrap();
        let arg = format!("model={name}");
        assert_refused(
            &[&arg],
            &["half.pt", "head.pt", "empty.pt"],
            dir.path(),
            name,
        );
    }
}

#[test]
fn yaml_name_exports_into_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = onnxide(
        dir.path(),
        &["model=yolo11n.yaml", "imgsz=300", "format=onx"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("updating to [320, 320]"), "{stderr}");
    assert!(stderr.contains("updating to format='onnx'"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("yolo11n.onnx") && stdout.contains("320 nodes"),
        "{stdout}"
    );
    assert_eq!(leftovers(dir.path(), &[]), vec!["yolo11n.onnx".to_string()]);
}

#[test]
fn checkpoint_exports_next_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("weights");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(checkpoint(), sub.join("yolo11n.pt")).unwrap();
    let out = onnxide(
        dir.path(),
        &["model=weights/yolo11n.pt", "imgsz=320", "dynamic=true"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sub.join("yolo11n.onnx").exists());
}

/// Pose and obb checkpoints export from the command line with the Ultralytics layout of output0
/// (4 box + 80 scores + 51 keypoint values, or + 1 angle); `nms=True` gives Ultralytics'
/// 408-node (pose) and 494-node (obb, fast-NMS) graphs.
#[test]
fn pose_and_obb_checkpoints_export() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints");
    for (file, nodes, nms_nodes) in [
        ("yolo11n-pose", "354 nodes", "408 nodes"),
        ("yolo11n-obb", "356 nodes", "494 nodes"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pt = format!("{file}.pt");
        std::fs::copy(fixtures.join(&pt), dir.path().join(&pt)).unwrap();
        let arg = format!("model={pt}");
        let out = onnxide(dir.path(), &[&arg]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{file}.onnx")) && stdout.contains(nodes),
            "{file}: {stdout}"
        );
        assert!(dir.path().join(format!("{file}.onnx")).exists());
        let nms = onnxide(dir.path(), &[&arg, "nms=True"]);
        let stdout = String::from_utf8_lossy(&nms.stdout);
        assert!(
            nms.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&nms.stderr)
        );
        assert!(stdout.contains(nms_nodes), "{file}: {stdout}");
    }
}

/// `nms=True dynamic=True`: Ultralytics' warning without a maximum batch (batch=1); with batch=2
/// the loop is unrolled twice (498 nodes) and no warning.
#[test]
fn nms_dynamic_exports() {
    let dir = tempfile::tempdir().unwrap();
    let out = onnxide(
        dir.path(),
        &["model=yolo11n.yaml", "nms=True", "dynamic=True"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("'dynamic=True' export requires a maximum batch size, e.g. 'batch=16'."),
        "{stderr}"
    );
    let out = onnxide(
        dir.path(),
        &["model=yolo11n.yaml", "nms=True", "dynamic=True", "batch=2"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("maximum batch size"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("498 nodes"), "{stdout}");
}

#[test]
fn classify_checkpoint_exports_next_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cls =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints/yolo11n-cls.pt");
    std::fs::copy(&cls, dir.path().join("yolo11n-cls.pt")).unwrap();
    let out = onnxide(dir.path(), &["model=yolo11n-cls.pt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("yolo11n-cls.onnx") && stdout.contains("144 nodes"),
        "{stdout}"
    );
    assert!(dir.path().join("yolo11n-cls.onnx").exists());
    // Stride 1: imgsz=300 is kept as it is, without the rounding warning detect models get.
    let out = onnxide(dir.path(), &["model=yolo11n-cls.pt", "imgsz=300"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("updating to"), "{stderr}");
}

/// A segment checkpoint exports next to itself with Ultralytics' two outputs (355 nodes, like
/// Ultralytics' file); so does the built-in config; `nms=True` gives Ultralytics' 409-node graph
/// (`output0 [1, 300, 38]` and the prototypes); `half=True` exports (float32 I/O, FP16 weights).
#[test]
fn segment_checkpoint_exports_next_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let seg =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints/yolo11n-seg.pt");
    std::fs::copy(&seg, dir.path().join("yolo11n-seg.pt")).unwrap();
    let out = onnxide(dir.path(), &["model=yolo11n-seg.pt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("yolo11n-seg.onnx") && stdout.contains("355 nodes"),
        "{stdout}"
    );
    let onnx = onnxide_ir::load(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let outputs: Vec<&str> = onnx.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outputs, ["output0", "output1"]);
    std::fs::remove_file(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let out = onnxide(dir.path(), &["model=yolo11n-seg.pt", "nms=True"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("409 nodes"), "{stdout}");
    let onnx = onnxide_ir::load(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let outputs: Vec<&str> = onnx.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outputs, ["output0", "output1"]);
    std::fs::remove_file(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let out = onnxide(dir.path(), &["model=yolo11n-seg.pt", "half=True"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Ultralytics' converter adds graph_input_cast0, graph_output_cast0 and graph_output_cast1.
    assert!(stdout.contains("358 nodes"), "{stdout}");
    let onnx = onnxide_ir::load(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let casts: Vec<&str> = onnx
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Cast")
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(
        casts,
        [
            "graph_input_cast0",
            "graph_output_cast0",
            "graph_output_cast1"
        ]
    );
    assert_eq!(
        onnx.metadata("args").map(|a| a.contains("'quantize': 16")),
        Some(true)
    );
    std::fs::remove_file(dir.path().join("yolo11n-seg.onnx")).unwrap();
    let out = onnxide(dir.path(), &["model=yolo11s-seg.yaml", "imgsz=320"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("yolo11s-seg.onnx").exists());
}

#[test]
fn help_lists_every_key_with_its_default() {
    let out = onnxide(Path::new("."), &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for key in [
        "model=",
        "format=onnx",
        "imgsz=640",
        "batch=1",
        "dynamic=False",
        "simplify=True",
        "opset=None",
        "device=None",
        "half=False",
        "nms=None",
        "11..=22",
    ] {
        assert!(help.contains(key), "--help lacks {key}");
    }
}
