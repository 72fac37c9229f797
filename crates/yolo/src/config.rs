//! The YOLO11 model config: Ultralytics' `parse_model` rules applied to a model `yaml` dict.
//!
//! The dict comes from a checkpoint (`model.yaml`) or from the built-in YOLO11 config selected
//! by a file name such as `yolo11n.yaml`. Scaling follows `nn/tasks.py:parse_model`:
//! repeats `max(round(n*depth), 1)` for `n > 1` (Python rounds half to even), channels
//! `ceil(min(c, max_channels) * width / 8) * 8`, and every C3k2 gets `c3k=True` at scales m/l/x.

use crate::error::{Result, YoloError};
use serde_json::{json, Value};

/// What a model is for (shared with onnxide-weights, which reads it from checkpoints). Every
/// task (detect, segment, pose, obb, classify) has a head builder.
pub use onnxide_weights::Task;

/// The Detect-family head of layer 23: Detect itself, or a subclass adding a `cv4` branch.
#[derive(Clone, Debug, PartialEq)]
pub enum Head {
    Detect,
    /// `Segment(nc, nm, npr)`: `nm` mask coefficients per box, and a prototype branch of `npr`
    /// channels (scaled like any channel count) giving `nm` masks at stride 4.
    Segment {
        nm: usize,
        npr: usize,
    },
    /// `Pose(nc, kpt_shape)`: `kpt_shape = [keypoints, 2 or 3]`.
    Pose {
        kpt_shape: [usize; 2],
    },
    /// `OBB(nc, ne)`: `ne` extra parameters (the angle).
    Obb {
        ne: usize,
    },
}

impl Head {
    pub fn task(&self) -> Task {
        match self {
            Head::Detect => Task::Detect,
            Head::Segment { .. } => Task::Segment,
            Head::Pose { .. } => Task::Pose,
            Head::Obb { .. } => Task::Obb,
        }
    }

    /// Channels the head appends after box and class scores.
    pub fn extra_channels(&self) -> usize {
        match self {
            Head::Detect => 0,
            Head::Segment { nm, .. } => *nm,
            Head::Pose { kpt_shape } => kpt_shape[0] * kpt_shape[1],
            Head::Obb { ne } => *ne,
        }
    }
}

/// The task of a YAML head module named exactly as Ultralytics names it (`Detect`, `OBB`, ...).
fn task_of_head_module(m: &str) -> Option<Task> {
    [
        Task::Detect,
        Task::Segment,
        Task::Pose,
        Task::Obb,
        Task::Classify,
    ]
    .into_iter()
    .find(|t| t.head_name() == m)
}

/// One resolved layer: what it is, where its inputs come from, what it produces.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub index: usize,
    /// Absolute indices of the input layers (`None` = the image input).
    pub from: Vec<Option<usize>>,
    pub kind: LayerKind,
    pub c_out: usize,
    /// Total downsampling of this layer's output relative to the input image.
    pub stride: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    Conv {
        c1: usize,
        c2: usize,
        k: usize,
        s: usize,
    },
    C3k2 {
        c1: usize,
        c2: usize,
        n: usize,
        c3k: bool,
        e: f64,
    },
    /// YOLOv8's `C2f(c1, c2, n, shortcut)`: C3k2 with e=1.0 Bottlenecks (`e` is the split ratio).
    C2f {
        c1: usize,
        c2: usize,
        n: usize,
        shortcut: bool,
        e: f64,
    },
    Sppf {
        c1: usize,
        c2: usize,
        k: usize,
    },
    C2psa {
        c1: usize,
        c2: usize,
        n: usize,
        e: f64,
    },
    Upsample {
        factor: u32,
    },
    Concat {
        axis: i64,
    },
    /// Detect, Segment, Pose or OBB (which one is `head`).
    Detect {
        nc: usize,
        reg_max: usize,
        ch: Vec<usize>,
        head: Head,
        /// Ultralytics' `Detect.legacy` (v3/v5/v8/v9 models: `parse_model` clears it after a
        /// C3k2, A2C2f or C2fCIB): the class branch `cv3` is two 3×3 Convs instead of two
        /// depthwise-separable pairs.
        legacy: bool,
    },
    /// `Classify(c1, c2=nc)`: Conv 1x1 c1→1280, global average pool, Linear(1280, nc), softmax.
    Classify {
        c1: usize,
        nc: usize,
    },
}

impl LayerKind {
    pub fn module_name(&self) -> &'static str {
        match self {
            LayerKind::Conv { .. } => "Conv",
            LayerKind::C3k2 { .. } => "C3k2",
            LayerKind::C2f { .. } => "C2f",
            LayerKind::Sppf { .. } => "SPPF",
            LayerKind::C2psa { .. } => "C2PSA",
            LayerKind::Upsample { .. } => "nn.Upsample",
            LayerKind::Concat { .. } => "Concat",
            LayerKind::Detect { head, .. } => head.task().head_name(),
            LayerKind::Classify { .. } => "Classify",
        }
    }
}

/// A fully resolved YOLO11 model config.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Where the config came from (for messages): a checkpoint path or a built-in name.
    pub origin: String,
    /// The yaml dict as Ultralytics stores it (with `scale`, `yaml_file`, `channels`).
    pub yaml: Value,
    /// `yaml_file`, e.g. `yolo11n.yaml` (gives the metadata description `YOLO11n`).
    pub yaml_file: String,
    pub scale: String,
    pub nc: usize,
    pub channels: usize,
    pub task: Task,
    pub layers: Vec<Layer>,
}

impl ModelConfig {
    /// Strides of the head's input levels (`[8, 16, 32]`).
    pub fn head_strides(&self) -> Vec<u32> {
        match self.layers.last() {
            Some(head) => head
                .from
                .iter()
                .map(|f| f.map(|i| self.layers[i].stride).unwrap_or(1))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The head of a Detect-family model (its last layer).
    pub fn head(&self) -> Option<&Head> {
        match self.layers.last().map(|l| &l.kind) {
            Some(LayerKind::Detect { head, .. }) => Some(head),
            _ => None,
        }
    }

    /// Channels of `output0`: nc probabilities for a classifier; otherwise 4 box + nc scores
    /// + the head's extra channels.
    pub fn output_channels(&self) -> usize {
        match self.task {
            Task::Classify => self.nc,
            _ => 4 + self.nc + self.head().map(Head::extra_channels).unwrap_or(0),
        }
    }

    /// The largest stride of the network (what image sizes must be multiples of, and the
    /// metadata `stride`). A classification model has Ultralytics' `stride = [1]` ("no stride
    /// constraints"): any image size is accepted as it is.
    pub fn max_stride(&self) -> u32 {
        if self.task == Task::Classify {
            return 1;
        }
        self.head_strides().into_iter().max().unwrap_or(32)
    }

    /// What each side of `imgsz` must be a multiple of: the max stride (at least 32 for the
    /// detection heads, as Ultralytics' grids need), 1 for classification.
    pub fn imgsz_multiple(&self) -> usize {
        if self.task == Task::Classify {
            1
        } else {
            self.max_stride().max(32) as usize
        }
    }
}

/// The YOLO11 detect config as Ultralytics ships it (`cfg/models/11/yolo11.yaml`), in the form
/// it takes inside a checkpoint.
pub fn yolo11_detect_yaml() -> Value {
    json!({
        "nc": 80,
        "scales": {
            "n": [0.50, 0.25, 1024],
            "s": [0.50, 0.50, 1024],
            "m": [0.50, 1.00, 512],
            "l": [1.00, 1.00, 512],
            "x": [1.00, 1.50, 512]
        },
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],
            [-1, 1, "Conv", [128, 3, 2]],
            [-1, 2, "C3k2", [256, false, 0.25]],
            [-1, 1, "Conv", [256, 3, 2]],
            [-1, 2, "C3k2", [512, false, 0.25]],
            [-1, 1, "Conv", [512, 3, 2]],
            [-1, 2, "C3k2", [512, true]],
            [-1, 1, "Conv", [1024, 3, 2]],
            [-1, 2, "C3k2", [1024, true]],
            [-1, 1, "SPPF", [1024, 5]],
            [-1, 2, "C2PSA", [1024]]
        ],
        "head": [
            [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, false]],
            [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 2, "C3k2", [256, false]],
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 13], 1, "Concat", [1]],
            [-1, 2, "C3k2", [512, false]],
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 10], 1, "Concat", [1]],
            [-1, 2, "C3k2", [1024, true]],
            [[16, 19, 22], 1, "Detect", ["nc"]]
        ]
    })
}

/// The YOLO11 classify config (`cfg/models/11/yolo11-cls.yaml`): the detect backbone without
/// SPPF, then C2PSA and the Classify head (no neck).
pub fn yolo11_classify_yaml() -> Value {
    json!({
        "nc": 1000,
        "scales": {
            "n": [0.50, 0.25, 1024],
            "s": [0.50, 0.50, 1024],
            "m": [0.50, 1.00, 512],
            "l": [1.00, 1.00, 512],
            "x": [1.00, 1.50, 512]
        },
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],
            [-1, 1, "Conv", [128, 3, 2]],
            [-1, 2, "C3k2", [256, false, 0.25]],
            [-1, 1, "Conv", [256, 3, 2]],
            [-1, 2, "C3k2", [512, false, 0.25]],
            [-1, 1, "Conv", [512, 3, 2]],
            [-1, 2, "C3k2", [512, true]],
            [-1, 1, "Conv", [1024, 3, 2]],
            [-1, 2, "C3k2", [1024, true]],
            [-1, 2, "C2PSA", [1024]]
        ],
        "head": [
            [-1, 1, "Classify", ["nc"]]
        ]
    })
}

/// The YOLOv8 detect config as Ultralytics ships it (`cfg/models/v8/yolov8.yaml`); segment, pose
/// and obb differ in the head row (and `nc`, pose's `kpt_shape`) only.
pub fn yolov8_detect_yaml() -> Value {
    json!({
        "nc": 80,
        "scales": {
            "n": [0.33, 0.25, 1024],
            "s": [0.33, 0.50, 1024],
            "m": [0.67, 0.75, 768],
            "l": [1.00, 1.00, 512],
            "x": [1.00, 1.25, 512]
        },
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],
            [-1, 1, "Conv", [128, 3, 2]],
            [-1, 3, "C2f", [128, true]],
            [-1, 1, "Conv", [256, 3, 2]],
            [-1, 6, "C2f", [256, true]],
            [-1, 1, "Conv", [512, 3, 2]],
            [-1, 6, "C2f", [512, true]],
            [-1, 1, "Conv", [1024, 3, 2]],
            [-1, 3, "C2f", [1024, true]],
            [-1, 1, "SPPF", [1024, 5]]
        ],
        "head": [
            [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 3, "C2f", [256]],
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 12], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 9], 1, "Concat", [1]],
            [-1, 3, "C2f", [1024]],
            [[15, 18, 21], 1, "Detect", ["nc"]]
        ]
    })
}

/// The YOLOv8 classify config (`cfg/models/v8/yolov8-cls.yaml`): the detect backbone without
/// SPPF and the Classify head; max_channels 1024 at every scale.
pub fn yolov8_classify_yaml() -> Value {
    json!({
        "nc": 1000,
        "scales": {
            "n": [0.33, 0.25, 1024],
            "s": [0.33, 0.50, 1024],
            "m": [0.67, 0.75, 1024],
            "l": [1.00, 1.00, 1024],
            "x": [1.00, 1.25, 1024]
        },
        "backbone": [
            [-1, 1, "Conv", [64, 3, 2]],
            [-1, 1, "Conv", [128, 3, 2]],
            [-1, 3, "C2f", [128, true]],
            [-1, 1, "Conv", [256, 3, 2]],
            [-1, 6, "C2f", [256, true]],
            [-1, 1, "Conv", [512, 3, 2]],
            [-1, 6, "C2f", [512, true]],
            [-1, 1, "Conv", [1024, 3, 2]],
            [-1, 3, "C2f", [1024, true]]
        ],
        "head": [
            [-1, 1, "Classify", ["nc"]]
        ]
    })
}

/// A function returning a built-in yaml dict.
type YamlFn = fn() -> Value;

/// The families with built-in configs: the file-name prefix, and the detect and classify yamls.
const BUILTIN_FAMILIES: [(&str, YamlFn, YamlFn); 2] = [
    ("yolo11", yolo11_detect_yaml, yolo11_classify_yaml),
    ("yolov8", yolov8_detect_yaml, yolov8_classify_yaml),
];

/// The built-in config names, for messages.
pub const BUILTIN_NAMES: &str =
    "yolo11{n,s,m,l,x}[-seg|-pose|-obb|-cls].yaml, yolov8{n,s,m,l,x}[-seg|-pose|-obb|-cls].yaml";

/// Parses a built-in config name: `yolo11{n,s,m,l,x}[-seg|-pose|-obb|-cls].yaml` or the same
/// with `yolov8` (any folder). Returns the yaml dict (with `scale`, `yaml_file`, `channels` set)
/// or a clear error.
pub fn builtin_yaml(name: &str) -> Result<Value> {
    let file = std::path::Path::new(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = |reason: String| YoloError::Config {
        origin: name.to_string(),
        reason,
    };
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .ok_or_else(|| bad("not a .yaml config name".into()))?;
    let (family, detect_yaml, classify_yaml, rest) = BUILTIN_FAMILIES
        .iter()
        .find_map(|(prefix, d, c)| stem.strip_prefix(prefix).map(|r| (*prefix, d, c, r)))
        .ok_or_else(|| {
            bad(format!(
                "only the built-in configs are known: {BUILTIN_NAMES}"
            ))
        })?;
    let mut chars = rest.chars();
    let scale = chars.next().filter(|c| "nsmlx".contains(*c)).ok_or_else(|| {
        bad(format!(
            "the name needs a scale letter: {family}n.yaml, {family}s.yaml, {family}m.yaml, {family}l.yaml or {family}x.yaml"
        ))
    })?;
    let task = match chars.as_str() {
        "" => Task::Detect,
        "-seg" => Task::Segment,
        "-pose" => Task::Pose,
        "-obb" => Task::Obb,
        "-cls" => Task::Classify,
        other => return Err(bad(format!("unknown model variant '{other}'"))),
    };
    let mut yaml = match task {
        Task::Classify => classify_yaml(),
        _ => detect_yaml(),
    };
    // The seg, pose and obb yamls differ from the detect one only in the head row (and pose's
    // `nc: 1` and top-level `kpt_shape`).
    let from = if family == "yolov8" {
        json!([15, 18, 21])
    } else {
        json!([16, 19, 22])
    };
    let head = match task {
        Task::Segment => Some(json!([from, 1, "Segment", ["nc", 32, 256]])),
        Task::Pose => Some(json!([from, 1, "Pose", ["nc", "kpt_shape"]])),
        Task::Obb => Some(json!([from, 1, "OBB", ["nc", 1]])),
        _ => None,
    };
    if let (Some(row), Some(rows)) = (head, yaml["head"].as_array_mut()) {
        if let Some(last) = rows.last_mut() {
            *last = row;
        }
    }
    if let Some(obj) = yaml.as_object_mut() {
        if task == Task::Pose {
            obj.insert("kpt_shape".into(), json!([17, 3]));
            if family == "yolov8" {
                obj.insert("nc".into(), json!(1));
            }
        }
        obj.insert("scale".into(), json!(scale.to_string()));
        obj.insert("yaml_file".into(), json!(file));
        obj.insert("channels".into(), json!(3));
    }
    Ok(yaml)
}

/// Largest channel count a layer may have.
const MAX_CHANNELS: usize = 1 << 16;

/// `make_divisible(x, 8)`: `ceil(x / 8) * 8`.
fn make_divisible(x: f64) -> usize {
    ((x / 8.0).ceil() * 8.0) as usize
}

/// Python's `round` (half to even) for the repeat count.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

type YamlMap = serde_json::Map<String, Value>;

/// The model-wide values every layer row is read against.
struct ModelScope<'a> {
    origin: &'a str,
    obj: &'a YamlMap,
    nc: usize,
    /// Input image channels.
    channels: usize,
    scaling: Scaling,
}

/// The scale letter and its `[depth, width, max_channels]` row.
struct Scaling {
    scale: String,
    depth: f64,
    width: f64,
    max_channels: f64,
}

/// Applies `parse_model` to a yaml dict.
pub fn parse(yaml: &Value, origin: &str) -> Result<ModelConfig> {
    let cfg_err = |reason: String| YoloError::Config {
        origin: origin.to_string(),
        reason,
    };
    let obj = yaml
        .as_object()
        .ok_or_else(|| cfg_err("the model yaml is not a mapping".into()))?;
    let nc = parse_nc(obj).map_err(cfg_err)?;
    let channels = parse_channels(obj).map_err(cfg_err)?;
    let scaling = parse_scaling(obj).map_err(cfg_err)?;
    let yaml_file = yaml_file_name(obj, &scaling.scale);
    let rows: Vec<&Value> = ["backbone", "head"]
        .iter()
        .flat_map(|k| obj.get(*k).and_then(Value::as_array).into_iter().flatten())
        .collect();
    if rows.is_empty() {
        return Err(cfg_err("the model yaml has no backbone/head layers".into()));
    }
    let scope = ModelScope {
        origin,
        obj,
        nc,
        channels,
        scaling,
    };
    let (layers, task) = parse_layers(&scope, &rows)?;
    let task = task.ok_or_else(|| {
        cfg_err(
            "the model has no Detect, Segment, Pose, OBB or Classify head as its last layer".into(),
        )
    })?;
    Ok(ModelConfig {
        origin: origin.to_string(),
        yaml: yaml.clone(),
        yaml_file,
        scale: scope.scaling.scale,
        nc,
        channels,
        task,
        layers,
    })
}

/// `nc`: the number of classes, required.
fn parse_nc(obj: &YamlMap) -> Result<usize, String> {
    match obj.get("nc") {
        Some(v) => v
            .as_u64()
            .filter(|&n| (1..=100_000).contains(&n))
            .map(|n| n as usize)
            .ok_or_else(|| format!("nc must be a positive integer, got {v}")),
        None => Err("the model yaml has no 'nc'".into()),
    }
}

/// `channels`: the input image channels (3 when absent).
fn parse_channels(obj: &YamlMap) -> Result<usize, String> {
    match obj.get("channels") {
        None | Some(Value::Null) => Ok(3),
        Some(v) => v
            .as_u64()
            .filter(|&c| (1..=64).contains(&c))
            .map(|c| c as usize)
            .ok_or_else(|| format!("channels must be a small positive integer, got {v}")),
    }
}

/// `scale` and its row of `scales` (or the top-level `depth_multiple`/`width_multiple`).
fn parse_scaling(obj: &YamlMap) -> Result<Scaling, String> {
    let mut scaling = Scaling {
        scale: obj
            .get("scale")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        depth: obj
            .get("depth_multiple")
            .and_then(Value::as_f64)
            .unwrap_or(1.0),
        width: obj
            .get("width_multiple")
            .and_then(Value::as_f64)
            .unwrap_or(1.0),
        max_channels: f64::INFINITY,
    };
    let Some(scales) = obj.get("scales").and_then(Value::as_object) else {
        return Ok(scaling);
    };
    let scale = &mut scaling.scale;
    if scale.is_empty() {
        // Ultralytics warns and takes the first scale.
        *scale = scales.keys().next().cloned().unwrap_or_default();
    }
    let row = scales
        .get(scale.as_str())
        .and_then(Value::as_array)
        .filter(|r| r.len() == 3)
        .ok_or_else(|| format!("scale '{scale}' is not in the yaml's scales"))?;
    let num = |v: &Value| v.as_f64().filter(|x| x.is_finite() && *x > 0.0);
    match (num(&row[0]), num(&row[1]), num(&row[2])) {
        (Some(d), Some(w), Some(m)) => {
            (scaling.depth, scaling.width, scaling.max_channels) = (d, w, m);
            Ok(scaling)
        }
        _ => Err(format!(
            "scale '{scale}' is not [depth, width, max_channels]"
        )),
    }
}

/// The file name of `yaml_file` (`yolo11{scale}.yaml` when absent).
fn yaml_file_name(obj: &YamlMap, scale: &str) -> String {
    obj.get("yaml_file")
        .and_then(Value::as_str)
        .map(|s| {
            std::path::Path::new(s)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| s.to_string())
        })
        .unwrap_or_else(|| format!("yolo11{scale}.yaml"))
}

/// Every layer row in order, and the task of the head found last.
fn parse_layers(scope: &ModelScope, rows: &[&Value]) -> Result<(Vec<Layer>, Option<Task>)> {
    let mut layers: Vec<Layer> = Vec::with_capacity(rows.len());
    let mut task = None;
    for (i, row) in rows.iter().enumerate() {
        let row = LayerRow::read(scope, &layers, i, row, i + 1 == rows.len())?;
        let parsed = row.parse_module()?;
        if parsed.task.is_some() {
            task = parsed.task;
        }
        layers.push(Layer {
            index: i,
            from: row.from,
            kind: parsed.kind,
            c_out: parsed.c_out,
            stride: parsed.stride,
        });
    }
    Ok((layers, task))
}

/// What one module row resolves to.
struct ParsedModule {
    kind: LayerKind,
    c_out: usize,
    stride: u32,
    /// The task, for a head.
    task: Option<Task>,
}

impl ParsedModule {
    fn layer(kind: LayerKind, c_out: usize, stride: u32) -> Self {
        ParsedModule {
            kind,
            c_out,
            stride,
            task: None,
        }
    }
}

/// One `[from, repeats, module, args]` row, read against the layers before it.
struct LayerRow<'a> {
    scope: &'a ModelScope<'a>,
    layers: &'a [Layer],
    index: usize,
    is_last: bool,
    module: String,
    from: Vec<Option<usize>>,
    /// The repeat count, scaled by the depth multiple.
    n: usize,
    args: &'a [Value],
    /// Channels and stride of the first input.
    c1: usize,
    in_stride: u32,
}

impl<'a> LayerRow<'a> {
    /// Checks the row's shape, `from` and repeats.
    fn read(
        scope: &'a ModelScope<'a>,
        layers: &'a [Layer],
        i: usize,
        row: &'a Value,
        is_last: bool,
    ) -> Result<LayerRow<'a>> {
        let module = row
            .get(2)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let lerr = |reason: String| YoloError::Layer {
            origin: scope.origin.to_string(),
            layer: i,
            module: module.clone(),
            reason,
        };
        let parts = row
            .as_array()
            .filter(|r| r.len() == 4)
            .ok_or_else(|| lerr("a layer row must be [from, repeats, module, args]".into()))?;
        let from = parse_from(&parts[0], i).map_err(&lerr)?;
        let n_raw = parts[1]
            .as_i64()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| lerr("repeats must be a positive integer".into()))?;
        let n = if n_raw > 1 {
            py_round(n_raw as f64 * scope.scaling.depth).max(1) as usize
        } else {
            n_raw as usize
        };
        if n > 1000 {
            return Err(lerr(format!(
                "scaled repeat count {n} is out of range 1..=1000"
            )));
        }
        let args = parts[3]
            .as_array()
            .ok_or_else(|| lerr("args must be a list".into()))?;
        let mut row = LayerRow {
            scope,
            layers,
            index: i,
            is_last,
            module,
            from,
            n,
            args,
            c1: 0,
            in_stride: 1,
        };
        (row.c1, row.in_stride) = (row.ch_of(&row.from[0]), row.stride_of(&row.from[0]));
        Ok(row)
    }

    fn err(&self, reason: String) -> YoloError {
        YoloError::Layer {
            origin: self.scope.origin.to_string(),
            layer: self.index,
            module: self.module.clone(),
            reason,
        }
    }

    fn ch_of(&self, f: &Option<usize>) -> usize {
        match f {
            None => self.scope.channels,
            Some(j) => self.layers[*j].c_out,
        }
    }

    fn stride_of(&self, f: &Option<usize>) -> u32 {
        match f {
            None => 1,
            Some(j) => self.layers[*j].stride,
        }
    }

    /// Integer argument `k` (`"nc"` stands for the model's nc).
    fn int_arg(&self, k: usize, default: Option<i64>) -> Result<i64> {
        match self.args.get(k) {
            Some(Value::String(s)) if s == "nc" => Ok(self.scope.nc as i64),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.err(format!("argument {k} must be an integer, got {v}"))),
            None => default.ok_or_else(|| self.err(format!("argument {k} is missing"))),
        }
    }

    /// A channel count scaled by the width multiple (capped at max_channels).
    fn scaled(&self, c: i64) -> Result<usize> {
        if c <= 0 {
            return Err(self.err(format!("channel count {c} must be positive")));
        }
        let s = &self.scope.scaling;
        let c2 = make_divisible((c as f64).min(s.max_channels) * s.width);
        // Far beyond any YOLO; keeps the channel arithmetic from overflowing on hostile yaml.
        if c2 == 0 || c2 > MAX_CHANNELS {
            return Err(self.err(format!(
                "scaled channel count {c2} is out of range 1..={MAX_CHANNELS}"
            )));
        }
        Ok(c2)
    }

    fn single_input(&self, what: &str) -> Result<()> {
        if self.from.len() != 1 {
            return Err(self.err(format!("{what} takes exactly one input")));
        }
        Ok(())
    }

    /// Only C3k2/C2PSA take the repeat count as an argument; the others are never repeated in
    /// YOLO11 configs, so a repeated one is refused rather than silently stacked.
    fn no_repeat(&self, what: &str) -> Result<()> {
        if self.n != 1 {
            return Err(self.err(format!("{what} with repeats {} is not supported", self.n)));
        }
        Ok(())
    }

    fn head_must_be_last(&self) -> Result<()> {
        if !self.is_last {
            return Err(self.err("the head must be the last layer".into()));
        }
        Ok(())
    }

    fn parse_module(&self) -> Result<ParsedModule> {
        match self.module.as_str() {
            "Conv" => self.conv(),
            "C3k2" => self.c3k2(),
            "C2f" => self.c2f(),
            "SPPF" => self.sppf(),
            "C2PSA" => self.c2psa(),
            "nn.Upsample" => self.upsample(),
            "Concat" => self.concat(),
            "Classify" => self.classify(),
            other => {
                if let Some(t) = task_of_head_module(other) {
                    self.detect_head(t)
                } else if Task::from_head_class(other).is_some() {
                    // A variant of a known head (v10Detect, WorldDetect, YOLOESegment, ...).
                    Err(YoloError::UnsupportedHead {
                        head: other.into(),
                        origin: self.scope.origin.into(),
                    })
                } else {
                    Err(self.err(format!(
                        "module '{other}' is not a YOLO11 or YOLOv8 layer onnxide can build"
                    )))
                }
            }
        }
    }

    fn conv(&self) -> Result<ParsedModule> {
        self.single_input("Conv")?;
        self.no_repeat("Conv")?;
        if self.args.len() > 3 {
            return Err(
                self.err("Conv with padding/groups/dilation/act arguments is not supported".into())
            );
        }
        let c2 = self.scaled(self.int_arg(0, None)?)?;
        let k = self.int_arg(1, Some(1))?;
        let s = self.int_arg(2, Some(1))?;
        if !(1..=7).contains(&k) || k % 2 == 0 || !(1..=4).contains(&s) {
            return Err(self.err(format!(
                "kernel {k} / stride {s} out of the supported range"
            )));
        }
        let (k, s) = (k as usize, s as usize);
        let kind = LayerKind::Conv {
            c1: self.c1,
            c2,
            k,
            s,
        };
        Ok(ParsedModule::layer(kind, c2, self.in_stride * s as u32))
    }

    fn c3k2(&self) -> Result<ParsedModule> {
        self.single_input("C3k2")?;
        let c2 = self.scaled(self.int_arg(0, None)?)?;
        let mut c3k = match self.args.get(1) {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(format!("c3k must be a bool, got {v}")))?,
        };
        let e = match self.args.get(2) {
            None => 0.5,
            Some(v) => v
                .as_f64()
                .filter(|e| *e > 0.0 && *e <= 4.0)
                .ok_or_else(|| self.err(format!("e must be a positive number, got {v}")))?,
        };
        if self.args.len() > 3 {
            return Err(self.err("C3k2 with attn/g/shortcut arguments is not supported".into()));
        }
        if matches!(self.scope.scaling.scale.as_str(), "m" | "l" | "x") {
            c3k = true;
        }
        let kind = LayerKind::C3k2 {
            c1: self.c1,
            c2,
            n: self.n,
            c3k,
            e,
        };
        Ok(ParsedModule::layer(kind, c2, self.in_stride))
    }

    /// `C2f [c2, shortcut=False]` (YOLOv8); `g` and `e` arguments are refused.
    fn c2f(&self) -> Result<ParsedModule> {
        self.single_input("C2f")?;
        let c2 = self.scaled(self.int_arg(0, None)?)?;
        let shortcut = match self.args.get(1) {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(format!("shortcut must be a bool, got {v}")))?,
        };
        if self.args.len() > 2 {
            return Err(self.err("C2f with g/e arguments is not supported".into()));
        }
        let kind = LayerKind::C2f {
            c1: self.c1,
            c2,
            n: self.n,
            shortcut,
            e: 0.5,
        };
        Ok(ParsedModule::layer(kind, c2, self.in_stride))
    }

    fn sppf(&self) -> Result<ParsedModule> {
        self.single_input("SPPF")?;
        self.no_repeat("SPPF")?;
        let c2 = self.scaled(self.int_arg(0, None)?)?;
        let k = self.int_arg(1, Some(5))?;
        if !(1..=15).contains(&k) || k % 2 == 0 || self.args.len() > 2 {
            return Err(self.err("only SPPF [c2, k] with an odd k is supported".into()));
        }
        let kind = LayerKind::Sppf {
            c1: self.c1,
            c2,
            k: k as usize,
        };
        Ok(ParsedModule::layer(kind, c2, self.in_stride))
    }

    fn c2psa(&self) -> Result<ParsedModule> {
        self.single_input("C2PSA")?;
        let c2 = self.scaled(self.int_arg(0, None)?)?;
        let e = match self.args.get(1) {
            None => 0.5,
            Some(v) => v
                .as_f64()
                .filter(|e| *e > 0.0 && *e <= 1.0)
                .ok_or_else(|| self.err(format!("e must be in (0, 1], got {v}")))?,
        };
        let c1 = self.c1;
        if c1 != c2 {
            return Err(self.err(format!("C2PSA needs c1 == c2, got {c1} and {c2}")));
        }
        let c = (c1 as f64 * e) as usize;
        if c < 64 || !c.is_multiple_of(64) {
            return Err(self.err(format!(
                "C2PSA hidden width {c} must be a multiple of 64 (the head size)"
            )));
        }
        let kind = LayerKind::C2psa {
            c1,
            c2,
            n: self.n,
            e,
        };
        Ok(ParsedModule::layer(kind, c2, self.in_stride))
    }

    fn upsample(&self) -> Result<ParsedModule> {
        self.single_input("nn.Upsample")?;
        self.no_repeat("nn.Upsample")?;
        let factor = self
            .args
            .get(1)
            .and_then(|v| v.as_f64())
            .filter(|f| *f >= 1.0 && f.fract() == 0.0 && *f <= 8.0)
            .ok_or_else(|| self.err("only integer scale factors are supported".into()))?
            as u32;
        let mode = self
            .args
            .get(2)
            .and_then(Value::as_str)
            .unwrap_or("nearest");
        if mode != "nearest" {
            return Err(self.err(format!("upsampling mode '{mode}' is not supported")));
        }
        if !self.in_stride.is_multiple_of(factor) {
            return Err(self.err("upsampling past the input resolution".into()));
        }
        let kind = LayerKind::Upsample { factor };
        Ok(ParsedModule::layer(kind, self.c1, self.in_stride / factor))
    }

    fn concat(&self) -> Result<ParsedModule> {
        self.no_repeat("Concat")?;
        let axis = self.int_arg(0, Some(1))?;
        if axis != 1 {
            return Err(self.err("only channel concatenation (dim 1) is supported".into()));
        }
        let strides: Vec<u32> = self.from.iter().map(|f| self.stride_of(f)).collect();
        if strides.iter().any(|s| *s != strides[0]) {
            return Err(self.err(format!(
                "inputs have different resolutions (strides {strides:?})"
            )));
        }
        let c: usize = self.from.iter().map(|f| self.ch_of(f)).sum();
        Ok(ParsedModule::layer(
            LayerKind::Concat { axis },
            c,
            strides[0],
        ))
    }

    fn classify(&self) -> Result<ParsedModule> {
        self.single_input("Classify")?;
        self.no_repeat("Classify")?;
        self.head_must_be_last()?;
        // `parse_model`: c2 = args[0], scaled like any channel count unless it is nc.
        let nc = self.scope.nc;
        let c2 = self.int_arg(0, None)?;
        let c2 = if c2 == nc as i64 {
            nc
        } else {
            self.scaled(c2)?
        };
        if self.args.len() > 1 {
            return Err(self.err("Classify with k/s/p/g arguments is not supported".into()));
        }
        let kind = LayerKind::Classify {
            c1: self.c1,
            nc: c2,
        };
        Ok(ParsedModule {
            task: Some(Task::Classify),
            ..ParsedModule::layer(kind, c2, self.in_stride)
        })
    }

    /// Detect, Segment, Pose or OBB (`t`): the Detect-family head of the last layer.
    fn detect_head(&self, t: Task) -> Result<ParsedModule> {
        self.head_must_be_last()?;
        let head_nc = self.int_arg(0, Some(self.scope.nc as i64))?;
        if head_nc <= 0 {
            return Err(self.err("nc must be positive".into()));
        }
        let reg_max = self
            .scope
            .obj
            .get("reg_max")
            .and_then(Value::as_u64)
            .unwrap_or(16) as usize;
        if reg_max != 16 {
            return Err(self.err(format!(
                "reg_max {reg_max} is not supported (YOLO11 uses 16)"
            )));
        }
        let ch: Vec<usize> = self.from.iter().map(|f| self.ch_of(f)).collect();
        let head = match t {
            Task::Pose => self.pose_head()?,
            Task::Segment => self.segment_head()?,
            Task::Obb => self.obb_head()?,
            _ => Head::Detect,
        };
        let c_out = head_nc as usize + 4 + head.extra_channels();
        // `parse_model`: legacy until a C3k2 (A2C2f, C2fCIB) has been seen.
        let legacy = !self
            .layers
            .iter()
            .any(|l| matches!(l.kind, LayerKind::C3k2 { .. }));
        let kind = LayerKind::Detect {
            nc: head_nc as usize,
            reg_max,
            ch,
            head,
            legacy,
        };
        Ok(ParsedModule {
            task: Some(t),
            ..ParsedModule::layer(kind, c_out, self.in_stride)
        })
    }

    /// `Pose` args `[nc, kpt_shape]`: the name refers to the yaml's top-level value.
    fn pose_head(&self) -> Result<Head> {
        let v = match self.args.get(1) {
            Some(Value::String(s)) if s == "kpt_shape" => self.scope.obj.get("kpt_shape"),
            Some(v) => Some(v),
            None => None,
        };
        let ks: Option<Vec<u64>> = v
            .unwrap_or(&json!([17, 3]))
            .as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect());
        match ks.as_deref() {
            Some(&[k, d]) if (1..=1000).contains(&k) && (d == 2 || d == 3) => Ok(Head::Pose {
                kpt_shape: [k as usize, d as usize],
            }),
            _ => Err(self.err(format!(
                "kpt_shape must be [keypoints, 2 or 3], got {}",
                v.map(|v| v.to_string()).unwrap_or_default()
            ))),
        }
    }

    /// `Segment` args `[nc, nm, npr]`, npr scaled like a channel count (`parse_model`).
    fn segment_head(&self) -> Result<Head> {
        let nm = self.int_arg(1, Some(32))?;
        if !(1..=1024).contains(&nm) {
            return Err(self.err(format!("nm must be 1..=1024, got {nm}")));
        }
        let npr = self.scaled(self.int_arg(2, Some(256))?)?;
        if self.args.len() > 3 {
            return Err(self.err("Segment takes [nc, nm, npr]".into()));
        }
        Ok(Head::Segment {
            nm: nm as usize,
            npr,
        })
    }

    /// `OBB` args `[nc, ne]`; YOLO11 has one extra parameter, the angle.
    fn obb_head(&self) -> Result<Head> {
        let ne = self.int_arg(1, Some(1))?;
        if ne != 1 {
            return Err(self.err(format!("OBB with ne={ne} is not supported (YOLO11 uses 1)")));
        }
        Ok(Head::Obb { ne: 1 })
    }
}

/// `from`: an index or a list of them, relative (negative) or absolute, each an earlier layer
/// (`None` = the image input).
fn parse_from(v: &Value, i: usize) -> Result<Vec<Option<usize>>, String> {
    let from_raw: Vec<i64> = match v {
        Value::Array(a) => a.iter().map(|v| v.as_i64()).collect::<Option<_>>(),
        v => v.as_i64().map(|x| vec![x]),
    }
    .filter(|f: &Vec<i64>| !f.is_empty())
    .ok_or_else(|| "'from' must be an integer or a list of integers".to_string())?;
    from_raw
        .iter()
        .map(|&f| {
            let abs = if f < 0 { i as i64 + f } else { f };
            if abs < -1 || abs >= i as i64 {
                Err(format!("input {f} does not refer to an earlier layer"))
            } else if abs == -1 {
                Ok(None)
            } else {
                Ok(Some(abs as usize))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(name: &str) -> Vec<usize> {
        let cfg = parse(&builtin_yaml(name).unwrap(), name).unwrap();
        cfg.layers.iter().map(|l| l.c_out).collect()
    }

    #[test]
    fn layer_widths_match_the_reference_table() {
        assert_eq!(
            widths("yolo11n.yaml")[..11],
            [16, 32, 64, 64, 128, 128, 128, 256, 256, 256, 256]
        );
        assert_eq!(widths("yolo11x.yaml")[..3], [96, 192, 384]);
        assert_eq!(widths("yolo11m.yaml")[8], 512);
    }

    #[test]
    fn repeats_and_c3k_follow_the_scale() {
        let cfg = parse(&builtin_yaml("yolo11n.yaml").unwrap(), "n").unwrap();
        assert!(matches!(
            cfg.layers[2].kind,
            LayerKind::C3k2 {
                n: 1,
                c3k: false,
                ..
            }
        ));
        assert!(matches!(
            cfg.layers[6].kind,
            LayerKind::C3k2 {
                n: 1,
                c3k: true,
                ..
            }
        ));
        let cfg = parse(&builtin_yaml("yolo11l.yaml").unwrap(), "l").unwrap();
        assert!(matches!(
            cfg.layers[2].kind,
            LayerKind::C3k2 {
                n: 2,
                c3k: true,
                ..
            }
        ));
        assert!(matches!(cfg.layers[10].kind, LayerKind::C2psa { n: 2, .. }));
        assert_eq!(cfg.head_strides(), vec![8, 16, 32]);
    }

    #[test]
    fn pose_and_obb_heads_are_parsed() {
        let cfg = parse(&builtin_yaml("yolo11n-pose.yaml").unwrap(), "p").unwrap();
        assert_eq!(cfg.task, Task::Pose);
        assert_eq!(cfg.head(), Some(&Head::Pose { kpt_shape: [17, 3] }));
        assert_eq!(cfg.output_channels(), 135);
        assert_eq!(cfg.layers[23].kind.module_name(), "Pose");
        let cfg = parse(&builtin_yaml("yolo11x-obb.yaml").unwrap(), "o").unwrap();
        assert_eq!(cfg.task, Task::Obb);
        assert_eq!(cfg.head(), Some(&Head::Obb { ne: 1 }));
        assert_eq!(cfg.output_channels(), 85);
        assert_eq!(cfg.layers[23].kind.module_name(), "OBB");
        let mut yaml = builtin_yaml("yolo11n-pose.yaml").unwrap();
        yaml["kpt_shape"] = json!([17, 4]);
        assert!(parse(&yaml, "p")
            .unwrap_err()
            .to_string()
            .contains("kpt_shape"));
        let mut yaml = builtin_yaml("yolo11n-obb.yaml").unwrap();
        yaml["head"][12][3] = json!(["nc", 2]);
        assert!(parse(&yaml, "o").unwrap_err().to_string().contains("ne=2"));
    }

    #[test]
    fn classify_config_follows_parse_model() {
        let cfg = parse(&builtin_yaml("yolo11n-cls.yaml").unwrap(), "cls").unwrap();
        assert_eq!(cfg.task, Task::Classify);
        assert_eq!(cfg.layers.len(), 11);
        assert_eq!(
            cfg.layers.iter().map(|l| l.c_out).collect::<Vec<_>>(),
            [16, 32, 64, 64, 128, 128, 128, 256, 256, 256, 1000]
        );
        assert!(matches!(cfg.layers[9].kind, LayerKind::C2psa { n: 1, .. }));
        assert_eq!(
            cfg.layers[10].kind,
            LayerKind::Classify { c1: 256, nc: 1000 }
        );
        assert_eq!(cfg.max_stride(), 1);
    }

    #[test]
    fn yolov8_configs_follow_parse_model() {
        assert_eq!(
            widths("yolov8n.yaml")[..10],
            [16, 32, 32, 64, 64, 128, 128, 256, 256, 256]
        );
        let cfg = parse(&builtin_yaml("yolov8m.yaml").unwrap(), "m").unwrap();
        assert!(matches!(
            cfg.layers[4].kind,
            LayerKind::C2f {
                n: 4,
                shortcut: true,
                ..
            }
        ));
        assert!(matches!(
            cfg.layers[12].kind,
            LayerKind::C2f {
                n: 2,
                shortcut: false,
                ..
            }
        ));
        assert!(matches!(
            cfg.layers[22].kind,
            LayerKind::Detect { legacy: true, .. }
        ));
        assert_eq!(cfg.head_strides(), vec![8, 16, 32]);
        let cfg = parse(&builtin_yaml("yolo11n.yaml").unwrap(), "n").unwrap();
        assert!(matches!(
            cfg.layers[23].kind,
            LayerKind::Detect { legacy: false, .. }
        ));
        let cfg = parse(&builtin_yaml("yolov8n-pose.yaml").unwrap(), "p").unwrap();
        assert_eq!((cfg.nc, cfg.output_channels()), (1, 56));
        let cfg = parse(&builtin_yaml("yolov8x-cls.yaml").unwrap(), "c").unwrap();
        assert_eq!(cfg.layers.len(), 10);
        assert_eq!(cfg.layers[8].c_out, 1280);
    }

    #[test]
    fn absurd_scales_are_errors() {
        let mut yaml = builtin_yaml("yolo11n.yaml").unwrap();
        yaml["scales"]["n"] = json!([1e300, 1e300, 1e300]);
        assert!(parse(&yaml, "x").is_err());
    }

    #[test]
    fn segment_head_is_parsed() {
        let cfg = parse(&builtin_yaml("yolo11n-seg.yaml").unwrap(), "s").unwrap();
        assert_eq!(cfg.task, Task::Segment);
        assert_eq!(cfg.head(), Some(&Head::Segment { nm: 32, npr: 64 }));
        assert_eq!(cfg.output_channels(), 116);
        assert_eq!(cfg.layers[23].kind.module_name(), "Segment");
        let cfg = parse(&builtin_yaml("yolo11x-seg.yaml").unwrap(), "s").unwrap();
        assert_eq!(cfg.head(), Some(&Head::Segment { nm: 32, npr: 384 }));
    }

    #[test]
    fn unknown_heads_and_bad_names_are_refused() {
        let mut yaml = builtin_yaml("yolo11n.yaml").unwrap();
        yaml["head"][12][2] = json!("v10Detect");
        assert!(matches!(
            parse(&yaml, "v10"),
            Err(YoloError::UnsupportedHead { head, .. }) if head == "v10Detect"
        ));
        assert!(builtin_yaml("yolo11n-foo.yaml").is_err());
        assert!(builtin_yaml("yolo11q.yaml").is_err());
        assert!(builtin_yaml("yolov9n.yaml").is_err());
    }
}
