//! Hand-made tiny checkpoints (tests/data/make_data.py): protocols 2, 4 and 5, shared
//! storages with offsets, non-contiguous views, float16/float32/bfloat16/int64,
//! non-persistent buffers, None children and parameters.

mod common;

use common::data_dir;
use onnxide_weights::{load_pt, load_safetensors, save_safetensors, Task, WeightDType};
use serde_json::Value;

fn expected() -> Value {
    let text = std::fs::read_to_string(data_dir().join("tiny.expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check(file: &str) {
    let ck = load_pt(&data_dir().join(file)).unwrap_or_else(|e| panic!("{e}"));
    let exp = expected();
    let want = exp["tensors"].as_array().unwrap();
    let names: Vec<&str> = ck.tensors.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, want_names, "{file}: names and order");
    for ((name, t), w) in ck.tensors.iter().zip(want) {
        assert_eq!(
            t.dtype.torch_name(),
            w["dtype"].as_str().unwrap(),
            "{file}: {name}"
        );
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{file}: {name}");
        let vals: Vec<f32> = w["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(t.to_f32().unwrap(), vals, "{file}: {name} values");
        assert_eq!(t.data.len(), t.numel() * t.dtype.size());
    }
    let nbt = ck.get("model.0.bn.num_batches_tracked").unwrap();
    assert_eq!(nbt.dtype, WeightDType::I64);
    assert_eq!(nbt.to_i64().unwrap(), vec![7]);
    assert!(ck.get("model.1.scratch").is_none(), "non-persistent buffer");
    assert!(ck.get("model.0.conv.bias").is_none(), "None parameter");

    let m = &ck.meta;
    assert_eq!(m.task, Some(Task::Detect));
    assert_eq!(m.names.get(&0).map(String::as_str), Some("cat"));
    assert_eq!(m.names.get(&1).map(String::as_str), Some("dog"));
    assert_eq!(m.stride, vec![8.0, 16.0, 32.0]);
    assert_eq!(m.yaml.as_ref().unwrap(), &exp["yaml"]);
    assert_eq!(m.yaml.as_ref().unwrap()["kpt_shape"], Value::Null);
    assert_eq!(m.version.as_deref(), Some("8.4.0"));
    assert_eq!(m.date.as_deref(), Some("2026-01-01T00:00:00"));
    // args: model.args overlaid with train_args; tuples become arrays.
    assert_eq!(m.args["imgsz"], 64);
    assert_eq!(m.args["task"], "detect");
    assert_eq!(m.args["batch"], serde_json::json!([1, 2]));

    // safetensors round trip keeps everything.
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("tiny.safetensors");
    save_safetensors(&ck, &st).unwrap();
    let back = load_safetensors(&st).unwrap();
    assert_eq!(back.tensors, ck.tensors);
    assert_eq!(back.meta, ck.meta);
}

#[test]
fn protocol_2() {
    check("tiny_p2.pt");
}

#[test]
fn protocol_4() {
    check("tiny_p4.pt");
}

#[test]
fn protocol_5() {
    check("tiny_p5.pt");
}

#[test]
fn big_endian_storages() {
    check("tiny_be.pt");
}

#[test]
fn task_from_head_class() {
    assert_eq!(
        Task::from_head_class("ultralytics.nn.modules.head.Segment"),
        Some(Task::Segment)
    );
    assert_eq!(Task::from_head_class("OBB"), Some(Task::Obb));
    assert_eq!(Task::from_head_class("Pose"), Some(Task::Pose));
    assert_eq!(Task::from_head_class("Classify"), Some(Task::Classify));
    assert_eq!(Task::from_head_class("v10Detect"), Some(Task::Detect));
    assert_eq!(Task::from_head_class("Conv"), None);
}

/// A plain state_dict written by real `torch.save` (tests/data/make_torch_data.py):
/// non-contiguous views, bfloat16, int64, shared storages, a scalar and an empty tensor.
#[test]
fn torch_saved_views() {
    let ck = load_pt(&data_dir().join("torch_views.pt")).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(data_dir().join("torch_views.json")).unwrap();
    let want: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(ck.tensors.len(), want.len());
    for ((name, t), w) in ck.tensors.iter().zip(&want) {
        assert_eq!(name, w["name"].as_str().unwrap());
        assert_eq!(t.dtype.torch_name(), w["dtype"].as_str().unwrap(), "{name}");
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{name}");
        let vals: Vec<f32> = w["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(t.to_f32().unwrap(), vals, "{name}");
    }
    assert!(ck.meta.task.is_none());
    assert!(ck.meta.args.is_object());
}

/// A foreign safetensors file without onnxide metadata: tensors in file order, empty metadata.
#[test]
fn plain_safetensors_without_metadata() {
    use safetensors::tensor::{Dtype, TensorView};
    let a = [0u8, 0x3c, 0, 0x40]; // f16 [1.0, 2.0]
    let b = 7i64.to_le_bytes();
    let views = vec![
        (
            "z.weight",
            TensorView::new(Dtype::F16, vec![2], &a).unwrap(),
        ),
        ("a.count", TensorView::new(Dtype::I64, vec![1], &b).unwrap()),
    ];
    let bytes = safetensors::tensor::serialize(views, &None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plain.safetensors");
    std::fs::write(&p, bytes).unwrap();
    let ck = onnxide_weights::load(&p).unwrap();
    let names: Vec<&str> = ck.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a.count", "z.weight"]); // file order (safetensors sorts by dtype size)
    assert_eq!(
        ck.get("z.weight").unwrap().to_f32().unwrap(),
        vec![1.0, 2.0]
    );
    assert_eq!(ck.get("a.count").unwrap().to_i64().unwrap(), vec![7]);
    assert_eq!(ck.meta.task, None);
    assert!(ck.meta.names.is_empty());
    assert!(ck.meta.args.is_object());
}
