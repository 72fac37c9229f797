//! Shared support for onnxide's test suites: fixture paths, the Python oracle (onnx +
//! onnxruntime, see `tests/requirements.txt` and [`oracle`]) and numeric comparison.

pub mod oracle;

pub use oracle::{make_input, ort_run};

use onnxide_ir::Tensor;
use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `fixtures/<rel>`, failing loudly when the fixture is missing (a missing fixture is never a skip).
pub fn fixture(rel: &str) -> PathBuf {
    let p = repo_root().join("fixtures").join(rel);
    assert!(
        p.exists(),
        "missing fixture {} — run `cargo xtask fixtures` on a developer machine",
        p.display()
    );
    p
}

/// Every `.onnx` under `fixtures/exports`, sorted.
pub fn fixture_exports() -> Vec<PathBuf> {
    let root = fixture("exports");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "onnx") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no exports under fixtures/exports");
    out
}

/// Largest absolute difference between two tensors of the same shape (as f64).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let (x, y) = (
        a.to_f64_vec().expect("numeric"),
        b.to_f64_vec().expect("numeric"),
    );
    x.iter()
        .zip(&y)
        .map(|(p, q)| if p == q { 0.0 } else { (p - q).abs() })
        .fold(0.0, f64::max)
}

/// True when both tensors have the same dtype, shape and bit patterns.
pub fn bit_identical(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_raw_bytes() == b.to_raw_bytes()
}

/// What a value in a YOLO11 output is, which decides how closely it must match onnxruntime.
///
/// Each bound is an absolute part plus 2e-5·|reference|: f32 rounding accumulated over ~100
/// layers, the size of onnxruntime's own spread between its optimisation levels on these
/// fixtures (3.3e-3 px on detect/default at ~650 px).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YoloValue {
    /// Box or keypoint coordinates, in pixels: |Δ| ≤ 2e-3 + 2e-5·|ref|.
    Coordinate,
    /// Scores, probabilities, keypoint visibilities, angles, class ids: |Δ| ≤ 1e-4 + 2e-5·|ref|.
    Score,
    /// Mask coefficients and prototypes: |Δ| ≤ 1e-4 + 2e-5·|ref|.
    Mask,
}

impl YoloValue {
    /// The largest |ours − reference| accepted for this value.
    pub fn tolerance(self, reference: f64) -> f64 {
        let absolute = match self {
            YoloValue::Coordinate => 2e-3,
            YoloValue::Score | YoloValue::Mask => 1e-4,
        };
        absolute + 2e-5 * reference.abs()
    }
}

/// The layout of a YOLO11 export, read from its Ultralytics metadata.
#[derive(Clone, Debug)]
pub struct YoloLayout {
    pub task: String,
    pub classes: usize,
    pub nms: bool,
}

impl YoloLayout {
    pub fn of(model: &onnxide_ir::Model) -> YoloLayout {
        let task = model.metadata("task").unwrap_or("detect").to_string();
        let classes = model
            .metadata("names")
            .map_or(80, |n| n.matches(": ").count());
        let nms = model
            .metadata("args")
            .is_some_and(|a| a.contains("'nms': True"));
        YoloLayout { task, classes, nms }
    }

    /// What element `index` (row-major) of output number `output` (with `shape`) is.
    pub fn classify(&self, output: usize, shape: &[usize], index: usize) -> YoloValue {
        if output > 0 || self.task == "classify" {
            // output1 of segment is the mask prototype; classify outputs probabilities.
            return if self.task == "classify" {
                YoloValue::Score
            } else {
                YoloValue::Mask
            };
        }
        let nc = self.classes;
        if self.nms {
            // [B, N, C]: x1 y1 x2 y2 | score | class | extras.
            let col = index % shape.last().copied().unwrap_or(1);
            return match (col, self.task.as_str()) {
                (0..=3, _) => YoloValue::Coordinate,
                (4 | 5, _) => YoloValue::Score,
                (_, "pose") => Self::keypoint(col - 6),
                (_, "segment") => YoloValue::Mask,
                _ => YoloValue::Score, // obb angle
            };
        }
        // [B, rows, anchors]: box (4) | class scores (nc) | extras.
        let anchors = shape.get(2).copied().unwrap_or(1).max(1);
        let rows = shape.get(1).copied().unwrap_or(1).max(1);
        let row = (index / anchors) % rows;
        match (row, self.task.as_str()) {
            (0..=3, _) => YoloValue::Coordinate,
            (r, _) if r < 4 + nc => YoloValue::Score,
            (r, "pose") => Self::keypoint(r - 4 - nc),
            (_, "segment") => YoloValue::Mask,
            _ => YoloValue::Score, // obb angle
        }
    }

    fn keypoint(k: usize) -> YoloValue {
        if k % 3 == 2 {
            YoloValue::Score
        } else {
            YoloValue::Coordinate
        }
    }
}

/// Compares every output of a YOLO11 export against onnxruntime's with the per-value tolerances of
/// [`YoloValue`]; panics naming the output, index and values on the first miss. Returns the worst
/// |Δ| per output for the log.
pub fn assert_yolo_outputs_close(
    layout: &YoloLayout,
    ours: &[(String, Tensor)],
    reference: &[(String, Tensor)],
    label: &str,
) -> Vec<(String, f64)> {
    assert_eq!(ours.len(), reference.len(), "{label}: number of outputs");
    let mut worst = Vec::new();
    for (i, ((name, a), (ref_name, b))) in ours.iter().zip(reference).enumerate() {
        assert_eq!(name, ref_name, "{label}: output order");
        assert_eq!(a.shape(), b.shape(), "{label}: {name} shape");
        assert_eq!(a.dtype(), b.dtype(), "{label}: {name} dtype");
        let (x, y) = (
            a.to_f64_vec().expect("numeric"),
            b.to_f64_vec().expect("numeric"),
        );
        let mut max = 0.0f64;
        for (j, (p, q)) in x.iter().zip(&y).enumerate() {
            let kind = layout.classify(i, b.shape(), j);
            let d = (p - q).abs();
            assert!(
                d <= kind.tolerance(*q),
                "{label}: {name}[{j}] ({kind:?}): ours {p}, onnxruntime {q}, |Δ| {d:.3e} > {:.1e}",
                kind.tolerance(*q)
            );
            max = max.max(d);
        }
        worst.push((name.clone(), max));
    }
    worst
}
