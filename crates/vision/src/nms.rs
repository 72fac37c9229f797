//! Non-maximum suppression as Ultralytics runs it: `torchvision.ops.nms` (greedy, float32 IoU,
//! stable descending sort) for boxes and `TorchNMS.fast_nms` over probabilistic IoU for rotated
//! boxes.

/// Indices of `scores` sorted by descending score, ties in index order.
pub fn order_desc(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// `torchvision.ops.nms(boxes, scores, iou)`: boxes `x1,y1,x2,y2`; kept indices, best first.
/// A box is dropped when its IoU with a kept one is above `iou`.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], iou: f64) -> Vec<usize> {
    let order = order_desc(scores);
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (oi, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = boxes[i];
        for &j in &order[oi + 1..] {
            if suppressed[j] {
                continue;
            }
            let bj = boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
            let inter = w * h;
            let ovr = inter / (areas[i] + areas[j] - inter);
            if ovr as f64 > iou {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// `_get_covariance_matrix` for one `x,y,w,h,r` box: `(a, b, c)`.
fn covariance(b: &[f32; 5]) -> (f32, f32, f32) {
    let a = b[2].powi(2) / 12.0;
    let bb = b[3].powi(2) / 12.0;
    let (cos, sin) = (b[4].cos(), b[4].sin());
    let (cos2, sin2) = (cos.powi(2), sin.powi(2));
    (
        a * cos2 + bb * sin2,
        a * sin2 + bb * cos2,
        (a - bb) * cos * sin,
    )
}

/// `batch_probiou` of two `x,y,w,h,r` boxes (float32, eps 1e-7).
pub fn probiou(p: &[f32; 5], q: &[f32; 5]) -> f32 {
    const EPS: f32 = 1e-7;
    let (x1, y1, x2, y2) = (p[0], p[1], q[0], q[1]);
    let (a1, b1, c1) = covariance(p);
    let (a2, b2, c2) = covariance(q);
    let den = (a1 + a2) * (b1 + b2) - (c1 + c2).powi(2) + EPS;
    let t1 = (((a1 + a2) * (y1 - y2).powi(2) + (b1 + b2) * (x1 - x2).powi(2)) / den) * 0.25;
    let t2 = (((c1 + c2) * (x2 - x1) * (y1 - y2)) / den) * 0.5;
    let t3 = (((a1 + a2) * (b1 + b2) - (c1 + c2).powi(2))
        / (4.0 * ((a1 * b1 - c1.powi(2)).max(0.0) * (a2 * b2 - c2.powi(2)).max(0.0)).sqrt() + EPS)
        + EPS)
        .ln()
        * 0.5;
    let bd = (t1 + t2 + t3).clamp(EPS, 100.0);
    let hd = (1.0 - (-bd).exp() + EPS).sqrt();
    1.0 - hd
}

/// `TorchNMS.fast_nms(boxes, scores, iou, iou_func=batch_probiou)`: sorted by score, a box is
/// dropped when any higher-scored box (kept or not) overlaps it by more than `iou`.
pub fn fast_nms_rotated(boxes: &[[f32; 5]], scores: &[f32], iou: f64) -> Vec<usize> {
    let order = order_desc(scores);
    let mut keep = Vec::new();
    for (oj, &j) in order.iter().enumerate() {
        let dropped = order[..oj]
            .iter()
            .any(|&i| probiou(&boxes[i], &boxes[j]) > iou as f32);
        if !dropped {
            keep.push(j);
        }
    }
    keep
}
