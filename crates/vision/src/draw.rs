//! Annotated images as Ultralytics' `Results.plot()` draws them, approximately: its palette and
//! line width, boxes with `name conf` labels, mask overlays, keypoints and the COCO skeleton,
//! rotated boxes, classify's top-5 text. The text is an 8×8 bitmap font (font8x8), scaled.

use crate::image::BgrImage;
use crate::meta::{ModelMeta, Task};
use crate::results::Prediction;

/// Ultralytics' `Colors` palette (RGB hex), used by class index.
const PALETTE: [u32; 20] = [
    0x042AFF, 0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0x111F68, 0xFF6FDD, 0xFF444F, 0xCCED00, 0x00F344,
    0xBD00FF, 0x00B4FF, 0xDD00BA, 0x00FFFF, 0x26C000, 0x01FFB3, 0x7D24FF, 0x7B0068, 0xFF1B6C,
    0xFC6D2F, 0xA2FF0B,
];

/// Ultralytics' pose palette (RGB), and the limb / keypoint colour indices for COCO's 17 points.
const POSE_PALETTE: [u32; 20] = [
    0xFF8000, 0xFF9933, 0xFFB266, 0xE6E600, 0xFF99FF, 0x99CCFF, 0xFF66FF, 0xFF33FF, 0x66B2FF,
    0x3399FF, 0xFF9999, 0xFF6666, 0xFF3333, 0x99FF99, 0x66FF66, 0x33FF33, 0x00FF00, 0x0000FF,
    0xFF0000, 0xFFFFFF,
];
const SKELETON: [(usize, usize); 19] = [
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
];
const LIMB_COLOR: [usize; 19] = [
    9, 9, 9, 9, 7, 7, 7, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16,
];
const KPT_COLOR: [usize; 17] = [16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9];

fn bgr(rgb: u32) -> [u8; 3] {
    [
        (rgb & 0xFF) as u8,
        ((rgb >> 8) & 0xFF) as u8,
        (rgb >> 16) as u8,
    ]
}

/// The colour of class `c` (BGR).
pub fn class_color(c: usize) -> [u8; 3] {
    bgr(PALETTE[c % PALETTE.len()])
}

/// What to draw.
#[derive(Clone, Copy, Debug)]
pub struct DrawOptions {
    /// Class names on the labels.
    pub labels: bool,
    /// Scores on the labels.
    pub conf: bool,
    /// The boxes.
    pub boxes: bool,
    /// Line width; `None`: Ultralytics' `max(round((h + w) / 2 * 0.003), 2)`.
    pub line_width: Option<usize>,
}

impl Default for DrawOptions {
    fn default() -> DrawOptions {
        DrawOptions {
            labels: true,
            conf: true,
            boxes: true,
            line_width: None,
        }
    }
}

struct Canvas<'a> {
    img: &'a mut BgrImage,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.img.width && (y as usize) < self.img.height {
            let i = (y as usize * self.img.width + x as usize) * 3;
            self.img.data[i..i + 3].copy_from_slice(&c);
        }
    }
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let (w, h) = (self.img.width as i64, self.img.height as i64);
        for y in y0.max(0)..y1.min(h) {
            for x in x0.max(0)..x1.min(w) {
                self.put(x, y, c);
            }
        }
    }
    fn disc(&mut self, cx: f32, cy: f32, r: f32, c: [u8; 3]) {
        let ri = r.ceil() as i64;
        let (cxi, cyi) = (cx.round() as i64, cy.round() as i64);
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f32) <= r * r {
                    self.put(cxi + dx, cyi + dy, c);
                }
            }
        }
    }
    fn line(&mut self, a: (f32, f32), b: (f32, f32), lw: usize, c: [u8; 3]) {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).clamp(1, 1 << 16);
        let r = (lw as f32 / 2.0).max(0.5);
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            self.disc(a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, r, c);
        }
    }
    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, lw: usize, c: [u8; 3]) {
        let (x0, y0, x1, y1) = (x0 as i64, y0 as i64, x1 as i64, y1 as i64);
        let t = lw as i64;
        let h = t / 2;
        self.fill(x0 - h, y0 - h, x1 + t - h, y0 + t - h, c);
        self.fill(x0 - h, y1 - h, x1 + t - h, y1 + t - h, c);
        self.fill(x0 - h, y0 - h, x0 + t - h, y1 + t - h, c);
        self.fill(x1 - h, y0 - h, x1 + t - h, y1 + t - h, c);
    }
    /// Text at (x, y) top-left, `scale` pixels per font pixel.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: usize, c: [u8; 3]) {
        let sc = scale as i64;
        for (k, ch) in s.chars().enumerate() {
            let code = if (ch as u32) < 128 {
                ch as usize
            } else {
                b'?' as usize
            };
            let glyph = font8x8::legacy::BASIC_LEGACY[code];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        let px = x + (k as i64 * 8 + col) * sc;
                        let py = y + row as i64 * sc;
                        self.fill(px, py, px + sc, py + sc, c);
                    }
                }
            }
        }
    }
    /// A filled label box with text, above (x, y) when it fits, else below.
    fn label(&mut self, x: f32, y: f32, s: &str, lw: usize, bg: [u8; 3]) {
        let scale = (lw / 2).max(1);
        let (tw, th) = ((s.chars().count() * 8 * scale) as i64, (8 * scale) as i64);
        let pad = scale as i64 + 1;
        let (x, y) = (x as i64, y as i64);
        let top = if y - th - 2 * pad >= 0 {
            y - th - 2 * pad
        } else {
            y
        };
        self.fill(x, top, x + tw + 2 * pad, top + th + 2 * pad, bg);
        // white text on dark colours, dark on light (Ultralytics' `get_txt_color`)
        let lum = 0.299 * bg[2] as f32 + 0.587 * bg[1] as f32 + 0.114 * bg[0] as f32;
        let fg = if lum > 160.0 {
            [104, 31, 17]
        } else {
            [255, 255, 255]
        };
        self.text(x + pad, top + pad, s, scale, fg);
    }
}

/// Draws one prediction over a copy of its image.
pub fn annotate(image: &BgrImage, p: &Prediction, meta: &ModelMeta, o: &DrawOptions) -> BgrImage {
    let mut img = image.clone();
    let lw = o
        .line_width
        .unwrap_or_else(|| {
            (((img.width + img.height) as f64 / 2.0 * 0.003).round_ties_even() as usize).max(2)
        })
        .max(1);
    let text = |c: usize, conf: f32| -> Option<String> {
        match (o.labels, o.conf) {
            (true, true) => Some(format!("{} {:.2}", meta.name(c), conf)),
            (true, false) => Some(meta.name(c)),
            (false, true) => Some(format!("{conf:.2}")),
            (false, false) => None,
        }
    };
    // masks first, as a 50% colour overlay
    for (m, d) in p.masks.iter().zip(&p.boxes) {
        if (m.width, m.height) != (img.width, img.height) {
            continue;
        }
        let c = class_color(d.class);
        for (px, &on) in img.data.chunks_exact_mut(3).zip(&m.data) {
            if on != 0 {
                for k in 0..3 {
                    px[k] = ((px[k] as u16 + c[k] as u16) / 2) as u8;
                }
            }
        }
    }
    let mut cv = Canvas { img: &mut img };
    match p.task {
        Task::Classify => {
            let scale = (lw / 2).max(1);
            for (i, c) in p.top5().into_iter().enumerate() {
                let s = format!("{} {:.2}", meta.name(c), p.probs[c]);
                let y = (lw * 4 + i * (8 * scale + 2 * scale + 4)) as i64;
                cv.text(lw as i64 * 4, y, &s, scale, [255, 255, 255]);
            }
        }
        Task::Obb => {
            for r in p.obb.iter().rev() {
                let c = class_color(r.class);
                let pts = r.corners();
                if o.boxes {
                    for i in 0..4 {
                        let (a, b) = (pts[i], pts[(i + 1) % 4]);
                        cv.line((a[0], a[1]), (b[0], b[1]), lw, c);
                    }
                }
                if let Some(s) = text(r.class, r.conf) {
                    let (x, y) = pts
                        .iter()
                        .fold((f32::MAX, f32::MAX), |(x, y), p| (x.min(p[0]), y.min(p[1])));
                    cv.label(x, y, &s, lw, c);
                }
            }
        }
        _ => {
            for d in p.boxes.iter().rev() {
                let c = class_color(d.class);
                let [x1, y1, x2, y2] = d.xyxy;
                if o.boxes {
                    cv.rect(x1, y1, x2, y2, lw, c);
                    if let Some(s) = text(d.class, d.conf) {
                        cv.label(x1, y1, &s, lw, c);
                    }
                }
                if d.keypoints.is_empty() {
                    continue;
                }
                let coco = d.keypoints.len() == 17;
                let visible = |k: &[f32; 3]| k[2] >= 0.5 && k[0] > 0.0 && k[1] > 0.0;
                if coco {
                    for (li, &(a, b)) in SKELETON.iter().enumerate() {
                        let (ka, kb) = (&d.keypoints[a - 1], &d.keypoints[b - 1]);
                        if visible(ka) && visible(kb) {
                            cv.line(
                                (ka[0], ka[1]),
                                (kb[0], kb[1]),
                                (lw / 2).max(1),
                                bgr(POSE_PALETTE[LIMB_COLOR[li]]),
                            );
                        }
                    }
                }
                for (i, k) in d.keypoints.iter().enumerate() {
                    if visible(k) {
                        let col = if coco {
                            bgr(POSE_PALETTE[KPT_COLOR[i]])
                        } else {
                            class_color(i)
                        };
                        cv.disc(k[0], k[1], lw as f32 + 1.0, col);
                    }
                }
            }
        }
    }
    img
}
