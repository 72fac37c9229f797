//! `onnxide export model=yolo11n.pt [key=value ...]`: YOLO11 → ONNX like `yolo export format=onnx`.

use anyhow::Result;

/// Export a YOLO11 model to ONNX, numerically equal to Ultralytics' export (no Python needed).
#[derive(clap::Args)]
#[command(after_help = onnxide_yolo::ARGS_HELP)]
pub struct Args {
    /// Export arguments as key=value (model=yolo11n.pt imgsz=640 ...); see the list below.
    #[arg(value_name = "KEY=VALUE", required = true, num_args = 1..)]
    args: Vec<String>,
}

pub fn main(args: Args) -> Result<()> {
    let request = onnxide_yolo::parse_args(&args.args)?;
    for w in &request.warnings {
        eprintln!("warning: {w}");
    }
    let summary = onnxide_yolo::run_export(&request)?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", summary.line());
    Ok(())
}
