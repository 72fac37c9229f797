//! `onnxide`: the command-line front end. Each subcommand lives in `cmd/<name>.rs`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "onnxide",
    version,
    about = "Pure-Rust ONNX toolchain for Ultralytics YOLO11: inspect, run and export models without Python",
    long_about = None,
    after_help = "Examples:\n  onnxide info yolo11n.onnx\n  onnxide info yolo11n.onnx --json\n  onnxide run yolo11n.onnx --input images=x.npy --output-dir out/"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Info(cmd::info::Args),
    Run(cmd::run::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => cmd::info::main(args),
        Command::Run(args) => cmd::run::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
