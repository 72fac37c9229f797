//! Hostile and broken inputs: refused with clear errors, never a panic, nothing executed.

mod common;

use std::path::Path;

use common::data_dir;
use onnxide_weights::{
    load, load_pt, load_pt_from_bytes, load_safetensors, load_safetensors_from_bytes, WeightsError,
};

fn forbidden(file: &str, global: &str) {
    let marker = Path::new("/tmp/onnxide-pwned");
    let _ = std::fs::remove_file(marker);
    let err = load_pt(&data_dir().join(file)).unwrap_err();
    match &err {
        WeightsError::ForbiddenGlobal { global: g, .. } => assert_eq!(g, global),
        other => panic!("{file}: expected ForbiddenGlobal, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(global), "{msg}");
    assert!(msg.contains(file), "error names the file: {msg}");
    assert!(!marker.exists(), "something was executed");
}

#[test]
fn refuses_os_system() {
    forbidden("evil_os_system.pt", "os.system");
}

#[test]
fn refuses_builtins_eval() {
    forbidden("evil_builtins_eval.pt", "builtins.eval");
}

#[test]
fn refuses_unknown_global() {
    forbidden("evil_unknown_global.pt", "mypkg.evil.Thing");
}

#[test]
fn refuses_storage_larger_than_its_entry() {
    let err = load_pt(&data_dir().join("storage_too_large.pt")).unwrap_err();
    match &err {
        WeightsError::Storage { key, reason, .. } => {
            assert_eq!(key, "0");
            assert!(reason.contains("exceeds"), "{reason}");
        }
        other => panic!("expected Storage error, got {other}"),
    }
}

#[test]
fn refuses_view_outside_storage() {
    let err = load_pt(&data_dir().join("view_out_of_range.pt")).unwrap_err();
    assert!(matches!(err, WeightsError::Storage { .. }), "{err}");
}

#[test]
fn legacy_format_says_how_to_resave() {
    let err = load(&data_dir().join("legacy.pt")).unwrap_err();
    assert!(
        matches!(err, WeightsError::LegacyTorchFormat { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("torch.save(torch.load("), "{msg}");
}

#[test]
fn empty_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["empty.pt", "empty.safetensors", "empty.bin"] {
        let p = dir.path().join(name);
        std::fs::write(&p, b"").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
        assert!(load_pt(&p).is_err());
        assert!(load_safetensors(&p).is_err());
    }
}

#[test]
fn missing_file_names_it() {
    let e = load(Path::new("/nonexistent/x.pt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/x.pt"), "{e}");
}

/// A tiny deterministic generator (no extra dependencies).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_and_corrupted_pt() {
    let p = Path::new("t.pt");
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for file in ["tiny_p2.pt", "tiny_p4.pt", "tiny_p5.pt"] {
        let bytes = std::fs::read(data_dir().join(file)).unwrap();
        assert!(load_pt_from_bytes(p, &bytes).is_ok());
        for cut in 0..bytes.len() {
            let _ = load_pt_from_bytes(p, &bytes[..cut]);
        }
        for _ in 0..3000 {
            let mut b = bytes.clone();
            for _ in 0..(1 + rng.next() % 4) {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
            let _ = load_pt_from_bytes(p, &b);
        }
    }
    let err = load_pt_from_bytes(p, b"PK\x03\x04garbage").unwrap_err();
    assert!(matches!(err, WeightsError::Zip { .. }), "{err}");
}

#[test]
fn corrupted_pickles_inside_a_valid_zip() {
    // Re-zip the tiny checkpoint with a damaged data.pkl: every cut and many byte flips.
    use std::io::{Read, Write};
    let bytes = std::fs::read(data_dir().join("tiny_p2.pt")).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let mut entries = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut d = Vec::new();
        f.read_to_end(&mut d).unwrap();
        entries.push((f.name().to_string(), d));
    }
    let rezip = |pkl: &[u8]| -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, d) in &entries {
            w.start_file(name.as_str(), opts).unwrap();
            if name.ends_with("data.pkl") {
                w.write_all(pkl).unwrap();
            } else {
                w.write_all(d).unwrap();
            }
        }
        w.finish().unwrap();
        out.into_inner()
    };
    let pkl = entries
        .iter()
        .find(|(n, _)| n.ends_with("data.pkl"))
        .unwrap()
        .1
        .clone();
    let p = Path::new("c.pt");
    for cut in 0..pkl.len() {
        let e = load_pt_from_bytes(p, &rezip(&pkl[..cut])).unwrap_err();
        assert!(matches!(e, WeightsError::Pickle { .. }), "cut {cut}: {e}");
    }
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut b = pkl.clone();
        let i = (rng.next() as usize) % b.len();
        b[i] = rng.next() as u8;
        let _ = load_pt_from_bytes(p, &rezip(&b));
    }
    // Deep nesting: a million nested lists must not overflow the stack.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b']', 1_000_000));
    deep.extend(std::iter::repeat_n(b'a', 999_999));
    deep.push(b'.');
    let e = load_pt_from_bytes(p, &rezip(&deep)).unwrap_err();
    assert!(matches!(e, WeightsError::Structure { .. }), "{e}");
    // A million MARKs and a memo index far away.
    let mut marks = b"\x80\x02".to_vec();
    marks.extend(std::iter::repeat_n(b'(', 1_000_000));
    marks.extend(b"r\xff\xff\xff\xff.");
    assert!(load_pt_from_bytes(p, &rezip(&marks)).is_err());
}

/// A zip checkpoint around `pkl` (one `archive/data.pkl` entry).
fn pt_with_pickle(pkl: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(pkl).unwrap();
    w.finish().unwrap();
    out.into_inner()
}

fn short_str(s: &str) -> Vec<u8> {
    let mut v = vec![0x8c, s.len() as u8];
    v.extend(s.as_bytes());
    v
}

/// Shared references make a DAG whose paths grow as 2^depth: decoding must stay fast.
#[test]
fn exponential_sharing_is_bounded() {
    let start = std::time::Instant::now();
    // {"model": DetectionModel(yaml=t60)} where t_i = (t_{i-1}, t_{i-1}).
    let mut p = b"\x80\x02}".to_vec();
    p.extend(short_str("model"));
    p.extend(b"cultralytics.nn.tasks\nDetectionModel\n)\x81}");
    p.extend(short_str("yaml"));
    p.push(b']');
    for _ in 0..60 {
        p.extend(b"2\x86");
    }
    p.extend(b"sbs.");
    let ck = load_pt_from_bytes(Path::new("dag.pt"), &pt_with_pickle(&p)).unwrap();
    assert!(ck.tensors.is_empty());

    // Modules: m_i has children a = b = m_{i-1}.
    let mut p = b"\x80\x02}".to_vec();
    p.extend(short_str("model"));
    p.extend(b"cultralytics.nn.tasks\nDetectionModel\n)\x81q\x00}b0");
    for i in 1..=60u8 {
        p.extend(b"ctorch.nn.modules.container\nSequential\n)\x81}");
        p.extend(short_str("_modules"));
        p.extend(b"}");
        p.extend(short_str("a"));
        p.extend([b'h', i - 1, b's']);
        p.extend(short_str("b"));
        p.extend([b'h', i - 1, b's']);
        p.extend(b"sb");
        p.extend([b'q', i]);
        if i < 60 {
            p.push(b'0');
        }
    }
    p.extend(b"s.");
    let e = load_pt_from_bytes(Path::new("dagm.pt"), &pt_with_pickle(&p)).unwrap_err();
    assert!(e.to_string().contains("module graph too large"), "{e}");
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}

#[test]
fn random_bytes() {
    let mut rng = Rng(7);
    for len in [0usize, 1, 7, 8, 9, 16, 100, 1000, 10_000] {
        for _ in 0..50 {
            let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert!(load_pt_from_bytes(Path::new("r.pt"), &b).is_err());
            let _ = load_safetensors_from_bytes(Path::new("r.safetensors"), &b);
        }
    }
}

#[test]
fn truncated_and_corrupted_safetensors() {
    let ck = load_pt(&data_dir().join("tiny_p2.pt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("tiny.safetensors");
    onnxide_weights::save_safetensors(&ck, &st).unwrap();
    let bytes = std::fs::read(&st).unwrap();
    let p = Path::new("t.safetensors");
    for cut in 0..bytes.len() {
        let e = load_safetensors_from_bytes(p, &bytes[..cut]).unwrap_err();
        assert!(e.to_string().contains("t.safetensors"), "{e}");
    }
    let mut rng = Rng(99);
    for _ in 0..5000 {
        let mut b = bytes.clone();
        let i = (rng.next() as usize) % b.len();
        b[i] = rng.next() as u8;
        let _ = load_safetensors_from_bytes(p, &b);
    }
    // A header that declares a huge length.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend(b"{}");
    assert!(load_safetensors_from_bytes(p, &huge).is_err());
}

/// A deflated entry that inflates far beyond the file (zip bomb) is refused before reading.
#[test]
fn refuses_zip_bomb() {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("archive/data.pkl", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap();
    let bytes = out.into_inner();
    assert!(bytes.len() < 1 << 20);
    let e = load_pt_from_bytes(Path::new("bomb.pt"), &bytes).unwrap_err();
    assert!(e.to_string().contains("more than the file can hold"), "{e}");
}
