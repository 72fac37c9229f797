//! `onnxide slim` against onnxslim and onnxsim on unslimmed models (`fixtures/slim`, made by
//! `cargo xtask fixtures slim`: torchvision ResNet-18, MobileNet-v3-small, EfficientNet-b0,
//! ShuffleNet-v2, GoogLeNet exported with `do_constant_folding=False`, and Ultralytics
//! `simplify=False` exports of every task; weights materialised at test time by
//! `tests/oracle/materialize_weights.py`). For each model: our node count is at most
//! min(onnxslim, onnxsim) as `fixtures/slim/counts.json` records them (onnxsim's count where it
//! succeeded), or the model is in [`ABOVE_BOUND`], printed as a skip list with its counts (a
//! listed model that reaches the bound fails the test, so the list stays true); onnxruntime's
//! outputs of the slimmed model equal the original's within [`REL_TOL`] on a seeded input; a
//! second slim changes nothing; graph inputs and outputs are unchanged.

use onnxide_tests::{fixture, oracle};

/// |slim − original| ≤ REL_TOL · max(1, |original|), per element.
const REL_TOL: f64 = 1e-5;

/// Models whose slimmed node count is still above min(onnxslim, onnxsim), with the reason.
const ABOVE_BOUND: &[(&str, &str)] = &[(
    "yolo11n_detect_nms",
    "Equal(shape of a NonZero result, -1) is not folded to false: inference does not know that a dim read by Shape is never -1",
)];

#[test]
fn node_counts_at_most_onnxslim_and_onnxsim_with_unchanged_outputs() {
    let counts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("slim/counts.json")).expect("fixtures/slim/counts.json"),
    )
    .expect("JSON");
    let models = counts["models"].as_object().expect("models");
    let recipes: Vec<String> = models
        .keys()
        .map(|n| {
            fixture(&format!("slim/{n}.weights.json"))
                .display()
                .to_string()
        })
        .collect();
    oracle::run("materialize_weights.py", &recipes);
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    let mut above = Vec::new();
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8}",
        "model", "original", "onnxslim", "onnxsim", "onnxide"
    );
    for (name, c) in models {
        let path = fixture(&format!("slim/{name}.onnx"));
        let original = onnxide_ir::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut m = original.clone();
        let report = onnxide_slim::slim(&mut m).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.converged, "{name}");
        assert_eq!(m.graph.inputs, original.graph.inputs, "{name}");
        assert_eq!(m.graph.outputs, original.graph.outputs, "{name}");
        let again = onnxide_slim::slim(&mut m.clone()).unwrap();
        assert!(
            !again.changed(),
            "{name}: a second slim changed {:?}",
            again.passes
        );
        let ours = m.graph.nodes.len() as u64;
        let slim = c["onnxslim"].as_u64().expect("onnxslim count");
        let sim = c["onnxsim"].as_u64();
        let bound = sim.map_or(slim, |s| s.min(slim));
        println!(
            "{name:<26} {:>8} {slim:>8} {:>8} {ours:>8}",
            original.graph.nodes.len(),
            sim.map_or("failed".to_string(), |s| s.to_string())
        );
        assert_eq!(
            c["original"].as_u64(),
            Some(original.graph.nodes.len() as u64),
            "{name}"
        );
        let listed = ABOVE_BOUND.iter().find(|(n, _)| n == name);
        match (ours > bound, listed) {
            (true, Some((_, why))) => above.push(format!("{name}: {ours} > {bound} ({why})")),
            (true, None) => panic!("{name}: {ours} nodes, onnxslim {slim}, onnxsim {sim:?}"),
            (false, Some(_)) => panic!("{name} reaches the bound now: take it off ABOVE_BOUND"),
            (false, None) => {}
        }
        let out = dir.path().join(format!("{name}.onnx"));
        onnxide_ir::save(&m, &out, &Default::default()).unwrap();
        pairs.push(format!("{}={}", path.display(), out.display()));
    }
    println!("skipped (above the bound) {}: {above:?}", above.len());
    let mut args = pairs.clone();
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
    assert_eq!(results.len(), pairs.len());
    let mut worst: f64 = 0.0;
    for r in results {
        let name = r["original"].as_str().unwrap_or("?");
        assert_eq!(r["outputs_same"], true, "{name}: {}", r["outputs"]);
        if r["check_original"].is_null() {
            assert!(r["check_slim"].is_null(), "{name}: {}", r["check_slim"]);
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
