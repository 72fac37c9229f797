//! `onnxide predict model=M.onnx source=S [key=value ...] [--json]`: `yolo predict` on onnxide's
//! executor (Ultralytics' pre- and postprocessing, its console lines, `runs/<task>/predict*`
//! folders and `labels/<stem>.txt` files).

use crate::keyvalue::{self, invalid, is_none, parse_bool, parse_count};
use anyhow::{bail, Context, Result};
use onnxide_vision::draw::{annotate, DrawOptions};
use onnxide_vision::{
    decode, BgrImage, PredictOptions, Prediction, Predictor, Task, Thresholds, Timing,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const ARGS_HELP: &str = "\
Arguments (key=value, as in `yolo predict`; booleans True/False):
  model=PATH        (required) an Ultralytics ONNX export (any task; nms=True and dynamic exports too)
  source=PATH       (required) an image (jpg png bmp webp tiff), a folder, a glob (dir/*.jpg), or a
                    .txt file listing paths; URLs and videos: not supported yet
  conf=0.25         minimum score        iou=0.7      NMS IoU threshold      max_det=300
  imgsz=640         640 or h,w; only for dynamic models (static ones use their export size)
  classes=None      keep only these class indices: 0 or 0,2,5
  agnostic_nms=False  one NMS over all classes
  batch=1           images per run (a static model runs in its export batch)
  save_txt=False    labels/<stem>.txt, Ultralytics' format     save_conf=False  append scores
  save=True         annotated images into the output folder (as `yolo predict` from the command line);
                    .jpg/.jpeg stay JPEG (quality 95), other images are written as PNG
  show_labels=True show_conf=True show_boxes=True line_width=None   what the annotated images show
  project=runs/<task>  name=predict  exist_ok=False   output folder project/name (name2, name3, ...
                    when it exists), made only when something is saved
  verbose=True      the per-image lines       threads=N  executor threads (default: all cores)
Not supported yet (refused): half, vid_stride, retina_masks, stream, save_crop, device, show, augment,
visualize, embed, save_frames.
--json prints one JSON object per image on stdout (the log lines go to stderr then).
Images that cannot be read are reported and skipped; the exit status is then non-zero.
Examples:
  onnxide predict model=yolo11n.onnx source=bus.jpg
  onnxide predict model=yolo11n.onnx source=images/ conf=0.5 save_txt=True save_conf=True";

/// The keys `predict` takes.
const KEYS: [&str; 21] = [
    "model",
    "source",
    "conf",
    "iou",
    "max_det",
    "imgsz",
    "classes",
    "agnostic_nms",
    "batch",
    "save",
    "save_txt",
    "save_conf",
    "show_labels",
    "show_conf",
    "show_boxes",
    "line_width",
    "project",
    "name",
    "exist_ok",
    "verbose",
    "threads",
];

/// Ultralytics predict arguments not taken yet.
const REFUSED: [&str; 11] = [
    "half",
    "vid_stride",
    "retina_masks",
    "stream",
    "save_crop",
    "device",
    "show",
    "augment",
    "visualize",
    "embed",
    "save_frames",
];

/// Ultralytics' image suffixes this reads (`IMG_FORMATS` less dng, mpo, pfm, heic).
const IMAGE_EXTS: [&str; 6] = ["bmp", "jpeg", "jpg", "png", "tif", "tiff"];
const MORE_IMAGE_EXTS: [&str; 1] = ["webp"];
const VIDEO_EXTS: [&str; 12] = [
    "asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts", "wmv", "webm",
];

/// Predict with an Ultralytics ONNX model on images, like `yolo predict`.
#[derive(clap::Args)]
#[command(after_help = ARGS_HELP)]
pub struct Args {
    /// Arguments as key=value (model=yolo11n.onnx source=bus.jpg ...); see the list below.
    #[arg(value_name = "KEY=VALUE", required = true, num_args = 1..)]
    args: Vec<String>,
    /// One JSON object per image on stdout.
    #[arg(long)]
    json: bool,
}

struct Settings {
    model: PathBuf,
    source: String,
    thresholds: Thresholds,
    imgsz: Option<(usize, usize)>,
    batch: usize,
    save: bool,
    save_txt: bool,
    save_conf: bool,
    draw: DrawOptions,
    project: Option<PathBuf>,
    name: String,
    exist_ok: bool,
    verbose: bool,
    threads: Option<usize>,
}

fn parse_f32(key: &str, value: &str, lo: f32, hi: f32) -> Result<f32> {
    let v: f32 = value
        .parse()
        .map_err(|_| invalid(key, value, "expected a number"))?;
    if !(lo..=hi).contains(&v) {
        return Err(invalid(
            key,
            value,
            format!("must be between {lo} and {hi}"),
        ));
    }
    Ok(v)
}

/// `640`, `480,640`, `[480, 640]`: `(h, w)`.
fn parse_list(key: &str, value: &str) -> Result<Vec<usize>> {
    value
        .trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'))
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| invalid(key, value, "expected whole numbers (640 or 480,640)"))
        })
        .collect()
}

fn parse(args: &[String]) -> Result<Settings> {
    let mut s = Settings {
        model: PathBuf::new(),
        source: String::new(),
        thresholds: Thresholds {
            masks: false,
            ..Thresholds::default()
        },
        imgsz: None,
        batch: 1,
        save: true,
        draw: DrawOptions::default(),
        save_txt: false,
        save_conf: false,
        project: None,
        name: "predict".into(),
        exist_ok: false,
        verbose: true,
        threads: None,
    };
    let (mut model, mut source) = (None, None);
    for (key, value) in keyvalue::parse(args, &KEYS, &REFUSED)? {
        match key {
            "model" => model = Some(PathBuf::from(value)),
            "source" => source = Some(value.to_string()),
            "conf" if is_none(value) => {}
            "conf" => s.thresholds.conf = parse_f32(key, value, 0.0, 1.0)?,
            "iou" => s.thresholds.iou = parse_f32(key, value, 0.0, 1.0)?,
            "max_det" => s.thresholds.max_det = parse_count(key, value, 1)?,
            "imgsz" => {
                let l = parse_list(key, value)?;
                s.imgsz = match l[..] {
                    [v] if v > 0 => Some((v, v)),
                    [h, w] if h > 0 && w > 0 => Some((h, w)),
                    _ => return Err(invalid(key, value, "expected 640 or h,w")),
                }
            }
            "classes" if is_none(value) => s.thresholds.classes = None,
            "classes" => s.thresholds.classes = Some(parse_list(key, value)?),
            "agnostic_nms" => s.thresholds.agnostic = parse_bool(key, value)?,
            "batch" => s.batch = parse_count(key, value, 1)?,
            "save" => s.save = parse_bool(key, value)?,
            "save_txt" => s.save_txt = parse_bool(key, value)?,
            "save_conf" => s.save_conf = parse_bool(key, value)?,
            "show_labels" => s.draw.labels = parse_bool(key, value)?,
            "show_conf" => s.draw.conf = parse_bool(key, value)?,
            "show_boxes" => s.draw.boxes = parse_bool(key, value)?,
            "line_width" if is_none(value) => s.draw.line_width = None,
            "line_width" => s.draw.line_width = Some(parse_count(key, value, 1)?),
            "project" => s.project = Some(PathBuf::from(value)),
            "name" => s.name = value.to_string(),
            "exist_ok" => s.exist_ok = parse_bool(key, value)?,
            "verbose" => s.verbose = parse_bool(key, value)?,
            "threads" => s.threads = Some(parse_count(key, value, 1)?),
            other => bail!("unknown argument '{other}'"),
        }
    }
    s.thresholds.masks = s.save;
    s.model = model.context("model=PATH is required (an Ultralytics ONNX export)")?;
    s.source =
        source.context("source=PATH is required (an image, a folder, a glob or a .txt list)")?;
    Ok(s)
}

fn ext_of(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn is_image(p: &Path) -> bool {
    let e = ext_of(p);
    IMAGE_EXTS.contains(&e.as_str()) || MORE_IMAGE_EXTS.contains(&e.as_str())
}

/// `*` and `?` against a file name.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn sorted_dir(dir: &Path, filter: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && filter(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The image paths of a source, in order. Problems that stop nothing else (a missing path in
/// a list) are returned as messages.
fn resolve_source(source: &str) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let lower = source.to_ascii_lowercase();
    if ["http://", "https://", "rtsp://", "rtmp://", "tcp://"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        bail!("source={source}: URL sources are not supported yet (download the file and pass its path)");
    }
    let path = Path::new(source);
    if VIDEO_EXTS.contains(&ext_of(path).as_str()) {
        bail!("source={source}: video sources are not supported yet");
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(['*', '?']) {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if dir.to_string_lossy().contains(['*', '?']) {
            bail!("source={source}: wildcards are supported in the file name only");
        }
        let files = sorted_dir(dir, |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| wildcard(name.as_bytes(), n.as_bytes()))
                && is_image(p)
        })?;
        if files.is_empty() {
            bail!("source={source}: no images match");
        }
        return Ok((files, Vec::new()));
    }
    if path.is_dir() {
        let files = sorted_dir(path, is_image)?;
        if files.is_empty() {
            bail!(
                "source={source}: no images in this folder (looked for {})",
                [&IMAGE_EXTS[..], &MORE_IMAGE_EXTS[..]].concat().join(", ")
            );
        }
        return Ok((files, Vec::new()));
    }
    if !path.exists() {
        bail!("source={source}: no such file or folder");
    }
    if ext_of(path) == "txt" {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let (mut files, mut problems) = (Vec::new(), Vec::new());
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let p = Path::new(line);
            let p = if p.is_absolute() || p.exists() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            if p.is_file() {
                files.push(p);
            } else {
                problems.push(format!(
                    "{}: no such file (listed in {source})",
                    p.display()
                ));
            }
        }
        return Ok((files, problems));
    }
    Ok((vec![path.to_path_buf()], Vec::new()))
}

/// `increment_path(project/name, exist_ok)`: `name`, else `name2`, `name3`, ...
fn increment_path(base: &Path, exist_ok: bool) -> PathBuf {
    if exist_ok || !base.exists() {
        return base.to_path_buf();
    }
    let s = base.to_string_lossy();
    (2..)
        .map(|n| PathBuf::from(format!("{s}{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.to_path_buf())
}

fn json_of(p: &Prediction, path: &Path, predictor: &Predictor) -> serde_json::Value {
    use serde_json::json;
    let meta = predictor.meta();
    let mut v = json!({
        "image": path.display().to_string(),
        "width": p.width,
        "height": p.height,
        "task": p.task.name(),
    });
    match p.task {
        Task::Classify => {
            v["top5"] = p
                .top5()
                .iter()
                .map(|&c| json!({"class": c, "name": meta.name(c), "conf": p.probs[c]}))
                .collect();
        }
        Task::Obb => {
            v["obb"] = p
                .obb
                .iter()
                .map(|r| json!({"class": r.class, "name": meta.name(r.class), "conf": r.conf, "xywhr": r.xywhr}))
                .collect();
        }
        _ => {
            v["boxes"] = p
                .boxes
                .iter()
                .map(|d| {
                    let mut b = json!({"class": d.class, "name": meta.name(d.class), "conf": d.conf, "xyxy": d.xyxy});
                    if !d.keypoints.is_empty() {
                        b["keypoints"] = json!(d.keypoints);
                    }
                    b
                })
                .collect();
        }
    }
    v
}

/// Writes an annotated image into `dir` under the source's name: JPEG (quality 95) for .jpg/.jpeg,
/// PNG otherwise (`<stem>.png`).
fn save_image(img: &BgrImage, source: &Path, dir: &Path) -> Result<()> {
    use onnxide_vision::image_crate::{codecs, ExtendedColorType, ImageEncoder};
    let rgb = img.to_rgb();
    let (w, h) = (img.width as u32, img.height as u32);
    let mut buf = Vec::new();
    let stem = source
        .file_stem()
        .and_then(|x| x.to_str())
        .unwrap_or("image");
    let name = match ext_of(source).as_str() {
        e @ ("jpg" | "jpeg") => {
            codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95)
                .write_image(&rgb, w, h, ExtendedColorType::Rgb8)
                .with_context(|| format!("{}: cannot encode", source.display()))?;
            format!("{stem}.{e}")
        }
        _ => {
            codecs::png::PngEncoder::new(&mut buf)
                .write_image(&rgb, w, h, ExtendedColorType::Rgb8)
                .with_context(|| format!("{}: cannot encode", source.display()))?;
            format!("{stem}.png")
        }
    };
    onnxide_ir::write_atomic(&dir.join(name), &buf)?;
    Ok(())
}

pub fn main(args: Args) -> Result<()> {
    let s = parse(&args.args)?;
    let (files, mut problems) = resolve_source(&s.source)?;
    let model = onnxide_ir::load(&s.model)?;
    let predictor = Predictor::new(
        &model,
        &onnxide_runtime::SessionOptions {
            threads: s.threads,
            ..Default::default()
        },
        PredictOptions {
            thresholds: s.thresholds.clone(),
            imgsz: s.imgsz,
        },
    )
    .with_context(|| format!("{}", s.model.display()))?;
    let task = predictor.meta().task;
    let log = |line: &str| {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    for p in &problems {
        log(&format!("error: {p}"));
    }
    let save_dir = if s.save_txt || s.save {
        let project = s
            .project
            .clone()
            .unwrap_or_else(|| Path::new("runs").join(task.name()));
        let dir = increment_path(&project.join(&s.name), s.exist_ok);
        let made = if s.save_txt {
            dir.join("labels")
        } else {
            dir.clone()
        };
        std::fs::create_dir_all(&made)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Some(dir)
    } else {
        None
    };
    let total = files.len();
    let (mut seen, mut labels) = (0usize, 0usize);
    let mut sum = Timing::default();
    let mut shape = (1, predictor.imgsz().0, predictor.imgsz().1);
    let mut index = 0usize;
    for chunk in files.chunks(s.batch) {
        let mut images: Vec<(usize, &PathBuf, BgrImage)> = Vec::new();
        for path in chunk {
            index += 1;
            let read = std::fs::read(path)
                .map_err(anyhow::Error::from)
                .and_then(|b| decode(&b).map_err(anyhow::Error::from));
            match read {
                Ok(im) => images.push((index, path, im)),
                Err(e) => {
                    let msg = format!("{}: {e}", path.display());
                    log(&format!("error: {msg}"));
                    problems.push(msg);
                }
            }
        }
        if images.is_empty() {
            continue;
        }
        let batch: Vec<BgrImage> = images.iter().map(|(_, _, im)| im.clone()).collect();
        let (preds, t) = predictor
            .predict_batch(&batch)
            .with_context(|| format!("{}", s.model.display()))?;
        seen += preds.len();
        sum.preprocess_ms += t.preprocess_ms;
        sum.inference_ms += t.inference_ms;
        sum.postprocess_ms += t.postprocess_ms;
        for ((i, path, image), p) in images.iter().zip(&preds) {
            shape = (batch.len().min(s.batch), p.input_hw.0, p.input_hw.1);
            if s.verbose {
                let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                let mut line = format!("image {i}/{total} {}: ", abs.display());
                let _ = write!(
                    line,
                    "{}x{} {}{:.1}ms",
                    p.input_hw.0,
                    p.input_hw.1,
                    p.summary(predictor.meta()),
                    t.inference_ms
                );
                log(&line);
            }
            if args.json {
                println!("{}", json_of(p, path, &predictor));
            }
            if let (true, Some(dir)) = (s.save, &save_dir) {
                let drawn = annotate(image, p, predictor.meta(), &s.draw);
                save_image(&drawn, path, dir)?;
            }
            if let (true, Some(dir)) = (s.save_txt, &save_dir) {
                let lines = p.txt_lines(predictor.meta(), s.save_conf);
                if !lines.is_empty() {
                    let stem = path.file_stem().and_then(|x| x.to_str()).unwrap_or("image");
                    let file = dir.join("labels").join(format!("{stem}.txt"));
                    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
                    for l in lines {
                        text.push_str(&l);
                        text.push('\n');
                    }
                    onnxide_ir::write_atomic(&file, text.as_bytes())?;
                    labels += 1;
                }
            }
        }
    }
    if seen > 0 {
        let n = seen as f64;
        log(&format!(
            "Speed: {:.1}ms preprocess, {:.1}ms inference, {:.1}ms postprocess per image at shape ({}, 3, {}, {})",
            sum.preprocess_ms / n,
            sum.inference_ms / n,
            sum.postprocess_ms / n,
            shape.0,
            shape.1,
            shape.2
        ));
    }
    if let Some(dir) = &save_dir {
        log(&format!("Results saved to {}", dir.display()));
        if s.save_txt {
            log(&format!(
                "{labels} label{} saved to {}",
                if labels == 1 { "" } else { "s" },
                dir.join("labels").display()
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} source{} could not be read (the others were processed): {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("; ")
        );
    }
    Ok(())
}
