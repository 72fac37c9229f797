//! `onnxide triton model=M.onnx repo=DIR [name=NAME] [max_batch=N] [version=N] [--json]`: a Triton
//! Inference Server model repository for an ONNX file.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use onnxide_deploy::triton::{write_repository, TritonOptions, DEFAULT_MAX_BATCH};
use serde_json::json;
use std::path::PathBuf;

/// Write a Triton Inference Server model repository for an ONNX file: REPO/NAME/1/model.onnx
/// (weights inline) and REPO/NAME/config.pbtxt (platform onnxruntime_onnx, the model's inputs and
/// outputs with TYPE_* and dims, -1 for symbolic dims), then start Triton with
/// `tritonserver --model-repository=REPO`.
///
/// Settings are Ultralytics-style key=value pairs:
///   model=FILE      the .onnx file (required; any ONNX model, not only onnxide's exports)
///   repo=DIR        the repository folder, created if missing (required)
///   name=NAME       the model's name and folder (default: the file's stem)
///   max_batch=N     max_batch_size of a batchable model (default 4, Triton's own default;
///                   an nms=True export: the batch it was exported for)
///   version=N       the version folder (default 1)
///
/// A model is batchable when every input starts with one symbolic dim (a `dynamic=True`
/// export): Triton then owns dim 0 and dynamic batching is on. A static export gets
/// max_batch_size 0 and its full dims. The export's metadata (task, names, stride, imgsz, ...)
/// goes into the `metadata` parameter the way Ultralytics' Triton guide writes it, so
/// `YOLO("http://localhost:8000/NAME", task="detect")` in Python finds it.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// key=value settings: model, repo, name, max_batch, version.
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

const KEYS: [&str; 5] = ["model", "repo", "name", "max_batch", "version"];

pub fn main(args: Args) -> Result<()> {
    let (mut model, mut repo, mut name, mut max_batch, mut version) = (None, None, None, None, 1);
    for (key, value) in keyvalue::parse(&args.settings, &KEYS, &[])? {
        match key {
            "model" => model = Some(PathBuf::from(value)),
            "repo" => repo = Some(PathBuf::from(value)),
            "name" => name = Some(value.to_string()),
            "max_batch" => {
                let n = keyvalue::parse_count(key, value, 1)?;
                max_batch = Some(u32::try_from(n).map_err(|_| {
                    keyvalue::invalid(key, value, "expected a count that fits in 32 bits")
                })?);
            }
            "version" => {
                let n = keyvalue::parse_count(key, value, 1)?;
                version = u32::try_from(n).map_err(|_| {
                    keyvalue::invalid(key, value, "expected a count that fits in 32 bits")
                })?;
            }
            _ => {} // keyvalue::parse returns only the keys above
        }
    }
    let Some(model_path) = model else {
        bail!("missing model=FILE (the .onnx file to serve)");
    };
    let Some(repo) = repo else {
        bail!("missing repo=DIR (the Triton model repository to write into)");
    };
    let name = match name {
        Some(n) => n,
        None => model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let loaded = onnxide_ir::load(&model_path)?;
    let options = TritonOptions {
        name,
        max_batch,
        version,
    };
    let written = write_repository(&loaded, &repo, &options)
        .with_context(|| format!("{}", model_path.display()))?;
    if args.json {
        let out = json!({
            "model": written.model.display().to_string(),
            "config": written.config.display().to_string(),
            "max_batch_size": written.max_batch_size,
        });
        println!("{out}");
    } else {
        let batching = if written.max_batch_size > 0 {
            format!(
                "dynamic batching up to {} (default {DEFAULT_MAX_BATCH})",
                written.max_batch_size
            )
        } else {
            "static shapes, no batching (export with dynamic=True to let Triton batch)".into()
        };
        println!(
            "Triton repository: {} and {} ({batching})\nserve it with: tritonserver --model-repository={}",
            written.model.display(),
            written.config.display(),
            repo.display()
        );
    }
    Ok(())
}
