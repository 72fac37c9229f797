//! Hostile inputs through the CLI: every case is generated here and must end with a clean
//! one-line error (no panic or backtrace text, `RUST_BACKTRACE=1` set), a non-zero exit,
//! within a bounded time, and without partial output.

use onnxide_ir::rewrite;
use onnxide_ir::{
    AttrValue, DType, Dim, ExternalData, Graph, Model, NamedTensor, Node, OpsetImport, SaveOptions,
    Tensor, ValueInfo,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Each case must end within this.
const TIME_LIMIT: Duration = Duration::from_secs(10);

struct Outcome {
    ok: bool,
    stderr: String,
    elapsed: Duration,
}

fn onnxide(args: &[&str], cwd: Option<&Path>) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onnxide"));
    cmd.args(args).env("RUST_BACKTRACE", "1");
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let t0 = Instant::now();
    let out = cmd.output().expect("run onnxide");
    Outcome {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: t0.elapsed(),
    }
}

/// Asserts a clean failure whose message contains `needle`.
fn clean_failure(case: &str, o: &Outcome, needle: &str) {
    println!(
        "{case}: {:.0} ms: {}",
        o.elapsed.as_secs_f64() * 1e3,
        o.stderr.trim_end()
    );
    assert!(!o.ok, "{case}: exit status was success");
    assert!(o.elapsed < TIME_LIMIT, "{case}: took {:?}", o.elapsed);
    assert_eq!(
        o.stderr.trim_end().lines().count(),
        1,
        "{case}: not one line:\n{}",
        o.stderr
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!o.stderr.contains(bad), "{case}: '{bad}' in:\n{}", o.stderr);
    }
    assert!(
        o.stderr.contains(needle),
        "{case}: expected '{needle}' in:\n{}",
        o.stderr
    );
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> Node {
    rewrite::node(op)
        .name(format!("{op}_{}", outputs[0].replace('/', "_")))
        .inputs(inputs.iter().copied())
        .outputs(outputs.iter().copied())
        .attributes(attrs.into_iter().map(|(n, v)| rewrite::attr(n, v)))
        .build()
}

fn init(name: &str, t: Tensor) -> NamedTensor {
    NamedTensor::new(name, t)
}

fn model(
    nodes: Vec<Node>,
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    inits: Vec<NamedTensor>,
) -> Model {
    Model {
        ir_version: 8,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        graph: Graph {
            name: "hostile".into(),
            nodes,
            inputs,
            outputs,
            initializers: inits,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn f32_vi(name: &str, dims: &[u64]) -> ValueInfo {
    ValueInfo::tensor(
        name,
        DType::F32,
        dims.iter().map(|&d| Dim::Fixed(d)).collect(),
    )
}

fn any_vi(name: &str) -> ValueInfo {
    ValueInfo::tensor(name, DType::F32, vec![Dim::Unknown, Dim::Unknown])
}

fn constant_of_shape(shape: &[i64]) -> Model {
    model(
        vec![node("ConstantOfShape", &["s"], &["y"], vec![])],
        vec![],
        vec![any_vi("y")],
        vec![init(
            "s",
            Tensor::from_vec(vec![shape.len()], shape.to_vec()).unwrap(),
        )],
    )
}

fn save(m: &Model, path: &Path) -> String {
    onnxide_ir::save(m, path, &SaveOptions::default()).unwrap();
    path.to_string_lossy().into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn run_refuses_bombs_limits_and_colliding_outputs_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_string_lossy().into_owned();
    // An allocation bomb folded at load.
    let bomb = save(
        &constant_of_shape(&[100_000, 100_000, 100]),
        &dir.path().join("bomb.onnx"),
    );
    let o = onnxide(&["run", &bomb, "--output-dir", &out_s], None);
    clean_failure("ConstantOfShape [1e5,1e5,100]", &o, "memory budget");
    assert!(o.stderr.contains("ConstantOfShape"), "names the op");
    // memory= lowers the budget; without it the same model runs.
    let small = save(
        &constant_of_shape(&[1000, 1000]),
        &dir.path().join("small.onnx"),
    );
    let o = onnxide(&["run", &small, "--output-dir", &out_s, "memory=1M"], None);
    clean_failure("memory=1M", &o, "memory budget of 1048576 bytes");
    assert!(
        files_in(&out).is_empty(),
        "memory=1M wrote {:?}",
        files_in(&out)
    );
    let o = onnxide(
        &["run", &small, "--output-dir", &out_s, "threads=100000"],
        None,
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(files_in(&out), vec!["y.npy"]);
    std::fs::remove_dir_all(&out).unwrap();
    // Outputs 'a/b' and 'a_b' would share a_b.npy: refused before running.
    let collide = model(
        vec![
            node("Relu", &["x"], &["a/b"], vec![]),
            node("Neg", &["x"], &["a_b"], vec![]),
        ],
        vec![f32_vi("x", &[2])],
        vec![f32_vi("a/b", &[2]), f32_vi("a_b", &[2])],
        vec![],
    );
    let collide = save(&collide, &dir.path().join("collide.onnx"));
    let x = dir.path().join("x.npy");
    onnxide_ir::npy::write(&x, &Tensor::from_vec(vec![2], vec![1f32, -1.0]).unwrap()).unwrap();
    let xs = format!("x={}", x.display());
    let o = onnxide(
        &["run", &collide, "--input", &xs, "--output-dir", &out_s],
        None,
    );
    clean_failure(
        "outputs a/b and a_b",
        &o,
        "would both be written to a_b.npy",
    );
    assert!(!out.exists(), "the output folder was created");
    // A Loop of 1e12 iterations stops at timeout=.
    let body = Graph {
        name: "body".into(),
        nodes: vec![
            node("Identity", &["cond"], &["cond_out"], vec![]),
            node("Identity", &["v"], &["v_out"], vec![]),
        ],
        inputs: vec![
            ValueInfo::tensor("i", DType::I64, vec![]),
            ValueInfo::tensor("cond", DType::Bool, vec![]),
            f32_vi("v", &[2]),
        ],
        outputs: vec![
            ValueInfo::tensor("cond_out", DType::Bool, vec![]),
            f32_vi("v_out", &[2]),
        ],
        ..Default::default()
    };
    let endless = model(
        vec![node(
            "Loop",
            &["M", "", "x"],
            &["y"],
            vec![("body", AttrValue::Graph(Box::new(body)))],
        )],
        vec![f32_vi("x", &[2])],
        vec![f32_vi("y", &[2])],
        vec![init("M", Tensor::scalar(1_000_000_000_000i64))],
    );
    let endless = save(&endless, &dir.path().join("endless.onnx"));
    let o = onnxide(
        &[
            "run",
            &endless,
            "--input",
            &xs,
            "--output-dir",
            &out_s,
            "timeout=0.5",
        ],
        None,
    );
    clean_failure("Loop 1e12 with timeout=0.5", &o, "deadline");
    assert!(
        o.elapsed < Duration::from_secs(5),
        "timeout=0.5 took {:?}",
        o.elapsed
    );
    assert!(!out.exists());
    let o = onnxide(
        &[
            "run",
            &endless,
            "--input",
            &xs,
            "--output-dir",
            &out_s,
            "timeout=soon",
        ],
        None,
    );
    clean_failure("timeout=soon", &o, "invalid argument timeout=soon");
}

#[test]
fn run_writes_all_outputs_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let two = model(
        vec![
            node("Relu", &["x"], &["a"], vec![]),
            node("Neg", &["x"], &["b"], vec![]),
        ],
        vec![f32_vi("x", &[2])],
        vec![f32_vi("a", &[2]), f32_vi("b", &[2])],
        vec![],
    );
    let two = save(&two, &dir.path().join("two.onnx"));
    let x = dir.path().join("x.npy");
    onnxide_ir::npy::write(&x, &Tensor::from_vec(vec![2], vec![1f32, -1.0]).unwrap()).unwrap();
    let xs = format!("x={}", x.display());
    // A folder in the way of the second output: the first is not left behind either.
    std::fs::create_dir(out.join("b.npy")).unwrap();
    // A staging folder a killed run left (its process is gone) is cleaned up.
    std::fs::create_dir(out.join(".onnxide-run-4294967.tmp")).unwrap();
    let out_s = out.to_string_lossy().into_owned();
    let o = onnxide(&["run", &two, "--input", &xs, "--output-dir", &out_s], None);
    clean_failure("second output cannot be moved into place", &o, "b.npy");
    assert_eq!(files_in(&out), vec!["b.npy"], "partial output left");
    std::fs::remove_dir(out.join("b.npy")).unwrap();
    let o = onnxide(&["run", &two, "--input", &xs, "--output-dir", &out_s], None);
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(files_in(&out), vec!["a.npy", "b.npy"]);
}

/// `model.onnx` with a 16-byte external tensor at `location` (a file `w.bin` inside `sub/`).
fn external_model(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let m = model(
        vec![node("Add", &["x", "w"], &["y"], vec![])],
        vec![f32_vi("x", &[4])],
        vec![f32_vi("y", &[4])],
        vec![init(
            "w",
            Tensor::from_vec(vec![4], vec![1f32, 2.0, 3.0, 4.0]).unwrap(),
        )],
    );
    let path = dir.join("model.onnx");
    let opts = SaveOptions {
        external_data: Some(ExternalData {
            location: "sub/w.bin".into(),
            threshold_bytes: 1,
        }),
    };
    onnxide_ir::save(&m, &path, &opts).unwrap();
    (path, dir.join("sub").join("w.bin"))
}

fn info(path: &Path) -> Outcome {
    onnxide(&["info", &path.to_string_lossy()], None)
}

#[cfg(unix)]
#[test]
fn external_data_stays_inside_the_model_folder() {
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let (folder, outside) = (root.path().join("model"), root.path().join("outside"));
    std::fs::create_dir_all(&outside).unwrap();
    let (path, data) = external_model(&folder);
    let o = info(&path);
    assert!(o.ok, "the plain model: {}", o.stderr);
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(outside.join("w.bin"), &bytes).unwrap();
    // A file link out of the folder (to valid bytes: confinement, not the length, refuses it).
    std::fs::remove_file(&data).unwrap();
    symlink(outside.join("w.bin"), &data).unwrap();
    clean_failure(
        "file symlink out of the folder",
        &info(&path),
        "outside the model's folder",
    );
    // A link that stays inside the folder is fine.
    std::fs::remove_file(&data).unwrap();
    std::fs::write(folder.join("real.bin"), &bytes).unwrap();
    symlink(folder.join("real.bin"), &data).unwrap();
    assert!(info(&path).ok, "a link inside the folder");
    // A directory link out of the folder.
    std::fs::remove_file(&data).unwrap();
    std::fs::remove_dir(folder.join("sub")).unwrap();
    symlink(&outside, folder.join("sub")).unwrap();
    clean_failure(
        "directory symlink out of the folder",
        &info(&path),
        "outside the model's folder",
    );
    std::fs::remove_file(folder.join("sub")).unwrap();
    std::fs::create_dir(folder.join("sub")).unwrap();
    // A FIFO is refused without being opened (opening it would block).
    let status = Command::new("mkfifo").arg(&data).status().expect("mkfifo");
    assert!(status.success());
    clean_failure("FIFO", &info(&path), "not a regular file");
    std::fs::remove_file(&data).unwrap();
    // Shorter than the tensor: refused before reading.
    std::fs::write(&data, &bytes[..8]).unwrap();
    clean_failure("8 bytes for a 16-byte tensor", &info(&path), "lie outside");
    // A 3 GB (sparse) file: only the tensor's 16 bytes are read.
    let f = std::fs::File::create(&data).unwrap();
    f.set_len(3 << 30).unwrap();
    drop(f);
    let o = info(&path);
    println!(
        "16-byte tensor in a 3 GB file: {:.0} ms",
        o.elapsed.as_secs_f64() * 1e3
    );
    assert!(o.ok, "{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(2), "took {:?}", o.elapsed);
}

#[test]
fn export_refuses_an_unrunnable_size_and_cleans_stale_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "export",
        "model=yolo11n.yaml",
        "imgsz=8192",
        "batch=4096",
        "nms=True",
        "dynamic=True",
    ];
    let o = onnxide(&args, Some(dir.path()));
    clean_failure(
        "imgsz=8192 batch=4096 nms dynamic",
        &o,
        "largest intermediate",
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "wrote {:?}",
        files_in(dir.path())
    );
    // A temporary file an export killed mid-write left is removed by the next export.
    let stale = dir.path().join(".yolo11n.onnx.4294967.tmp");
    std::fs::write(&stale, b"half a model").unwrap();
    let o = onnxide(
        &["export", "model=yolo11n.yaml", "imgsz=64"],
        Some(dir.path()),
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(files_in(dir.path()), vec!["yolo11n.onnx"]);
}
