//! Read Ultralytics YOLO11 weights without Python, and write `.safetensors`.
//!
//! # Sources
//! * **torch `.pt` checkpoints** (the zip format `torch.save` writes since torch 1.6, as
//!   `yolo11n.pt` or a trainer's `best.pt`): `data.pkl` is decoded by a restricted pickle
//!   machine written in Rust. It understands the opcodes of protocols 2 to 5, resolves every
//!   global against an allow-list (torch's tensor rebuild functions and storage types,
//!   `collections.OrderedDict`, `set`, module classes under `torch.nn.modules.*` and
//!   `ultralytics.*`, and a few plain-data helpers) and refuses anything else with an error
//!   naming the global ([`WeightsError::ForbiddenGlobal`]). Calls only build data: module
//!   classes become inert objects (class name + pickled state), tensors become strided views
//!   of the `data/<key>` storages. **Nothing the file says is executed.**
//! * **`.safetensors`** files, with or without onnxide's metadata (below).
//!
//! The legacy (pre-1.6, non-zip) torch format is recognised and refused with a message that
//! says how to re-save the file.
//!
//! # What comes out
//! A [`Checkpoint`]: the tensors under Ultralytics' `state_dict()` names in torch's order
//! (`model.0.conv.weight`, ... : each module's `_parameters`, then its persistent `_buffers`,
//! then its `_modules` in insertion order) with their stored dtypes (float16 in released
//! checkpoints; `num_batches_tracked` is int64), contiguous little-endian bytes; and a
//! [`CheckpointMeta`] with what the YOLO builder needs (`yaml`, `names`, `task`, `stride`,
//! `args`, `version`, `date`). Like Ultralytics, the EMA model is taken when present
//! (`ckpt.get("ema") or ckpt["model"]`).
//!
//! # The safetensors metadata convention (`onnxide-yolo/1`)
//! safetensors' `__metadata__` is a flat string → string map. onnxide writes these keys
//! (JSON values are compact JSON text), so that a `.safetensors` file exports alone:
//!
//! | key | value |
//! |---|---|
//! | `format` | `pt` (the Hugging Face convention for torch-layout tensors) |
//! | `onnxide.format` | `onnxide-yolo/1` |
//! | `onnxide.task` | `detect`, `segment`, `pose`, `obb` or `classify` |
//! | `onnxide.yaml` | JSON: the model's `yaml` dict (`nc`, `scale`, `scales`, `backbone`, `head`, `kpt_shape`, `channels`, ...), Python `None` → `null`, tuples → arrays |
//! | `onnxide.names` | JSON object: class index (as a string) → class name, `{"0":"person",...}` |
//! | `onnxide.stride` | JSON array of numbers: the model strides, e.g. `[8.0,16.0,32.0]` |
//! | `onnxide.args` | JSON object: the model's `args` overlaid with the checkpoint's `train_args` |
//! | `onnxide.ultralytics_version` | Ultralytics version that wrote the source checkpoint (when known) |
//! | `onnxide.date` | date of the source checkpoint (when known) |
//! | `onnxide.source` | file name of the source checkpoint |
//! | `onnxide.tensor_order` | JSON array of the tensor names in `state_dict` order |
//!
//! Tensor names are the `state_dict` names, dtypes are kept as stored. Every key is optional
//! on reading: a plain safetensors file (no metadata) reads with the tensors in file order and
//! empty metadata, and the builder must then be told the task and config some other way.
//!
//! # Safety against hostile files
//! No `unsafe`; no panics on file contents; every allocation is bounded by the file size
//! (a storage whose declared size exceeds its zip entry is refused, views are checked against
//! their storage, strings and byte runs against the remaining pickle); the pickle machine is
//! iterative and its values live in one arena, so nesting depth cannot overflow the stack.

mod dtype;
mod error;
mod pickle;
mod st;
mod torch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use dtype::{WeightDType, WeightTensor};
pub use error::WeightsError;
pub use st::{
    metadata_map, save_safetensors, FORMAT_TAG, KEY_ARGS, KEY_DATE, KEY_FORMAT, KEY_NAMES,
    KEY_ORDER, KEY_SOURCE, KEY_STRIDE, KEY_TASK, KEY_VERSION, KEY_YAML,
};

use error::io_err;

/// The YOLO task of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Detect,
    Segment,
    Pose,
    Obb,
    Classify,
}

impl Task {
    /// Ultralytics' task name (`detect`, `segment`, `pose`, `obb`, `classify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Detect => "detect",
            Task::Segment => "segment",
            Task::Pose => "pose",
            Task::Obb => "obb",
            Task::Classify => "classify",
        }
    }

    /// The head class name Ultralytics writes as metadata `head`.
    pub fn head_name(self) -> &'static str {
        match self {
            Task::Detect => "Detect",
            Task::Segment => "Segment",
            Task::Pose => "Pose",
            Task::Obb => "OBB",
            Task::Classify => "Classify",
        }
    }

    /// Parse Ultralytics' task name.
    pub fn from_name(s: &str) -> Option<Task> {
        Some(match s {
            "detect" => Task::Detect,
            "segment" => Task::Segment,
            "pose" => Task::Pose,
            "obb" => Task::Obb,
            "classify" => Task::Classify,
            _ => return None,
        })
    }

    /// The task of a head class name (`Detect`, `Segment`, `Pose`, `OBB`, `Classify`, and
    /// variants such as `WorldDetect` or `v10Detect`).
    pub fn from_head_class(class: &str) -> Option<Task> {
        let c = class.rsplit('.').next().unwrap_or(class);
        if c.ends_with("Segment") {
            Some(Task::Segment)
        } else if c.ends_with("Pose") {
            Some(Task::Pose)
        } else if c.ends_with("OBB") {
            Some(Task::Obb)
        } else if c.ends_with("Classify") {
            Some(Task::Classify)
        } else if c.ends_with("Detect") {
            Some(Task::Detect)
        } else {
            None
        }
    }

    /// The task of a model class name (`DetectionModel`, `SegmentationModel`, ...).
    pub fn from_model_class(class: &str) -> Option<Task> {
        let c = class.rsplit('.').next().unwrap_or(class);
        Some(match c {
            "SegmentationModel" => Task::Segment,
            "PoseModel" => Task::Pose,
            "OBBModel" => Task::Obb,
            "ClassificationModel" => Task::Classify,
            "DetectionModel" | "WorldModel" => Task::Detect,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the YOLO builder needs besides the tensors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckpointMeta {
    /// The task: the model's `task` attribute, else derived from the head class
    /// (`Detect`/`Segment`/`Pose`/`OBB`/`Classify`), else from `args.task`.
    pub task: Option<Task>,
    /// The model's `yaml` dict (scale, nc, backbone, head, kpt_shape, channels, ...).
    pub yaml: Option<serde_json::Value>,
    /// Class index → name.
    pub names: BTreeMap<i64, String>,
    /// Model strides (`[8, 16, 32]` for detection heads).
    pub stride: Vec<f32>,
    /// The model's `args` overlaid with the checkpoint's `train_args` (a JSON object, maybe empty).
    pub args: serde_json::Value,
    /// Ultralytics version that wrote the checkpoint.
    pub version: Option<String>,
    /// Date the checkpoint was written.
    pub date: Option<String>,
    /// File name of the original checkpoint (for a `.safetensors`, the `.pt` it came from).
    pub source: Option<String>,
}

/// Weights and metadata of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// `state_dict` name → tensor, in torch's `state_dict()` order.
    pub tensors: Vec<(String, WeightTensor)>,
    pub meta: CheckpointMeta,
    /// The file this was read from.
    pub source: PathBuf,
}

impl Checkpoint {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Read a weights file, recognised by its content: a torch zip checkpoint or a safetensors file.
pub fn load(path: &Path) -> Result<Checkpoint, WeightsError> {
    let bytes = torch::read_file(path)?;
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        torch::load_pt_bytes(path, &bytes)
    } else if looks_like_safetensors(&bytes) || path.extension().is_some_and(|e| e == "safetensors")
    {
        st::load_safetensors_bytes(path, &bytes)
    } else {
        Err(sniff_error(path, &bytes))
    }
}

/// Read a torch `.pt` zip checkpoint.
pub fn load_pt(path: &Path) -> Result<Checkpoint, WeightsError> {
    let bytes = torch::read_file(path)?;
    torch::load_pt_bytes(path, &bytes)
}

/// Read a `.safetensors` file.
pub fn load_safetensors(path: &Path) -> Result<Checkpoint, WeightsError> {
    let bytes = torch::read_file(path)?;
    st::load_safetensors_bytes(path, &bytes)
}

/// Decode a torch zip checkpoint held in memory (`path` only names it in errors).
pub fn load_pt_from_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint, WeightsError> {
    torch::load_pt_bytes(path, bytes)
}

/// Decode a safetensors file held in memory (`path` only names it in errors).
pub fn load_safetensors_from_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint, WeightsError> {
    st::load_safetensors_bytes(path, bytes)
}

/// What [`convert_to_safetensors`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    pub tensors: usize,
    /// Total bytes of tensor data written.
    pub tensor_bytes: u64,
    pub task: Option<Task>,
    /// Size of the written file.
    pub file_bytes: u64,
}

/// `onnxide convert-weights SRC DST`: read `src` (`.pt` or `.safetensors`) and write it as
/// `.safetensors` with onnxide's metadata to `dst`. The output is written to a temporary
/// file in `dst`'s folder and renamed into place, so `dst` is never half-written.
pub fn convert_to_safetensors(src: &Path, dst: &Path) -> Result<ConvertSummary, WeightsError> {
    let ck = load(src)?;
    save_safetensors(&ck, dst)?;
    let file_bytes = std::fs::metadata(dst).map_err(|e| io_err(dst, e))?.len();
    Ok(ConvertSummary {
        tensors: ck.tensors.len(),
        tensor_bytes: ck.tensors.iter().map(|(_, t)| t.data.len() as u64).sum(),
        task: ck.meta.task,
        file_bytes,
    })
}

fn looks_like_safetensors(b: &[u8]) -> bool {
    b.len() >= 9
        && b[8] == b'{'
        && u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) < (100 << 20)
}

/// The error for a file that is not a zip checkpoint: legacy torch, or unknown.
pub(crate) fn sniff_error(path: &Path, bytes: &[u8]) -> WeightsError {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Legacy torch files start with a pickled magic number (protocol 2, LONG1 of 10 bytes),
    // or are tar archives (torch < 0.4).
    let is_tar = bytes.len() > 262 && &bytes[257..262] == b"ustar";
    if bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a]) || is_tar {
        return WeightsError::LegacyTorchFormat {
            path: path.to_path_buf(),
            file,
        };
    }
    let reason = if bytes.is_empty() {
        "the file is empty".to_string()
    } else if bytes.starts_with(b"PK") {
        "damaged zip archive".to_string()
    } else if bytes.first() == Some(&0x80) {
        "a bare pickle, not a torch zip checkpoint".to_string()
    } else {
        format!(
            "unrecognised content (starts with {:02x?}); expected a torch zip checkpoint (.pt) or a .safetensors file",
            &bytes[..bytes.len().min(8)]
        )
    };
    WeightsError::UnknownFormat {
        path: path.to_path_buf(),
        reason,
    }
}

/// Write through a temporary file in the destination folder, then rename into place.
pub(crate) fn write_atomically(
    dst: &Path,
    write: impl FnOnce(&Path) -> Result<(), WeightsError>,
) -> Result<(), WeightsError> {
    let dir = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".onnxide-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| io_err(&dir, e))?;
    write(tmp.path())?;
    tmp.persist(dst).map_err(|e| io_err(dst, e.error))?;
    Ok(())
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Run the pickle machine on `data` with every storage accepted, then convert the
    /// result to JSON. Returns whether it decoded.
    pub fn unpickle(data: &[u8]) -> bool {
        let accept = |_: &str, _: u64| -> Result<(), String> { Ok(()) };
        match crate::pickle::unpickle(data, &accept) {
            Ok((heap, root)) => {
                let _ = crate::torch::to_json(&heap, root);
                true
            }
            Err(_) => false,
        }
    }
}
