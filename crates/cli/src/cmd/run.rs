//! `onnxide run MODEL --input NAME=FILE.npy ... --output-dir DIR [threads=N] [exact=True]`: one `.npy` per
//! graph output.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Run a model on .npy inputs and write each graph output to DIR/NAME.npy, NAME being the output's name.
///
/// Output names keep their spelling, except that path separators ('/' and backslash) become '_'.
///
/// Settings are key=value pairs, as in `bench`:
///   threads=N   worker threads (default: all cores)
///   exact=True  bit-identical to onnxruntime (ORT_DISABLE_ALL) where onnxide is today: every
///               kernel sums in onnxruntime's order. Default False: 3x3 stride-1 convolutions
///               may use Winograd, equal to onnxruntime within its own ORT_ENABLE_ALL vs
///               ORT_DISABLE_ALL spread
#[derive(clap::Args)]
// Verbatim: the settings table keeps its lines in --help.
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The .onnx file.
    model: PathBuf,
    /// An input as NAME=FILE.npy (repeat for each input). A model with one input also takes FILE.npy alone.
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE.npy")]
    inputs: Vec<String>,
    /// Folder for the outputs (created if missing).
    #[arg(long, short = 'o', value_name = "DIR")]
    output_dir: PathBuf,
    /// key=value settings: threads, exact.
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// The older spelling of threads=N.
    #[arg(long, hide = true)]
    threads: Option<usize>,
}

/// The keys `run` takes.
const KEYS: [&str; 2] = ["threads", "exact"];

/// Worker threads from `threads=N` (or the older `--threads N`; `None`: all cores) and
/// `exact=True|False`.
fn settings(args: &Args) -> Result<(Option<usize>, bool)> {
    let mut threads = args.threads;
    let mut exact = false;
    for (key, value) in keyvalue::parse(&args.settings, &KEYS, &[])? {
        match key {
            "threads" => threads = Some(keyvalue::parse_count(key, value, 1)?),
            "exact" => exact = keyvalue::parse_bool(key, value)?,
            other => bail!("unknown argument '{other}'"),
        }
    }
    Ok((threads, exact))
}

/// The file name an output is written to: the output's name, with path separators and NULs
/// replaced by '_' so that it stays inside the output folder.
pub fn output_file_name(output: &str) -> String {
    let safe: String = output
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match safe.as_str() {
        "" | "." | ".." => "_.npy".to_string(),
        _ => format!("{safe}.npy"),
    }
}

pub fn main(args: Args) -> Result<()> {
    let (threads, exact) = settings(&args)?;
    let model = onnxide_ir::load(&args.model)?;
    let session = onnxide_runtime::Session::new(
        &model,
        &onnxide_runtime::SessionOptions {
            threads,
            exact,
            ..Default::default()
        },
    )
    .with_context(|| format!("{}", args.model.display()))?;
    let expected: Vec<String> = session.inputs().iter().map(|v| v.name.clone()).collect();
    let mut feeds = Vec::new();
    for spec in &args.inputs {
        let (name, file) = match spec.split_once('=') {
            Some((n, f)) => (n.to_string(), f),
            None if expected.len() == 1 => (expected[0].clone(), spec.as_str()),
            None => bail!(
                "--input {spec}: say which input it is, as NAME=FILE.npy (the model's inputs: {})",
                expected.join(", ")
            ),
        };
        let tensor = onnxide_ir::npy::read(Path::new(file))?;
        feeds.push((name, tensor));
    }
    let outputs = session
        .run(feeds)
        .with_context(|| format!("{}", args.model.display()))?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    for (name, tensor) in &outputs {
        let path = args.output_dir.join(output_file_name(name));
        onnxide_ir::npy::write(&path, tensor)?;
        println!("{} {:?} {}", path.display(), tensor.shape(), tensor.dtype());
    }
    Ok(())
}
