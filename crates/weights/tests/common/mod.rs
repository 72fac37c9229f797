#![allow(dead_code)]
//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// Folder of the fixture checkpoints: `$ONNXIDE_CHECKPOINTS`, else `<workspace>/fixtures/checkpoints`.
pub fn checkpoints_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ONNXIDE_CHECKPOINTS") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints")
}

pub const STEMS: [&str; 5] = [
    "yolo11n",
    "yolo11n-seg",
    "yolo11n-pose",
    "yolo11n-obb",
    "yolo11n-cls",
];

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}
