//! Developer tasks: `cargo xtask <task> [args]`. Each task lives in its own module.

mod bench_export;
mod bench_model;
mod bench_slim;
mod cycles;
mod export;
mod fuzz;
mod interop;
mod measure;
mod python;

use anyhow::{bail, Result};
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <task> [args...]

tasks:
  fixtures [--only NAME...]   regenerate fixtures/ (needs Python with ultralytics, torch, torchvision, onnx,
                              onnxruntime); with no arguments also the model zoo, fixtures/families, fixtures/slim
                              and fixtures/predict
  fixtures zoo                regenerate only the model zoo (ResNet-18, MobileNet-v3, YOLOv8n, YOLO12n)
  fixtures slim [--only NAME...]
                              regenerate fixtures/slim (unslimmed torchvision and Ultralytics exports for the
                              slim comparison, with onnxslim's and onnxsim's node counts; needs onnxslim, onnxsim)
  fixtures families           regenerate only fixtures/families (tiny seeded YOLOv8 checkpoints of every
                              task, Ultralytics' exports of them, built-in configs' parameter counts)
  fixtures predict            Ultralytics' predict labels on the fixture exports for `onnxide predict`'s tests
                              (fixtures/predict; needs ultralytics and opencv)
  nodetests [DIR]             generate the ONNX backend node tests into DIR (default fixtures/.cache/nodetests;
                              needs Python with onnx)
  bench [rounds=N] [runs=N] [warmup=N] [cache=DIR]
                              onnxide vs onnxruntime vs OpenVINO (Python) on YOLO11n/s exported by onnxide:
                              median, ratios, session creation, peak memory, alternating the engines
                              (`cargo xtask bench --help` for the rows and columns)
  bench export [model=F] [runs=N]
                              whole-process time of `onnxide export` vs `yolo export format=onnx`
                              (median of N=5 runs each, ratio table; needs Ultralytics' `yolo`)
  bench slim [model=F] [runs=N]
                              whole-process time of `onnxide slim` vs `onnxslim` and `onnxsim` (median of N=5,
                              alternating; default model: the unslimmed YOLO11n detect export in fixtures/slim)
  cycles [DIR]                fail on import cycles between the modules of any crate in the workspace (DIR,
                              default this one), printing each cycle with the files and lines of its edges
  export key=value ...        the same as `onnxide export` (YOLO11/YOLOv8 -> ONNX), e.g. export model=yolo11n.pt
  fuzz [SECS] [TARGET...]     run every cargo-fuzz target in fuzz/ (or those named) SECS seconds each
                              (default 60); needs `cargo install cargo-fuzz`
  interop [reference]         Ultralytics' YOLO(ours.onnx).predict() vs its own export on bus/zidane;
                              `reference`: Ultralytics output for onnxide's seeded yolo11s.yaml weights
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((task, rest)) = args.split_first() else {
        print!("{HELP}");
        return Ok(());
    };
    match task.as_str() {
        // `fixtures zoo` makes only the model zoo; `fixtures [--only ...]` the YOLO11 fixtures, and
        // with no arguments the zoo too.
        "fixtures" if rest.first().map(String::as_str) == Some("predict") => {
            python::script("xtask/fixtures/make_predict.py", &rest[1..])
        }
        "fixtures" if rest.first().map(String::as_str) == Some("zoo") => {
            python::script("xtask/fixtures/make_zoo.py", &rest[1..])
        }
        "fixtures" if rest.first().map(String::as_str) == Some("slim") => {
            python::script("xtask/fixtures/make_slim_models.py", &rest[1..])
        }
        "fixtures" if rest.first().map(String::as_str) == Some("families") => {
            python::script("xtask/fixtures/make_families.py", &rest[1..])
        }
        "fixtures" => {
            python::script("xtask/fixtures/make_fixtures.py", rest)?;
            if rest.is_empty() {
                python::script("xtask/fixtures/make_zoo.py", &[])?;
                python::script("xtask/fixtures/letterbox_images.py", &[])?;
                python::script("xtask/fixtures/make_families.py", &[])?;
                python::script("xtask/fixtures/make_slim_models.py", &[])?;
                python::script("xtask/fixtures/make_predict.py", &[])?;
            }
            Ok(())
        }
        "nodetests" => {
            let default = ["fixtures/.cache/nodetests".to_string()];
            python::script(
                "xtask/nodetests/generate.py",
                if rest.is_empty() { &default } else { rest },
            )
        }
        "bench" if rest.first().map(String::as_str) == Some("export") => {
            bench_export::run(&rest[1..])
        }
        "bench" if rest.first().map(String::as_str) == Some("slim") => bench_slim::run(&rest[1..]),
        "bench" => bench_model::run(rest),
        "cycles" => cycles::run(rest),
        "export" => export::run(rest),
        "fuzz" => fuzz::run(rest),
        "interop" => interop::run(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task '{other}'\n\n{HELP}"),
    }
}
