//! Issue 2: every Ultralytics export in fixtures/ survives onnxide's load and save.

use onnxide_tests::{fixture_exports, oracle};

/// load → (topological sort) → save; onnxruntime must give bit-identical outputs and
/// `onnx.checker.check_model(full_check=True)` must accept the file.
///
/// The sort is a no-op for sorted graphs; it matters for Ultralytics' `half` export, whose
/// Cast nodes are appended out of order (the original fails full_check; ours must not).
#[test]
fn fixture_exports_round_trip_bit_identically_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let exports = fixture_exports();
    for (i, path) in exports.iter().enumerate() {
        let mut model = onnxide_ir::load(path).unwrap_or_else(|e| panic!("{e}"));
        onnxide_ir::topo::sort(&mut model.graph).unwrap();
        let saved = dir.path().join(format!("{i}.onnx"));
        onnxide_ir::save(&model, &saved, &Default::default()).unwrap();
        let line = oracle::run(
            "roundtrip_check.py",
            &[path.to_str().unwrap(), saved.to_str().unwrap()],
        );
        print!("{line}");
    }
    println!("{} exports round-tripped", exports.len());
}

/// load → encode → decode → encode gives the same bytes (saving is deterministic).
#[test]
fn save_is_a_fixpoint() {
    let exports = fixture_exports();
    for path in &exports {
        let model = onnxide_ir::load(path).unwrap();
        let first = onnxide_ir::encode(&model);
        let second = onnxide_ir::encode(&onnxide_ir::decode(&first).unwrap());
        assert!(
            first == second,
            "{}: second save differs from the first",
            path.display()
        );
        assert_eq!(
            onnxide_ir::decode(&second).unwrap(),
            model,
            "{}",
            path.display()
        );
    }
    println!(
        "{} exports: load/save/load/save byte-identical",
        exports.len()
    );
}

/// Saving with external data and loading it back gives the same model.
#[test]
fn external_data_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = onnxide_tests::fixture("exports/detect/default.onnx");
    let model = onnxide_ir::load(&path).unwrap();
    let out = dir.path().join("m.onnx");
    let options = onnxide_ir::SaveOptions {
        external_data: Some(onnxide_ir::ExternalData {
            location: "m.onnx.data".into(),
            threshold_bytes: 1024,
        }),
    };
    onnxide_ir::save(&model, &out, &options).unwrap();
    assert!(
        std::fs::metadata(&out).unwrap().len() < 1_000_000,
        "weights did not move out"
    );
    assert_eq!(onnxide_ir::load(&out).unwrap(), model);
    let line = oracle::run(
        "roundtrip_check.py",
        &[path.to_str().unwrap(), out.to_str().unwrap()],
    );
    print!("{line}");
}
