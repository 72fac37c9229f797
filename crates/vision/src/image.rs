//! Images as OpenCV holds them: 8-bit BGR, rows top to bottom, channels interleaved (HWC).

use crate::error::{Result, VisionError};
use std::io::Cursor;

/// The largest image decoded: 2^28 pixels (16384 × 16384), about 800 MB of BGR.
pub const MAX_PIXELS: usize = 1 << 28;

/// An 8-bit BGR image, `height × width × 3` bytes, row-major (what `cv2.imdecode` returns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgrImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes, B, G, R per pixel.
    pub data: Vec<u8>,
}

impl BgrImage {
    /// A `width × height` image filled with one BGR colour.
    pub fn filled(width: usize, height: usize, bgr: [u8; 3]) -> Result<BgrImage> {
        let n = checked_pixels(width, height)?;
        let mut data = Vec::with_capacity(n * 3);
        for _ in 0..n {
            data.extend_from_slice(&bgr);
        }
        Ok(BgrImage {
            width,
            height,
            data,
        })
    }

    /// Wraps BGR bytes; the length must be `width * height * 3`.
    pub fn from_bgr(width: usize, height: usize, data: Vec<u8>) -> Result<BgrImage> {
        let n = checked_pixels(width, height)?;
        if data.len() != n * 3 {
            return Err(VisionError::Decode(format!(
                "{} bytes for a {width}x{height} BGR image (expected {})",
                data.len(),
                n * 3
            )));
        }
        Ok(BgrImage {
            width,
            height,
            data,
        })
    }

    /// Wraps RGB bytes (`width * height * 3`), swapping them to BGR.
    pub fn from_rgb(width: usize, height: usize, mut data: Vec<u8>) -> Result<BgrImage> {
        for px in data.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        BgrImage::from_bgr(width, height, data)
    }

    /// The pixel at (x, y), BGR. Panics when out of range (callers index within bounds).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The bytes as RGB (for encoding).
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        out
    }
}

/// `width * height`, refused when zero or above [`MAX_PIXELS`].
pub fn checked_pixels(width: usize, height: usize) -> Result<usize> {
    if width == 0 || height == 0 {
        return Err(VisionError::Empty { width, height });
    }
    match width.checked_mul(height) {
        Some(n) if n <= MAX_PIXELS => Ok(n),
        _ => Err(VisionError::TooLarge {
            width,
            height,
            max: MAX_PIXELS,
        }),
    }
}

/// Decodes a jpg, png, bmp, webp or tiff file's bytes to 8-bit BGR, as `cv2.imdecode(IMREAD_COLOR)`
/// does (grey becomes three equal channels, alpha is dropped, 16-bit samples become 8-bit).
/// Not done: EXIF orientation (OpenCV rotates; this does not).
pub fn decode(bytes: &[u8]) -> Result<BgrImage> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(1 << 16);
    limits.max_image_height = Some(1 << 16);
    limits.max_alloc = Some((MAX_PIXELS as u64) * 8);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| VisionError::Decode(e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    checked_pixels(w, h)?;
    let rgb = img.into_rgb8().into_raw();
    BgrImage::from_rgb(w, h, rgb)
}
