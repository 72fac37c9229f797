//! NonMaxSuppression (opset 10/11): greedy, per batch and class, highest score first.

use crate::kernel::{kernel, BuildCtx, Kernel, Registration};
use crate::value::*;
use onnxide_ir::TensorData;

/// The ops this family registers: (domain, op_type, builder).
pub(crate) static OPS: &[Registration] = &[("", "NonMaxSuppression", build_nms)];

fn corners(b: &[f32], center: bool) -> [f32; 4] {
    if center {
        let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
        [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
    } else {
        [
            b[0].min(b[2]),
            b[1].min(b[3]),
            b[0].max(b[2]),
            b[1].max(b[3]),
        ]
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let union = area_a + area_b - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

pub fn build_nms(ctx: &BuildCtx) -> OpResult<Box<dyn Kernel>> {
    let center = ctx.int("center_point_box", 0) != 0;
    kernel(move |ins| {
        let (boxes, scores) = (req(ins, 0)?, req(ins, 1)?);
        if boxes.rank() != 3 || boxes.shape()[2] != 4 || scores.rank() != 3 {
            bail!(
                "boxes {:?} / scores {:?} must be [B, N, 4] / [B, C, N]",
                boxes.shape(),
                scores.shape()
            );
        }
        let (nb, n) = (boxes.shape()[0], boxes.shape()[1]);
        let nc = scores.shape()[1];
        if scores.shape()[0] != nb || scores.shape()[2] != n {
            bail!(
                "boxes {:?} and scores {:?} disagree",
                boxes.shape(),
                scores.shape()
            );
        }
        let first = |i: usize| -> OpResult<Option<f64>> {
            match opt(ins, i) {
                Some(t) if !t.is_empty() => Ok(t.to_f64_vec().and_then(|v| v.first().copied())),
                _ => Ok(None),
            }
        };
        let max_out = match opt(ins, 2) {
            Some(t) if !t.is_empty() => ints(t)?.first().copied().unwrap_or(0).max(0) as usize,
            _ => 0,
        };
        let iou_th = first(3)?.unwrap_or(0.0) as f32;
        let score_th = first(4)?.map(|v| v as f32);
        let bv = f32s(boxes)?;
        let sv = f32s(scores)?;
        let mut out: Vec<i64> = Vec::new();
        let mut sel: Vec<(usize, [f32; 4])> = Vec::new();
        let mut cand: Vec<usize> = Vec::with_capacity(n);
        for b in 0..nb {
            let bx: Vec<[f32; 4]> = (0..n)
                .map(|i| corners(&bv[(b * n + i) * 4..(b * n + i) * 4 + 4], center))
                .collect();
            for c in 0..nc {
                if max_out == 0 {
                    break;
                }
                let s = &sv[(b * nc + c) * n..(b * nc + c + 1) * n];
                cand.clear();
                cand.extend((0..n).filter(|&i| score_th.is_none_or(|t| s[i] > t)));
                cand.sort_by(|&p, &q| {
                    s[q].partial_cmp(&s[p])
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(p.cmp(&q))
                });
                sel.clear();
                for &i in &cand {
                    if sel.len() >= max_out {
                        break;
                    }
                    if sel.iter().all(|(_, k)| iou(k, &bx[i]) <= iou_th) {
                        sel.push((i, bx[i]));
                        out.extend([b as i64, c as i64, i as i64]);
                    }
                }
            }
        }
        let k = out.len() / 3;
        Ok(vec![tensor(vec![k, 3], TensorData::I64(out))?])
    })
}
