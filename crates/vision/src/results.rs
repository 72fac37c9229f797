//! Typed results of one image, and the text Ultralytics writes for them (`labels/<stem>.txt`
//! lines, the per-image summary).

use crate::meta::{ModelMeta, Task};

/// One box (detect, segment, pose), in original-image pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// `x1, y1, x2, y2`, clipped to the image.
    pub xyxy: [f32; 4],
    /// Score.
    pub conf: f32,
    /// Class index.
    pub class: usize,
    /// Pose: `(x, y, visibility)` per keypoint (visibility 1 when the model has only x, y).
    pub keypoints: Vec<[f32; 3]>,
    /// Segment: the 32 mask coefficients of the box (the masks are in [`Prediction::masks`]).
    pub mask_coefficients: Vec<f32>,
}

/// One rotated box (obb), in original-image pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct RotatedBox {
    /// `cx, cy, w, h, angle` (radians).
    pub xywhr: [f32; 5],
    /// Score.
    pub conf: f32,
    /// Class index.
    pub class: usize,
}

impl RotatedBox {
    /// The four corners (`xywhr2xyxyxyxy`).
    pub fn corners(&self) -> [[f32; 2]; 4] {
        let [cx, cy, w, h, a] = self.xywhr;
        let (c, s) = (a.cos(), a.sin());
        let v1 = [w / 2.0 * c, w / 2.0 * s];
        let v2 = [-h / 2.0 * s, h / 2.0 * c];
        [
            [cx + v1[0] + v2[0], cy + v1[1] + v2[1]],
            [cx + v1[0] - v2[0], cy + v1[1] - v2[1]],
            [cx - v1[0] - v2[0], cy - v1[1] - v2[1]],
            [cx - v1[0] + v2[0], cy - v1[1] + v2[1]],
        ]
    }
}

/// A binary instance mask at original resolution, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// Width (the image's).
    pub width: usize,
    /// Height (the image's).
    pub height: usize,
    /// `width * height` values, 1 inside.
    pub data: Vec<u8>,
}

/// What the model found in one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The task.
    pub task: Task,
    /// Original width.
    pub width: usize,
    /// Original height.
    pub height: usize,
    /// The model input's `(height, width)` for this image.
    pub input_hw: (usize, usize),
    /// Boxes (detect, segment, pose), best first.
    pub boxes: Vec<Detection>,
    /// Rotated boxes (obb), best first.
    pub obb: Vec<RotatedBox>,
    /// Segment: one mask per box, at original resolution (empty when masks were not asked for).
    pub masks: Vec<Mask>,
    /// Classify: the probability of every class.
    pub probs: Vec<f32>,
}

impl Prediction {
    /// Classify: the five most probable classes, best first.
    pub fn top5(&self) -> Vec<usize> {
        let mut order = crate::nms::order_desc(&self.probs);
        order.truncate(5);
        order
    }

    /// `Results.save_txt` lines (`save_conf` appends the score). Segment writes its boxes like
    /// detect: Ultralytics writes mask polygons there, which this does not do yet.
    pub fn txt_lines(&self, meta: &ModelMeta, save_conf: bool) -> Vec<String> {
        let (w, h) = (self.width as f32, self.height as f32);
        let mut lines = Vec::new();
        if self.task == Task::Classify {
            for c in self.top5() {
                lines.push(format!("{:.2} {}", self.probs[c] as f64, meta.name(c)));
            }
            return lines;
        }
        for r in &self.obb {
            let mut vals = vec![r.class as f64];
            for [x, y] in r.corners() {
                vals.push((x / w) as f64);
                vals.push((y / h) as f64);
            }
            if save_conf {
                vals.push(r.conf as f64);
            }
            lines.push(join_g(&vals));
        }
        for d in &self.boxes {
            let [x1, y1, x2, y2] = d.xyxy;
            let mut vals = vec![
                d.class as f64,
                ((x1 + x2) / 2.0 / w) as f64,
                ((y1 + y2) / 2.0 / h) as f64,
                ((x2 - x1) / w) as f64,
                ((y2 - y1) / h) as f64,
            ];
            let has_visible = meta.kpt_shape.is_some_and(|(_, d)| d == 3);
            for k in &d.keypoints {
                vals.push((k[0] / w) as f64);
                vals.push((k[1] / h) as f64);
                if has_visible {
                    vals.push(k[2] as f64);
                }
            }
            if save_conf {
                vals.push(d.conf as f64);
            }
            lines.push(join_g(&vals));
        }
        lines
    }

    /// `Results.verbose()`: `4 persons, 1 bus, ` (classes in index order), `(no detections), `,
    /// or classify's `name 0.91, ...` top-5.
    pub fn summary(&self, meta: &ModelMeta) -> String {
        if self.task == Task::Classify {
            return self
                .top5()
                .iter()
                .map(|&c| format!("{} {:.2}, ", meta.name(c), self.probs[c] as f64))
                .collect();
        }
        let classes: Vec<usize> = if self.task == Task::Obb {
            self.obb.iter().map(|r| r.class).collect()
        } else {
            self.boxes.iter().map(|d| d.class).collect()
        };
        if classes.is_empty() {
            return "(no detections), ".into();
        }
        let mut counts = std::collections::BTreeMap::new();
        for c in classes {
            *counts.entry(c).or_insert(0usize) += 1;
        }
        counts
            .iter()
            .map(|(&c, &n)| format!("{n} {}{}, ", meta.name(c), if n > 1 { "s" } else { "" }))
            .collect()
    }
}

/// Values joined by spaces, each as Python's `%g`.
pub fn join_g(vals: &[f64]) -> String {
    vals.iter().map(|&v| fmt_g(v)).collect::<Vec<_>>().join(" ")
}

/// Python's `"%g" % v`: 6 significant digits, trailing zeros removed, exponent form below 1e-4 or
/// from 1e6.
pub fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{v:.5e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_g;

    #[test]
    fn percent_g() {
        assert_eq!(fmt_g(0.216528123), "0.216528");
        assert_eq!(fmt_g(60.0), "60");
        assert_eq!(fmt_g(0.5), "0.5");
        assert_eq!(fmt_g(1.5e-5), "1.5e-05");
        assert_eq!(fmt_g(0.000123456789), "0.000123457");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
        assert_eq!(fmt_g(999999.5), "1e+06");
        assert_eq!(fmt_g(-0.25), "-0.25");
    }
}
