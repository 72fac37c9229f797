//! Typed errors that name what is wrong: a missing or mis-shaped weight names the tensor and the
//! expected shape; unknown head variants are refused by name; no input panics.

mod common;

use common::fixture;
use onnxide_weights::Checkpoint;
use onnxide_yolo::{export, ExportOptions, YoloError, YoloModel};

fn checkpoint() -> Checkpoint {
    onnxide_weights::load(&fixture("fixtures/checkpoints/yolo11n.pt")).expect("yolo11n.pt")
}

#[test]
fn missing_weight_names_the_tensor_and_shape() {
    let mut ck = checkpoint();
    ck.tensors
        .retain(|(n, _)| n != "model.9.cv2.bn.running_var");
    let model = YoloModel::from_checkpoint(ck).unwrap();
    let err = export(&model, &ExportOptions::default()).unwrap_err();
    assert!(matches!(err, YoloError::MissingTensor { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("'model.9.cv2.bn.running_var'") && msg.contains("[256]"),
        "{msg}"
    );
}

#[test]
fn misshaped_weight_names_the_tensor_and_both_shapes() {
    let mut ck = checkpoint();
    for (name, t) in ck.tensors.iter_mut() {
        if name == "model.0.conv.weight" {
            t.shape = vec![16, 3, 9, 1];
        }
    }
    let model = YoloModel::from_checkpoint(ck).unwrap();
    let msg = export(&model, &ExportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("'model.0.conv.weight'")
            && msg.contains("[16, 3, 9, 1]")
            && msg.contains("[16, 3, 3, 3]"),
        "{msg}"
    );
}

#[test]
fn broken_config_is_an_error_not_a_panic() {
    let mut ck = checkpoint();
    let yaml = ck.meta.yaml.as_mut().unwrap();
    yaml["head"][1][0] = serde_json::json!([-1, 99]);
    let err = YoloModel::from_checkpoint(ck).unwrap_err().to_string();
    assert!(err.contains("layer 12"), "{err}");
    let mut ck = checkpoint();
    ck.meta.yaml =
        Some(serde_json::json!({"nc": 80, "backbone": [[-1, 1, "Focus", [64]]], "head": []}));
    let err = YoloModel::from_checkpoint(ck).unwrap_err().to_string();
    assert!(err.contains("Focus"), "{err}");
}

/// Every task builds, so the only heads refused are variants of known ones (v10Detect,
/// YOLOESegment, ...), by name, with the list of heads onnxide builds.
#[test]
fn unknown_heads_are_refused_by_name() {
    for head in ["v10Detect", "YOLOESegment"] {
        let mut ck = checkpoint();
        let yaml = ck.meta.yaml.as_mut().unwrap();
        yaml["head"][12][2] = serde_json::json!(head);
        let err = YoloModel::from_checkpoint(ck).unwrap_err();
        assert!(
            matches!(&err, YoloError::UnsupportedHead { head: h, .. } if h == head),
            "{head}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("head '{head}' is not supported"))
                && msg.contains("Detect, Segment, Pose, OBB and Classify"),
            "{msg}"
        );
    }
}

/// Segment, pose and obb checkpoints and configs load and export with `nms=True` (like detect;
/// obb from opset 14, where its fast-NMS has `Trilu`) and with `half=True` (FP16 initializers,
/// float32 I/O); the two together are refused for now.
#[test]
fn segment_pose_and_obb_export_nms_and_half() {
    for name in [
        "fixtures/checkpoints/yolo11n-seg.pt",
        "yolo11n-seg.yaml",
        "fixtures/checkpoints/yolo11n-pose.pt",
        "fixtures/checkpoints/yolo11n-obb.pt",
        "yolo11n-pose.yaml",
        "yolo11n-obb.yaml",
    ] {
        let model = if name.ends_with(".pt") {
            fixture(name).to_str().unwrap().to_string()
        } else {
            name.to_string()
        };
        let model = YoloModel::load(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let nms = ExportOptions {
            nms: Some(true),
            ..Default::default()
        };
        let onnx = export(&model, &nms).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = if name.contains("seg") {
            409
        } else if name.contains("obb") {
            494
        } else {
            408
        };
        assert_eq!(onnx.graph.nodes.len(), want, "{name}");
        if name.contains("obb") {
            let err = export(
                &model,
                &ExportOptions {
                    opset: Some(13),
                    ..nms.clone()
                },
            )
            .unwrap_err();
            assert!(
                matches!(err, YoloError::NotYetSupported { .. }),
                "{name}: {err}"
            );
        }
        let opts = ExportOptions {
            half: true,
            ..Default::default()
        };
        let onnx = export(&model, &opts).unwrap_or_else(|e| panic!("{name} half: {e}"));
        assert!(onnx
            .graph
            .inputs
            .iter()
            .chain(&onnx.graph.outputs)
            .all(|v| v.elem_type() == Some(onnxide_ir::DType::F32)));
        assert!(onnx
            .graph
            .initializers
            .iter()
            .any(|t| t.tensor.dtype() == onnxide_ir::DType::F16));
        let both = ExportOptions {
            half: true,
            nms: Some(true),
            ..Default::default()
        };
        let err = export(&model, &both).unwrap_err();
        assert!(
            matches!(err, YoloError::NotYetSupported { .. }),
            "{name}: {err}"
        );
    }
}

/// `nms=True`: Ultralytics' refusals (classify, opset < 11) with its messages; dynamic works
/// except for OBB; a small image clamps max_det to the anchor count.
#[test]
fn nms_arguments() {
    let cls = YoloModel::from_builtin("yolo11n-cls.yaml", 0).unwrap();
    let nms = ExportOptions {
        nms: Some(true),
        ..Default::default()
    };
    let msg = export(&cls, &nms).unwrap_err().to_string();
    assert!(
        msg.contains("'nms=True' is not valid for classification models."),
        "{msg}"
    );
    let det = YoloModel::from_builtin("yolo11n.yaml", 0).unwrap();
    let msg = export(
        &det,
        &ExportOptions {
            opset: Some(10),
            ..nms.clone()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("ONNX export requires opset>=11 for this model, but got opset=10"),
        "{msg}"
    );
    // dynamic=True works for detect (see vs_ultralytics.rs); OBB's fast-NMS is static only.
    let dyn_nms = ExportOptions {
        dynamic: true,
        ..nms.clone()
    };
    let onnx = export(&det, &dyn_nms).unwrap();
    let dims: Vec<String> = onnx.graph.outputs[0]
        .shape()
        .unwrap()
        .iter()
        .map(|d| format!("{d:?}"))
        .collect();
    assert_eq!(dims.join(","), "Param(\"batch\"),Fixed(300),Fixed(6)");
    let obb = YoloModel::from_builtin("yolo11n-obb.yaml", 0).unwrap();
    let err = export(&obb, &dyn_nms).unwrap_err();
    assert!(matches!(err, YoloError::NotYetSupported { .. }), "{err}");
    assert!(err.to_string().contains("dynamic=True"), "{err}");
    // 64x64: 64 + 16 + 4 = 84 anchors, fewer than max_det=300.
    let onnx = export(
        &det,
        &ExportOptions {
            imgsz: (64, 64),
            batch: 3,
            ..nms
        },
    )
    .unwrap();
    let shape: Vec<String> = onnx.graph.outputs[0]
        .shape()
        .unwrap()
        .iter()
        .map(|d| format!("{d:?}"))
        .collect();
    assert_eq!(shape.join(","), "Fixed(3),Fixed(84),Fixed(6)");
    let meta = onnx
        .metadata_props
        .iter()
        .find(|(k, _)| k == "args")
        .unwrap();
    assert!(meta.1.contains("'nms': True"), "{}", meta.1);
}

#[test]
fn classify_is_accepted_from_checkpoint_and_config() {
    let path = fixture("fixtures/checkpoints/yolo11n-cls.pt");
    let model = YoloModel::load(path.to_str().unwrap()).unwrap();
    assert_eq!(model.config().task.as_str(), "classify");
    // Classification models have no stride constraint: 300 is not rounded and builds.
    let opts = ExportOptions {
        imgsz: (300, 225),
        ..Default::default()
    };
    let onnx = export(&model, &opts).unwrap();
    assert_eq!(onnx.graph.nodes.len(), 144);
    let model = YoloModel::from_builtin("yolo11s-cls.yaml", 0).unwrap();
    assert!(export(&model, &ExportOptions::default()).is_ok());
    // nms=True is refused for classify, as Ultralytics does.
    let opts = ExportOptions {
        nms: Some(true),
        ..Default::default()
    };
    assert!(export(&model, &opts).is_err());
}

#[test]
fn bad_options_are_errors() {
    let model = YoloModel::from_builtin("yolo11n.yaml", 0).unwrap();
    for opts in [
        ExportOptions {
            imgsz: (300, 320),
            ..Default::default()
        },
        ExportOptions {
            imgsz: (0, 320),
            ..Default::default()
        },
        ExportOptions {
            batch: 0,
            ..Default::default()
        },
        ExportOptions {
            opset: Some(23),
            ..Default::default()
        },
        ExportOptions {
            half: true,
            nms: Some(true),
            ..Default::default()
        },
    ] {
        assert!(export(&model, &opts).is_err(), "{opts:?}");
    }
}

/// Every opset in the supported range builds, passes the checker and runs (yaml model, 320;
/// even opsets dynamic), checked in one oracle process.
#[test]
fn every_supported_opset_builds() {
    let model = YoloModel::from_builtin("yolo11n.yaml", 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--shape".to_string(), "1,3,320,320".into(), "--ours".into()];
    for opset in onnxide_yolo::MIN_OPSET..=onnxide_yolo::MAX_OPSET {
        let opts = ExportOptions {
            imgsz: (320, 320),
            opset: Some(opset),
            dynamic: opset % 2 == 0,
            ..Default::default()
        };
        let path = common::export_to(&model, &opts, dir.path(), &format!("op{opset}.onnx"));
        args.push(path.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::compare_exports(&refs);
    let models = r["models"].as_array().unwrap();
    assert_eq!(models.len(), 12);
    for m in models {
        assert_eq!(m["checker"], "ok", "{}", m["path"]);
        assert_eq!(
            m["outputs"]["output0"],
            serde_json::json!([1, 84, 2100]),
            "{}",
            m["path"]
        );
        assert_eq!(m["finite"], true, "{}", m["path"]);
    }
}

/// Every number in the checkpoint's yaml replaced by hostile values: an error or a model,
/// never a panic.
#[test]
fn hostile_yaml_values_never_panic() {
    hostile_yaml_values(checkpoint());
    hostile_yaml_values(
        onnxide_weights::load(&fixture("fixtures/checkpoints/yolo11n-cls.pt"))
            .expect("yolo11n-cls.pt"),
    );
}

fn hostile_yaml_values(base: Checkpoint) {
    let yaml = base.meta.yaml.clone().unwrap();
    fn paths(v: &serde_json::Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(i.to_string());
                    paths(x, p, out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    let mut p = at.clone();
                    p.push(k.clone());
                    paths(x, p, out);
                }
            }
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => out.push(at),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    paths(&yaml, Vec::new(), &mut targets);
    let hostile = [
        serde_json::json!(0),
        serde_json::json!(-3),
        serde_json::json!(1e18),
        serde_json::json!("x"),
    ];
    let opts = ExportOptions {
        imgsz: (64, 64),
        ..Default::default()
    };
    for path in &targets {
        for h in &hostile {
            let mut y = yaml.clone();
            let slot = path.iter().fold(&mut y, |v, k| match v {
                serde_json::Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
                other => &mut other[k.as_str()],
            });
            *slot = h.clone();
            let mut ck = base.clone();
            ck.meta.yaml = Some(y);
            if let Ok(model) = YoloModel::from_checkpoint(ck) {
                let _ = export(&model, &opts);
            }
        }
    }
}
