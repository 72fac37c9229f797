//! Every `fixtures/exports/*/*.onnx` except `half` (its Casts are appended last, so the
//! checker's full check already reports the node order on the original) and the zoo models
//! (weights materialised by `tests/oracle/materialize_weights.py`), slimmed: onnxruntime's
//! outputs equal the original's on a seeded input (|Δ| ≤ 1e-5 · max(1, |reference|)), node
//! count not larger, graph outputs with the same names, types and dims, `onnx.checker` full
//! check passing wherever it passes on the original, and a second slim changing nothing.

use onnxide_tests::{fixture, fixture_exports, oracle};
use std::path::PathBuf;

/// |slim - original| ≤ REL_TOL · max(1, |original|), per element.
const REL_TOL: f64 = 1e-5;

const ZOO: [&str; 5] = [
    "resnet18",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "yolov8n",
    "yolo12n",
];

#[test]
fn fixtures_slim_without_changing_results() {
    let mut models: Vec<PathBuf> = Vec::new();
    let mut skipped = Vec::new();
    for p in fixture_exports() {
        if p.file_stem().is_some_and(|s| s == "half") {
            skipped.push(p);
        } else {
            models.push(p);
        }
    }
    for name in ZOO {
        let recipe = fixture(&format!("zoo/{name}.weights.json"));
        oracle::run(
            "materialize_weights.py",
            &[recipe.to_str().expect("utf-8 path")],
        );
        models.push(fixture(&format!("zoo/{name}.onnx")));
    }
    println!(
        "skipped {} model(s): {:?} (half: see the module docs)",
        skipped.len(),
        skipped
    );
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    for (i, path) in models.iter().enumerate() {
        let original = onnxide_ir::load(path).unwrap_or_else(|e| panic!("{e}"));
        let mut m = original.clone();
        let report =
            onnxide_slim::slim(&mut m).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(report.converged, "{}", path.display());
        assert!(
            m.graph.nodes.len() <= original.graph.nodes.len(),
            "{}: {} nodes after, {} before",
            path.display(),
            m.graph.nodes.len(),
            original.graph.nodes.len()
        );
        assert_eq!(
            m.graph.outputs,
            original.graph.outputs,
            "{}",
            path.display()
        );
        assert_eq!(m.graph.inputs, original.graph.inputs, "{}", path.display());
        let again = onnxide_slim::slim(&mut m.clone()).unwrap();
        assert!(
            !again.changed(),
            "{}: a second slim changed {:?}",
            path.display(),
            again.passes
        );
        println!(
            "{}: {} -> {} nodes, {} -> {} initializers",
            path.display(),
            original.graph.nodes.len(),
            m.graph.nodes.len(),
            original.graph.initializers.len(),
            m.graph.initializers.len()
        );
        let out = dir.path().join(format!("{i}.onnx"));
        onnxide_ir::save(&m, &out, &Default::default()).unwrap();
        pairs.push(format!("{}={}", path.display(), out.display()));
    }
    let mut args: Vec<String> = pairs;
    args.extend(
        [
            "--dim",
            "batch=2",
            "--dim",
            "height=320",
            "--dim",
            "width=320",
        ]
        .map(String::from),
    );
    let results = oracle::run_json("slim_check.py", &args);
    let results = results.as_array().expect("a JSON list");
    assert_eq!(results.len(), models.len());
    let mut worst: f64 = 0.0;
    for r in results {
        let name = r["original"].as_str().unwrap_or("?");
        assert_eq!(r["outputs_same"], true, "{name}: {}", r["outputs"]);
        if r["check_original"].is_null() {
            assert!(
                r["check_slim"].is_null(),
                "{name}: onnx.checker fails on the slimmed model: {}",
                r["check_slim"]
            );
        } else {
            println!(
                "{name}: onnx.checker already fails on the original: {}",
                r["check_original"]
            );
        }
        for (output, d) in r["max_rel_diff"].as_object().expect("diffs") {
            let d = d
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {output}: {d}"));
            assert!(d <= REL_TOL, "{name}: {output}: max relative |Δ| {d:e}");
            worst = worst.max(d);
        }
    }
    println!("{} models, worst relative |Δ| {worst:e}", results.len());
}
