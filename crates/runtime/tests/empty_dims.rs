//! Zero-size dimensions as onnxruntime handles them: Pad in constant mode on an empty dim, and
//! the `nms=True` exports on an image with no detection and (dynamic) at a smaller batch than
//! they were exported for, where the NMS tail pads empty selections.

use onnxide_ir::{DType, Dim, Graph, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo};
use onnxide_runtime::{Session, SessionOptions};
use onnxide_tests::oracle;
use std::path::Path;

fn ours(model: &Model, feeds: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    Session::new(model, &SessionOptions::default())
        .unwrap()
        .run(feeds)
        .unwrap()
}

#[test]
fn pad_constant_on_an_empty_dimension_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            name: "pad_empty".into(),
            nodes: vec![Node {
                name: "pad".into(),
                op_type: "Pad".into(),
                inputs: vec!["x".into(), "p".into()],
                outputs: vec!["y".into()],
                ..Default::default()
            }],
            inputs: vec![ValueInfo::tensor(
                "x",
                DType::F32,
                vec![Dim::Fixed(0), Dim::Fixed(6)],
            )],
            outputs: vec![ValueInfo::tensor(
                "y",
                DType::F32,
                vec![Dim::Unknown, Dim::Unknown],
            )],
            initializers: vec![NamedTensor {
                name: "p".into(),
                doc_string: String::new(),
                tensor: Tensor::from_vec(vec![4], vec![0i64, 0, 3, 0]).unwrap(),
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let path = dir.path().join("pad.onnx");
    onnxide_ir::save(&model, &path, &Default::default()).unwrap();
    let x = Tensor::from_vec(vec![0, 6], Vec::<f32>::new()).unwrap();
    let x_path = dir.path().join("x.npy");
    onnxide_ir::npy::write(&x_path, &x).unwrap();
    let theirs = oracle::ort_run(&path, &[("x", &x_path)], &dir.path().join("ort"));
    let mine = ours(&model, vec![("x".into(), x)]);
    println!(
        "Pad x[0,6] pads [0,0,3,0]: onnxide {:?}, onnxruntime {:?}",
        mine[0].1.shape(),
        theirs[0].1.shape()
    );
    assert_eq!(mine[0].1.shape(), &[3, 6]);
    assert_eq!(mine[0].1.shape(), theirs[0].1.shape());
    assert_eq!(mine[0].1.as_slice::<f32>(), theirs[0].1.as_slice::<f32>());
}

/// The model with its score threshold (the scalar 0.25 initializer the NMS tail compares with)
/// raised above any score, so that nothing is detected (obb shares that initializer with its
/// angle formula: the angles change too, the same for both engines).
fn without_detections(model: &mut Model) -> usize {
    let mut raised = 0;
    for init in &mut model.graph.initializers {
        let t = &init.tensor;
        if t.dtype() == DType::F32 && t.len() == 1 && t.as_slice::<f32>() == Some(&[0.25]) {
            init.tensor = Tensor::from_vec(t.shape().to_vec(), vec![2.0f32]).unwrap();
            raised += 1;
        }
    }
    raised
}

fn compare(label: &str, model: &Model, shape: &[usize], dir: &Path) -> Vec<(String, Tensor)> {
    let path = dir.join(format!("{label}.onnx"));
    onnxide_ir::save(model, &path, &Default::default()).unwrap();
    let x_path = dir.join(format!("{label}_x.npy"));
    oracle::make_input(shape, 7, &x_path);
    let x = onnxide_ir::npy::read(&x_path).unwrap();
    let name = model.graph.real_inputs().next().unwrap().name.clone();
    let theirs = oracle::ort_run(&path, &[(&name, &x_path)], &dir.join(label));
    let mine = ours(model, vec![(name, x)]);
    let layout = onnxide_tests::YoloLayout::of(model);
    let worst = onnxide_tests::assert_yolo_outputs_close(&layout, &mine, &theirs, label);
    println!("{label} {shape:?}: max |Δ| {worst:?}");
    mine
}

#[test]
fn nms_exports_match_onnxruntime_with_no_detection_and_at_a_smaller_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exports: Vec<_> = onnxide_tests::fixture_exports()
        .into_iter()
        .filter(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().starts_with("nms"))
        })
        .collect();
    assert!(exports.len() >= 7, "nms exports: {exports:?}");
    for path in &exports {
        let task = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let stem = path.file_stem().unwrap().to_string_lossy();
        let mut model = onnxide_ir::load(path).unwrap();
        let dynamic = stem.contains("dynamic");
        let shape: Vec<usize> = if dynamic {
            vec![1, 3, 320, 320]
        } else {
            vec![1, 3, 640, 640]
        };
        if dynamic {
            // Batch 1, below the batch it was exported for: the unrolled loop's extra images
            // select nothing.
            compare(&format!("{task}_{stem}_batch1"), &model, &shape, dir.path());
        }
        let raised = without_detections(&mut model);
        assert!(raised >= 1, "{task}/{stem}: no 0.25 threshold found");
        let out = compare(&format!("{task}_{stem}_empty"), &model, &shape, dir.path());
        // No detection: every score (column 4) is 0; detect/segment/pose pad whole zero rows,
        // obb's fast NMS keeps its 300 candidate boxes with their scores zeroed.
        let out0 = &out[0].1;
        let width = *out0.shape().last().unwrap();
        let rows = out0.as_slice::<f32>().unwrap();
        assert!(
            rows.chunks(width).all(|r| r[4] == 0.0),
            "{task}/{stem}: detections left"
        );
        if task != "obb" {
            assert!(
                rows.iter().all(|&v| v == 0.0),
                "{task}/{stem}: non-zero rows"
            );
        }
    }
}
