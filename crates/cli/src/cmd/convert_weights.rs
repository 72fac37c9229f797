//! `onnxide convert-weights SRC DST`: `.pt` (or `.safetensors`) to `.safetensors` with onnxide's metadata.

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::time::Instant;

/// Convert a YOLO11 .pt checkpoint to .safetensors.
///
/// The .safetensors file carries the model config, class names and task in its `__metadata__`, so it
/// exports on its own. The .pt is read by a restricted pickle reader: nothing in it is executed.
#[derive(clap::Args)]
pub struct Args {
    /// The checkpoint to read (.pt as Ultralytics writes it, or .safetensors).
    src: PathBuf,
    /// The .safetensors file to write (default: SRC with the extension .safetensors).
    dst: Option<PathBuf>,
}

pub fn main(args: Args) -> Result<()> {
    let dst = args
        .dst
        .unwrap_or_else(|| args.src.with_extension("safetensors"));
    if dst == args.src {
        bail!(
            "{}: source and destination are the same file",
            dst.display()
        );
    }
    let start = Instant::now();
    let summary = onnxide_weights::convert_to_safetensors(&args.src, &dst)?;
    let task = summary
        .task
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "unknown task".into());
    println!(
        "{} -> {}: {} tensors ({task}), {:.1} MB in {:.2}s",
        args.src.display(),
        dst.display(),
        summary.tensors,
        summary.file_bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
