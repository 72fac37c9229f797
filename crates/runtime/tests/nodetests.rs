//! ONNX backend node tests: runs every generated case whose ops are all registered and compares
//! with the expected outputs as onnx's runner does (exact shape and dtype; rtol 1e-3, atol 1e-7;
//! strings and integers exact).
//!
//! Data: `cargo xtask nodetests` (= `python3 xtask/nodetests/generate.py fixtures/.cache/nodetests`),
//! or the folder named by `ONNXIDE_NODETESTS`. Run with `--nocapture` to see the report.

use onnxide_ir::{Tensor, TensorData, ValueType};
use onnxide_proto::Message;
use onnxide_runtime::{registered_ops, Session, SessionOptions};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

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

/// Decodes a serialized TensorProto through a one-initializer model (onnxide_ir's own decoder).
fn tensor_from_pb(bytes: &[u8]) -> Result<Tensor, String> {
    use onnxide_proto as p;
    let mut t = p::TensorProto::decode(bytes).map_err(|e| format!("not a TensorProto: {e}"))?;
    if t.name.as_deref().unwrap_or("").is_empty() {
        t.name = Some("t".into());
    }
    let model = p::ModelProto {
        ir_version: Some(8),
        opset_import: vec![p::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(18),
        }],
        graph: Some(p::GraphProto {
            name: Some("g".into()),
            initializer: vec![t],
            ..Default::default()
        }),
        ..Default::default()
    };
    let m = onnxide_ir::decode(&model.encode_to_vec()).map_err(|e| e.to_string())?;
    m.graph
        .initializers
        .into_iter()
        .next()
        .map(|n| n.tensor)
        .ok_or_else(|| "no tensor".to_string())
}

fn typed(t: &Tensor) -> bool {
    !matches!(t.data(), TensorData::Raw { .. })
}

/// Compares as onnx's runner: same dtype and shape; allclose(rtol, atol) with NaN == NaN.
fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!(
            "dtype {} != expected {}",
            got.dtype(),
            want.dtype()
        ));
    }
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?} != expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    match (got.data(), want.data()) {
        (TensorData::String(a), TensorData::String(b)) => {
            return if a == b {
                Ok(())
            } else {
                Err("strings differ".into())
            };
        }
        (TensorData::F32(_) | TensorData::F64(_) | TensorData::F16(_) | TensorData::BF16(_), _) => {
        }
        _ => {
            return if got == want {
                Ok(())
            } else {
                Err(format!(
                    "values differ: got {:?}, want {:?}",
                    short(got),
                    short(want)
                ))
            };
        }
    }
    let rtol = if got.dtype() == onnxide_ir::DType::BF16 {
        1.0 / 64.0
    } else {
        1e-3
    };
    let atol = 1e-7;
    let (a, b) = (
        got.to_f64_vec().unwrap_or_default(),
        want.to_f64_vec().unwrap_or_default(),
    );
    for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs();
        if !ok {
            return Err(format!(
                "element {i}: got {x}, want {y} (got {:?}, want {:?})",
                short(got),
                short(want)
            ));
        }
    }
    Ok(())
}

fn short(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
        .unwrap_or_default()
        .into_iter()
        .take(8)
        .collect()
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn run_case(dir: &Path, registered: &HashSet<(String, String)>) -> Outcome {
    let model = match onnxide_ir::load(dir.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => return Outcome::Skip(format!("(ir cannot load: {e})")),
    };
    let g = &model.graph;
    if g.inputs
        .iter()
        .chain(&g.outputs)
        .any(|v| !matches!(v.ty, ValueType::Tensor { .. }))
    {
        return Outcome::Skip("(non-tensor I/O)".into());
    }
    let mut missing: Vec<String> = g
        .nodes
        .iter()
        .filter(|n| {
            !registered.contains(&(
                onnxide_ir::normalize_domain(&n.domain).to_string(),
                n.op_type.clone(),
            ))
        })
        .map(|n| {
            if n.domain.is_empty() {
                n.op_type.clone()
            } else {
                format!("{}::{}", n.domain, n.op_type)
            }
        })
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Outcome::Skip(missing.join("+"));
    }
    let ds = dir.join("test_data_set_0");
    let read = |name: String| -> Result<Tensor, String> {
        let bytes = std::fs::read(ds.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        tensor_from_pb(&bytes).map_err(|e| format!("{name}: {e}"))
    };
    let real: Vec<_> = g.real_inputs().map(|v| v.name.clone()).collect();
    let mut feeds = Vec::new();
    for (i, name) in real.iter().enumerate() {
        match read(format!("input_{i}.pb")) {
            Ok(t) => feeds.push((name.clone(), t)),
            Err(e) => return Outcome::Fail(format!("reading inputs: {e}")),
        }
    }
    let mut wants = Vec::new();
    for i in 0..g.outputs.len() {
        match read(format!("output_{i}.pb")) {
            Ok(t) => wants.push(t),
            Err(e) => return Outcome::Fail(format!("reading outputs: {e}")),
        }
    }
    if !feeds.iter().all(|(_, t)| typed(t)) || !wants.iter().all(typed) {
        return Outcome::Skip(
            "(element type without typed storage: float8/int4/int2/fp4/e8m0)".into(),
        );
    }
    let result = std::panic::catch_unwind(|| {
        let s = Session::new(
            &model,
            &SessionOptions {
                threads: Some(1),
                optimize: true,
                exact: false,
                ..SessionOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        s.run(feeds).map_err(|e| e.to_string())
    });
    let outs = match result {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Outcome::Fail(e),
        Err(_) => return Outcome::Fail("PANIC".into()),
    };
    for (i, ((name, got), want)) in outs.iter().zip(&wants).enumerate() {
        if let Err(e) = compare(got, want) {
            return Outcome::Fail(format!("output {i} '{name}': {e}"));
        }
    }
    Outcome::Pass
}

#[test]
fn onnx_backend_node_tests() {
    let dir = data_dir();
    assert!(
        dir.is_dir(),
        "node-test data not found at {} — run `cargo xtask nodetests` first (or set ONNXIDE_NODETESTS)",
        dir.display()
    );
    let filter = std::env::var("ONNXIDE_NODETESTS_FILTER").ok();
    let registered: HashSet<(String, String)> = registered_ops()
        .into_iter()
        .map(|(d, o)| (d.to_string(), o.to_string()))
        .collect();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read node-test dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .filter(|p| {
            filter
                .as_ref()
                .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
        })
        .collect();
    cases.sort();
    let (mut passed, mut failed) = (0, 0);
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match run_case(case, &registered) {
            Outcome::Pass => passed += 1,
            Outcome::Fail(e) => {
                failed += 1;
                failures.push(format!("FAIL {name}: {e}"));
            }
            Outcome::Skip(why) => skipped.entry(why).or_default().push(name),
        }
    }
    for f in &failures {
        println!("{f}");
    }
    let not_attempted: usize = skipped.values().map(Vec::len).sum();
    println!("node tests from {}", dir.display());
    println!("not attempted, by missing op (cases):");
    for (why, names) in &skipped {
        println!("  {why}: {}", names.len());
    }
    println!("{not_attempted} not attempted");
    println!("{passed} passed, {failed} failed");
    assert_eq!(
        failed,
        0,
        "{failed} node tests failed:\n{}",
        failures.join("\n")
    );
}
