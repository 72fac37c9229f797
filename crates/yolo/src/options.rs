//! The export options, their limits and their validation: the one place that says what an
//! export may be asked for. A leaf module (it knows the config, not the builders or the
//! argument parser), so that the export, the metadata, the NMS tail and the `key=value` parser
//! all read the same rules.

use crate::config::{Head, ModelConfig, Task};
use crate::error::{Result, YoloError};

/// Default opset (Ultralytics' `best_onnx_opset()` with its torch 2.x).
pub const DEFAULT_OPSET: i64 = 18;
/// Supported opsets.
pub const MIN_OPSET: i64 = 11;
pub const MAX_OPSET: i64 = 22;
/// Minimum opset with `nms=True` (Ultralytics: 11; NonMaxSuppression, GatherND, ScatterND).
pub const MIN_NMS_OPSET: i64 = 11;
/// Minimum opset of OBB with `nms=True`: below 14 Ultralytics drops `Trilu` (a different graph,
/// not built here).
pub const MIN_OBB_NMS_OPSET: i64 = 14;
/// Largest accepted image side (keeps the anchor constants and the graph sane).
pub const MAX_IMGSZ: usize = 8192;
/// Largest accepted static batch.
pub const MAX_BATCH: usize = 4096;

/// Ultralytics' NMS defaults, baked into the `nms=True` graph as constants.
pub const CONF: f32 = 0.25;
pub const IOU: f32 = 0.7;
pub const MAX_DET: usize = 300;

/// Export arguments with Ultralytics' meaning (validated values; see `args` for parsing).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// Input (height, width); multiples of the model's max stride.
    pub imgsz: (usize, usize),
    pub batch: usize,
    /// Symbolic batch/height/width; anchors computed in the graph.
    pub dynamic: bool,
    /// Recorded in metadata; the builder always emits the simplified graph.
    pub simplify: bool,
    /// `None` = default (18), recorded as `None` in metadata like Ultralytics.
    pub opset: Option<i64>,
    /// `True` wraps the model in Ultralytics' `NMSModel` (see the `nms` module); `False`/`None`
    /// give the raw head output.
    pub nms: Option<bool>,
    /// FP16 export as Ultralytics does it on the CPU: the fp32 graph, then
    /// `convert_float_to_float16(keep_io_types=True)` (`onnxide_convert::float16`); the I/O stays float32.
    pub half: bool,
    /// Metadata `date`; `None` = now.
    pub date: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            imgsz: (640, 640),
            batch: 1,
            dynamic: false,
            simplify: true,
            opset: None,
            nms: None,
            half: false,
            date: None,
        }
    }
}

impl ExportOptions {
    pub fn opset(&self) -> i64 {
        self.opset.unwrap_or(DEFAULT_OPSET)
    }
}

/// Detections per image of the `nms=True` output: Ultralytics' `max_det`, clamped to the
/// number of anchors (a small image has fewer candidates than 300).
pub fn max_det(anchors: usize) -> usize {
    MAX_DET.min(anchors)
}

/// Ultralytics' `check_imgsz(imgsz, stride=model.stride)`: each side rounded up to a multiple
/// of `gs` (32 for the detection heads, 1 for classify), with its warning when it changes.
pub fn round_imgsz(imgsz: (usize, usize), gs: usize) -> ((usize, usize), Option<String>) {
    let gs = gs.max(1);
    let (h, w) = imgsz;
    let (rh, rw) = (h.div_ceil(gs) * gs, w.div_ceil(gs) * gs);
    let warning = ((rh, rw) != (h, w)).then(|| {
        format!("imgsz=[{h}, {w}] must be multiple of max stride {gs}, updating to [{rh}, {rw}]")
    });
    ((rh, rw), warning)
}

/// An `Argument` error; `shown` is the value as the user gave it.
fn invalid(key: &str, shown: &str, reason: impl Into<String>) -> YoloError {
    YoloError::Argument {
        key: key.into(),
        value: shown.into(),
        reason: reason.into(),
    }
}

/// The opset is one this crate builds ([`MIN_OPSET`]..=[`MAX_OPSET`]).
pub fn check_opset(opset: i64, shown: &str) -> Result<()> {
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(invalid(
            "opset",
            shown,
            format!("supported opsets are {MIN_OPSET}..={MAX_OPSET}"),
        ));
    }
    Ok(())
}

/// The static batch is 1..=[`MAX_BATCH`].
pub fn check_batch(batch: i64, shown: &str) -> Result<()> {
    if !(1..=MAX_BATCH as i64).contains(&batch) {
        return Err(invalid("batch", shown, format!("must be 1..={MAX_BATCH}")));
    }
    Ok(())
}

/// Each image side is 1..=[`MAX_IMGSZ`] (before the rounding to the model's stride).
pub fn check_imgsz_sides(h: i64, w: i64, shown: &str) -> Result<()> {
    let max = MAX_IMGSZ as i64;
    if h <= 0 || w <= 0 || h > max || w > max {
        return Err(invalid(
            "imgsz",
            shown,
            format!("each side must be in 1..={max}"),
        ));
    }
    Ok(())
}

/// The export arguments this release accepts but cannot honour yet: a clear error, before any
/// file is read.
pub fn refuse_unsupported(opts: &ExportOptions) -> Result<()> {
    if opts.half && opts.nms == Some(true) {
        return Err(YoloError::NotYetSupported {
            key: "half".into(),
            value: "True".into(),
            reason: "half=True together with nms=True is not supported yet; export one of them"
                .into(),
        });
    }
    Ok(())
}

/// What Ultralytics warns about for these options (printed, not refused).
pub fn warnings(opts: &ExportOptions) -> Vec<String> {
    let mut warnings = Vec::new();
    if opts.nms == Some(false) {
        // Ultralytics: nms=False asks for an NMS-free (one-to-one) head, which YOLO11 has not.
        warnings.push("This model has no one-to-one head; using one-to-many outputs.".into());
    }
    if opts.nms == Some(true) && opts.dynamic && opts.batch == 1 {
        // NMSModel unrolls its loop `batch` times: a bigger input batch gets zero rows.
        warnings
            .push("'dynamic=True' export requires a maximum batch size, e.g. 'batch=16'.".into());
    }
    warnings
}

/// `nms=True` for this model: not for classifiers, from opset 11 (OBB: 14), OBB static only.
fn check_nms(cfg: &ModelConfig, opts: &ExportOptions) -> Result<()> {
    let opset = opts.opset();
    if cfg.task == Task::Classify {
        return Err(invalid(
            "nms",
            "True",
            "'nms=True' is not valid for classification models.",
        ));
    }
    if opset < MIN_NMS_OPSET {
        return Err(invalid(
            "opset",
            &opset.to_string(),
            format!(
                "ONNX export requires opset>={MIN_NMS_OPSET} for this model, but got opset={opset}"
            ),
        ));
    }
    let obb = matches!(cfg.head(), Some(Head::Obb { .. }));
    if obb && opset < MIN_OBB_NMS_OPSET {
        return Err(YoloError::NotYetSupported {
            key: "opset".into(),
            value: opset.to_string(),
            reason: "OBB with nms=True is built for opset 14 and later (Trilu); use opset>=14"
                .into(),
        });
    }
    if obb && opts.dynamic {
        return Err(YoloError::NotYetSupported {
            key: "nms".into(),
            value: "True".into(),
            reason: "OBB with nms=True and dynamic=True is not implemented yet; export OBB with static shapes (dynamic=False)".into(),
        });
    }
    Ok(())
}

/// Every option checked against the model it exports (the library's entry check: options may
/// come from code rather than from the `key=value` parser).
pub fn check_for_model(cfg: &ModelConfig, opts: &ExportOptions) -> Result<()> {
    refuse_unsupported(opts)?;
    let opset = opts.opset();
    if opts.nms == Some(true) {
        check_nms(cfg, opts)?;
    }
    check_opset(opset, &opset.to_string())?;
    let batch = i64::try_from(opts.batch).unwrap_or(i64::MAX);
    check_batch(batch, &opts.batch.to_string())?;
    let gs = cfg.imgsz_multiple();
    let (h, w) = opts.imgsz;
    if h == 0 || w == 0 || h > MAX_IMGSZ || w > MAX_IMGSZ || h % gs != 0 || w % gs != 0 {
        return Err(invalid(
            "imgsz",
            &format!("[{h}, {w}]"),
            format!("each side must be a multiple of {gs} in {gs}..={MAX_IMGSZ}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_imgsz_to_the_stride() {
        let (sz, warning) = round_imgsz((300, 300), 32);
        assert_eq!(sz, (320, 320));
        assert!(warning.unwrap().contains("updating to [320, 320]"));
        assert_eq!(round_imgsz((300, 225), 1), ((300, 225), None));
    }

    #[test]
    fn limits() {
        assert!(check_opset(MIN_OPSET, "11").is_ok());
        assert!(check_opset(MAX_OPSET + 1, "23").is_err());
        assert!(check_batch(0, "0").is_err());
        assert!(check_batch(MAX_BATCH as i64, "4096").is_ok());
        assert!(check_imgsz_sides(1, MAX_IMGSZ as i64 + 1, "1,8193").is_err());
        assert_eq!(max_det(8400), MAX_DET);
        assert_eq!(max_det(100), 100);
    }
}
