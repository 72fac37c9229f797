//! `.safetensors` read and write, with onnxide's `__metadata__` convention.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value as Json;

use crate::{Checkpoint, CheckpointMeta, Task, WeightDType, WeightTensor, WeightsError};

/// `__metadata__` key: format tag, always [`FORMAT_TAG`].
pub const KEY_FORMAT: &str = "onnxide.format";
/// Value of [`KEY_FORMAT`] for files this version writes.
pub const FORMAT_TAG: &str = "onnxide-yolo/1";
/// `__metadata__` key: task name (`detect`, `segment`, `pose`, `obb`, `classify`).
pub const KEY_TASK: &str = "onnxide.task";
/// `__metadata__` key: the model's `yaml` dict, as JSON.
pub const KEY_YAML: &str = "onnxide.yaml";
/// `__metadata__` key: class names, a JSON object `{"0": "person", ...}`.
pub const KEY_NAMES: &str = "onnxide.names";
/// `__metadata__` key: model strides, a JSON array of numbers (`[8.0, 16.0, 32.0]`).
pub const KEY_STRIDE: &str = "onnxide.stride";
/// `__metadata__` key: the model's (training) arguments, a JSON object.
pub const KEY_ARGS: &str = "onnxide.args";
/// `__metadata__` key: Ultralytics version that wrote the source checkpoint.
pub const KEY_VERSION: &str = "onnxide.ultralytics_version";
/// `__metadata__` key: date the source checkpoint was written.
pub const KEY_DATE: &str = "onnxide.date";
/// `__metadata__` key: file name of the source checkpoint.
pub const KEY_SOURCE: &str = "onnxide.source";
/// `__metadata__` key: tensor names in `state_dict` order, a JSON array of strings
/// (safetensors itself stores tensors sorted by dtype and name).
pub const KEY_ORDER: &str = "onnxide.tensor_order";

fn st_err(path: &Path, reason: impl Into<String>) -> WeightsError {
    WeightsError::SafeTensors {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn to_st(d: WeightDType) -> Dtype {
    match d {
        WeightDType::F16 => Dtype::F16,
        WeightDType::BF16 => Dtype::BF16,
        WeightDType::F32 => Dtype::F32,
        WeightDType::F64 => Dtype::F64,
        WeightDType::I64 => Dtype::I64,
        WeightDType::I32 => Dtype::I32,
        WeightDType::I16 => Dtype::I16,
        WeightDType::I8 => Dtype::I8,
        WeightDType::U8 => Dtype::U8,
        WeightDType::Bool => Dtype::BOOL,
    }
}

fn from_st(d: Dtype) -> Option<WeightDType> {
    Some(match d {
        Dtype::F16 => WeightDType::F16,
        Dtype::BF16 => WeightDType::BF16,
        Dtype::F32 => WeightDType::F32,
        Dtype::F64 => WeightDType::F64,
        Dtype::I64 => WeightDType::I64,
        Dtype::I32 => WeightDType::I32,
        Dtype::I16 => WeightDType::I16,
        Dtype::I8 => WeightDType::I8,
        Dtype::U8 => WeightDType::U8,
        Dtype::BOOL => WeightDType::Bool,
        _ => return None,
    })
}

/// The `__metadata__` map for a checkpoint (see the crate docs for the convention).
pub fn metadata_map(ck: &Checkpoint) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let meta = &ck.meta;
    m.insert("format".to_string(), "pt".to_string());
    m.insert(KEY_FORMAT.to_string(), FORMAT_TAG.to_string());
    if let Some(t) = meta.task {
        m.insert(KEY_TASK.to_string(), t.as_str().to_string());
    }
    if let Some(y) = &meta.yaml {
        m.insert(KEY_YAML.to_string(), y.to_string());
    }
    let names: serde_json::Map<String, Json> = meta
        .names
        .iter()
        .map(|(k, v)| (k.to_string(), Json::String(v.clone())))
        .collect();
    m.insert(KEY_NAMES.to_string(), Json::Object(names).to_string());
    let stride: Vec<Json> = meta
        .stride
        .iter()
        .map(|&s| {
            serde_json::Number::from_f64(s as f64)
                .map(Json::Number)
                .unwrap_or(Json::Null)
        })
        .collect();
    m.insert(KEY_STRIDE.to_string(), Json::Array(stride).to_string());
    m.insert(KEY_ARGS.to_string(), meta.args.to_string());
    if let Some(v) = &meta.version {
        m.insert(KEY_VERSION.to_string(), v.clone());
    }
    if let Some(d) = &meta.date {
        m.insert(KEY_DATE.to_string(), d.clone());
    }
    let source = meta.source.clone().or_else(|| {
        ck.source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    if let Some(s) = source {
        m.insert(KEY_SOURCE.to_string(), s);
    }
    let order: Vec<Json> = ck
        .tensors
        .iter()
        .map(|(n, _)| Json::String(n.clone()))
        .collect();
    m.insert(KEY_ORDER.to_string(), Json::Array(order).to_string());
    m
}

/// Write `ck` as a safetensors file at `path` (atomically: a temporary file in the
/// same folder, then a rename).
pub fn save_safetensors(ck: &Checkpoint, path: &Path) -> Result<(), WeightsError> {
    let mut views = Vec::with_capacity(ck.tensors.len());
    let mut seen = std::collections::HashSet::new();
    for (name, t) in &ck.tensors {
        if !seen.insert(name.as_str()) {
            return Err(st_err(path, format!("duplicate tensor name `{name}`")));
        }
        let v = TensorView::new(to_st(t.dtype), t.shape.clone(), &t.data)
            .map_err(|e| st_err(path, format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), v));
    }
    let meta = Some(metadata_map(ck));
    crate::write_atomically(path, |tmp| {
        safetensors::tensor::serialize_to_file(views, &meta, tmp)
            .map_err(|e| st_err(path, e.to_string()))
    })
}

pub(crate) fn load_safetensors_bytes(
    path: &Path,
    bytes: &[u8],
) -> Result<Checkpoint, WeightsError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| st_err(path, format!("{e:?}")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| st_err(path, format!("{e:?}")))?;
    let infos = header.tensors();
    let empty = HashMap::new();
    let md = header.metadata().as_ref().unwrap_or(&empty);

    // Order: the recorded state_dict order when it names exactly the file's tensors,
    // otherwise the order of the data in the file.
    let recorded: Option<Vec<String>> = md
        .get(KEY_ORDER)
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .filter(|o| {
            o.len() == infos.len()
                && o.iter().all(|n| infos.contains_key(n))
                && o.iter().collect::<std::collections::HashSet<_>>().len() == o.len()
        });
    let order = match recorded {
        Some(o) => o,
        None => {
            let mut names: Vec<(&String, usize)> =
                infos.iter().map(|(n, i)| (n, i.data_offsets.0)).collect();
            names.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
            names.into_iter().map(|(n, _)| n.clone()).collect()
        }
    };
    let mut tensors = Vec::with_capacity(order.len());
    for name in order {
        let v = st
            .tensor(&name)
            .map_err(|e| st_err(path, format!("tensor `{name}`: {e:?}")))?;
        let dtype = from_st(v.dtype()).ok_or_else(|| {
            st_err(
                path,
                format!("tensor `{name}`: unsupported dtype {:?}", v.dtype()),
            )
        })?;
        tensors.push((
            name,
            WeightTensor {
                dtype,
                shape: v.shape().to_vec(),
                data: v.data().to_vec(),
            },
        ));
    }

    let json = |key: &str| -> Result<Option<Json>, WeightsError> {
        match md.get(key) {
            None => Ok(None),
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| st_err(path, format!("metadata `{key}` is not JSON: {e}"))),
        }
    };
    let mut meta = CheckpointMeta {
        yaml: json(KEY_YAML)?,
        args: json(KEY_ARGS)?.unwrap_or_else(|| Json::Object(Default::default())),
        version: md.get(KEY_VERSION).cloned(),
        date: md.get(KEY_DATE).cloned(),
        ..Default::default()
    };
    if let Some(t) = md.get(KEY_TASK) {
        meta.task =
            Some(Task::from_name(t).ok_or_else(|| {
                st_err(path, format!("metadata `{KEY_TASK}`: unknown task {t:?}"))
            })?);
    }
    if let Some(n) = json(KEY_NAMES)? {
        let obj = n
            .as_object()
            .ok_or_else(|| st_err(path, format!("metadata `{KEY_NAMES}` is not an object")))?;
        let mut names = BTreeMap::new();
        for (k, v) in obj {
            let i: i64 = k.parse().map_err(|_| {
                st_err(
                    path,
                    format!("metadata `{KEY_NAMES}`: key {k:?} is not an integer"),
                )
            })?;
            let s = v.as_str().ok_or_else(|| {
                st_err(
                    path,
                    format!("metadata `{KEY_NAMES}`: value of {k} is not a string"),
                )
            })?;
            names.insert(i, s.to_string());
        }
        meta.names = names;
    }
    if let Some(s) = json(KEY_STRIDE)? {
        let a = s
            .as_array()
            .ok_or_else(|| st_err(path, format!("metadata `{KEY_STRIDE}` is not an array")))?;
        meta.stride = a
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| st_err(path, format!("metadata `{KEY_STRIDE}` holds a non-number")))?;
    }
    meta.source = md.get(KEY_SOURCE).cloned();
    Ok(Checkpoint {
        tensors,
        meta,
        source: path.to_path_buf(),
    })
}
