//! The embedded NMS of `nms=True`: Ultralytics' `NMSModel` wrapped around the model, as torch
//! traces it and onnxslim leaves it.
//!
//! Detect, Segment and Pose use ONNX `NonMaxSuppression` ([`nms_tail`]); OBB uses Ultralytics'
//! fast-NMS over probiou ([`obb_tail`]: TopK padding to `max_det * 5`, `Trilu`, no
//! `NonMaxSuppression`), generated from Ultralytics' file by `xtask/fixtures/gen_obb_nms.py`. The
//! loop over the batch is unrolled. Node and value names follow the torch counters of Ultralytics' file (for image `i`
//! every op of the loop body advances its counter by a fixed stride, measured on batch 1 and 2).

use crate::builder::{attr_int, attr_ints, attr_str, graph_err, GraphBuilder};
use crate::error::Result;
use onnxide_ir::{DType, Tensor};

/// Ultralytics' defaults, baked into the graph as constants.
pub const CONF: f32 = 0.25;
pub const IOU: f32 = 0.7;
pub const MAX_DET: usize = 300;

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
}

impl NmsSpec {
    pub fn max_det(&self) -> usize {
        MAX_DET.min(self.anchors)
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
    let nc = spec.nc as i64;
    let extra = spec.extra as i64;
    let row = spec.row() as i64;
    let max_det = spec.max_det() as i64;
    let b = spec.batch;

    let tr = t.na(
        "/Transpose",
        "Transpose",
        &[head],
        vec![attr_ints("perm", &[0, 2, 1])],
        "/Transpose_output_0",
    );
    let boxes = t.slice("/Slice", &tr, 0, 4, 2, None)?;
    let scores = t.slice("/Slice_1", &tr, 4, 4 + nc, 2, None)?;
    let extras = if extra > 0 {
        Some(t.slice("/Slice_2", &tr, 4 + nc, 4 + nc + extra, 2, None)?)
    } else {
        None
    };
    let score = if t.g.opset() >= 18 {
        let axes = t.i64s(&[-1])?;
        t.na(
            "/ReduceMax",
            "ReduceMax",
            &[&scores, &axes],
            vec![attr_int("keepdims", 0)],
            "/ReduceMax_output_0",
        )
    } else {
        t.na(
            "/ReduceMax",
            "ReduceMax",
            &[&scores],
            vec![attr_ints("axes", &[-1]), attr_int("keepdims", 0)],
            "/ReduceMax_output_0",
        )
    };
    let cls = t.na(
        "/ArgMax",
        "ArgMax",
        &[&scores],
        vec![attr_int("axis", -1), attr_int("keepdims", 0)],
        "/ArgMax_output_0",
    );
    let conf = t.f32_scalar(CONF)?;
    let side = t.f32_scalar(spec.imgsz.0.max(spec.imgsz.1) as f32)?;
    let mult = t.f32_scalar(1.0 / spec.nc.max(1) as f32)?;
    let max_boxes = t.i64s(&[i64::MAX])?;
    let iou = t.g.const_f32("", vec![1], vec![IOU])?;
    let mut acc = t.g.const_f32(
        "",
        vec![b, spec.max_det(), spec.row()],
        vec![0.0; b * spec.max_det() * spec.row()],
    )?;
    for i in 0..b {
        let ii = t.i64_scalar(i as i64)?;
        // Per-image counters: torch's op counters advance by a fixed stride per iteration.
        let gk = 13 * i;
        let bx = t.gather(gk, &boxes, &ii, 0);
        let ex = extras.as_ref().map(|e| t.gather(gk + 3, e, &ii, 0));
        let cl = t.gather(gk + 1, &cls, &ii, 0);
        let sc = t.gather(gk + 2, &score, &ii, 0);
        let gt = t.n(
            &nm("Greater", i),
            "Greater",
            &[&sc, &conf],
            &out("Greater", i),
        );
        let nz = t.n(
            &nm("NonZero", 4 * i),
            "NonZero",
            &[&gt],
            &out("NonZero", 4 * i),
        );
        let idx = t.na(
            &nm("Transpose", 1 + 5 * i),
            "Transpose",
            &[&nz],
            vec![attr_ints("perm", &[1, 0])],
            &out("Transpose", 1 + 5 * i),
        );
        let gnd = |t: &mut Tail, k: usize, x: &str| {
            let k = 4 * i + k;
            t.n(
                &nm("GatherND", k),
                "GatherND",
                &[x, &idx],
                &out("GatherND", k),
            )
        };
        let bx = gnd(&mut t, 0, &bx);
        let sc = gnd(&mut t, 1, &sc);
        let cl = gnd(&mut t, 2, &cl);
        let ex = ex.map(|e| gnd(&mut t, 3, &e));
        let div = t.n(&nm("Div", i), "Div", &[&bx, &side], &out("Div", i));
        let shape = t.n(&nm("Shape", 5 * i), "Shape", &[&cl], &out("Shape", 5 * i));
        // onnxslim merged two Unsqueezes (scores [1, 1, N]) and renamed the result.
        let sc3 = t.squeeze(
            "Unsqueeze",
            &format!("{}_output_0", nm("Unsqueeze", 8 * i + 3)),
            &sc,
            &[1, 0],
            &out("Cast", 7 * i + 3),
        )?;
        let cls_col_name = format!("{}_output_0", nm("Reshape", 9 * i));
        let cls_col = t.reshape(&cls_col_name, &cl, &[-1, 1], &cls_col_name)?;
        let nbox = t.n(&nm("Mul", 4 * i), "Mul", &[&div, &mult], &out("Mul", 4 * i));
        let zero = t.i64_scalar(0)?;
        let n = t.gather(gk + 4, &shape, &zero, 0);
        let n1 = t.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", 8 * i),
            &n,
            &[0],
            &out("Unsqueeze", 8 * i),
        )?;
        let nbox4 = t.slice(&nm("Slice", 3 + 4 * i), &nbox, 0, 4, 1, Some(1))?;
        let four = t.i64s(&[4])?;
        let expand_shape = t.na(
            &nm("Concat", 1 + 8 * i),
            "Concat",
            &[&n1, &four],
            vec![attr_int("axis", 0)],
            &out("Reshape", 1 + 9 * i),
        );
        let never = t.g.constant(
            "",
            Tensor::from_vec(vec![2], vec![false, false]).map_err(graph_err)?,
        )?;
        let ones = t.i64s(&[1, 1])?;
        let wh = t.n(
            &nm("Where", i),
            "Where",
            &[&never, &ones, &expand_shape],
            &out("Where", i),
        );
        let ex4 = t.n(
            &nm("Expand", 2 * i),
            "Expand",
            &[&cls_col, &wh],
            &out("Expand", 2 * i),
        );
        let exf = t.na(
            &nm("Cast", 1 + 7 * i),
            "Cast",
            &[&ex4],
            vec![attr_int("to", i64::from(DType::F32.onnx_code()))],
            &out("Cast", 1 + 7 * i),
        );
        let off = t.n(
            &nm("Mul", 2 + 4 * i),
            "Mul",
            &[&exf, &mult],
            &out("Mul", 2 + 4 * i),
        );
        let offbox = t.n(
            &nm("Add", i),
            "Add",
            &[&nbox4, &off],
            &out("Concat", 2 + 8 * i),
        );
        let box3 = t.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", 2 + 8 * i),
            &offbox,
            &[0],
            &out("Cast", 2 + 7 * i),
        )?;
        let sel = t.n(
            &nm("NonMaxSuppression", i),
            "NonMaxSuppression",
            &[&box3, &sc3, &max_boxes, &iou],
            &out("NonMaxSuppression", i),
        );
        let two = t.i64s(&[2])?;
        let col = t.gather(gk + 5, &sel, &two, 1);
        let keep = t.squeeze("Squeeze", &nm("Squeeze", i), &col, &[1], &out("Squeeze", i))?;
        let keep = t.slice(&nm("Slice", 5 + 4 * i), &keep, 0, max_det, 0, Some(1))?;
        let kb = t.gather(gk + 6, &bx, &keep, 0);
        let ks = t.gather(gk + 7, &sc, &keep, 0);
        let kc = t.gather(gk + 8, &cl, &keep, 0);
        let ke = ex.map(|e| t.gather(gk + 9, &e, &keep, 0));
        let ks = t.reshape(
            &nm("Reshape", 2 + 9 * i),
            &ks,
            &[-1, 1],
            &out("Reshape", 2 + 9 * i),
        )?;
        let kc = t.reshape(
            &nm("Reshape", 3 + 9 * i),
            &kc,
            &[-1, 1],
            &out("Reshape", 3 + 9 * i),
        )?;
        let kc = t.na(
            &nm("Cast", 4 + 7 * i),
            "Cast",
            &[&kc],
            vec![attr_int("to", i64::from(DType::F32.onnx_code()))],
            &out("Cast", 4 + 7 * i),
        );
        let mut parts = vec![kb.as_str(), ks.as_str(), kc.as_str()];
        parts.extend(ke.as_deref());
        let dets = t.na(
            &nm("Concat", 3 + 8 * i),
            "Concat",
            &parts,
            vec![attr_int("axis", -1)],
            &out("Concat", 3 + 8 * i),
        );
        let dshape = t.n(
            &nm("Shape", 2 + 5 * i),
            "Shape",
            &[&dets],
            &out("Shape", 2 + 5 * i),
        );
        let flat = t.reshape(
            &nm("Reshape", 4 + 9 * i),
            &dets,
            &[-1],
            &out("Reshape", 4 + 9 * i),
        )?;
        let kept = t.gather(gk + 11, &dshape, &zero, 0);
        let md = t.i64_scalar(max_det)?;
        let missing = t.n(&nm("Sub", 2 * i), "Sub", &[&md, &kept], &out("Sub", 2 * i));
        let rowc = t.i64_scalar(row)?;
        let padn = t.n(
            &nm("Mul", 3 + 4 * i),
            "Mul",
            &[&missing, &rowc],
            &out("Mul", 3 + 4 * i),
        );
        let padn = t.squeeze(
            "Unsqueeze",
            &nm("Unsqueeze", 5 + 8 * i),
            &padn,
            &[0],
            &out("Unsqueeze", 5 + 8 * i),
        )?;
        let z1 = t.i64s(&[0])?;
        let pads = t.na(
            &nm("Concat", 5 + 8 * i),
            "Concat",
            &[&z1, &padn],
            vec![attr_int("axis", 0)],
            &out("Concat", 6 + 8 * i),
        );
        let pads = t.reshape(
            &nm("Reshape", 5 + 9 * i),
            &pads,
            &[-1, 2],
            &out("Reshape", 5 + 9 * i),
        )?;
        let pads = t.slice(&nm("Slice", 6 + 4 * i), &pads, -1, -i64::MAX, 0, Some(-1))?;
        let pads = t.reshape(
            &format!("{}_output_0", nm("Transpose", 5 + 5 * i)),
            &pads,
            &[-1],
            &out("Cast", 6 + 7 * i),
        )?;
        let padded = t.na(
            &nm("Pad", i),
            "Pad",
            &[&flat, &pads, ""],
            vec![attr_str("mode", "constant")],
            &out("Pad", i),
        );
        let rows = t.reshape(
            &format!("{}_output_0", nm("Expand", 1 + 2 * i)),
            &padded,
            &[1, max_det, row],
            &out("Reshape", 8 + 9 * i),
        )?;
        let at = t.g.constant(
            "",
            Tensor::from_vec(vec![1, 1], vec![i as i64]).map_err(graph_err)?,
        )?;
        let dst = if i + 1 == b {
            "output0".to_string()
        } else {
            out("ScatterND", i)
        };
        acc = t.n(&nm("ScatterND", i), "ScatterND", &[&acc, &at, &rows], &dst);
    }
    Ok(())
}

/// Wraps the graph built so far (whose head wrote `output0`, and Segment's `output1`) in
/// `NMSModel`: nests it under `/model`, then appends the NMS tail writing `output0`. Returns
/// (max_det, values per row).
pub fn wrap(
    g: &mut GraphBuilder,
    cfg: &crate::config::ModelConfig,
    opts: &crate::export::ExportOptions,
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
    };
    match cfg.head() {
        Some(crate::config::Head::Obb { .. }) => obb_tail(g, &head, &spec)?,
        _ => nms_tail(g, &head, &spec)?,
    }
    Ok((spec.max_det(), spec.row()))
}

#[path = "nms_obb_tail.rs"]
mod obb_generated;

/// A constant of the generated OBB tail: literal, or one of the export's parameters.
pub(crate) enum C {
    Conf,
    Iou,
    Side,
    TopK,
    /// The image index `i` (scalar) of the unrolled loop.
    Image,
    /// `[[i]]`: where ScatterND writes image `i`.
    Index,
    /// `[B, max_det, row]` zeros.
    Zeros,
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
    /// Emitted by the generator for bool constants (none in the current file).
    #[allow(dead_code)]
    Bool(Vec<usize>, Vec<bool>),
}

pub(crate) struct ObbParams {
    pub batch: usize,
    pub nc: i64,
    pub topk: i64,
    pub max_det: i64,
    pub row: i64,
    side: f32,
}

/// `/base_k` with k advanced by `stride` per image (`/base` for 0), plus `suffix`.
pub(crate) fn nm2(base: &str, k: usize, stride: usize, i: usize, suffix: &str) -> String {
    let k = k + stride * i;
    if k == 0 {
        format!("/{base}{suffix}")
    } else {
        format!("/{base}_{k}{suffix}")
    }
}

/// Names torch gives by global node id (not reproducible for other images): suffixed by image.
pub(crate) fn per_image(name: &str, i: usize) -> String {
    if i == 0 {
        name.to_string()
    } else {
        format!("{name}_{i}")
    }
}

pub(crate) fn out_name(i: usize, batch: usize) -> String {
    if i + 1 == batch {
        "output0".into()
    } else {
        nm2("ScatterND", 0, 1, i, "_output_0")
    }
}

pub(crate) struct ObbTail<'a> {
    g: &'a mut GraphBuilder,
    p: &'a ObbParams,
}

impl ObbTail<'_> {
    pub(crate) fn c(&mut self, c: C, i: usize) -> Result<String> {
        let p = self.p;
        let t = match c {
            C::Conf => Tensor::scalar(CONF),
            C::Iou => Tensor::scalar(IOU),
            C::Side => Tensor::scalar(p.side),
            C::TopK => Tensor::from_vec(vec![1], vec![p.topk]).map_err(graph_err)?,
            C::Image => Tensor::scalar(i as i64),
            C::Index => Tensor::from_vec(vec![1, 1], vec![i as i64]).map_err(graph_err)?,
            C::Zeros => {
                let n = p.batch * (p.max_det * p.row) as usize;
                Tensor::from_vec(
                    vec![p.batch, p.max_det as usize, p.row as usize],
                    vec![0f32; n],
                )
                .map_err(graph_err)?
            }
            C::F32(s, v) => Tensor::from_vec(s, v).map_err(graph_err)?,
            C::I64(s, v) => Tensor::from_vec(s, v).map_err(graph_err)?,
            C::Bool(s, v) => Tensor::from_vec(s, v).map_err(graph_err)?,
        };
        self.g.constant("", t)
    }

    pub(crate) fn node(
        &mut self,
        name: String,
        op: &str,
        inputs: Vec<String>,
        mut attrs: Vec<onnxide_ir::Attribute>,
        outputs: Vec<String>,
    ) {
        let mut inputs = inputs;
        if op == "ReduceMax" && self.g.opset() < 18 && inputs.len() == 2 {
            // Opset < 18: the axes are an attribute (always [-1] here).
            inputs.truncate(1);
            attrs.insert(0, attr_ints("axes", &[-1]));
        }
        if op == "Reshape" && self.g.opset() < 14 {
            attrs.retain(|a| a.name != "allowzero");
        }
        let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let outs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        self.g.raw(&name, op, &ins, attrs, &outs);
    }
}

/// OBB's `NMSModel` tail (fast-NMS with probiou, `Trilu` upper k=1, threshold `iou`):
/// `output0 [B, max_det, 7]` = cx, cy, w, h, score, class, angle.
pub fn obb_tail(g: &mut GraphBuilder, head: &str, spec: &NmsSpec) -> Result<()> {
    let p = ObbParams {
        batch: spec.batch,
        nc: spec.nc as i64,
        topk: (spec.max_det() * 5).min(spec.anchors) as i64,
        max_det: spec.max_det() as i64,
        row: spec.row() as i64,
        side: spec.imgsz.0.max(spec.imgsz.1) as f32,
    };
    let mut t = ObbTail { g, p: &p };
    obb_generated::obb_tail_nodes(&mut t, head, &p)
}
