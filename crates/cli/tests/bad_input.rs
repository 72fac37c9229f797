//! Bad files get a one-line error naming the file and a non-zero exit, never a panic.

use std::path::Path;
use std::process::Command;

fn info(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .arg("info")
        .arg(path)
        .output()
        .expect("run onnxide");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_clean_failure(path: &Path, what: &str) {
    let (ok, stderr) = info(path);
    assert!(!ok, "{what}: exit status was success");
    assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{what}: not one line:\n{stderr}"
    );
    assert!(
        stderr.contains(&path.display().to_string()),
        "{what}: error does not name the file:\n{stderr}"
    );
    println!("{what}: {}", stderr.trim_end());
}

#[test]
fn empty_truncated_random_and_foreign_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(onnxide_tests::fixture("exports/detect/imgsz320.onnx")).unwrap();

    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    assert_clean_failure(&empty, "empty file");

    for (i, cut) in [
        1usize,
        7,
        100,
        good.len() / 3,
        good.len() / 2,
        good.len() - 1,
    ]
    .iter()
    .enumerate()
    {
        let p = dir.path().join(format!("truncated{i}.onnx"));
        std::fs::write(&p, &good[..*cut]).unwrap();
        assert_clean_failure(&p, &format!("truncated to {cut} bytes"));
    }

    // A fixed xorshift stream, so the test is repeatable.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..20 {
        let len = 1 + (i * 997) % 5000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let p = dir.path().join(format!("random{i}.onnx"));
        std::fs::write(&p, &bytes).unwrap();
        assert_clean_failure(&p, &format!("random bytes #{i}"));
    }

    let text = dir.path().join("readme.onnx");
    std::fs::write(&text, "# not a model\nhello\n").unwrap();
    assert_clean_failure(&text, "a text file");

    let jpeg = dir.path().join("photo.onnx");
    let mut jfif = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    jfif.extend((0..4000u32).map(|i| (i * 31 % 251) as u8));
    std::fs::write(&jpeg, &jfif).unwrap();
    assert_clean_failure(&jpeg, "a JPEG renamed to .onnx");

    let missing = dir.path().join("missing.onnx");
    assert_clean_failure(&missing, "a missing file");
}
