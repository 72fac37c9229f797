//! `cargo xtask interop [reference]` (developer machine: needs Python with ultralytics + torch).
//!
//! * `interop`: exports `fixtures/checkpoints/yolo11n.pt` with onnxide (static, then dynamic),
//!   then has Ultralytics export the same checkpoint the same way and `YOLO(file).predict()` both
//!   files on bus.jpg and zidane.jpg (`tests/oracle/interop_predict.py`); the boxes must agree.
//! * `interop reference [model=yolo11s.yaml] [imgsz=320]`: writes onnxide's seeded random weights
//!   of a config name as `.safetensors`, has Ultralytics load and export them, and saves
//!   onnxruntime's output as `crates/yolo/tests/data/<stem>-<imgsz>.output0.npy`: the small,
//!   honest reference for scales whose checkpoints are too large to commit.

use crate::python::{repo_root, script};
use anyhow::{bail, Context, Result};
use onnxide_yolo::{export, ExportOptions, YoloModel};

const IMAGES: [&str; 2] = ["fixtures/images/bus.jpg", "fixtures/images/zidane.jpg"];

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("reference") => reference(&args[1..]),
        None | Some("predict") => predict(args.get(1..).unwrap_or(&[])),
        Some(other) => bail!("interop: unknown mode '{other}' (predict or reference)"),
    }
}

fn predict(args: &[String]) -> Result<()> {
    let root = repo_root();
    let pt = root.join("fixtures/checkpoints/yolo11n.pt");
    let images: Vec<String> = if args.is_empty() {
        IMAGES.iter().map(|s| s.to_string()).collect()
    } else {
        args.to_vec()
    };
    let model = YoloModel::load(pt.to_str().context("non-UTF-8 path")?)?;
    // A static export (letterboxed to 640x640) and a dynamic one (rect inputs such as 384x640).
    for dynamic in [false, true] {
        let dir = tempfile::tempdir()?;
        let opts = ExportOptions {
            dynamic,
            ..Default::default()
        };
        let onnx = export(&model, &opts)?;
        let ours = dir.path().join("yolo11n.onnx");
        onnxide_ir::save(&onnx, &ours, &Default::default())?;
        let mut a = vec![
            "--ours".to_string(),
            ours.display().to_string(),
            "--pt".into(),
            pt.display().to_string(),
            "--images".into(),
        ];
        a.extend(images.iter().cloned());
        if dynamic {
            a.push("--dynamic".into());
        }
        script("tests/oracle/interop_predict.py", &a)?;
    }
    Ok(())
}

fn reference(args: &[String]) -> Result<()> {
    let (mut name, mut imgsz) = ("yolo11s.yaml".to_string(), 320usize);
    for a in args {
        match a.split_once('=') {
            Some(("model", v)) => name = v.into(),
            Some(("imgsz", v)) => imgsz = v.parse().context("imgsz")?,
            _ => bail!("interop reference: unknown argument '{a}' (model=, imgsz=)"),
        }
    }
    let dir = tempfile::tempdir()?;
    let weights = dir.path().join("weights.safetensors");
    let ck = onnxide_yolo::random_checkpoint(&name, onnxide_yolo::export::DEFAULT_SEED)?;
    onnxide_weights::save_safetensors(&ck, &weights)?;
    let stem = name.trim_end_matches(".yaml");
    let out = repo_root().join(format!("crates/yolo/tests/data/{stem}-{imgsz}.output0.npy"));
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    script(
        "tests/oracle/yaml_reference.py",
        &[
            "--weights".into(),
            weights.display().to_string(),
            "--yaml".into(),
            name.clone(),
            "--imgsz".into(),
            imgsz.to_string(),
            "--out".into(),
            out.display().to_string(),
        ],
    )
}
