//! The two 8-bit resizers Ultralytics' predict goes through, reproduced bit for bit:
//! OpenCV's `cv2.resize(INTER_LINEAR)` (letterbox) and Pillow's `Image.resize(BILINEAR)`
//! (classify's torchvision `Resize`).

use crate::error::Result;
use crate::image::{checked_pixels, BgrImage};

/// OpenCV's `INTER_RESIZE_COEF_BITS`: linear weights are 11-bit fixed point.
const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// `saturate_cast<short>(float)`: round half to even, clamp to i16.
fn saturate_i16(v: f32) -> i16 {
    v.round_ties_even().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// Source index and fixed-point weights of one destination coordinate, as `resizeGeneric`
/// computes them: `f = (d + 0.5) * scale - 0.5` in float, `s = floor(f)`; columns clamp the
/// weight at both edges, rows only clamp the row index when reading.
fn coefficients(dst: usize, src: usize, clamp_edges: bool) -> Vec<(isize, [i16; 2])> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as isize;
            let mut frac = f - s as f32;
            if clamp_edges {
                if s < 0 {
                    frac = 0.0;
                    s = 0;
                }
                if s + 1 >= src as isize && s >= src as isize - 1 {
                    frac = 0.0;
                    s = src as isize - 1;
                }
            }
            let w = [
                saturate_i16((1.0 - frac) * COEF_SCALE),
                saturate_i16(frac * COEF_SCALE),
            ];
            (s, w)
        })
        .collect()
}

/// `cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)` on an 8-bit BGR image, with
/// OpenCV's fixed-point arithmetic (11-bit weights; the vertical pass in the SIMD form
/// `((S0>>4)*b0>>16 + (S1>>4)*b1>>16 + 2) >> 2` for every byte of the row, the tail included:
/// measured against cv2 5.1 on x86-64, where the scalar form `(S0*b0 + S1*b1 + 2^21) >> 22`
/// is not what the last bytes get) and its switch to area averaging for an exact 2× reduction.
pub fn resize_linear(img: &BgrImage, width: usize, height: usize) -> Result<BgrImage> {
    checked_pixels(width, height)?;
    if width == img.width && height == img.height {
        return Ok(img.clone());
    }
    if img.width == 2 * width && img.height == 2 * height {
        return Ok(area_half(img, width, height));
    }
    let cn = 3;
    let row_len = width * cn;
    let xs = coefficients(width, img.width, true);
    let ys = coefficients(height, img.height, false);
    // Horizontal pass of one source row into `width * 3` fixed-point sums.
    let hrow = |sy: usize, out: &mut Vec<i32>| {
        out.clear();
        let row = &img.data[sy * img.width * cn..(sy + 1) * img.width * cn];
        for &(sx, [a0, a1]) in &xs {
            let sx = sx as usize;
            let sx1 = (sx + 1).min(img.width - 1);
            for k in 0..cn {
                let v = row[sx * cn + k] as i32 * a0 as i32 + row[sx1 * cn + k] as i32 * a1 as i32;
                out.push(v);
            }
        }
    };
    let mut data = vec![0u8; row_len * height];
    let (mut r0, mut r1) = (Vec::with_capacity(row_len), Vec::with_capacity(row_len));
    let mut cached: [Option<usize>; 2] = [None, None];
    let last = img.height as isize - 1;
    for (dy, &(sy, [b0, b1])) in ys.iter().enumerate() {
        let y0 = sy.clamp(0, last) as usize;
        let y1 = (sy + 1).clamp(0, last) as usize;
        if cached[0] != Some(y0) {
            if cached[1] == Some(y0) {
                std::mem::swap(&mut r0, &mut r1);
                cached.swap(0, 1);
            } else {
                hrow(y0, &mut r0);
                cached[0] = Some(y0);
            }
        }
        if cached[1] != Some(y1) {
            hrow(y1, &mut r1);
            cached[1] = Some(y1);
        }
        let out = &mut data[dy * row_len..(dy + 1) * row_len];
        let (b0, b1) = (b0 as i32, b1 as i32);
        for x in 0..row_len {
            let (s0, s1) = (r0[x], r1[x]);
            let t0 = ((s0 >> 4).clamp(-32768, 32767) * b0) >> 16;
            let t1 = ((s1 >> 4).clamp(-32768, 32767) * b1) >> 16;
            // int16 lanes: the sum wraps like the vector add.
            let v = ((((t0 + t1) as i16) as i32) + 2) >> 2;
            out[x] = v.clamp(0, 255) as u8;
        }
    }
    BgrImage::from_bgr(width, height, data)
}

/// OpenCV's `resizeAreaFast` for an exact 2× reduction: `(a + b + c + d + 2) >> 2` per channel.
fn area_half(img: &BgrImage, width: usize, height: usize) -> BgrImage {
    let cn = 3;
    let mut data = Vec::with_capacity(width * height * cn);
    let src = |x: usize, y: usize, k: usize| img.data[(y * img.width + x) * cn + k] as u32;
    for y in 0..height {
        for x in 0..width {
            for k in 0..cn {
                let s = src(2 * x, 2 * y, k)
                    + src(2 * x + 1, 2 * y, k)
                    + src(2 * x, 2 * y + 1, k)
                    + src(2 * x + 1, 2 * y + 1, k);
                data.push(((s + 2) >> 2) as u8);
            }
        }
    }
    BgrImage {
        width,
        height,
        data,
    }
}

/// Pillow's 8-bit fixed point for resampling weights (`PRECISION_BITS = 32 - 8 - 2`).
const PIL_BITS: u32 = 22;

/// Pillow's `precompute_coeffs` for the bilinear (triangle) filter: for each output index its
/// first source index and fixed-point weights.
fn pil_coefficients(src: usize, dst: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = src as f64 / dst as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the triangle filter's support is 1
    (0..dst)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(src as i64) as usize;
            let mut k: Vec<f64> = (xmin..xmax.max(xmin))
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) * ss).abs();
                    if t < 1.0 {
                        1.0 - t
                    } else {
                        0.0
                    }
                })
                .collect();
            let ww: f64 = k.iter().sum();
            if ww != 0.0 {
                for w in &mut k {
                    *w /= ww;
                }
            }
            let fixed = k
                .iter()
                .map(|&w| {
                    let v = w * (1u64 << PIL_BITS) as f64;
                    if w < 0.0 {
                        (-0.5 + v) as i32
                    } else {
                        (0.5 + v) as i32
                    }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn pil_clip8(v: i64) -> u8 {
    (v >> PIL_BITS).clamp(0, 255) as u8
}

/// `PIL.Image.resize((width, height), Image.BILINEAR)` on an 8-bit three-channel image (channel
/// order does not matter): Pillow's antialiased triangle filter, horizontal pass first, each pass
/// rounded to 8 bits.
pub fn resize_pil_bilinear(img: &BgrImage, width: usize, height: usize) -> Result<BgrImage> {
    checked_pixels(width, height)?;
    let cn = 3;
    let mut cur = img.clone();
    if width != cur.width {
        let xs = pil_coefficients(cur.width, width);
        let mut data = Vec::with_capacity(width * cur.height * cn);
        for y in 0..cur.height {
            let row = &cur.data[y * cur.width * cn..(y + 1) * cur.width * cn];
            for (xmin, k) in &xs {
                for c in 0..cn {
                    let mut ss: i64 = 1 << (PIL_BITS - 1);
                    for (i, &w) in k.iter().enumerate() {
                        ss += row[(xmin + i) * cn + c] as i64 * w as i64;
                    }
                    data.push(pil_clip8(ss));
                }
            }
        }
        cur = BgrImage {
            width,
            height: cur.height,
            data,
        };
    }
    if height != cur.height {
        let ys = pil_coefficients(cur.height, height);
        let stride = cur.width * cn;
        let mut data = Vec::with_capacity(stride * height);
        for (ymin, k) in &ys {
            for x in 0..stride {
                let mut ss: i64 = 1 << (PIL_BITS - 1);
                for (i, &w) in k.iter().enumerate() {
                    ss += cur.data[(ymin + i) * stride + x] as i64 * w as i64;
                }
                data.push(pil_clip8(ss));
            }
        }
        cur = BgrImage {
            width: cur.width,
            height,
            data,
        };
    }
    Ok(cur)
}
