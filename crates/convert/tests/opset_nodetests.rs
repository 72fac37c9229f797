//! Conformance over the ONNX backend node tests (`cargo xtask nodetests` →
//! `fixtures/.cache/nodetests`): every node test whose default-domain opset is in
//! `MIN_OPSET..=MAX_OPSET` is converted to every other target in that range at which all its ops
//! exist (subgraph ops included), the conversions running on two threads; one Python process
//! (`tests/oracle/opset_nodetests.py`) runs every converted model in onnxruntime and compares
//! with the test's expected outputs as onnx's backend runner does (rtol 1e-3, atol 1e-7).
//!
//! Prints `N passed, N failed, N refused as impossible, N refused as not handled yet`, the refusal reasons grouped, and the
//! cases not counted (onnxruntime cannot run the original test itself; the test's opset outside
//! the range). Fails on any failed case. With `ONNXIDE_OPSET_VC=1` the Python side also runs
//! `onnx.version_converter` on the same conversions and prints its count (the README's numbers).

use onnxide_convert::opset::{convert_opset, op_available, MAX_OPSET, MIN_OPSET};
use onnxide_ir::{normalize_domain, AttrValue, Graph, Model};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn data_dir() -> PathBuf {
    let dir = match std::env::var_os("ONNXIDE_NODETESTS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/.cache/nodetests"),
    };
    if dir.join("node").is_dir() {
        dir.join("node")
    } else {
        dir
    }
}

/// Default-domain op types of a graph and its subgraphs.
fn ops(g: &Graph, out: &mut Vec<String>) {
    for n in &g.nodes {
        if normalize_domain(&n.domain).is_empty() && !out.contains(&n.op_type) {
            out.push(n.op_type.clone());
        }
        for a in &n.attributes {
            match &a.value {
                AttrValue::Graph(sub) => ops(sub, out),
                AttrValue::Graphs(subs) => subs.iter().for_each(|s| ops(s, out)),
                _ => {}
            }
        }
    }
}

/// Refusals that are the converter's gaps, not impossibilities.
const NOT_YET: &[&str] = &["no adapter handles yet", "not converted", "is not known"];

struct Case {
    test: PathBuf,
    target: i64,
    /// The converted model, or why the conversion was refused.
    result: Result<PathBuf, String>,
}

/// The part of a refusal after the node label: "Foo exists only from opset 14", ... with the
/// opset numbers kept (they are few).
fn reason(msg: &str) -> String {
    let first = msg.split("; ").next().unwrap_or(msg);
    let tail = first.rsplit_once("': ").map_or(first, |(_, r)| r);
    let tail = tail.rsplit_once(": ").map_or(tail, |(_, r)| r);
    tail.split('\'').step_by(2).collect::<Vec<_>>().join("…")
}

#[test]
fn node_tests_convert_to_every_opset() {
    let root = data_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo xtask nodetests` to generate the node tests)",
                root.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 1000, "only {} node tests found", dirs.len());
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().to_path_buf();
    let outside = Mutex::new(Vec::<String>::new());
    let cases = Mutex::new(Vec::<Case>::new());
    let next = Mutex::new(0usize);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(2));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = {
                    let mut g = next.lock().expect("lock");
                    *g += 1;
                    *g - 1
                };
                let Some(dir) = dirs.get(i) else { break };
                let name = dir
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into());
                let model: Model = match onnxide_ir::load(dir.join("model.onnx")) {
                    Ok(m) => m,
                    Err(e) => panic!("{name}: onnxide cannot load the node test: {e}"),
                };
                let Some(own) = model
                    .default_opset()
                    .filter(|v| (MIN_OPSET..=MAX_OPSET).contains(v))
                else {
                    outside.lock().expect("lock").push(name);
                    continue;
                };
                let mut used = Vec::new();
                ops(&model.graph, &mut used);
                for target in MIN_OPSET..=MAX_OPSET {
                    if target == own || !used.iter().all(|op| op_available(op, target)) {
                        continue;
                    }
                    let mut m = model.clone();
                    let result = match convert_opset(&mut m, target) {
                        Err(e) => {
                            assert_eq!(m, model, "{name}: a refused conversion changed the model");
                            Err(e.to_string())
                        }
                        Ok(_) => {
                            let p = out_dir.join(format!("{name}.{target}.onnx"));
                            onnxide_ir::save(&m, &p, &Default::default())
                                .unwrap_or_else(|e| panic!("{name} -> {target}: {e}"));
                            Ok(p)
                        }
                    };
                    cases.lock().expect("lock").push(Case {
                        test: dir.clone(),
                        target,
                        result,
                    });
                }
            });
        }
    });
    let mut cases = cases.into_inner().expect("lock");
    cases.sort_by(|a, b| (&a.test, a.target).cmp(&(&b.test, b.target)));
    let outside = outside.into_inner().expect("lock");
    let manifest: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "test": c.test.display().to_string(),
                "target": c.target,
                "path": c.result.as_ref().ok().map(|p| p.display().to_string()),
            })
        })
        .collect();
    let manifest_path = out_dir.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("json")).expect("write");
    let mut args = vec![manifest_path.display().to_string()];
    let vc = std::env::var_os("ONNXIDE_OPSET_VC").is_some_and(|v| v == "1");
    if vc {
        args.push("--version-converter".into());
    }
    let report = onnxide_tests::oracle::run_json("opset_nodetests.py", &args);
    let results = report["cases"].as_array().expect("cases");
    assert_eq!(results.len(), cases.len(), "one result per case");

    let (mut passed, mut refused, mut not_yet, mut baseline) = (0, 0, 0, 0);
    let mut no_kernel = Vec::new();
    let mut failed = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut baseline_tests = BTreeMap::new();
    let (mut vc_ok, mut vc_cases) = (0, 0);
    for (c, r) in cases.iter().zip(results) {
        let ours = r["ours"].as_str().unwrap_or("?");
        if ours == "baseline" {
            baseline += 1;
            baseline_tests.insert(
                r["test"].as_str().unwrap_or("?").to_string(),
                r["baseline"].as_str().unwrap_or("").to_string(),
            );
            continue;
        }
        if vc {
            vc_cases += 1;
            vc_ok += usize::from(r["vc"] == "ok");
        }
        match (&c.result, ours) {
            (Err(msg), _) => {
                if NOT_YET.iter().any(|w| msg.contains(w)) {
                    not_yet += 1;
                } else {
                    refused += 1;
                }
                *reasons.entry(reason(msg)).or_default() += 1;
            }
            (Ok(_), "ok") => passed += 1,
            (Ok(_), "no_kernel") => no_kernel.push(format!(
                "{} -> opset {}: {}",
                c.test
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into()),
                c.target,
                r["error"].as_str().unwrap_or("")
            )),
            (Ok(_), why) => failed.push(format!(
                "{} -> opset {}: {why}",
                c.test
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into()),
                c.target
            )),
        }
    }
    println!("refusals by reason:");
    for (why, n) in &reasons {
        println!("  {n:5}  {why}");
    }
    println!(
        "not counted: {baseline} conversions of {} node tests onnxruntime cannot run or match as they are:",
        baseline_tests.len()
    );
    for (t, why) in &baseline_tests {
        println!("  {t}: {why}");
    }
    println!(
        "not counted: {} node tests whose opset is outside {MIN_OPSET}..={MAX_OPSET}",
        outside.len()
    );
    println!(
        "not counted: {} conversions that pass onnx.checker's full check but use an op version \
         onnxruntime has no kernel for:",
        no_kernel.len()
    );
    for k in &no_kernel {
        println!("  {k}");
    }
    for f in &failed {
        println!("FAILED {f}");
    }
    println!(
        "{passed} passed, {} failed, {refused} refused as impossible, {not_yet} refused as not handled yet ({} node tests, {} conversions)",
        failed.len(),
        dirs.len() - outside.len(),
        cases.len() - baseline
    );
    if vc {
        println!(
            "onnx.version_converter: {vc_ok} of the same {vc_cases} conversions run and match"
        );
    }
    assert!(passed > 0);
    assert!(failed.is_empty(), "{} conversions failed", failed.len());
}
