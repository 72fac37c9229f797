//! `onnxide`: the command-line front end. Each subcommand lives in `cmd/<name>.rs`; they share one
//! dialect: files are positional, settings are Ultralytics-style `key=value` (read by
//! `keyvalue.rs`, with a did-you-mean for misspelt keys), output choices are `--flags`.

mod cmd;
mod keyvalue;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "onnxide",
    version,
    about = "Pure-Rust ONNX toolchain for Ultralytics YOLO11: inspect, run and export models without Python",
    long_about = None,
    after_help = "Examples:\n  onnxide export model=yolo11n.pt imgsz=640\n  onnxide info yolo11n.onnx\n  onnxide info yolo11n.onnx --json\n  onnxide run yolo11n.onnx --input images=x.npy --output-dir out/ threads=2\n  onnxide bench yolo11n.onnx threads=2 runs=50\n  onnxide convert-weights yolo11n.pt yolo11n.safetensors\n  onnxide slim yolo11n.onnx yolo11n_slim.onnx\n  onnxide convert yolo11n.onnx yolo11n-op13.onnx opset=13\n  onnxide predict model=yolo11n.onnx source=bus.jpg save_txt=True\n  onnxide triton model=yolo11n.onnx repo=models/"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Info(cmd::info::Args),
    Export(cmd::export::Args),
    Run(cmd::run::Args),
    Bench(cmd::bench::Args),
    ConvertWeights(cmd::convert_weights::Args),
    Slim(cmd::slim::Args),
    Convert(cmd::convert::Args),
    Triton(cmd::triton::Args),
    Predict(cmd::predict::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is a bug, never the user's to read as a backtrace (RUST_BACKTRACE set or not):
    // the library turns kernel panics into errors, anything else ends as one line below.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Info(args) => cmd::info::main(args),
        Command::Export(args) => cmd::export::main(args),
        Command::Run(args) => cmd::run::main(args),
        Command::Bench(args) => cmd::bench::main(args),
        Command::ConvertWeights(args) => cmd::convert_weights::main(args),
        Command::Slim(args) => cmd::slim::main(args),
        Command::Convert(args) => cmd::convert::main(args),
        Command::Triton(args) => cmd::triton::main(args),
        Command::Predict(args) => cmd::predict::main(args),
    })
    .unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(anyhow::anyhow!(
            "internal error (a bug in onnxide, please report it): {what}"
        ))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text the line already shows
/// (a context message may quote its cause). The library errors do not repeat their `source` in
/// their message, so an I/O failure reads `error: FILE: I/O error: CAUSE`.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
