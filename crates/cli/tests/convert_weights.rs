//! `onnxide convert-weights`: a .pt becomes a .safetensors that reads back the same; bad input leaves nothing behind.

use std::process::Command;

fn onnxide(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onnxide"))
        .args(args)
        .output()
        .expect("run onnxide")
}

#[test]
fn pt_to_safetensors_reads_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let src = onnxide_tests::fixture("checkpoints/yolo11n-seg.pt");
    let dst = dir.path().join("seg.safetensors");
    let out = onnxide(&["convert-weights".as_ref(), src.as_os_str(), dst.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = onnxide_weights::load(&src).unwrap();
    let b = onnxide_weights::load(&dst).unwrap();
    assert_eq!(a.tensors, b.tensors);
    assert_eq!(a.meta.task, b.meta.task);
    assert_eq!(a.meta.names, b.meta.names);
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
}

#[test]
fn a_bad_checkpoint_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("broken.pt");
    let good = std::fs::read(onnxide_tests::fixture("checkpoints/yolo11n.pt")).unwrap();
    std::fs::write(&src, &good[..good.len() / 2]).unwrap();
    let dst = dir.path().join("broken.safetensors");
    let out = onnxide(&["convert-weights".as_ref(), src.as_os_str(), dst.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("broken.pt"),
        "error does not name the file: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("broken.pt")],
        "output files left behind"
    );
    println!("{}", stderr.trim());
}
