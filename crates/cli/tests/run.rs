//! `onnxide run`'s contract: one `<output name>.npy` per graph output, equal to onnxruntime's within
//! tolerance; bad inputs give a clear error and write nothing.

use onnxide_ir::{npy, Tensor};
use std::path::Path;
use std::process::Command;

fn run(model: &Path, inputs: &[(&str, &Path)], out_dir: &Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onnxide"));
    cmd.arg("run").arg(model);
    for (name, file) in inputs {
        cmd.arg("--input").arg(format!("{name}={}", file.display()));
    }
    cmd.arg("--output-dir")
        .arg(out_dir)
        .output()
        .expect("run onnxide")
}

#[test]
fn run_matches_the_committed_onnxruntime_outputs() {
    let io_root = onnxide_tests::fixture("io");
    let mut cases: Vec<_> = std::fs::read_dir(&io_root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in &cases {
        let label = case.file_name().unwrap().to_string_lossy().into_owned();
        let (task, variant) = label
            .split_once('-')
            .expect("io folders are <task>-<variant>");
        let model = onnxide_tests::fixture(&format!("exports/{task}/{variant}.onnx"));
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for f in std::fs::read_dir(case).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("input_")
                .and_then(|n| n.strip_suffix(".npy"))
            {
                inputs.push((n.to_string(), f.path()));
            } else if let Some(n) = name
                .strip_prefix("output_")
                .and_then(|n| n.strip_suffix(".npy"))
            {
                outputs.push((n.to_string(), f.path()));
            }
        }
        outputs.sort();
        let out_dir = tempfile::tempdir().unwrap();
        let feeds: Vec<(&str, &Path)> = inputs
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_path()))
            .collect();
        let out = run(&model, &feeds, out_dir.path());
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let layout = onnxide_tests::YoloLayout::of(&onnxide_ir::load(&model).unwrap());
        let read = |dir: &Path, name: &str, prefix: &str| {
            npy::read(dir.join(format!("{prefix}{name}.npy"))).unwrap()
        };
        let ours: Vec<(String, Tensor)> = outputs
            .iter()
            .map(|(n, _)| (n.clone(), read(out_dir.path(), n, "")))
            .collect();
        let theirs: Vec<(String, Tensor)> = outputs
            .iter()
            .map(|(n, _)| (n.clone(), read(case, n, "output_")))
            .collect();
        let worst = onnxide_tests::assert_yolo_outputs_close(&layout, &ours, &theirs, &label);
        println!("{label}: max |Δ| {worst:?}");
        let written = std::fs::read_dir(out_dir.path()).unwrap().count();
        assert_eq!(written, outputs.len(), "{label}: one file per graph output");
    }
}

#[test]
fn bad_inputs_give_one_clear_error_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = onnxide_tests::fixture("exports/detect/imgsz320.onnx");
    let write = |name: &str, t: Tensor| {
        let p = dir.path().join(name);
        npy::write(&p, &t).unwrap();
        p
    };
    let good = write(
        "good.npy",
        Tensor::zeros(onnxide_ir::DType::F32, vec![1, 3, 320, 320]).unwrap(),
    );
    let ints = write(
        "ints.npy",
        Tensor::zeros(onnxide_ir::DType::I64, vec![1, 3, 320, 320]).unwrap(),
    );
    let small = write(
        "small.npy",
        Tensor::zeros(onnxide_ir::DType::F32, vec![1, 3, 100, 100]).unwrap(),
    );
    let rank3 = write(
        "rank3.npy",
        Tensor::zeros(onnxide_ir::DType::F32, vec![3, 320, 320]).unwrap(),
    );
    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"not numpy at all").unwrap();
    // (what is wrong, the inputs given, a word the error must contain)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a Path)>, &'a str);
    let cases: Vec<Case> = vec![
        ("wrong input name", vec![("pictures", &good)], "pictures"),
        ("wrong dtype", vec![("images", &ints)], "images"),
        ("wrong shape", vec![("images", &small)], "images"),
        ("wrong rank", vec![("images", &rank3)], "images"),
        ("missing input", vec![], "images"),
        ("not a .npy", vec![("images", &garbage)], "garbage.npy"),
    ];
    for (what, inputs, must_mention) in cases {
        let out_dir = dir.path().join(what.replace(' ', "_"));
        let out = run(&model, &inputs, &out_dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: succeeded");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{what}: not one line: {stderr}"
        );
        assert!(
            stderr.contains(must_mention),
            "{what}: error does not mention '{must_mention}': {stderr}"
        );
        assert!(!out_dir.exists(), "{what}: output folder was created");
        println!("{what}: {}", stderr.trim_end());
    }
}
