//! Inference and checking over the real Ultralytics exports in `fixtures/exports/` (skipped, with a
//! note, when the fixtures have not been generated).

mod common;

use onnxide_ir::{check, infer, topo, Dim, IrError, Model, ValueType};
use std::collections::HashSet;
use std::path::PathBuf;

/// `fixtures/exports/<task>/<variant>.onnx`, plus the same layout under `$ONNXIDE_EXTRA_EXPORTS`
/// (for trying more export variants locally).
fn exports() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/exports");
    collect(&root, &mut out);
    if let Some(extra) = std::env::var_os("ONNXIDE_EXTRA_EXPORTS") {
        collect(&PathBuf::from(extra), &mut out);
    }
    out.sort();
    out
}

fn collect(root: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(tasks) = std::fs::read_dir(root) else {
        eprintln!("no {}: its exports are skipped", root.display());
        return;
    };
    for task in tasks.flatten() {
        let Ok(files) = std::fs::read_dir(task.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "onnx") {
                out.push(p);
            }
        }
    }
}

/// `detect/half.onnx` style label.
fn label(p: &std::path::Path) -> String {
    let task = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
    format!(
        "{}/{}",
        task.to_string_lossy(),
        p.file_name().unwrap_or_default().to_string_lossy()
    )
}

fn load(p: &std::path::Path) -> Model {
    onnxide_ir::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Dim names the graph inputs define: these must reach the outputs unchanged.
fn input_params(m: &Model) -> HashSet<String> {
    m.graph
        .inputs
        .iter()
        .filter_map(|i| i.shape())
        .flatten()
        .filter_map(|d| match d {
            Dim::Param(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn inferred_output_shapes_match_the_declared_ones() {
    let files = exports();
    for p in &files {
        let m = load(p);
        let r = infer::infer(&m).unwrap_or_else(|e| panic!("{}: {e}", label(p)));
        assert!(
            r.not_inferred.is_empty(),
            "{}: ops not inferred: {:?}",
            label(p),
            r.unsupported_ops()
        );
        let names = input_params(&m);
        for o in &m.graph.outputs {
            let declared = o.shape().expect("declared output shape");
            let got = r
                .shape(&o.name)
                .unwrap_or_else(|| panic!("{}: {} has no inferred shape", label(p), o.name));
            assert_eq!(r.elem(&o.name), o.elem_type(), "{}: {}", label(p), o.name);
            assert_eq!(got.len(), declared.len(), "{}: {}", label(p), o.name);
            for (g, d) in got.iter().zip(declared) {
                // Names the inputs define must arrive unchanged; output-only names (`anchors`,
                // torch's `Concatoutput0_dim_1`) may be inferred as anything.
                let ok = match d {
                    Dim::Param(name) if !names.contains(name) => true,
                    _ => g == d,
                };
                assert!(
                    ok,
                    "{}: {}: inferred {} declared {}",
                    label(p),
                    o.name,
                    onnxide_ir::format_shape(Some(got)),
                    onnxide_ir::format_shape(Some(declared))
                );
            }
        }
        eprintln!("{}: {} values inferred", label(p), r.iter().count());
    }
}

#[test]
fn checker_accepts_exports_and_flags_the_unsorted_half_export() {
    for p in &exports() {
        let mut m = load(p);
        let name = label(p);
        match (name.contains("half"), check::check(&m)) {
            (false, Ok(())) => {}
            // Opset 7 exports (ir_version 3) keep initializers out of the graph inputs, which
            // that IR version forbids: onnx's checker rejects them too (ORT runs them).
            (false, Err(IrError::Check(p)))
                if m.ir_version < 4 && p.iter().all(|p| p.contains("not a graph input")) => {}
            (false, Err(e)) => panic!("{name}: {e}"),
            (true, Ok(())) => panic!("{name}: the half export is unsorted but passed"),
            (true, Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains("not topologically sorted"), "{name}: {msg}");
                topo::sort(&mut m.graph).unwrap();
                check::check(&m).unwrap_or_else(|e| panic!("{name} after sort: {e}"));
            }
        }
    }
}

#[test]
fn infer_shapes_types_every_value_and_is_idempotent() {
    for p in exports() {
        let mut m = load(&p);
        let before = m.graph.value_info.len();
        infer::infer_shapes(&mut m).unwrap_or_else(|e| panic!("{}: {e}", label(&p)));
        let produced: usize = m.graph.nodes.iter().map(|n| n.outputs.len()).sum();
        let outs = m.graph.outputs.len();
        assert!(
            m.graph.value_info.len() >= before.max(produced - outs),
            "{}: {} value_info for {produced} node outputs",
            label(&p),
            m.graph.value_info.len()
        );
        for v in &m.graph.value_info {
            assert!(v.elem_type().is_some(), "{}: {} untyped", label(&p), v.name);
            assert!(v.shape().is_some(), "{}: {} has no rank", label(&p), v.name);
        }
        // A second run agrees with the first and adds nothing.
        let once = m.graph.clone();
        infer::infer_shapes(&mut m).unwrap_or_else(|e| panic!("{} again: {e}", label(&p)));
        assert!(
            m.graph == once,
            "{}: second infer_shapes changed the graph",
            label(&p)
        );
    }
}

/// In dynamic exports every symbolic dim inference writes is an exact formula: evaluated at
/// concrete input sizes it equals what inference finds for a copy of the model with those
/// sizes fixed.
#[test]
fn symbolic_dims_of_dynamic_exports_evaluate_to_the_static_inference() {
    for p in exports() {
        let m = load(&p);
        let dims = ["batch", "3", "height", "width"];
        let dynamic = m
            .graph
            .inputs
            .first()
            .and_then(|i| i.shape())
            .is_some_and(|s| s.len() == 4 && s.iter().zip(dims).all(|(d, n)| d.to_string() == n));
        if !dynamic {
            continue;
        }
        let sym = infer::infer(&m).unwrap_or_else(|e| panic!("{}: {e}", label(&p)));
        let mut checked = 0;
        for (b, h, w) in [(2u64, 128u64, 192u64), (1, 640, 640), (3, 96, 32)] {
            let mut fixed = m.clone();
            if let ValueType::Tensor { shape: Some(s), .. } = &mut fixed.graph.inputs[0].ty {
                *s = vec![Dim::Fixed(b), Dim::Fixed(3), Dim::Fixed(h), Dim::Fixed(w)];
            }
            let conc = infer::infer(&fixed).unwrap_or_else(|e| panic!("{}: {e}", label(&p)));
            let env = [
                ("batch", b as f64),
                ("height", h as f64),
                ("width", w as f64),
            ];
            for node in &m.graph.nodes {
                for o in &node.outputs {
                    let (Some(a), Some(c)) = (sym.shape(o), conc.shape(o)) else {
                        continue;
                    };
                    for (x, y) in a.iter().zip(c) {
                        let (Dim::Param(e), Dim::Fixed(v)) = (x, y) else {
                            continue;
                        };
                        let got = common::eval_dim(e, &env)
                            .unwrap_or_else(|| panic!("{}: {o}: cannot evaluate {e}", label(&p)));
                        assert_eq!(got, *v as f64, "{}: {o}: {e} at {b}x3x{h}x{w}", label(&p));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "{}: only {checked} symbolic dims", label(&p));
        eprintln!("{}: {checked} symbolic dims evaluated", label(&p));
    }
}

/// Random damage to real graphs (attributes set to edge values, inputs swapped or dropped,
/// op types exchanged, input dims changed) must give results or errors, never a panic.
#[test]
fn damaged_exports_never_panic() {
    let files: Vec<PathBuf> = exports()
        .into_iter()
        .filter(|p| {
            let l = label(p);
            l == "detect/dynamic.onnx" || l == "obb/nms.onnx" || l == "detect/opset11.onnx"
        })
        .collect();
    let edge = [0i64, -1, 1, 2, -7, 3, 1 << 40, i64::MAX, i64::MIN];
    let ops = [
        "Conv",
        "Reshape",
        "Split",
        "Slice",
        "Concat",
        "Resize",
        "Gather",
        "Expand",
        "Range",
        "TopK",
        "Pad",
        "Transpose",
        "MatMul",
        "ReduceMax",
        "Squeeze",
        "Unsqueeze",
        "Tile",
        "ConstantOfShape",
        "GatherND",
        "MaxPool",
        "ConvTranspose",
        "Flatten",
        "Gemm",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for p in &files {
        let base = load(p);
        for _ in 0..150 {
            let mut m = base.clone();
            for _ in 0..3 {
                let n = rnd(m.graph.nodes.len());
                let node = &mut m.graph.nodes[n];
                match rnd(5) {
                    0 => {
                        for a in node.attributes.iter_mut() {
                            match &mut a.value {
                                onnxide_ir::AttrValue::Int(v) => *v = edge[rnd(edge.len())],
                                onnxide_ir::AttrValue::Ints(v) => {
                                    v.iter_mut().for_each(|x| *x = edge[rnd(edge.len())])
                                }
                                _ => {}
                            }
                        }
                    }
                    1 if node.inputs.len() > 1 => {
                        let (i, j) = (rnd(node.inputs.len()), rnd(node.inputs.len()));
                        node.inputs.swap(i, j);
                    }
                    2 if !node.inputs.is_empty() => {
                        node.inputs.pop();
                    }
                    3 => node.op_type = ops[rnd(ops.len())].to_string(),
                    _ => {
                        if let ValueType::Tensor { shape: Some(s), .. } = &mut m.graph.inputs[0].ty
                        {
                            let k = rnd(s.len());
                            s[k] = [Dim::Fixed(0), Dim::Fixed(1), Dim::Unknown, Dim::Fixed(7)]
                                [rnd(4)]
                            .clone();
                        }
                    }
                }
            }
            let _ = infer::infer(&m);
            let _ = check::check(&m);
            let _ = infer::infer_shapes(&mut m);
        }
    }
}
