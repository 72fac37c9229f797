//! [`Predictor`]: Ultralytics' predict pipeline over an onnxide [`Session`].

use crate::error::{Result, VisionError};
use crate::image::BgrImage;
use crate::letterbox::{self, geometry};
use crate::meta::{ModelMeta, Task};
use crate::postprocess::{postprocess, ImageOutputs, Thresholds};
use crate::resize::resize_pil_bilinear;
use crate::results::Prediction;
use onnxide_ir::{Dim, Model, Tensor, ValueType};
use onnxide_runtime::{Session, SessionOptions};
use std::time::Instant;

/// Settings of a [`Predictor`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictOptions {
    /// Score, IoU, max_det, classes, agnostic NMS, masks.
    pub thresholds: Thresholds,
    /// Input size `(h, w)` for dynamic models (rounded up to the stride; default 640). Static
    /// models always use their export size, as Ultralytics does.
    pub imgsz: Option<(usize, usize)>,
}

/// Milliseconds spent per stage on one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Letterbox and tensor.
    pub preprocess_ms: f64,
    /// The model run(s).
    pub inference_ms: f64,
    /// NMS and rescaling.
    pub postprocess_ms: f64,
}

/// An Ultralytics ONNX model ready to predict.
pub struct Predictor {
    session: Session,
    meta: ModelMeta,
    input: String,
    static_batch: Option<usize>,
    imgsz: (usize, usize),
    options: PredictOptions,
}

impl Predictor {
    /// Reads the metadata and plans a session for `model`.
    pub fn new(
        model: &Model,
        session: &SessionOptions,
        options: PredictOptions,
    ) -> Result<Predictor> {
        let meta = ModelMeta::from_props(|k| model.metadata(k))?;
        let session = Session::new(model, session)?;
        Predictor::from_session(session, meta, options)
    }

    /// A predictor over an existing session, with the model's metadata.
    pub fn from_session(
        session: Session,
        meta: ModelMeta,
        options: PredictOptions,
    ) -> Result<Predictor> {
        let [input] = session.inputs() else {
            return Err(VisionError::Model(format!(
                "{} inputs; an Ultralytics export has one ('images')",
                session.inputs().len()
            )));
        };
        let dims = match &input.ty {
            ValueType::Tensor {
                shape: Some(dims), ..
            } if dims.len() == 4 => dims.clone(),
            _ => {
                return Err(VisionError::Model(format!(
                    "input '{}' is not a 4-d tensor [batch, 3, h, w]",
                    input.name
                )))
            }
        };
        let fixed = |d: &Dim| match d {
            Dim::Fixed(v) if *v > 0 => usize::try_from(*v).ok(),
            _ => None,
        };
        let static_batch = fixed(&dims[0]);
        let static_hw = match (fixed(&dims[2]), fixed(&dims[3])) {
            (Some(h), Some(w)) => Some((h, w)),
            _ => None,
        };
        let stride = meta.stride;
        let imgsz = match static_hw {
            Some(hw) => hw,
            None => {
                let (h, w) = options.imgsz.unwrap_or((640, 640));
                let up = |v: usize| v.max(1).div_ceil(stride) * stride;
                (up(h), up(w))
            }
        };
        let input = input.name.clone();
        Ok(Predictor {
            session,
            meta,
            input,
            static_batch,
            imgsz,
            options,
        })
    }

    /// The model's metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// The input size `(h, w)` images are letterboxed to (before `auto` trimming).
    pub fn imgsz(&self) -> (usize, usize) {
        self.imgsz
    }

    /// The settings.
    pub fn options(&self) -> &PredictOptions {
        &self.options
    }

    /// Predicts every image, in batches of `batch` images (a static model runs in its own batch
    /// size, the last run padded with zero images).
    pub fn predict(&self, images: &[BgrImage], batch: usize) -> Result<Vec<Prediction>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(batch.max(1)) {
            out.extend(self.predict_batch(chunk)?.0);
        }
        Ok(out)
    }

    /// One batch of images (Ultralytics' `auto` letterbox applies when the model is dynamic and
    /// every image of the batch has the same size); the predictions and the time per stage.
    pub fn predict_batch(&self, images: &[BgrImage]) -> Result<(Vec<Prediction>, Timing)> {
        let mut timing = Timing::default();
        if images.is_empty() {
            return Ok((Vec::new(), timing));
        }
        let t0 = Instant::now();
        let prepared = self.prepare(images)?;
        let (ih, iw) = (prepared[0].height, prepared[0].width);
        timing.preprocess_ms = ms(t0);
        let run_size = self.static_batch.unwrap_or(images.len());
        let mut preds = Vec::with_capacity(images.len());
        for (ci, chunk) in prepared.chunks(run_size).enumerate() {
            let t1 = Instant::now();
            let data = letterbox::to_tensor(chunk, iw, ih, run_size);
            let tensor = Tensor::from_vec(vec![run_size, 3, ih, iw], data)
                .map_err(|e| VisionError::Model(e.to_string()))?;
            timing.preprocess_ms += ms(t1);
            let t2 = Instant::now();
            let outputs = self.session.run(vec![(self.input.clone(), tensor)])?;
            timing.inference_ms += ms(t2);
            let t3 = Instant::now();
            let originals = &images[ci * run_size..(ci * run_size + chunk.len())];
            preds.extend(self.post(&outputs, originals, (ih, iw))?);
            timing.postprocess_ms += ms(t3);
        }
        Ok((preds, timing))
    }

    /// Letterbox (detect, segment, pose, obb) or resize + centre crop (classify).
    fn prepare(&self, images: &[BgrImage]) -> Result<Vec<BgrImage>> {
        let (h, w) = self.imgsz;
        if self.meta.task == Task::Classify {
            return images
                .iter()
                .map(|im| classify_transform(im, h, w))
                .collect();
        }
        let same = images
            .iter()
            .all(|im| (im.width, im.height) == (images[0].width, images[0].height));
        let auto = same && self.static_batch.is_none() && self.meta.dynamic;
        images
            .iter()
            .map(|im| {
                let g = geometry(im.width, im.height, w, h, auto, self.meta.stride);
                letterbox::apply(im, &g)
            })
            .collect()
    }

    fn post(
        &self,
        outputs: &[(String, Tensor)],
        originals: &[BgrImage],
        input_hw: (usize, usize),
    ) -> Result<Vec<Prediction>> {
        let f32s = |t: &Tensor, what: &str| -> Result<Vec<f32>> {
            match t.as_slice::<f32>() {
                Some(s) => Ok(s.to_vec()),
                None => t
                    .to_f64_vec()
                    .map(|v| v.into_iter().map(|x| x as f32).collect())
                    .ok_or_else(|| VisionError::Model(format!("{what} is not numeric"))),
            }
        };
        let Some((_, out0)) = outputs.first() else {
            return Err(VisionError::Model("the model has no outputs".into()));
        };
        let d0 = f32s(out0, "output0")?;
        let shape0 = out0.shape();
        let per0: usize = shape0.iter().skip(1).product();
        if shape0.first().copied().unwrap_or(0) < originals.len() || per0 == 0 {
            return Err(VisionError::Model(format!(
                "output0 has shape {shape0:?} for {} images",
                originals.len()
            )));
        }
        let proto = match (self.meta.task, outputs.get(1)) {
            (Task::Segment, Some((_, p))) if p.rank() == 4 => {
                let s = p.shape();
                Some((f32s(p, "output1")?, [s[1], s[2], s[3]]))
            }
            (Task::Segment, _) => {
                return Err(VisionError::Model(
                    "a segment model needs output1 [batch, 32, mh, mw] (the mask prototypes)"
                        .into(),
                ))
            }
            _ => None,
        };
        let mut preds = Vec::with_capacity(originals.len());
        for (i, im) in originals.iter().enumerate() {
            let proto_i = proto.as_ref().map(|(d, s)| {
                let n = s[0] * s[1] * s[2];
                (&d[i * n..(i + 1) * n], *s)
            });
            let outs = ImageOutputs {
                out0: &d0[i * per0..(i + 1) * per0],
                shape0: &shape0[1..],
                proto: proto_i,
            };
            preds.push(postprocess(
                &self.meta,
                &outs,
                input_hw,
                (im.width, im.height),
                &self.options.thresholds,
            )?);
        }
        Ok(preds)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// `classify_transforms(imgsz)`'s host part: torchvision `Resize` (shorter side to the size for a
/// square `imgsz`, else exactly `(h, w)`; Pillow bilinear) and `CenterCrop`.
pub fn classify_transform(im: &BgrImage, h: usize, w: usize) -> Result<BgrImage> {
    let (rw, rh) = if h == w {
        let (iw, ih) = (im.width, im.height);
        if iw <= ih {
            (h, (h as f64 * ih as f64 / iw as f64) as usize)
        } else {
            ((h as f64 * iw as f64 / ih as f64) as usize, h)
        }
    } else {
        (w, h)
    };
    let resized = if (rw, rh) == (im.width, im.height) {
        im.clone()
    } else {
        resize_pil_bilinear(im, rw, rh)?
    };
    if rw < w || rh < h {
        return Err(VisionError::Setting(format!(
            "classify: {rw}x{rh} image is smaller than the {w}x{h} crop"
        )));
    }
    let top = letterbox::py_round((rh - h) as f64 / 2.0) as usize;
    let left = letterbox::py_round((rw - w) as f64 / 2.0) as usize;
    let mut data = Vec::with_capacity(w * h * 3);
    for y in top..top + h {
        let start = (y * rw + left) * 3;
        data.extend_from_slice(&resized.data[start..start + w * 3]);
    }
    BgrImage::from_bgr(w, h, data)
}
