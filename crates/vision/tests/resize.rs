//! The letterbox resize against OpenCV's `cv2.resize(INTER_LINEAR)` output recorded by
//! `cargo xtask fixtures predict` on the two photos (exact equality), and onnxide's JPEG decoding
//! against `cv2.imdecode` (libjpeg-turbo), measured.

use onnxide_tests::fixture;
use onnxide_vision::{decode, letterbox, resize::resize_linear};

fn load(rel: &str) -> onnxide_vision::BgrImage {
    decode(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

#[test]
fn letterbox_resize_equals_opencv() {
    for stem in ["bus", "zidane"] {
        let src = load(&format!("predict/images/{stem}.png"));
        let want = load(&format!("predict/resize/{stem}.png"));
        let g = letterbox::geometry(src.width, src.height, 640, 640, false, 32);
        assert_eq!((g.new_w, g.new_h), (want.width, want.height));
        let got = resize_linear(&src, g.new_w, g.new_h).unwrap();
        let differ = got
            .data
            .iter()
            .zip(&want.data)
            .filter(|(a, b)| a != b)
            .count();
        println!(
            "{stem}: {}x{} -> {}x{}: {differ} bytes differ",
            src.width, src.height, g.new_w, g.new_h
        );
        assert_eq!(differ, 0, "{stem}");
    }
}

#[test]
fn other_sizes_equal_opencv() {
    for stem in ["bus", "zidane"] {
        let src = load(&format!("predict/images/{stem}.png"));
        for (w, h) in [(333, 251), (17, 13)] {
            let want = load(&format!("predict/resize/{stem}_{w}x{h}.png"));
            let got = resize_linear(&src, w, h).unwrap();
            let differ = got
                .data
                .iter()
                .zip(&want.data)
                .filter(|(a, b)| a != b)
                .count();
            println!("{stem} -> {w}x{h}: {differ} bytes differ");
            assert_eq!(differ, 0, "{stem} {w}x{h}");
        }
    }
}

#[test]
fn letterbox_geometry_as_ultralytics() {
    // reference doc section 5: bus 1080x810 -> 640x480 + 80/80; zidane 720x1280 -> 360x640 + 140/140;
    // dynamic (auto): zidane -> 384x640 (12/12), bus -> 640x480 without padding.
    let g = letterbox::geometry(810, 1080, 640, 640, false, 32);
    assert_eq!(
        (g.new_w, g.new_h, g.left, g.right, g.top, g.bottom),
        (480, 640, 80, 80, 0, 0)
    );
    let g = letterbox::geometry(1280, 720, 640, 640, false, 32);
    assert_eq!(
        (g.new_w, g.new_h, g.left, g.right, g.top, g.bottom),
        (640, 360, 0, 0, 140, 140)
    );
    let g = letterbox::geometry(1280, 720, 640, 640, true, 32);
    assert_eq!((g.out_w(), g.out_h(), g.top, g.bottom), (640, 384, 12, 12));
    let g = letterbox::geometry(810, 1080, 640, 640, true, 32);
    assert_eq!((g.out_w(), g.out_h()), (480, 640));
}

/// Measured 2026-12-08: the `image` crate's JPEG decoder (zune-jpeg) differs from libjpeg-turbo on
/// about 10% of the bytes of both photos, by at most 4 (chroma upsampling / IDCT rounding).
#[test]
fn jpeg_decoding_versus_opencv() {
    for stem in ["bus", "zidane"] {
        let ours = load(&format!("images/{stem}.jpg"));
        let cv = load(&format!("predict/images/{stem}.png"));
        assert_eq!((ours.width, ours.height), (cv.width, cv.height));
        let diffs: Vec<u8> = ours
            .data
            .iter()
            .zip(&cv.data)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let n = diffs.iter().filter(|d| **d > 0).count();
        println!(
            "{stem}: {n} of {} bytes differ from cv2.imdecode, max {max}",
            diffs.len()
        );
        assert!(max <= 4, "{stem}: max |Δ| {max}");
        assert!(n * 5 < diffs.len(), "{stem}: {n} bytes differ");
    }
}
