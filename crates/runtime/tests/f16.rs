//! Float16 cast placement, end to end: small f16 graphs give onnxruntime's outputs bit for bit.
//!
//! `tests/oracle/f16_cases.py` builds a dozen tiny float16 models (seeded weights and inputs),
//! each aimed at one of the rules by which onnxruntime 1.32's CPU provider decides where f16
//! values are rounded: Concat/Split isolated or kept depending on their first input and their
//! readers, propagation of those decisions in topological and non-topological node order,
//! `Cast(f32 → f16)` sources read unrounded, `Cast(f16 → f32)` outputs after f32 compute,
//! Softmax expanded into f32 ops, Relu as an f16 `Max`. The script runs them with onnxruntime
//! (CPUExecutionProvider, ORT_DISABLE_ALL, 1 thread); this test runs the same models and inputs
//! with onnxide's default options (which apply `optimize/fp16.rs`) and requires every output
//! to have the same dtype, shape and bits.
//!
//! Bit-identity is the right bar here, not a tolerance: the f32 arithmetic matches
//! onnxruntime's exactly, so the only thing left to differ is *where* values are rounded to
//! f16, and an f16 rounding in a different place shows up as whole f16 ulps (≈1e-3 relative),
//! far above any f32 noise. A tolerance loose enough to accept an ulp would accept exactly
//! the mistakes this test exists to catch.
//!
//! As a control, one case also runs with `optimize: false` (the graph as written, every f16
//! value rounded after every op) and must *differ* from onnxruntime, which shows the cases
//! really do depend on the rounding places.
//!
//! Needs Python (`onnxide_tests::oracle`: `$ONNXIDE_PYTHON`, else `$PYTHON`, else `python3`) with
//! numpy, onnx and onnxruntime; fails, not skips, without them. Run with `--nocapture` for the
//! per-case table.

use onnxide_ir::{DType, Tensor};
use onnxide_runtime::{Session, SessionOptions};
use onnxide_tests::oracle;
use std::path::{Path, PathBuf};

/// The case run unoptimised as the control: Conv → Mul → Cast(to f32) output. onnxruntime
/// never rounds the Conv or Mul results to f16 (they run in f32 and the Cast reads the f32
/// value); the graph as written rounds both, so the f32 output differs.
const CONTROL_CASE: &str = "output_cast_after_f32";

/// The script builds 12 cases; fewer than this means something went missing.
const MIN_CASES: usize = 10;

/// How one output compares: differing elements (by bit pattern), the largest |Δ| and the
/// largest |Δ| / |onnxruntime value|.
#[derive(Debug)]
struct Diff {
    differing: usize,
    max_abs: f64,
    max_rel: f64,
}

/// Compares two tensors bit for bit; `Err` when dtypes or shapes differ.
fn compare(ours: &Tensor, theirs: &Tensor) -> Result<Diff, String> {
    if ours.dtype() != theirs.dtype() {
        return Err(format!(
            "dtype {:?}, onnxruntime has {:?}",
            ours.dtype(),
            theirs.dtype()
        ));
    }
    if ours.shape() != theirs.shape() {
        return Err(format!(
            "shape {:?}, onnxruntime has {:?}",
            ours.shape(),
            theirs.shape()
        ));
    }
    let a = ours
        .to_raw_bytes()
        .ok_or("cannot read our output's bytes")?;
    let b = theirs
        .to_raw_bytes()
        .ok_or("cannot read onnxruntime's output's bytes")?;
    let n = ours.len();
    if a.len() != b.len() || (n > 0 && a.len() % n != 0) {
        return Err(format!("{} bytes, onnxruntime has {}", a.len(), b.len()));
    }
    // Element-wise bit patterns (u16 for f16, u32 for f32, ...).
    let width = a.len().checked_div(n).unwrap_or(1);
    let differs: Vec<bool> = a
        .chunks(width)
        .zip(b.chunks(width))
        .map(|(x, y)| x != y)
        .collect();
    let differing = differs.iter().filter(|d| **d).count();
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    match (ours.to_f64_vec(), theirs.to_f64_vec()) {
        (Some(x), Some(y)) => {
            for ((p, q), _) in x.iter().zip(&y).zip(&differs).filter(|(_, d)| **d) {
                let d = (p - q).abs();
                let d = if d.is_nan() { f64::INFINITY } else { d };
                max_abs = max_abs.max(d);
                max_rel = max_rel.max(if *q == 0.0 {
                    f64::INFINITY
                } else {
                    d / q.abs()
                });
            }
        }
        _ if differing > 0 => (max_abs, max_rel) = (f64::INFINITY, f64::INFINITY),
        _ => {}
    }
    Ok(Diff {
        differing,
        max_abs,
        max_rel,
    })
}

/// One output's comparison, or why it could not be compared.
struct OutputRow {
    name: String,
    desc: String,
    result: Result<Diff, String>,
}

/// Runs `case_dir/model.onnx` with `options` on the case's inputs and compares every output with
/// onnxruntime's `case_dir/ort/<name>.npy`.
fn run_case(case_dir: &Path, options: &SessionOptions) -> Result<Vec<OutputRow>, String> {
    let model = onnxide_ir::load(case_dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let session = Session::new(&model, options).map_err(|e| e.to_string())?;
    let mut feeds = Vec::new();
    for input in session.inputs() {
        let path = case_dir.join(format!("{}.npy", input.name));
        let x = onnxide_ir::npy::read(&path).map_err(|e| format!("input {}: {e}", input.name))?;
        feeds.push((input.name.clone(), x));
    }
    let outs = session.run(feeds).map_err(|e| e.to_string())?;
    let ort_files = std::fs::read_dir(case_dir.join("ort"))
        .map_err(|e| format!("no onnxruntime outputs: {e}"))?
        .count();
    if ort_files != outs.len() {
        return Err(format!(
            "onnxide gave {} outputs, onnxruntime wrote {ort_files}",
            outs.len()
        ));
    }
    let mut rows = Vec::new();
    for (name, ours) in &outs {
        let path = case_dir.join("ort").join(format!("{name}.npy"));
        let result = onnxide_ir::npy::read(&path)
            .map_err(|e| format!("onnxruntime output {name}: {e}"))
            .and_then(|theirs| compare(ours, &theirs));
        let dtype = match ours.dtype() {
            DType::F16 => "f16".to_string(),
            DType::F32 => "f32".to_string(),
            d => format!("{d:?}"),
        };
        rows.push(OutputRow {
            name: name.clone(),
            desc: format!("{dtype}{:?}", ours.shape()),
            result,
        });
    }
    Ok(rows)
}

fn all_identical(rows: &[OutputRow]) -> bool {
    rows.iter()
        .all(|r| matches!(&r.result, Ok(d) if d.differing == 0))
}

#[test]
fn f16_cases_match_onnxruntime_bit_for_bit() {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).expect("temp base dir");
    let tmp = tempfile::Builder::new()
        .prefix("onnxide-f16-cases-")
        .tempdir_in(&base)
        .expect("temp dir");
    let out_dir = tmp.path().to_string_lossy().into_owned();
    // A missing oracle fails the test with the script's error (the shared runner), never skips it.
    let script_out = oracle::run("f16_cases.py", &["--out-dir", &out_dir]);

    // Every case the script reports ("<case>: ..."), in its order; each must have its directory.
    let cases: Vec<String> = script_out
        .lines()
        .filter_map(|l| l.split_once(':').map(|(c, _)| c.trim().to_string()))
        .filter(|c| !c.is_empty())
        .collect();
    let mut dirs: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("read the cases dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed = cases.clone();
    listed.sort();
    assert_eq!(
        listed, dirs,
        "the cases the script printed and the directories it wrote disagree"
    );

    println!(
        "\n{:<26} {:<26} {:>6} {:>10}  unoptimised (differing)",
        "case", "output", "diff", "max |Δ|"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        let dir = tmp.path().join(case);
        let rows = match run_case(&dir, &SessionOptions::default()) {
            Ok(rows) => rows,
            Err(e) => {
                println!("{case:<26} ERROR {e}");
                failures.push(format!("{case}: {e}"));
                continue;
            }
        };
        // For information: how the graph as written (no fp16 pass, rounding after every op) fares.
        let unopt = run_case(
            &dir,
            &SessionOptions {
                optimize: false,
                ..SessionOptions::default()
            },
        );
        checked += 1;
        for (i, row) in rows.iter().enumerate() {
            let label = if i == 0 { case.as_str() } else { "" };
            let out = format!("{} {}", row.name, row.desc);
            let unopt_cell = match &unopt {
                Ok(u) => match u.get(i).map(|r| &r.result) {
                    Some(Ok(d)) => d.differing.to_string(),
                    Some(Err(e)) => format!("error: {e}"),
                    None => "missing".into(),
                },
                Err(e) => format!("error: {e}"),
            };
            match &row.result {
                Ok(d) => {
                    println!(
                        "{label:<26} {out:<26} {:>6} {:>10.3e}  {unopt_cell}",
                        d.differing, d.max_abs
                    );
                    if d.differing > 0 {
                        failures.push(format!(
                            "{case}: output {} has {} values that differ from onnxruntime \
                             (max |Δ| {:.3e})",
                            row.name, d.differing, d.max_abs
                        ));
                    }
                }
                Err(e) => {
                    println!("{label:<26} {out:<26} ERROR {e}");
                    failures.push(format!("{case}: output {}: {e}", row.name));
                }
            }
        }
    }

    // Control: without the fp16 pass the control case must not match, or the test is blind.
    let control = run_case(
        &tmp.path().join(CONTROL_CASE),
        &SessionOptions {
            optimize: false,
            ..SessionOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("control case {CONTROL_CASE} (optimize: false) failed: {e}"));
    let control_differs = !all_identical(&control);
    // The largest relative difference: f16-sized (≥ 1e-5; an f16 ulp is ~1e-3 relative) shows
    // a different rounding place, not f32 noise (~1e-7) from a different kernel.
    let control_rel = control
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|d| d.max_rel))
        .fold(0.0, f64::max);
    println!(
        "\ncontrol: {CONTROL_CASE} with optimize: false {} onnxruntime (max relative |Δ| {:.3e})",
        if control_differs {
            "differs from"
        } else {
            "MATCHES"
        },
        control_rel
    );

    // Remove the temp dir explicitly (a panic below still removes it on drop).
    let path = tmp.path().to_path_buf();
    tmp.close()
        .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));

    assert!(
        failures.is_empty(),
        "{} mismatch(es) against onnxruntime:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked >= MIN_CASES,
        "only {checked} cases ran (expected at least {MIN_CASES})"
    );
    assert!(
        control_differs,
        "control: {CONTROL_CASE} run without the fp16 pass matches onnxruntime bit for bit, so \
         this test cannot tell rounding places apart"
    );
    assert!(
        control_rel >= 1e-5,
        "control: {CONTROL_CASE} without the fp16 pass differs from onnxruntime only by \
         {control_rel:.3e} relative, f32 noise rather than a different f16 rounding place"
    );
}
