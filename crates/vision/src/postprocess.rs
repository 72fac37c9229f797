//! From raw model outputs to [`Prediction`]s: Ultralytics' `non_max_suppression` (or the
//! end-to-end filter of `nms=True` exports) and each task's `construct_result`.

use crate::error::{Result, VisionError};
use crate::letterbox::Unletterbox;
use crate::meta::{ModelMeta, Task};
use crate::nms::{fast_nms_rotated, nms, order_desc};
use crate::results::{Detection, Mask, Prediction, RotatedBox};

/// `non_max_suppression`'s `max_nms`: at most this many candidates enter NMS.
pub const MAX_NMS: usize = 30000;
/// `max_wh`: the per-class offset that keeps classes apart in class-aware NMS.
pub const MAX_WH: f32 = 7680.0;

/// The prediction settings (Ultralytics' defaults from `Default`).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Minimum score (strictly above).
    pub conf: f32,
    /// NMS IoU threshold (a box overlapping a better one by more is dropped).
    pub iou: f32,
    /// At most this many detections per image.
    pub max_det: usize,
    /// Keep only these classes.
    pub classes: Option<Vec<usize>>,
    /// One NMS over all classes.
    pub agnostic: bool,
    /// Segment: compute the masks (at original resolution).
    pub masks: bool,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            classes: None,
            agnostic: false,
            masks: true,
        }
    }
}

/// One row after NMS, in letterboxed-input pixels: `x1,y1,x2,y2` (obb: `cx,cy,w,h`), score,
/// class, extras (mask coefficients, keypoints, or the angle).
#[derive(Clone, Debug)]
struct Row {
    b: [f32; 4],
    conf: f32,
    class: usize,
    extra: Vec<f32>,
}

fn class_ok(t: &Thresholds, c: usize) -> bool {
    t.classes.as_ref().is_none_or(|cs| cs.contains(&c))
}

/// NMS over one image's raw output `[channels, anchors]` (channel-major).
fn raw_rows(
    data: &[f32],
    channels: usize,
    anchors: usize,
    nc: usize,
    rotated: bool,
    t: &Thresholds,
) -> Vec<Row> {
    let at = |c: usize, a: usize| data[c * anchors + a];
    let extra = channels - 4 - nc;
    let mut rows = Vec::new();
    for a in 0..anchors {
        let (mut best, mut class) = (f32::NEG_INFINITY, 0);
        for c in 0..nc {
            let s = at(4 + c, a);
            if s > best {
                best = s;
                class = c;
            }
        }
        if best.is_nan() || best <= t.conf || !class_ok(t, class) {
            continue;
        }
        let (x, y, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
        let b = if rotated {
            [x, y, w, h]
        } else {
            let (hw, hh) = (w / 2.0, h / 2.0);
            [x - hw, y - hh, x + hw, y + hh]
        };
        rows.push(Row {
            b,
            conf: best,
            class,
            extra: (0..extra).map(|e| at(4 + nc + e, a)).collect(),
        });
    }
    if rows.len() > MAX_NMS {
        let scores: Vec<f32> = rows.iter().map(|r| r.conf).collect();
        let order = order_desc(&scores);
        rows = order[..MAX_NMS].iter().map(|&i| rows[i].clone()).collect();
    }
    let scores: Vec<f32> = rows.iter().map(|r| r.conf).collect();
    let offset = |r: &Row| {
        if t.agnostic {
            0.0
        } else {
            r.class as f32 * MAX_WH
        }
    };
    let keep = if rotated {
        let boxes: Vec<[f32; 5]> = rows
            .iter()
            .map(|r| {
                let c = offset(r);
                let angle = r.extra.last().copied().unwrap_or(0.0);
                [r.b[0] + c, r.b[1] + c, r.b[2], r.b[3], angle]
            })
            .collect();
        fast_nms_rotated(&boxes, &scores, t.iou as f64)
    } else {
        let boxes: Vec<[f32; 4]> = rows
            .iter()
            .map(|r| {
                let c = offset(r);
                [r.b[0] + c, r.b[1] + c, r.b[2] + c, r.b[3] + c]
            })
            .collect();
        nms(&boxes, &scores, t.iou as f64)
    };
    keep.into_iter()
        .take(t.max_det)
        .map(|i| rows[i].clone())
        .collect()
}

/// The end-to-end filter: rows `[n, 6 + extra]` with score above `conf` (and in `classes`), in
/// order, at most `max_det`.
fn end2end_rows(data: &[f32], n: usize, width: usize, t: &Thresholds) -> Vec<Row> {
    (0..n)
        .map(|i| &data[i * width..(i + 1) * width])
        .filter(|r| r[4] > t.conf && r[5] >= 0.0 && class_ok(t, r[5] as usize))
        .take(t.max_det)
        .map(|r| Row {
            b: [r[0], r[1], r[2], r[3]],
            conf: r[4],
            class: r[5] as usize,
            extra: r[6..].to_vec(),
        })
        .collect()
}

/// One image's outputs: `out0` is its slice of `output0`, `shape0` the per-image shape
/// (`[channels, anchors]` raw or `[rows, width]` end-to-end), `proto` segment's `[32, mh, mw]`.
pub struct ImageOutputs<'a> {
    /// The image's part of `output0`.
    pub out0: &'a [f32],
    /// Its shape without the batch dim.
    pub shape0: &'a [usize],
    /// Segment's prototypes for the image, with their shape `[nm, mh, mw]`.
    pub proto: Option<(&'a [f32], [usize; 3])>,
}

/// Postprocesses one image: `input_hw` is the letterboxed input's size, `orig` the image's.
pub fn postprocess(
    meta: &ModelMeta,
    outs: &ImageOutputs,
    input_hw: (usize, usize),
    orig: (usize, usize),
    t: &Thresholds,
) -> Result<Prediction> {
    let (w0, h0) = orig;
    let mut pred = Prediction {
        task: meta.task,
        width: w0,
        height: h0,
        input_hw,
        boxes: Vec::new(),
        obb: Vec::new(),
        masks: Vec::new(),
        probs: Vec::new(),
    };
    if meta.task == Task::Classify {
        pred.probs = outs.out0.to_vec();
        return Ok(pred);
    }
    let bad = |what: String| VisionError::Model(what);
    let [d0, d1] = outs.shape0 else {
        return Err(bad(format!(
            "output0 has per-image shape {:?}, expected 2 dims",
            outs.shape0
        )));
    };
    let (d0, d1) = (*d0, *d1);
    let end2end = meta.end2end || d1 == 6;
    let rows = if end2end {
        if d1 < 6 {
            return Err(bad(format!(
                "end-to-end output rows of {d1} values (need >= 6)"
            )));
        }
        end2end_rows(outs.out0, d0, d1, t)
    } else {
        let nc = if meta.task == Task::Detect {
            d0.checked_sub(4)
        } else {
            Some(meta.names.len())
        };
        let extra_min = match meta.task {
            Task::Segment => outs.proto.map_or(32, |p| p.1[0]),
            Task::Pose => meta.kpt_shape.map_or(0, |(k, d)| k * d),
            Task::Obb => 1,
            _ => 0,
        };
        match nc {
            Some(nc) if nc >= 1 && d0 >= 4 + nc + extra_min => {
                raw_rows(outs.out0, d0, d1, nc, meta.task == Task::Obb, t)
            }
            _ => {
                return Err(bad(format!(
                    "output0 has {d0} channels; a {} model with {} classes needs {}",
                    meta.task.name(),
                    meta.names.len(),
                    4 + meta.names.len() + extra_min
                )))
            }
        }
    };
    let (h1, w1) = input_hw;
    let un = Unletterbox::new(w1, h1, w0, h0);
    // Segment keeps only boxes whose mask has a pixel (`masks.amax((-2, -1)) > 0`).
    let rows = match (meta.task, outs.proto) {
        (Task::Segment, Some((proto, shape))) => rows
            .into_iter()
            .filter(|r| mask_has_pixel(proto, shape, &r.extra, r.b, input_hw))
            .collect(),
        _ => rows,
    };
    match meta.task {
        Task::Obb => {
            for r in rows {
                let (cx, cy) = un.point(r.b[0], r.b[1]);
                let (w, h) = un.size(r.b[2], r.b[3]);
                let angle = r.extra.last().copied().unwrap_or(0.0);
                pred.obb.push(RotatedBox {
                    xywhr: [cx, cy, w, h, angle],
                    conf: r.conf,
                    class: r.class,
                });
            }
        }
        _ => {
            let masks_wanted = meta.task == Task::Segment && t.masks && outs.proto.is_some();
            for r in &rows {
                let (x1, y1) = un.clip_point(un.point(r.b[0], r.b[1]));
                let (x2, y2) = un.clip_point(un.point(r.b[2], r.b[3]));
                let mut det = Detection {
                    xyxy: [x1, y1, x2, y2],
                    conf: r.conf,
                    class: r.class,
                    keypoints: Vec::new(),
                    mask_coefficients: Vec::new(),
                };
                if meta.task == Task::Pose {
                    if let Some((k, d)) = meta.kpt_shape {
                        for p in r.extra.chunks_exact(d).take(k) {
                            let (x, y) = un.clip_point(un.point(p[0], p[1]));
                            det.keypoints.push([x, y, if d == 3 { p[2] } else { 1.0 }]);
                        }
                    }
                }
                if meta.task == Task::Segment {
                    det.mask_coefficients = r.extra.clone();
                }
                pred.boxes.push(det);
            }
            if masks_wanted {
                if let Some((proto, shape)) = outs.proto {
                    for r in &rows {
                        pred.masks
                            .push(mask(proto, shape, &r.extra, r.b, input_hw, &un)?);
                    }
                }
            }
        }
    }
    Ok(pred)
}

/// `coef @ proto` (`[mh, mw]`, no sigmoid).
fn combine(proto: &[f32], [nm, mh, mw]: [usize; 3], coef: &[f32]) -> Vec<f32> {
    let plane = mh * mw;
    let mut m = vec![0f32; plane];
    for (k, &c) in coef.iter().take(nm).enumerate() {
        for (v, p) in m.iter_mut().zip(&proto[k * plane..(k + 1) * plane]) {
            *v += c * p;
        }
    }
    m
}

/// Whether `process_mask(..., upsample=True)` leaves a pixel on: the combined mask bilinearly
/// upsampled to the letterboxed size (`F.interpolate`, `align_corners=False`, float32), `> 0`,
/// on a pixel `r` of the box (`x1 <= r < x2`, `y1 <= c < y2`).
fn mask_has_pixel(
    proto: &[f32],
    shape: [usize; 3],
    coef: &[f32],
    b: [f32; 4],
    (h1, w1): (usize, usize),
) -> bool {
    let [_, mh, mw] = shape;
    if mh == 0 || mw == 0 {
        return false;
    }
    let m = combine(proto, shape, coef);
    let (sx, sy) = (mw as f32 / w1 as f32, mh as f32 / h1 as f32);
    let axis = |d: usize, scale: f32, n: usize| {
        let f = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (f as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        let l = f - i0 as f32;
        (i0, i1, 1.0 - l, l)
    };
    let range = |lo: f32, hi: f32, n: usize| {
        let start = lo.max(0.0).ceil() as usize;
        let end = (hi.max(0.0).ceil() as usize).min(n);
        start..end
    };
    for y in range(b[1], b[3], h1) {
        let (y0, y1, wy0, wy1) = axis(y, sy, mh);
        for x in range(b[0], b[2], w1) {
            let (x0, x1, wx0, wx1) = axis(x, sx, mw);
            let v = wy0 * (wx0 * m[y0 * mw + x0] + wx1 * m[y0 * mw + x1])
                + wy1 * (wx0 * m[y1 * mw + x0] + wx1 * m[y1 * mw + x1]);
            if v > 0.0 {
                return true;
            }
        }
    }
    false
}

/// One instance mask at original resolution: `coef @ proto` (no sigmoid), bilinear to the
/// letterboxed size (`align_corners=False`) sampled at each original pixel's position there,
/// cropped to the box (letterbox pixels), `> 0`.
fn mask(
    proto: &[f32],
    [nm, mh, mw]: [usize; 3],
    coef: &[f32],
    b: [f32; 4],
    (h1, w1): (usize, usize),
    un: &Unletterbox,
) -> Result<Mask> {
    let (w0, h0) = (un.w0 as usize, un.h0 as usize);
    let m = combine(proto, [nm, mh, mw], coef);
    let (sx, sy) = (mw as f32 / w1 as f32, mh as f32 / h1 as f32);
    let sample = |x: f32, y: f32| -> f32 {
        // letterbox pixel (x, y) centre -> proto coordinates (align_corners=False)
        let fx = ((x + 0.5) * sx - 0.5).max(0.0);
        let fy = ((y + 0.5) * sy - 0.5).max(0.0);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x0, y0) = (x0.min(mw - 1), y0.min(mh - 1));
        let (x1, y1) = ((x0 + 1).min(mw - 1), (y0 + 1).min(mh - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let top = m[y0 * mw + x0] * (1.0 - ax) + m[y0 * mw + x1] * ax;
        let bot = m[y1 * mw + x0] * (1.0 - ax) + m[y1 * mw + x1] * ax;
        top * (1.0 - ay) + bot * ay
    };
    let mut data = vec![0u8; w0 * h0];
    for y in 0..h0 {
        // the letterbox row this original row falls on
        let ly = ((y as f64 + 0.5) * un.gain_y + un.pad_y - 0.5).round() as f32;
        if ly < b[1] || ly >= b[3] {
            continue;
        }
        for x in 0..w0 {
            let lx = ((x as f64 + 0.5) * un.gain_x + un.pad_x - 0.5).round() as f32;
            if lx < b[0] || lx >= b[2] {
                continue;
            }
            if sample(lx, ly) > 0.0 {
                data[y * w0 + x] = 1;
            }
        }
    }
    Ok(Mask {
        width: w0,
        height: h0,
        data,
    })
}
