//! Ultralytics' `LetterBox` (resize keeping the aspect ratio, pad with grey 114) and its inverse
//! (`ops.scale_boxes` / `scale_coords`), with Python's rounding (`round` is half to even).

use crate::error::Result;
use crate::image::BgrImage;
use crate::resize::resize_linear;

/// The grey of the padding.
pub const PAD_VALUE: u8 = 114;

/// Python's `round(x)`: to the nearest integer, halves to even.
pub fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// Where an image lands in the letterboxed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Resized (unpadded) width and height.
    pub new_w: usize,
    /// Resized (unpadded) height.
    pub new_h: usize,
    /// Padding on the left.
    pub left: usize,
    /// Padding at the top.
    pub top: usize,
    /// Padding on the right.
    pub right: usize,
    /// Padding at the bottom.
    pub bottom: usize,
}

impl Geometry {
    /// Width of the letterboxed image.
    pub fn out_w(&self) -> usize {
        self.new_w + self.left + self.right
    }
    /// Height of the letterboxed image.
    pub fn out_h(&self) -> usize {
        self.new_h + self.top + self.bottom
    }
}

/// `LetterBox(new_shape=(h, w), auto, stride)` for a `w0 × h0` image: scale `min(h/h0, w/w0)`
/// (up or down), sides rounded, padding split `round(d/2 ∓ 0.1)`; `auto` pads only to a multiple of
/// `stride` (Ultralytics uses it for dynamic models when every image of the batch has one shape).
pub fn geometry(w0: usize, h0: usize, w: usize, h: usize, auto: bool, stride: usize) -> Geometry {
    let r = (h as f64 / h0 as f64).min(w as f64 / w0 as f64);
    let new_w = py_round(w0 as f64 * r).max(1) as usize;
    let new_h = py_round(h0 as f64 * r).max(1) as usize;
    let mut dw = w as i64 - new_w as i64;
    let mut dh = h as i64 - new_h as i64;
    if auto && stride > 0 {
        dw = dw.rem_euclid(stride as i64);
        dh = dh.rem_euclid(stride as i64);
    }
    let (dw, dh) = (dw as f64 / 2.0, dh as f64 / 2.0);
    let side = |v: f64| py_round(v).max(0) as usize;
    Geometry {
        new_w,
        new_h,
        left: side(dw - 0.1),
        right: side(dw + 0.1),
        top: side(dh - 0.1),
        bottom: side(dh + 0.1),
    }
}

/// Resizes (`cv2.resize` INTER_LINEAR, skipped when the size is unchanged) and pads with 114.
pub fn apply(img: &BgrImage, g: &Geometry) -> Result<BgrImage> {
    let resized = resize_linear(img, g.new_w, g.new_h)?;
    let (ow, oh) = (g.out_w(), g.out_h());
    let mut out = BgrImage::filled(ow, oh, [PAD_VALUE; 3])?;
    for y in 0..g.new_h {
        let src = &resized.data[y * g.new_w * 3..(y + 1) * g.new_w * 3];
        let start = ((y + g.top) * ow + g.left) * 3;
        out.data[start..start + src.len()].copy_from_slice(src);
    }
    Ok(out)
}

/// The inverse mapping `scale_boxes`/`scale_coords` use, from the letterboxed size (`w1 × h1`) back
/// to the original (`w0 × h0`): per-axis gains `new/orig` and the (rounded) padding.
#[derive(Clone, Copy, Debug)]
pub struct Unletterbox {
    /// `new_w / w0`.
    pub gain_x: f64,
    /// `new_h / h0`.
    pub gain_y: f64,
    /// Left padding.
    pub pad_x: f64,
    /// Top padding.
    pub pad_y: f64,
    /// Original width.
    pub w0: f64,
    /// Original height.
    pub h0: f64,
}

impl Unletterbox {
    /// `scale_boxes(img1_shape=(h1, w1), ..., img0_shape=(h0, w0))`'s gains and padding.
    pub fn new(w1: usize, h1: usize, w0: usize, h0: usize) -> Unletterbox {
        let gain = (h1 as f64 / h0 as f64).min(w1 as f64 / w0 as f64);
        let new_h = py_round(h0 as f64 * gain).max(1) as f64;
        let new_w = py_round(w0 as f64 * gain).max(1) as f64;
        Unletterbox {
            gain_x: new_w / w0 as f64,
            gain_y: new_h / h0 as f64,
            pad_x: py_round((w1 as f64 - new_w) / 2.0 - 0.1) as f64,
            pad_y: py_round((h1 as f64 - new_h) / 2.0 - 0.1) as f64,
            w0: w0 as f64,
            h0: h0 as f64,
        }
    }

    /// A point back in original pixels (float32 arithmetic as torch does), not clipped.
    pub fn point(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.pad_x as f32) / self.gain_x as f32,
            (y - self.pad_y as f32) / self.gain_y as f32,
        )
    }

    /// A length along x / y back in original pixels.
    pub fn size(&self, w: f32, h: f32) -> (f32, f32) {
        (w / self.gain_x as f32, h / self.gain_y as f32)
    }

    /// Clips x to `[0, w0]` and y to `[0, h0]`.
    pub fn clip(&self, x: f32, y: f32) -> (f32, f32) {
        (x.clamp(0.0, self.w0 as f32), y.clamp(0.0, self.h0 as f32))
    }
}

/// Batch of letterboxed images → `[n, 3, h, w]` float32 RGB in `[0, 1]` (`/ 255`), zero rows
/// for `pad_to - n` missing images. Every image must have the size `w × h`.
pub fn to_tensor(images: &[BgrImage], w: usize, h: usize, pad_to: usize) -> Vec<f32> {
    let plane = w * h;
    let n = images.len().max(pad_to);
    let mut out = vec![0f32; n * 3 * plane];
    for (i, img) in images.iter().enumerate() {
        let base = i * 3 * plane;
        for (p, px) in img.data.chunks_exact(3).enumerate().take(plane) {
            // BGR -> RGB planes
            out[base + p] = px[2] as f32 / 255.0;
            out[base + plane + p] = px[1] as f32 / 255.0;
            out[base + 2 * plane + p] = px[0] as f32 / 255.0;
        }
    }
    out
}

impl Unletterbox {
    /// [`Unletterbox::clip`] of a pair.
    pub fn clip_point(&self, p: (f32, f32)) -> (f32, f32) {
        self.clip(p.0, p.1)
    }
}
