//! `cargo xtask export key=value ...`: the same export as `onnxide export` (shared code in
//! onnxide-yolo), for use without installing the CLI.

use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    let request = onnxide_yolo::parse_args(args)?;
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
