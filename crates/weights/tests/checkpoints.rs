//! Fixture checkpoints (all five tasks) against torch's own `state_dict()` dump.

mod common;

use common::{checkpoints_dir, sha256_hex, STEMS};
use onnxide_weights::{load, load_pt, Task};
use serde_json::Value;

fn reference(stem: &str) -> Value {
    let p = checkpoints_dir().join(format!("{stem}.state_dict.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "missing fixture {}: {e} (run xtask/fixtures/make_fixtures.py, or set ONNXIDE_CHECKPOINTS)",
            p.display()
        )
    });
    serde_json::from_str(&text).expect("reference dump is JSON")
}

fn check_against_reference(stem: &str) {
    let pt = checkpoints_dir().join(format!("{stem}.pt"));
    assert!(pt.exists(), "missing fixture checkpoint {}", pt.display());
    let ck = load_pt(&pt).unwrap_or_else(|e| panic!("{e}"));
    let r = reference(stem);
    let tensors = r["tensors"].as_array().expect("tensors array");
    if let Some(count) = r.get("count").and_then(Value::as_u64) {
        assert_eq!(ck.tensors.len() as u64, count, "{stem}: tensor count");
    }
    let got: Vec<&str> = ck.tensors.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = tensors
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, want, "{stem}: state_dict names/order");
    for ((name, t), rt) in ck.tensors.iter().zip(tensors) {
        let shape: Vec<usize> = rt["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{stem}: {name} shape");
        assert_eq!(
            t.dtype.torch_name(),
            rt["dtype"].as_str().unwrap().trim_start_matches("torch."),
            "{stem}: {name} dtype"
        );
        assert_eq!(
            sha256_hex(&t.data),
            rt["sha256"].as_str().unwrap(),
            "{stem}: {name} bytes"
        );
        if let Some(first) = rt.get("first").and_then(|f| f.as_array()) {
            let vals = t.to_f32().unwrap();
            for (a, b) in vals.iter().zip(first) {
                let b = b.as_f64().unwrap() as f32;
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{stem}: {name} first values"
                );
            }
        }
    }

    // Metadata.
    let m = &ck.meta;
    if let Some(task) = r["task"].as_str() {
        assert_eq!(m.task, Task::from_name(task), "{stem}: task");
    }
    let expected_task = match stem {
        "yolo11n" => Task::Detect,
        "yolo11n-seg" => Task::Segment,
        "yolo11n-pose" => Task::Pose,
        "yolo11n-obb" => Task::Obb,
        _ => Task::Classify,
    };
    assert_eq!(m.task, Some(expected_task), "{stem}: task");
    let names = r["names"].as_object().expect("names object");
    assert_eq!(m.names.len(), names.len(), "{stem}: names");
    for (k, v) in names {
        assert_eq!(
            m.names.get(&k.parse::<i64>().unwrap()).map(String::as_str),
            v.as_str(),
            "{stem}: names[{k}]"
        );
    }
    let stride: Vec<f32> = r["stride"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(m.stride, stride, "{stem}: stride");
    let yaml = m.yaml.as_ref().expect("yaml");
    assert_eq!(yaml["nc"], r["yaml"]["nc"], "{stem}: yaml nc");
    assert_eq!(yaml["scale"], r["yaml"]["scale"], "{stem}: yaml scale");
    assert_eq!(
        yaml["backbone"], r["yaml"]["backbone"],
        "{stem}: yaml backbone"
    );
    assert_eq!(yaml["head"], r["yaml"]["head"], "{stem}: yaml head");
    if stem == "yolo11n-pose" {
        assert_eq!(
            yaml["kpt_shape"], r["yaml"]["kpt_shape"],
            "{stem}: kpt_shape"
        );
    }

    // load() by content gives the same.
    let again = load(&pt).unwrap();
    assert_eq!(again, ck);
}

#[test]
fn detect_matches_torch_state_dict() {
    check_against_reference(STEMS[0]);
}
#[test]
fn segment_matches_torch_state_dict() {
    check_against_reference(STEMS[1]);
}
#[test]
fn pose_matches_torch_state_dict() {
    check_against_reference(STEMS[2]);
}
#[test]
fn obb_matches_torch_state_dict() {
    check_against_reference(STEMS[3]);
}
#[test]
fn classify_matches_torch_state_dict() {
    check_against_reference(STEMS[4]);
}

#[test]
fn pt_to_safetensors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for stem in STEMS {
        let pt = checkpoints_dir().join(format!("{stem}.pt"));
        let dst = dir.path().join(format!("{stem}.safetensors"));
        let a = load_pt(&pt).unwrap_or_else(|e| panic!("{e}"));
        let summary = onnxide_weights::convert_to_safetensors(&pt, &dst).unwrap();
        assert_eq!(summary.tensors, a.tensors.len());
        let b = onnxide_weights::load_safetensors(&dst).unwrap();
        assert_eq!(a.tensors, b.tensors, "{stem}: tensors");
        assert_eq!(a.meta, b.meta, "{stem}: metadata");
        assert_eq!(
            b.meta.source.as_deref(),
            Some(format!("{stem}.pt").as_str())
        );
        // and by content sniffing
        assert_eq!(load(&dst).unwrap().tensors, a.tensors);
        // no temporary files left behind
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
