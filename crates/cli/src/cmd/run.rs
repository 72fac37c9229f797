//! `onnxide run MODEL --input NAME=FILE.npy ... --output-dir DIR [threads=N memory=SIZE timeout=SECS exact=True]`:
//! one `.npy` per graph output, all written or none.

use crate::keyvalue;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Run a model on .npy inputs and write each graph output to DIR/NAME.npy, NAME being the output's name.
///
/// Output names keep their spelling, except that path separators ('/' and backslash) become '_';
/// two outputs that would get one file name are refused before the model runs. The files are
/// written into a temporary folder inside DIR and moved into place together: a failed run
/// leaves no output file behind.
///
/// Settings are key=value pairs, as in `bench`:
///   threads=N      worker threads (default: all cores; at most the logical core count)
///   memory=SIZE    memory budget for the model's tensors, as bytes or with K, M, G
///                  (default: half of the physical memory); a tensor past it stops the run
///   timeout=SECS   stop the run after this many seconds (default: none)
///   exact=True     bit-identical to onnxruntime (ORT_DISABLE_ALL) where onnxide is today: every
///                  kernel sums in onnxruntime's order. Default False: 3x3 stride-1 convolutions
///                  may use Winograd, equal to onnxruntime within its own ORT_ENABLE_ALL vs
///                  ORT_DISABLE_ALL spread
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
    /// key=value settings: threads, memory, timeout, exact.
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// The older spelling of threads=N.
    #[arg(long, hide = true)]
    threads: Option<usize>,
}

/// The keys `run` takes.
const KEYS: [&str; 4] = ["threads", "memory", "timeout", "exact"];

/// The settings of one run.
struct Settings {
    threads: Option<usize>,
    memory: Option<u64>,
    timeout: Option<std::time::Duration>,
    exact: bool,
}

fn settings(args: &Args) -> Result<Settings> {
    let mut s = Settings {
        threads: args.threads,
        memory: None,
        timeout: None,
        exact: false,
    };
    for (key, value) in keyvalue::parse(&args.settings, &KEYS, &[])? {
        match key {
            "threads" => s.threads = Some(keyvalue::parse_count(key, value, 1)?),
            "memory" => s.memory = Some(keyvalue::parse_bytes(key, value)?),
            "timeout" => s.timeout = Some(keyvalue::parse_seconds(key, value)?),
            "exact" => s.exact = keyvalue::parse_bool(key, value)?,
            other => bail!("unknown argument '{other}'"),
        }
    }
    Ok(s)
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
    let settings = settings(&args)?;
    let model = onnxide_ir::load(&args.model)?;
    let session = onnxide_runtime::Session::new(
        &model,
        &onnxide_runtime::SessionOptions {
            threads: settings.threads,
            memory: settings.memory,
            exact: settings.exact,
            ..Default::default()
        },
    )
    .with_context(|| format!("{}", args.model.display()))?;
    // Every output's file, known before anything runs: two outputs may not share one.
    let mut files: Vec<(String, String)> = Vec::new();
    for vi in session.outputs() {
        let file = output_file_name(&vi.name);
        if let Some((other, _)) = files.iter().find(|(_, f)| *f == file) {
            bail!(
                "{}: outputs '{other}' and '{}' would both be written to {file}; nothing was run or written",
                args.model.display(),
                vi.name
            );
        }
        files.push((vi.name.clone(), file));
    }
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
        .run_with(
            feeds,
            &onnxide_runtime::RunOptions {
                timeout: settings.timeout,
                ..Default::default()
            },
        )
        .with_context(|| format!("{}", args.model.display()))?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let written = write_all(&args.output_dir, &files, &outputs)?;
    for (path, (_, tensor)) in written.iter().zip(&outputs) {
        println!("{} {:?} {}", path.display(), tensor.shape(), tensor.dtype());
    }
    Ok(())
}

/// The temporary folder a run writes into (removed when dropped, whatever happened).
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const STAGING_PREFIX: &str = ".onnxide-run-";

/// Removes staging folders that runs killed before they could clean up left in `dir`
/// (those whose process is gone; Linux only, elsewhere they are left alone).
fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(STAGING_PREFIX)
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = cfg!(target_os = "linux") && !Path::new(&format!("/proc/{pid}")).exists();
        if pid != std::process::id() && gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Writes every output into a staging folder inside `dir`, then moves them all into `dir`;
/// on any failure the files already moved are removed again: all outputs or none.
fn write_all(
    dir: &Path,
    files: &[(String, String)],
    outputs: &[(String, onnxide_ir::Tensor)],
) -> Result<Vec<PathBuf>> {
    remove_stale_staging(dir);
    let staging = Staging(dir.join(format!("{STAGING_PREFIX}{}.tmp", std::process::id())));
    std::fs::create_dir(&staging.0)
        .with_context(|| format!("cannot create {}", staging.0.display()))?;
    for ((name, tensor), (_, file)) in outputs.iter().zip(files) {
        onnxide_ir::npy::write(staging.0.join(file), tensor)
            .with_context(|| format!("output '{name}'"))?;
    }
    let mut moved: Vec<PathBuf> = Vec::new();
    for (_, file) in files {
        let to = dir.join(file);
        if let Err(e) = std::fs::rename(staging.0.join(file), &to) {
            for m in &moved {
                let _ = std::fs::remove_file(m);
            }
            return Err(e).with_context(|| format!("cannot move the output into {}", to.display()));
        }
        moved.push(to);
    }
    Ok(moved)
}
