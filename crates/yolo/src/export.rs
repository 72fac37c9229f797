//! The export entry point: a [`YoloModel`] (checkpoint or built-in config) plus
//! [`ExportOptions`] gives an [`onnxide_ir::Model`] shaped like Ultralytics' ONNX export after
//! onnxslim (no Identity, no Constant nodes, constants as initializers).

use crate::blocks::{self, Ctx, Feature};
use crate::builder::{GraphBuilder, Site};
use crate::config::{self, Head, LayerKind, ModelConfig, Task};
use crate::error::{Result, YoloError};
use crate::metadata::{metadata, MetaInputs};
use crate::options;
/// The options and their limits, defined in [`crate::options`] (re-exported: this was their home).
pub use crate::options::{
    ExportOptions, DEFAULT_OPSET, MAX_BATCH, MAX_IMGSZ, MAX_OPSET, MIN_NMS_OPSET, MIN_OPSET,
};
use crate::params::{CheckpointParams, ParamSource, RandomParams};
use onnxide_ir::{DType, Dim, Graph, Model, OpsetImport, ValueInfo};
use onnxide_weights::{Checkpoint, CheckpointMeta};
use std::collections::BTreeMap;
use std::path::Path;

/// Seed of the random weights of a model built from a config name.
pub const DEFAULT_SEED: u64 = 0;

/// Where the weights come from.
#[derive(Clone, Debug)]
enum Weights {
    Checkpoint(Box<Checkpoint>),
    Random { seed: u64 },
}

/// A model ready to export: resolved config, weights, class names.
#[derive(Clone, Debug)]
pub struct YoloModel {
    config: ModelConfig,
    weights: Weights,
    names: BTreeMap<i64, String>,
    data: Option<String>,
}

/// `{0: '0', 1: '1', ...}`: the names of a model built from a config.
fn default_names(nc: usize) -> BTreeMap<i64, String> {
    (0..nc as i64).map(|i| (i, i.to_string())).collect()
}

impl YoloModel {
    /// A model from a checkpoint (`.pt` or `.safetensors` with onnxide metadata).
    pub fn from_checkpoint(ck: Checkpoint) -> Result<YoloModel> {
        let origin = ck.source.display().to_string();
        let yaml = ck.meta.yaml.as_ref().ok_or_else(|| YoloError::Config {
            origin: origin.clone(),
            reason: "the checkpoint carries no model yaml (architecture); export it from an Ultralytics .pt or an onnxide .safetensors".into(),
        })?;
        let config = config::parse(yaml, &origin)?;
        let names = if ck.meta.names.is_empty() {
            default_names(config.nc)
        } else {
            ck.meta.names.clone()
        };
        let data = ck
            .meta
            .args
            .get("data")
            .and_then(|d| d.as_str())
            .map(str::to_string);
        Ok(YoloModel {
            config,
            weights: Weights::Checkpoint(Box::new(ck)),
            names,
            data,
        })
    }

    /// A model from a built-in config name (`yolo11n.yaml`), with seeded random weights.
    pub fn from_builtin(name: &str, seed: u64) -> Result<YoloModel> {
        let yaml = config::builtin_yaml(name)?;
        let config = config::parse(&yaml, name)?;
        let names = default_names(config.nc);
        Ok(YoloModel {
            config,
            weights: Weights::Random { seed },
            names,
            data: None,
        })
    }

    /// A `.yaml` name gives the built-in config; anything else is read as a weights file.
    pub fn load(model: &str) -> Result<YoloModel> {
        if model.ends_with(".yaml") || model.ends_with(".yml") {
            return YoloModel::from_builtin(model, DEFAULT_SEED);
        }
        let path = Path::new(model);
        if !path.exists() {
            return Err(YoloError::ModelNotFound(path.to_path_buf()));
        }
        let ck = onnxide_weights::load(path)?;
        YoloModel::from_checkpoint(ck)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn names(&self) -> &BTreeMap<i64, String> {
        &self.names
    }
}

/// Builds the ONNX model.
pub fn export(model: &YoloModel, opts: &ExportOptions) -> Result<Model> {
    match &model.weights {
        Weights::Checkpoint(ck) => {
            let mut params = CheckpointParams::new(ck);
            build(model, opts, &mut params)
        }
        Weights::Random { seed } => {
            let mut params = RandomParams::new(*seed);
            build(model, opts, &mut params)
        }
    }
}

/// The unfused random weights of a built-in config as a checkpoint (float16, `state_dict`
/// names), e.g. to give Ultralytics the very same weights.
pub fn random_checkpoint(name: &str, seed: u64) -> Result<Checkpoint> {
    let model = YoloModel::from_builtin(name, seed)?;
    let mut params = RandomParams::new(seed);
    build(&model, &ExportOptions::default(), &mut params)?;
    let cfg = &model.config;
    Ok(Checkpoint {
        tensors: params.into_tensors(),
        meta: CheckpointMeta {
            task: Some(cfg.task),
            yaml: Some(cfg.yaml.clone()),
            names: model.names.clone(),
            stride: if cfg.task == Task::Classify {
                vec![1.0]
            } else {
                cfg.head_strides().iter().map(|&s| s as f32).collect()
            },
            args: serde_json::json!({}),
            version: None,
            date: None,
            source: Some(name.to_string()),
        },
        source: name.into(),
    })
}

/// IR version Ultralytics' files carry for each opset (torch's choice, capped at 10).
pub fn ir_version_for(opset: i64) -> i64 {
    match opset {
        ..=11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn build(model: &YoloModel, opts: &ExportOptions, params: &mut dyn ParamSource) -> Result<Model> {
    let cfg = &model.config;
    options::check_for_model(cfg, opts)?;
    let opset = opts.opset();
    let nms = opts.nms == Some(true);
    let mut ctx = Ctx {
        g: GraphBuilder::new(opset),
        params,
        batch: opts.batch,
        imgsz: opts.imgsz,
        dynamic: opts.dynamic,
        bn_eps: crate::params::bn_eps(cfg.task),
    };
    let input = Feature {
        name: "images".into(),
        c: cfg.channels,
        stride: 1,
    };
    let mut outs: Vec<Feature> = Vec::with_capacity(cfg.layers.len());
    // The graph outputs: output0, and Segment's prototypes output1.
    let mut outputs: Vec<String> = Vec::new();
    for layer in &cfg.layers {
        let site = Site::layer(layer.index);
        let ins: Vec<Feature> = layer
            .from
            .iter()
            .map(|f| match f {
                None => outs.last().cloned().unwrap_or_else(|| input.clone()),
                Some(j) => outs[*j].clone(),
            })
            .collect();
        let x = &ins[0];
        let y = match &layer.kind {
            LayerKind::Conv { c2, k, s, .. } => {
                blocks::conv::conv(&mut ctx, &site, x, blocks::conv::ConvSpec::new(*c2, *k, *s))?
            }
            LayerKind::C3k2 { c2, n, c3k, e, .. } => {
                blocks::c3k2::c3k2(&mut ctx, &site, x, *c2, *n, *c3k, *e)?
            }
            LayerKind::C2f {
                c2, n, shortcut, e, ..
            } => blocks::c2f::c2f(&mut ctx, &site, x, *c2, *n, *shortcut, *e)?,
            LayerKind::Sppf { c2, k, .. } => blocks::sppf::sppf(&mut ctx, &site, x, *c2, *k)?,
            LayerKind::C2psa { n, e, .. } => blocks::c2psa::c2psa(&mut ctx, &site, x, *n, *e)?,
            LayerKind::Upsample { factor } => blocks::upsample(&mut ctx, &site.scope, x, *factor)?,
            LayerKind::Concat { .. } => {
                let refs: Vec<&Feature> = ins.iter().collect();
                blocks::concat(&mut ctx, &site.scope, &refs)
            }
            LayerKind::Detect {
                nc,
                reg_max,
                head,
                legacy,
                ..
            } => {
                let detect = blocks::detect::DetectSpec {
                    nc: *nc,
                    reg_max: *reg_max,
                    // NMSModel sets `Detect.xyxy = bool(nms)` (OBB keeps its xywhr boxes).
                    xyxy: nms && !matches!(head, Head::Obb { .. }),
                    legacy: *legacy,
                };
                outputs = match head {
                    Head::Detect => vec![blocks::detect::detect(
                        &mut ctx, &site, &ins, &detect, "output0",
                    )?],
                    Head::Segment { nm, npr } => {
                        let spec = blocks::segment::SegmentSpec {
                            detect,
                            nm: *nm,
                            npr: *npr,
                        };
                        blocks::segment::segment(
                            &mut ctx,
                            &site,
                            &ins,
                            &spec,
                            ["output0", "output1"],
                        )?
                        .to_vec()
                    }
                    Head::Pose { kpt_shape } => {
                        let spec = blocks::pose::PoseSpec {
                            detect,
                            kpt_shape: *kpt_shape,
                        };
                        vec![blocks::pose::pose(&mut ctx, &site, &ins, &spec, "output0")?]
                    }
                    Head::Obb { ne } => {
                        let spec = blocks::obb::ObbSpec { detect, ne: *ne };
                        vec![blocks::obb::obb(&mut ctx, &site, &ins, &spec, "output0")?]
                    }
                };
                Feature {
                    name: outputs[0].clone(),
                    c: nc + 4 + head.extra_channels(),
                    stride: 1,
                }
            }
            LayerKind::Classify { nc, .. } => {
                outputs = vec![blocks::classify::classify(
                    &mut ctx, &site, x, *nc, "output0",
                )?];
                Feature {
                    name: outputs[0].clone(),
                    c: *nc,
                    stride: 1,
                }
            }
        };
        outs.push(y);
    }
    if outputs.is_empty() {
        return Err(YoloError::Graph("the model has no head".into()));
    }
    let head_strides = cfg.head_strides();
    let (h, w) = opts.imgsz;
    let anchors: usize = head_strides
        .iter()
        .map(|&s| (h / s as usize) * (w / s as usize))
        .sum();
    let mut nms_rows = None;
    if nms {
        nms_rows = Some(crate::nms::wrap(&mut ctx.g, cfg, opts, anchors)?);
    }
    let (nodes, initializers) = ctx.g.finish();
    let classify = cfg.task == Task::Classify;
    let no = cfg.output_channels();
    let (in_shape, out_shape) = if opts.dynamic {
        let p = |s: &str| Dim::Param(s.into());
        (
            vec![
                p("batch"),
                Dim::Fixed(cfg.channels as u64),
                p("height"),
                p("width"),
            ],
            if classify {
                // No dynamic axis is declared for the output: torch names it after the op.
                vec![p("Softmaxoutput0_dim_0"), Dim::Fixed(no as u64)]
            } else {
                vec![p("batch"), Dim::Fixed(no as u64), p("anchors")]
            },
        )
    } else {
        let b = Dim::Fixed(opts.batch as u64);
        (
            vec![
                b.clone(),
                Dim::Fixed(cfg.channels as u64),
                Dim::Fixed(h as u64),
                Dim::Fixed(w as u64),
            ],
            if classify {
                vec![b, Dim::Fixed(no as u64)]
            } else {
                vec![b, Dim::Fixed(no as u64), Dim::Fixed(anchors as u64)]
            },
        )
    };
    let out_shape = match nms_rows {
        // NMSModel: `[B, max_det, 6 + extra]`.
        Some((max_det, row)) => vec![
            if opts.dynamic {
                Dim::Param("batch".into())
            } else {
                Dim::Fixed(opts.batch as u64)
            },
            Dim::Fixed(max_det as u64),
            Dim::Fixed(row as u64),
        ],
        None => out_shape,
    };
    let mut out_shapes = vec![out_shape];
    if let Some(Head::Segment { nm, .. }) = cfg.head() {
        // The prototypes `[B, nm, H/4, W/4]`; Ultralytics names the dynamic axes.
        let nm = Dim::Fixed(*nm as u64);
        out_shapes.push(if opts.dynamic {
            let p = |s: &str| Dim::Param(s.into());
            vec![p("batch"), nm, p("mask_height"), p("mask_width")]
        } else {
            vec![
                Dim::Fixed(opts.batch as u64),
                nm,
                Dim::Fixed((h / 4) as u64),
                Dim::Fixed((w / 4) as u64),
            ]
        });
    }
    if out_shapes.len() != outputs.len() {
        return Err(YoloError::Graph(format!(
            "the head made {} outputs, expected {}",
            outputs.len(),
            out_shapes.len()
        )));
    }
    let graph = Graph {
        name: "main_graph".into(),
        inputs: vec![ValueInfo::tensor("images", DType::F32, in_shape)],
        outputs: outputs
            .into_iter()
            .zip(out_shapes)
            .map(|(name, shape)| ValueInfo::tensor(name, DType::F32, shape))
            .collect(),
        initializers,
        nodes,
        ..Graph::default()
    };
    let meta = MetaInputs {
        names: &model.names,
        data: model.data.as_deref(),
        max_stride: cfg.max_stride(),
    };
    let mut onnx = Model {
        ir_version: ir_version_for(opset),
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "onnxide".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph,
        metadata_props: metadata(cfg, opts, &meta),
        ..Model::default()
    };
    if opts.half {
        onnxide_convert::float16::to_float16(&mut onnx)?;
    }
    Ok(onnx)
}

/// Parameters of the exported model: the elements of every Conv weight and bias (what
/// Ultralytics prints as the fused parameter count).
pub fn count_parameters(model: &Model) -> usize {
    let g = &model.graph;
    let mut seen = std::collections::HashSet::new();
    g.nodes
        .iter()
        .filter(|n| matches!(n.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm"))
        .flat_map(|n| n.inputs.iter().skip(1))
        .filter(|name| seen.insert(name.as_str()))
        .filter_map(|name| g.initializer(name))
        .map(|t| t.tensor.len())
        .sum()
}
