//! The embedded NMS of `nms=True`: Ultralytics' `NMSModel` wrapped around the model, as torch
//! traces it and onnxslim leaves it.
//!
//! Detect, Segment and Pose use ONNX `NonMaxSuppression` ([`nms_tail`]); OBB uses Ultralytics'
//! fast-NMS over probiou ([`obb_tail`]: TopK padding to `max_det * 5`, `Trilu`, no
//! `NonMaxSuppression`), replayed from a node table (`nms/obb_tail.txt`) that
//! `xtask/fixtures/gen_obb_nms.py` generates from Ultralytics' files. The
//! loop over the batch is unrolled. Node and value names follow the torch counters of
//! Ultralytics' file (for image `i` every op of the loop body advances its counter by a fixed
//! stride, measured on batch 1 and 2).
//!
//! With `dynamic=True` (not OBB) the image side comes from the input's shape (Shape, ReduceMax),
//! a smaller input batch is padded with zero images up to `batch` and the output is sliced back
//! to the input batch, following Ultralytics' batch-2 file (its batch-1 file drops the padding,
//! which is a no-op there: same outputs, and ours stays smaller than theirs).

use crate::builder::{attr_int, attr_ints, attr_str, graph_err, GraphBuilder};
use crate::error::Result;
use onnxide_ir::{DType, Tensor};

/// Ultralytics' defaults, baked into the graph as constants (defined with the other limits).
pub use crate::options::{CONF, IOU, MAX_DET};

/// What the tail needs to know about the head output `[B, 4 + nc + extra, A]`.
pub struct NmsSpec {
    pub batch: usize,
    pub nc: usize,
    /// Channels after the scores (mask coefficients, keypoints; OBB's angle).
    pub extra: usize,
    /// Anchors (max_det is clamped to it).
    pub anchors: usize,
    /// Input (height, width): boxes are normalised by the larger side.
    pub imgsz: (usize, usize),
    /// `dynamic=True`: the side is computed from the input's shape, a smaller input batch is
    /// padded with zeros to `batch`, and the output is sliced back to the input batch.
    pub dynamic: bool,
}

impl NmsSpec {
    pub fn max_det(&self) -> usize {
        crate::options::max_det(self.anchors)
    }

    /// Values per output row: box(4), score, class, extras.
    pub fn row(&self) -> usize {
        6 + self.extra
    }
}

/// `/op` for k = 0, `/op_k` otherwise: torch's per-scope op counter at the root scope.
fn nm(op: &str, k: usize) -> String {
    if k == 0 {
        format!("/{op}")
    } else {
        format!("/{op}_{k}")
    }
}

fn out(op: &str, k: usize) -> String {
    format!("{}_output_0", nm(op, k))
}

struct Tail<'a> {
    g: &'a mut GraphBuilder,
}

/// Torch's counter for image `i` of the unrolled loop: `base + stride * i + k`. The dynamic graph
/// has extra root-scope ops before the loop (and some per image that onnxslim folds away).
#[derive(Clone, Copy)]
struct Ctr(usize, usize);

impl Ctr {
    fn at(self, i: usize, k: usize) -> usize {
        self.0 + self.1 * i + k
    }
}

/// Per-op counters (Gather, Shape, Unsqueeze, Slice, Concat, Add, Sub) of the loop body.
struct Ctrs {
    gather: Ctr,
    shape: Ctr,
    unsqueeze: Ctr,
    slice: Ctr,
    concat: Ctr,
    add: Ctr,
    sub: Ctr,
}

impl Ctrs {
    fn new(dynamic: bool) -> Self {
        if dynamic {
            Ctrs {
                gather: Ctr(6, 14),
                shape: Ctr(7, 8),
                unsqueeze: Ctr(6, 8),
                slice: Ctr(1, 6),
                concat: Ctr(3, 9),
                add: Ctr(3, 1),
                sub: Ctr(2, 2),
            }
        } else {
            Ctrs {
                gather: Ctr(0, 13),
                shape: Ctr(0, 5),
                unsqueeze: Ctr(0, 8),
                slice: Ctr(0, 4),
                concat: Ctr(0, 8),
                add: Ctr(0, 1),
                sub: Ctr(0, 2),
            }
        }
    }
}

impl Tail<'_> {
    fn i64s(&mut self, v: &[i64]) -> Result<String> {
        self.g.const_i64s("", v)
    }

    fn i64_scalar(&mut self, v: i64) -> Result<String> {
        self.g.const_i64_scalar("", v)
    }

    fn f32_scalar(&mut self, v: f32) -> Result<String> {
        self.g.const_f32_scalar("", v)
    }

    /// A node named `name` with one output `output`.
    fn n(&mut self, name: &str, op: &str, inputs: &[&str], output: &str) -> String {
        self.g.raw(name, op, inputs, vec![], &[output]);
        output.to_string()
    }

    fn na(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<onnxide_ir::Attribute>,
        output: &str,
    ) -> String {
        self.g.raw(name, op, inputs, attrs, &[output]);
        output.to_string()
    }

    /// `Unsqueeze`/`Squeeze` with `axes` as an input (opset 13+) or an attribute.
    fn squeeze(
        &mut self,
        op: &str,
        name: &str,
        x: &str,
        axes: &[i64],
        output: &str,
    ) -> Result<String> {
        if self.g.opset() >= 13 {
            let a = self.i64s(axes)?;
            Ok(self.n(name, op, &[x, &a], output))
        } else {
            Ok(self.na(name, op, &[x], vec![attr_ints("axes", axes)], output))
        }
    }

    fn reshape(&mut self, name: &str, x: &str, shape: &[i64], output: &str) -> Result<String> {
        let s = self.i64s(shape)?;
        let attrs = if self.g.opset() >= 14 {
            vec![attr_int("allowzero", 0)]
        } else {
            Vec::new()
        };
        Ok(self.na(name, "Reshape", &[x, &s], attrs, output))
    }

    fn slice(
        &mut self,
        name: &str,
        x: &str,
        start: i64,
        end: i64,
        axis: i64,
        step: Option<i64>,
    ) -> Result<String> {
        let (s, e, a) = (
            self.i64s(&[start])?,
            self.i64s(&[end])?,
            self.i64s(&[axis])?,
        );
        let out = format!("{name}_output_0");
        match step {
            Some(st) => {
                let st = self.i64s(&[st])?;
                Ok(self.n(name, "Slice", &[x, &s, &e, &a, &st], &out))
            }
            None => Ok(self.n(name, "Slice", &[x, &s, &e, &a], &out)),
        }
    }

    fn gather(&mut self, k: usize, x: &str, idx: &str, axis: i64) -> String {
        self.na(
            &nm("Gather", k),
            "Gather",
            &[x, idx],
            vec![attr_int("axis", axis)],
            &out("Gather", k),
        )
    }
}

/// `NMSModel` with `torchvision.ops.nms` (Detect, Segment, Pose) after the head output `head`
/// (`[B, 4 + nc + extra, A]`, boxes xyxy); writes `output0 [B, max_det, 6 + extra]`.
pub fn nms_tail(g: &mut GraphBuilder, head: &str, spec: &NmsSpec) -> Result<()> {
    let mut t = Tail { g };
    let zero = t.i64_scalar(0)?;
    // Opset < 12 has no integer Clip: torch clips the batch padding as float (two more Casts,
    // which shift the Cast counter).
    let int_clip = t.g.opset() >= 12;
    let cast_offset = if spec.dynamic && !int_clip { 2 } else { 0 };
    let dyn_in = if spec.dynamic {
        Some(t.dynamic_inputs(head, &zero, cast_offset)?)
    } else {
        None
    };
    let tr = t.na(
        "/Transpose",
        "Transpose",
        &[head],
        vec![attr_ints("perm", &[0, 2, 1])],
        "/Transpose_output_0",
    );
    let (tr, side, out_batch) = match dyn_in {
        Some(d) => {
            let (tr, out_batch) = t.pad_batch(&tr, &d.input_batch, &zero, spec, int_clip)?;
            (tr, d.side, Some(out_batch))
        }
        None => (tr, String::new(), None),
    };
    let preds = t.split_predictions(&tr, spec)?;
    let k = t.loop_constants(spec, side, zero, cast_offset)?;
    let mut acc = t.zero_rows(&tr, spec, &k.zero)?;
    for i in 0..spec.batch {
        let last = i + 1 == spec.batch && out_batch.is_none();
        acc = t.image_nms(i, &preds, &k, spec, &acc, last)?;
    }
    if let Some(nb) = out_batch {
        // Back to the input batch (rows beyond `batch` stay zero).
        let (z, one) = (t.i64s(&[0])?, t.i64s(&[1])?);
        t.n(
            &nm("Slice", 3 + 6 * spec.batch),
            "Slice",
            &[&acc, &z, &nb, &z, &one],
            "output0",
        );
    }
    Ok(())
}

/// With `dynamic=True`: the larger input side (as float) and the input batch.
struct DynamicInputs {
    side: String,
    input_batch: String,
}

/// The head output `[B, A, 4 + nc + extra]` cut into what the loop gathers from per image.
struct Predictions {
    boxes: String,
    extras: Option<String>,
    /// Best class score and its class index per anchor.
    score: String,
    cls: String,
}

/// Values shared by every image of the unrolled loop.
struct LoopConsts {
    ctrs: Ctrs,
    /// Casts before the loop shift the per-image Cast counter.
    cast_offset: usize,
    f32_code: i64,
    zero: String,
    conf: String,
    /// The larger image side: boxes are divided by it.
    side: String,
    /// `1 / nc`: the class offset that keeps NMS per class.
    mult: String,
    /// One class: `mult` is 1.0 and onnxslim drops the products by it.
    one_class: bool,
    max_boxes: String,
    iou: String,
}

/// One image's candidates above the confidence threshold.
struct Candidates {
    /// Normalised boxes `[N, 4]`.
    nbox: String,
    boxes: String,
    scores: String,
    classes: String,
    extras: Option<String>,
    /// Scores as `[1, 1, N]` for NonMaxSuppression.
    scores3: String,
    /// Classes as a column `[N, 1]`.
    cls_col: String,
    /// `Shape(classes)`.
    shape: String,
}

fn f32_code() -> i64 {
    i64::from(DType::F32.onnx_code())
}

impl Tail<'_> {
    /// The larger input side from the input's shape, and the batch of the head output.
    fn dynamic_inputs(
        &mut self,
        head: &str,
        zero: &str,
        cast_offset: usize,
    ) -> Result<DynamicInputs> {
        let s = self.n("/Shape_6", "Shape", &["images"], "/Shape_6_output_0");
        let hw = self.slice("/Slice_3", &s, 2, i64::MAX, 0, Some(1))?;
        let m = self.na(
            "/ReduceMax_1",
            "ReduceMax",
            &[&hw],
            vec![attr_int("keepdims", 0)],
            "/ReduceMax_1_output_0",
        );
        let side = self.na(
            &nm("Cast", cast_offset),
            "Cast",
            &[&m],
            vec![attr_int("to", f32_code())],
            &out("Cast", cast_offset),
        );
        let hs = self.n("/Shape", "Shape", &[head], "/Shape_output_0");
        let input_batch = self.gather(0, &hs, zero, 0);
        Ok(DynamicInputs { side, input_batch })
    }

    /// Pads a smaller input batch with zero images up to `batch` (Ultralytics' NMSModel);
    /// returns the padded predictions and the input batch as `[1]` (to slice the output back).
    fn pad_batch(
        &mut self,
        tr: &str,
        input_batch: &str,
        zero: &str,
        spec: &NmsSpec,
        int_clip: bool,
    ) -> Result<(String, String)> {
        let b = spec.batch;
        let ts = self.n("/Shape_1", "Shape", &[tr], "/Shape_1_output_0");
        let one = self.i64_scalar(1)?;
        let n_in = self.gather(2, &ts, zero, 0);
        let a = self.gather(3, &ts, &one, 0);
        let nb1 = self.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", 6 + 8 * b),
            input_batch,
            &[0],
            &out("Unsqueeze", 6 + 8 * b),
        )?;
        let bb = self.i64_scalar(b as i64)?;
        let missing = self.n("/Sub_1", "Sub", &[&bb, &n_in], "/Sub_1_output_0");
        let a1 = self.squeeze(
            "Unsqueeze",
            "/Unsqueeze_1",
            &a,
            &[0],
            "/Unsqueeze_1_output_0",
        )?;
        let missing = if int_clip {
            self.n("/Clip", "Clip", &[&missing, zero, ""], "/Clip_output_0")
        } else {
            self.float_clip(&missing)?
        };
        let m1 = self.squeeze(
            "Unsqueeze",
            "/Unsqueeze",
            &missing,
            &[0],
            "/Unsqueeze_output_0",
        )?;
        let no = self.i64s(&[4 + spec.nc as i64 + spec.extra as i64])?;
        let zs = self.na(
            "/Concat",
            "Concat",
            &[&m1, &a1, &no],
            vec![attr_int("axis", 0)],
            "/Concat_output_0",
        );
        let zeros = self.n(
            "/ConstantOfShape",
            "ConstantOfShape",
            &[&zs],
            "/ConstantOfShape_output_0",
        );
        let tr = self.na(
            "/Concat_1",
            "Concat",
            &[tr, &zeros],
            vec![attr_int("axis", 0)],
            "/Concat_1_output_0",
        );
        Ok((tr, nb1))
    }

    /// `max(missing, 0)` through float32, as torch writes it below opset 12.
    fn float_clip(&mut self, missing: &str) -> Result<String> {
        let f = self.na(
            "/Cast",
            "Cast",
            &[missing],
            vec![attr_int("to", f32_code())],
            "/Cast_output_0",
        );
        let fz = self.f32_scalar(0.0)?;
        let c = self.n("/Clip", "Clip", &[&f, &fz, ""], "/Clip_output_0");
        Ok(self.na(
            "/Cast_1",
            "Cast",
            &[&c],
            vec![attr_int("to", i64::from(DType::I64.onnx_code()))],
            "/Cast_1_output_0",
        ))
    }

    /// Boxes, extras, and the best score and class of every anchor.
    fn split_predictions(&mut self, tr: &str, spec: &NmsSpec) -> Result<Predictions> {
        let (nc, extra) = (spec.nc as i64, spec.extra as i64);
        let boxes = self.slice("/Slice", tr, 0, 4, 2, None)?;
        let scores = self.slice("/Slice_1", tr, 4, 4 + nc, 2, None)?;
        let extras = if extra > 0 {
            Some(self.slice("/Slice_2", tr, 4 + nc, 4 + nc + extra, 2, None)?)
        } else {
            None
        };
        let score = if self.g.opset() >= 18 {
            let axes = self.i64s(&[-1])?;
            self.na(
                "/ReduceMax",
                "ReduceMax",
                &[&scores, &axes],
                vec![attr_int("keepdims", 0)],
                "/ReduceMax_output_0",
            )
        } else {
            self.na(
                "/ReduceMax",
                "ReduceMax",
                &[&scores],
                vec![attr_ints("axes", &[-1]), attr_int("keepdims", 0)],
                "/ReduceMax_output_0",
            )
        };
        let cls = self.na(
            "/ArgMax",
            "ArgMax",
            &[&scores],
            vec![attr_int("axis", -1), attr_int("keepdims", 0)],
            "/ArgMax_output_0",
        );
        Ok(Predictions {
            boxes,
            extras,
            score,
            cls,
        })
    }

    /// The thresholds and scales shared by the loop (`side` is computed when dynamic, else a
    /// constant made here).
    fn loop_constants(
        &mut self,
        spec: &NmsSpec,
        side: String,
        zero: String,
        cast_offset: usize,
    ) -> Result<LoopConsts> {
        let conf = self.f32_scalar(CONF)?;
        let side = if spec.dynamic {
            side
        } else {
            self.f32_scalar(spec.imgsz.0.max(spec.imgsz.1) as f32)?
        };
        let mult = self.f32_scalar(1.0 / spec.nc.max(1) as f32)?;
        let max_boxes = self.i64s(&[i64::MAX])?;
        let iou = self.g.const_f32("", vec![1], vec![IOU])?;
        Ok(LoopConsts {
            ctrs: Ctrs::new(spec.dynamic),
            cast_offset,
            f32_code: f32_code(),
            zero,
            conf,
            side,
            mult,
            one_class: spec.nc == 1,
            max_boxes,
            iou,
        })
    }

    /// The output accumulator: zeros `[B, max_det, row]` (for the padded batch when dynamic).
    fn zero_rows(&mut self, tr: &str, spec: &NmsSpec, zero: &str) -> Result<String> {
        let (b, max_det, row) = (spec.batch, spec.max_det(), spec.row());
        if !spec.dynamic {
            return self
                .g
                .const_f32("", vec![b, max_det, row], vec![0.0; b * max_det * row]);
        }
        let s = self.n("/Shape_4", "Shape", &[tr], "/Shape_4_output_0");
        let n = self.gather(4, &s, zero, 0);
        let n = self.squeeze(
            "Unsqueeze",
            "/Unsqueeze_4",
            &n,
            &[0],
            "/Unsqueeze_4_output_0",
        )?;
        let md = self.i64s(&[max_det as i64])?;
        let rw = self.i64s(&[row as i64])?;
        let shape = self.na(
            "/Concat_2",
            "Concat",
            &[&n, &md, &rw],
            vec![attr_int("axis", 0)],
            "/Concat_2_output_0",
        );
        Ok(self.n(
            "/ConstantOfShape_1",
            "ConstantOfShape",
            &[&shape],
            "/ConstantOfShape_1_output_0",
        ))
    }

    /// One iteration of `NMSModel`'s loop: image `i`'s detections written into `acc` (as
    /// `output0` when `last`); returns the new accumulator.
    fn image_nms(
        &mut self,
        i: usize,
        p: &Predictions,
        k: &LoopConsts,
        spec: &NmsSpec,
        acc: &str,
        last: bool,
    ) -> Result<String> {
        let cand = self.candidates(i, p, k)?;
        let keep = self.class_aware_nms(i, &cand, k, spec)?;
        let dets = self.kept_rows(i, &cand, &keep, k)?;
        self.scatter_padded(i, &dets, k, spec, acc, last)
    }

    /// Image `i`'s anchors with a score above `conf`: boxes (also normalised by the side),
    /// scores, classes, extras.
    fn candidates(&mut self, i: usize, p: &Predictions, k: &LoopConsts) -> Result<Candidates> {
        let c = &k.ctrs;
        let co = k.cast_offset;
        let ii = self.i64_scalar(i as i64)?;
        // Per-image counters: torch's op counters advance by a fixed stride per iteration.
        let gk = c.gather.at(i, 0);
        let bx = self.gather(gk, &p.boxes, &ii, 0);
        let ex = p.extras.as_ref().map(|e| self.gather(gk + 3, e, &ii, 0));
        let cl = self.gather(gk + 1, &p.cls, &ii, 0);
        let sc = self.gather(gk + 2, &p.score, &ii, 0);
        let gt = self.n(
            &nm("Greater", i),
            "Greater",
            &[&sc, &k.conf],
            &out("Greater", i),
        );
        let nz = self.n(
            &nm("NonZero", 4 * i),
            "NonZero",
            &[&gt],
            &out("NonZero", 4 * i),
        );
        let idx = self.na(
            &nm("Transpose", 1 + 5 * i),
            "Transpose",
            &[&nz],
            vec![attr_ints("perm", &[1, 0])],
            &out("Transpose", 1 + 5 * i),
        );
        let gnd = |t: &mut Tail, j: usize, x: &str| {
            let j = 4 * i + j;
            t.n(
                &nm("GatherND", j),
                "GatherND",
                &[x, &idx],
                &out("GatherND", j),
            )
        };
        let boxes = gnd(self, 0, &bx);
        let scores = gnd(self, 1, &sc);
        let classes = gnd(self, 2, &cl);
        let extras = ex.map(|e| gnd(self, 3, &e));
        let div = self.n(&nm("Div", i), "Div", &[&boxes, &k.side], &out("Div", i));
        let shape = self.n(
            &nm("Shape", c.shape.at(i, 0)),
            "Shape",
            &[&classes],
            &out("Shape", c.shape.at(i, 0)),
        );
        // onnxslim merged two Unsqueezes (scores [1, 1, N]) and renamed the result.
        let scores3 = self.squeeze(
            "Unsqueeze",
            &format!("{}_output_0", nm("Unsqueeze", c.unsqueeze.at(i, 3))),
            &scores,
            &[1, 0],
            &out("Cast", co + 7 * i + 3),
        )?;
        let cls_col_name = format!("{}_output_0", nm("Reshape", 9 * i));
        let cls_col = self.reshape(&cls_col_name, &classes, &[-1, 1], &cls_col_name)?;
        // With one class the factor is 1.0, and onnxslim removes the product.
        let nbox = if k.one_class {
            div
        } else {
            self.n(
                &nm("Mul", 4 * i),
                "Mul",
                &[&div, &k.mult],
                &out("Mul", 4 * i),
            )
        };
        Ok(Candidates {
            nbox,
            boxes,
            scores,
            classes,
            extras,
            scores3,
            cls_col,
            shape,
        })
    }

    /// `torchvision.ops.nms` per class (boxes offset by `class / nc`): the kept candidate
    /// indices, at most `max_det`.
    fn class_aware_nms(
        &mut self,
        i: usize,
        cand: &Candidates,
        k: &LoopConsts,
        spec: &NmsSpec,
    ) -> Result<String> {
        let c = &k.ctrs;
        let co = k.cast_offset;
        let gk = c.gather.at(i, 0);
        let n = self.gather(gk + 4, &cand.shape, &k.zero, 0);
        let n1 = self.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", c.unsqueeze.at(i, 0)),
            &n,
            &[0],
            &out("Unsqueeze", c.unsqueeze.at(i, 0)),
        )?;
        let nbox4 = self.slice(&nm("Slice", c.slice.at(i, 3)), &cand.nbox, 0, 4, 1, Some(1))?;
        let four = self.i64s(&[4])?;
        let expand_shape = self.na(
            &nm("Concat", c.concat.at(i, 1)),
            "Concat",
            &[&n1, &four],
            vec![attr_int("axis", 0)],
            &out("Reshape", 1 + 9 * i),
        );
        let never = self.g.constant(
            "",
            Tensor::from_vec(vec![2], vec![false, false]).map_err(graph_err)?,
        )?;
        let ones = self.i64s(&[1, 1])?;
        let wh = self.n(
            &nm("Where", i),
            "Where",
            &[&never, &ones, &expand_shape],
            &out("Where", i),
        );
        let ex4 = self.n(
            &nm("Expand", 2 * i),
            "Expand",
            &[&cand.cls_col, &wh],
            &out("Expand", 2 * i),
        );
        let exf = self.na(
            &nm("Cast", co + 1 + 7 * i),
            "Cast",
            &[&ex4],
            vec![attr_int("to", k.f32_code)],
            &out("Cast", co + 1 + 7 * i),
        );
        let off = if k.one_class {
            exf
        } else {
            self.n(
                &nm("Mul", 2 + 4 * i),
                "Mul",
                &[&exf, &k.mult],
                &out("Mul", 2 + 4 * i),
            )
        };
        let offbox = self.n(
            &nm("Add", c.add.at(i, 0)),
            "Add",
            &[&nbox4, &off],
            &out("Concat", c.concat.at(i, 2)),
        );
        let box3 = self.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", c.unsqueeze.at(i, 2)),
            &offbox,
            &[0],
            &out("Cast", co + 2 + 7 * i),
        )?;
        let sel = self.n(
            &nm("NonMaxSuppression", i),
            "NonMaxSuppression",
            &[&box3, &cand.scores3, &k.max_boxes, &k.iou],
            &out("NonMaxSuppression", i),
        );
        let two = self.i64s(&[2])?;
        let col = self.gather(gk + 5, &sel, &two, 1);
        let keep = self.squeeze("Squeeze", &nm("Squeeze", i), &col, &[1], &out("Squeeze", i))?;
        self.slice(
            &nm("Slice", c.slice.at(i, 5)),
            &keep,
            0,
            spec.max_det() as i64,
            0,
            Some(1),
        )
    }

    /// The kept detections as rows `[K, 6 + extra]`: box, score, class (float), extras.
    fn kept_rows(
        &mut self,
        i: usize,
        cand: &Candidates,
        keep: &str,
        k: &LoopConsts,
    ) -> Result<String> {
        let c = &k.ctrs;
        let gk = c.gather.at(i, 0);
        let kb = self.gather(gk + 6, &cand.boxes, keep, 0);
        let ks = self.gather(gk + 7, &cand.scores, keep, 0);
        let kc = self.gather(gk + 8, &cand.classes, keep, 0);
        let ke = cand
            .extras
            .as_ref()
            .map(|e| self.gather(gk + 9, e, keep, 0));
        let ks = self.reshape(
            &nm("Reshape", 2 + 9 * i),
            &ks,
            &[-1, 1],
            &out("Reshape", 2 + 9 * i),
        )?;
        let kc = self.reshape(
            &nm("Reshape", 3 + 9 * i),
            &kc,
            &[-1, 1],
            &out("Reshape", 3 + 9 * i),
        )?;
        let kc = self.na(
            &nm("Cast", k.cast_offset + 4 + 7 * i),
            "Cast",
            &[&kc],
            vec![attr_int("to", k.f32_code)],
            &out("Cast", k.cast_offset + 4 + 7 * i),
        );
        let mut parts = vec![kb.as_str(), ks.as_str(), kc.as_str()];
        parts.extend(ke.as_deref());
        Ok(self.na(
            &nm("Concat", c.concat.at(i, 3)),
            "Concat",
            &parts,
            vec![attr_int("axis", -1)],
            &out("Concat", c.concat.at(i, 3)),
        ))
    }

    /// The rows padded with zeros to `[1, max_det, row]` and scattered into row `i` of `acc`.
    fn scatter_padded(
        &mut self,
        i: usize,
        dets: &str,
        k: &LoopConsts,
        spec: &NmsSpec,
        acc: &str,
        last: bool,
    ) -> Result<String> {
        let c = &k.ctrs;
        let (max_det, row) = (spec.max_det() as i64, spec.row() as i64);
        let dshape = self.n(
            &nm("Shape", c.shape.at(i, 2)),
            "Shape",
            &[dets],
            &out("Shape", c.shape.at(i, 2)),
        );
        let flat = self.reshape(
            &nm("Reshape", 4 + 9 * i),
            dets,
            &[-1],
            &out("Reshape", 4 + 9 * i),
        )?;
        let kept = self.gather(c.gather.at(i, 11), &dshape, &k.zero, 0);
        let md = self.i64_scalar(max_det)?;
        let missing = self.n(
            &nm("Sub", c.sub.at(i, 0)),
            "Sub",
            &[&md, &kept],
            &out("Sub", c.sub.at(i, 0)),
        );
        let rowc = self.i64_scalar(row)?;
        let padn = self.n(
            &nm("Mul", 3 + 4 * i),
            "Mul",
            &[&missing, &rowc],
            &out("Mul", 3 + 4 * i),
        );
        let pads = self.pads_after(i, &padn, k)?;
        let padded = self.na(
            &nm("Pad", i),
            "Pad",
            &[&flat, &pads, ""],
            vec![attr_str("mode", "constant")],
            &out("Pad", i),
        );
        let rows = self.reshape(
            &format!("{}_output_0", nm("Expand", 1 + 2 * i)),
            &padded,
            &[1, max_det, row],
            &out("Reshape", 8 + 9 * i),
        )?;
        let at = self.g.constant(
            "",
            Tensor::from_vec(vec![1, 1], vec![i as i64]).map_err(graph_err)?,
        )?;
        let dst = if last {
            "output0".to_string()
        } else {
            out("ScatterND", i)
        };
        Ok(self.n(&nm("ScatterND", i), "ScatterND", &[acc, &at, &rows], &dst))
    }

    /// `F.pad`'s pads `[0, padn]` as ONNX wants them (torch's reshape/flip/flatten dance).
    fn pads_after(&mut self, i: usize, padn: &str, k: &LoopConsts) -> Result<String> {
        let c = &k.ctrs;
        let padn = self.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", c.unsqueeze.at(i, 5)),
            padn,
            &[0],
            &out("Unsqueeze", c.unsqueeze.at(i, 5)),
        )?;
        let z1 = self.i64s(&[0])?;
        let pads = self.na(
            &nm("Concat", c.concat.at(i, 5)),
            "Concat",
            &[&z1, &padn],
            vec![attr_int("axis", 0)],
            &out("Concat", c.concat.at(i, 6)),
        );
        let pads = self.reshape(
            &nm("Reshape", 5 + 9 * i),
            &pads,
            &[-1, 2],
            &out("Reshape", 5 + 9 * i),
        )?;
        let pads = self.slice(
            &nm("Slice", c.slice.at(i, 6)),
            &pads,
            -1,
            -i64::MAX,
            0,
            Some(-1),
        )?;
        self.reshape(
            &format!("{}_output_0", nm("Transpose", 5 + 5 * i)),
            &pads,
            &[-1],
            &out("Cast", k.cast_offset + 6 + 7 * i),
        )
    }
}

/// Wraps the graph built so far (whose head wrote `output0`, and Segment's `output1`) in
/// `NMSModel`: nests it under `/model`, then appends the NMS tail writing `output0`. Returns
/// (max_det, values per row).
pub fn wrap(
    g: &mut GraphBuilder,
    cfg: &crate::config::ModelConfig,
    opts: &crate::options::ExportOptions,
    anchors: usize,
) -> Result<(usize, usize)> {
    let head = g.nest(&["output1"]);
    let nc = cfg.nc;
    let spec = NmsSpec {
        batch: opts.batch,
        nc,
        extra: cfg.output_channels() - 4 - nc,
        anchors,
        imgsz: opts.imgsz,
        dynamic: opts.dynamic,
    };
    match cfg.head() {
        Some(crate::config::Head::Obb { .. }) => obb_tail(g, &head, &spec)?,
        _ => nms_tail(g, &head, &spec)?,
    }
    Ok((spec.max_det(), spec.row()))
}

mod obb;

pub use obb::obb_tail;
