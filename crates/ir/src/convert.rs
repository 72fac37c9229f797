//! `onnx.ModelProto` <-> [`Model`].

use crate::model::*;
use crate::{DType, IrError, NamedTensor, Tensor, TensorData};
use onnxide_proto as proto;
use proto::tensor_shape_proto::dimension::Value as DimValue;
use std::path::{Component, Path};

/// Where a model being decoded came from: the file (for messages) and the folder external data
/// is read from (`None`: external data is refused).
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub base_dir: Option<&'a Path>,
}

pub(crate) fn model_from_proto(p: proto::ModelProto, src: &Source) -> Result<Model, IrError> {
    let not_onnx = |reason: &str| IrError::NotOnnx {
        path: src.path.to_path_buf(),
        reason: reason.to_string(),
    };
    let ir_version = p.ir_version.ok_or_else(|| not_onnx("no ir_version"))?;
    if ir_version <= 0 {
        return Err(not_onnx(&format!("ir_version {ir_version}")));
    }
    let graph = p.graph.ok_or_else(|| not_onnx("no graph"))?;
    Ok(Model {
        ir_version,
        opset_imports: p
            .opset_import
            .into_iter()
            .map(|o| OpsetImport {
                domain: o.domain.unwrap_or_default(),
                version: o.version.unwrap_or_default(),
            })
            .collect(),
        producer_name: p.producer_name.unwrap_or_default(),
        producer_version: p.producer_version.unwrap_or_default(),
        domain: p.domain.unwrap_or_default(),
        model_version: p.model_version.unwrap_or_default(),
        doc_string: p.doc_string.unwrap_or_default(),
        graph: graph_from_proto(graph, src)?,
        metadata_props: props_from_proto(p.metadata_props),
        functions: p.functions,
        training_info: p.training_info,
        configuration: p.configuration,
    })
}

fn props_from_proto(v: Vec<proto::StringStringEntryProto>) -> Vec<(String, String)> {
    v.into_iter()
        .map(|e| (e.key.unwrap_or_default(), e.value.unwrap_or_default()))
        .collect()
}

fn props_to_proto(v: &[(String, String)]) -> Vec<proto::StringStringEntryProto> {
    v.iter()
        .map(|(k, v)| proto::StringStringEntryProto {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn graph_from_proto(g: proto::GraphProto, src: &Source) -> Result<Graph, IrError> {
    Ok(Graph {
        name: g.name.unwrap_or_default(),
        doc_string: g.doc_string.unwrap_or_default(),
        inputs: g.input.into_iter().map(value_info_from_proto).collect(),
        outputs: g.output.into_iter().map(value_info_from_proto).collect(),
        value_info: g
            .value_info
            .into_iter()
            .map(value_info_from_proto)
            .collect(),
        initializers: g
            .initializer
            .into_iter()
            .map(|t| tensor_from_proto(t, src))
            .collect::<Result<_, _>>()?,
        nodes: g
            .node
            .into_iter()
            .map(|n| node_from_proto(n, src))
            .collect::<Result<_, _>>()?,
        metadata_props: props_from_proto(g.metadata_props),
        sparse_initializers: g.sparse_initializer,
        quantization_annotation: g.quantization_annotation,
    })
}

fn node_from_proto(n: proto::NodeProto, src: &Source) -> Result<Node, IrError> {
    let mut node = Node {
        name: n.name.unwrap_or_default(),
        op_type: n.op_type.unwrap_or_default(),
        domain: n.domain.unwrap_or_default(),
        overload: n.overload.unwrap_or_default(),
        inputs: n.input,
        outputs: n.output,
        attributes: Vec::with_capacity(n.attribute.len()),
        doc_string: n.doc_string.unwrap_or_default(),
        metadata_props: props_from_proto(n.metadata_props),
        device_configurations: n.device_configurations,
    };
    for a in n.attribute {
        let attr =
            attribute_from_proto(a, src).map_err(|(attribute, reason)| IrError::BadAttribute {
                node: node.label(),
                attribute,
                reason,
            })?;
        node.attributes.push(attr);
    }
    Ok(node)
}

fn attribute_from_proto(
    a: proto::AttributeProto,
    src: &Source,
) -> Result<Attribute, (String, String)> {
    use proto::attribute_proto::AttributeType as T;
    let name = a.name.clone().unwrap_or_default();
    let tensor = |t: proto::TensorProto| {
        tensor_from_proto(t, src).map_err(|e| (name.clone(), e.to_string()))
    };
    let graph =
        |g: proto::GraphProto| graph_from_proto(g, src).map_err(|e| (name.clone(), e.to_string()));
    let ty = match a.r#type {
        Some(code) => T::try_from(code).unwrap_or(T::Undefined),
        None => infer_attribute_type(&a),
    };
    let value = match ty {
        T::Float => AttrValue::Float(a.f.unwrap_or_default()),
        T::Int => AttrValue::Int(a.i.unwrap_or_default()),
        T::String => AttrValue::String(a.s.clone().unwrap_or_default().to_vec()),
        T::Tensor => match a.t.clone() {
            Some(t) => AttrValue::Tensor(tensor(t)?),
            None => return Err((name, "TENSOR attribute without a tensor".into())),
        },
        T::Graph => match a.g.clone() {
            Some(g) => AttrValue::Graph(Box::new(graph(g)?)),
            None => return Err((name, "GRAPH attribute without a graph".into())),
        },
        T::Floats => AttrValue::Floats(a.floats.clone()),
        T::Ints => AttrValue::Ints(a.ints.clone()),
        T::Strings => AttrValue::Strings(a.strings.iter().map(|s| s.to_vec()).collect()),
        T::Tensors => AttrValue::Tensors(
            a.tensors
                .iter()
                .cloned()
                .map(tensor)
                .collect::<Result<_, _>>()?,
        ),
        T::Graphs => AttrValue::Graphs(
            a.graphs
                .iter()
                .cloned()
                .map(graph)
                .collect::<Result<_, _>>()?,
        ),
        T::SparseTensor | T::SparseTensors | T::TypeProto | T::TypeProtos | T::Undefined => {
            return Ok(Attribute {
                name,
                value: AttrValue::Other(Box::new(a)),
                doc_string: String::new(),
                ref_attr_name: String::new(),
            })
        }
    };
    Ok(Attribute {
        name,
        value,
        doc_string: a.doc_string.unwrap_or_default(),
        ref_attr_name: a.ref_attr_name.unwrap_or_default(),
    })
}

/// IR version 1 files may omit the attribute type: take it from whichever field is set.
fn infer_attribute_type(a: &proto::AttributeProto) -> proto::attribute_proto::AttributeType {
    use proto::attribute_proto::AttributeType as T;
    if a.f.is_some() {
        T::Float
    } else if a.i.is_some() {
        T::Int
    } else if a.s.is_some() {
        T::String
    } else if a.t.is_some() {
        T::Tensor
    } else if a.g.is_some() {
        T::Graph
    } else if !a.floats.is_empty() {
        T::Floats
    } else if !a.ints.is_empty() {
        T::Ints
    } else if !a.strings.is_empty() {
        T::Strings
    } else if !a.tensors.is_empty() {
        T::Tensors
    } else if !a.graphs.is_empty() {
        T::Graphs
    } else {
        T::Undefined
    }
}

fn value_info_from_proto(v: proto::ValueInfoProto) -> ValueInfo {
    ValueInfo {
        name: v.name.unwrap_or_default(),
        ty: v.r#type.map(type_from_proto).unwrap_or(ValueType::Unknown),
        doc_string: v.doc_string.unwrap_or_default(),
        metadata_props: props_from_proto(v.metadata_props),
    }
}

fn type_from_proto(t: proto::TypeProto) -> ValueType {
    use proto::type_proto::Value;
    let plain = t.denotation.is_none();
    if let (true, Some(Value::TensorType(tt))) = (plain, &t.value) {
        let elem_ok = tt
            .elem_type
            .is_none_or(|c| c == 0 || DType::from_onnx_code(c).is_some());
        let dims_plain = tt
            .shape
            .as_ref()
            .is_none_or(|s| s.dim.iter().all(|d| d.denotation.is_none()));
        if elem_ok && dims_plain && tt.elem_type.is_some() {
            let elem = tt.elem_type.and_then(DType::from_onnx_code);
            let shape = tt.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(DimValue::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as u64),
                        Some(DimValue::DimParam(p)) => Dim::Param(p.clone()),
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            // A negative dim_value or an undefined elem type would not survive the round trip.
            let lossless = tt.shape.as_ref().is_none_or(|s| {
                s.dim
                    .iter()
                    .all(|d| !matches!(d.value, Some(DimValue::DimValue(v)) if v < 0))
            }) && elem.is_some();
            if lossless {
                return ValueType::Tensor { elem, shape };
            }
        }
    }
    ValueType::Other(t)
}

fn type_to_proto(t: &ValueType) -> Option<proto::TypeProto> {
    match t {
        ValueType::Unknown => None,
        ValueType::Other(p) => Some(p.clone()),
        ValueType::Tensor { elem, shape } => Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: Some(elem.map(DType::onnx_code).unwrap_or(0)),
                    shape: shape.as_ref().map(|dims| proto::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| proto::tensor_shape_proto::Dimension {
                                value: match d {
                                    Dim::Fixed(v) => Some(DimValue::DimValue(*v as i64)),
                                    Dim::Param(p) => Some(DimValue::DimParam(p.clone())),
                                    Dim::Unknown => None,
                                },
                                denotation: None,
                            })
                            .collect(),
                    }),
                },
            )),
            denotation: None,
        }),
    }
}

pub(crate) fn tensor_from_proto(
    t: proto::TensorProto,
    src: &Source,
) -> Result<NamedTensor, IrError> {
    let name = t.name.clone().unwrap_or_default();
    let bad = |reason: String| IrError::BadTensor {
        path: src.path.to_path_buf(),
        tensor: name.clone(),
        reason,
    };
    let code = t.data_type.unwrap_or(0);
    let dtype =
        DType::from_onnx_code(code).ok_or_else(|| bad(format!("unknown data_type {code}")))?;
    let shape = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| bad(format!("negative dimension {d} in {:?}", t.dims)))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    crate::tensor::element_count(&shape)
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let external = t.data_location == Some(proto::tensor_proto::DataLocation::External as i32);
    let tensor = if external {
        let bytes = read_external(&t, &name, src, dtype, &shape)?;
        Tensor::from_raw_bytes(dtype, shape, &bytes).map_err(|e| e.to_string())
    } else if let Some(raw) = &t.raw_data {
        Tensor::from_raw_bytes(dtype, shape, raw).map_err(|e| e.to_string())
    } else {
        typed_fields_to_tensor(&t, dtype, shape)
    }
    .map_err(bad)?;
    Ok(NamedTensor {
        name,
        doc_string: t.doc_string.unwrap_or_default(),
        tensor,
    })
}

fn typed_fields_to_tensor(
    t: &proto::TensorProto,
    dtype: DType,
    shape: Vec<usize>,
) -> Result<Tensor, String> {
    fn cast<A: Copy, B>(v: &[A], f: impl Fn(A) -> B) -> Vec<B> {
        v.iter().map(|&x| f(x)).collect()
    }
    let ints = &t.int32_data;
    let data = match dtype {
        DType::F32 => TensorData::F32(t.float_data.clone()),
        DType::F64 => TensorData::F64(t.double_data.clone()),
        DType::I64 => TensorData::I64(t.int64_data.clone()),
        DType::I32 => TensorData::I32(ints.clone()),
        DType::I16 => TensorData::I16(cast(ints, |x| x as i16)),
        DType::I8 => TensorData::I8(cast(ints, |x| x as i8)),
        DType::U16 => TensorData::U16(cast(ints, |x| x as u16)),
        DType::U8 => TensorData::U8(cast(ints, |x| x as u8)),
        DType::Bool => TensorData::Bool(cast(ints, |x| x != 0)),
        DType::F16 => TensorData::F16(cast(ints, |x| half::f16::from_bits(x as u16))),
        DType::BF16 => TensorData::BF16(cast(ints, |x| half::bf16::from_bits(x as u16))),
        DType::U32 => TensorData::U32(cast(&t.uint64_data, |x| x as u32)),
        DType::U64 => TensorData::U64(t.uint64_data.clone()),
        DType::String => TensorData::String(t.string_data.iter().map(|s| s.to_vec()).collect()),
        DType::Complex64 => TensorData::Raw {
            dtype,
            bytes: t.float_data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        },
        DType::Complex128 => TensorData::Raw {
            dtype,
            bytes: t.double_data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        },
        // float8, int4, int2, float4, float6: one (packed) byte per int32_data entry.
        other => TensorData::Raw {
            dtype: other,
            bytes: cast(ints, |x| x as u8),
        },
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// Reads an external tensor's bytes: only from a regular file that is inside the model's
/// folder once every symlink is resolved, only the tensor's declared size (checked against
/// the file's length before anything is read), by range.
fn read_external(
    t: &proto::TensorProto,
    name: &str,
    src: &Source,
    dtype: DType,
    shape: &[usize],
) -> Result<Vec<u8>, IrError> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |reason: String| IrError::ExternalData {
        path: src.path.to_path_buf(),
        tensor: name.to_string(),
        reason,
    };
    let base = src.base_dir.ok_or_else(|| {
        bad("the model was not read from a file, so external data has no folder".into())
    })?;
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for kv in &t.external_data {
        let value = kv.value.clone().unwrap_or_default();
        match kv.key.as_deref() {
            Some("location") => location = Some(value),
            Some("offset") => {
                offset = value
                    .parse()
                    .map_err(|_| bad(format!("bad offset '{value}'")))?
            }
            Some("length") => {
                length = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad(format!("bad length '{value}'")))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or_else(|| bad("no 'location' key".into()))?;
    let rel = Path::new(&location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!(
            "location '{location}' must be a relative path inside the model's folder"
        )));
    }
    let count = crate::tensor::element_count(shape)
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let expected = dtype
        .raw_len(count)
        .ok_or_else(|| bad(format!("{dtype} tensors cannot be stored as external data")))?;
    if let Some(l) = length {
        if l != expected as u64 {
            return Err(bad(format!(
                "length {l} does not match the tensor's {expected} bytes ({dtype} {shape:?})"
            )));
        }
    }
    // Symlinks resolved: the file must still lie inside the model's folder.
    let folder = base
        .canonicalize()
        .map_err(|e| bad(format!("{}: {e}", base.display())))?;
    let file = base
        .join(rel)
        .canonicalize()
        .map_err(|e| bad(format!("{}: {e}", base.join(rel).display())))?;
    if !file.starts_with(&folder) {
        return Err(bad(format!(
            "location '{location}' leads outside the model's folder (through a symbolic link)"
        )));
    }
    // Only regular files: a FIFO or a device is refused before it is opened.
    let meta = std::fs::metadata(&file).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(bad(format!("{} is not a regular file", file.display())));
    }
    let end = offset
        .checked_add(expected as u64)
        .ok_or_else(|| bad("offset + length overflows".into()))?;
    if end > meta.len() {
        return Err(bad(format!(
            "bytes {offset}..{end} lie outside {} ({} bytes)",
            file.display(),
            meta.len()
        )));
    }
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(&file)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut data = Vec::new();
        data.try_reserve_exact(expected)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e))?;
        f.take(expected as u64).read_to_end(&mut data)?;
        if data.len() != expected {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than it was a moment ago",
            ));
        }
        Ok(data)
    };
    read().map_err(|e| bad(format!("{}: {e}", file.display())))
}

/// Where tensors go when a model is encoded.
pub(crate) enum TensorSink<'a> {
    Inline,
    /// Tensors of at least `threshold` bytes are appended to `buffer` and referenced by `location`.
    External {
        location: &'a str,
        threshold: usize,
        buffer: &'a mut Vec<u8>,
    },
}

pub(crate) fn model_to_proto(m: &Model, sink: &mut TensorSink) -> proto::ModelProto {
    proto::ModelProto {
        ir_version: Some(m.ir_version),
        opset_import: m
            .opset_imports
            .iter()
            .map(|o| proto::OperatorSetIdProto {
                domain: Some(o.domain.clone()),
                version: Some(o.version),
            })
            .collect(),
        producer_name: Some(m.producer_name.clone()),
        producer_version: Some(m.producer_version.clone()),
        domain: Some(m.domain.clone()),
        model_version: Some(m.model_version),
        doc_string: Some(m.doc_string.clone()),
        graph: Some(graph_to_proto(&m.graph, sink)),
        metadata_props: props_to_proto(&m.metadata_props),
        training_info: m.training_info.clone(),
        functions: m.functions.clone(),
        configuration: m.configuration.clone(),
    }
}

fn some_if_nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn graph_to_proto(g: &Graph, sink: &mut TensorSink) -> proto::GraphProto {
    proto::GraphProto {
        node: g.nodes.iter().map(|n| node_to_proto(n, sink)).collect(),
        name: Some(g.name.clone()),
        initializer: g
            .initializers
            .iter()
            .map(|t| tensor_to_proto(t, sink))
            .collect(),
        sparse_initializer: g.sparse_initializers.clone(),
        doc_string: some_if_nonempty(&g.doc_string),
        input: g.inputs.iter().map(value_info_to_proto).collect(),
        output: g.outputs.iter().map(value_info_to_proto).collect(),
        value_info: g.value_info.iter().map(value_info_to_proto).collect(),
        quantization_annotation: g.quantization_annotation.clone(),
        metadata_props: props_to_proto(&g.metadata_props),
    }
}

fn node_to_proto(n: &Node, sink: &mut TensorSink) -> proto::NodeProto {
    proto::NodeProto {
        input: n.inputs.clone(),
        output: n.outputs.clone(),
        name: some_if_nonempty(&n.name),
        op_type: Some(n.op_type.clone()),
        domain: some_if_nonempty(&n.domain),
        overload: some_if_nonempty(&n.overload),
        attribute: n
            .attributes
            .iter()
            .map(|a| attribute_to_proto(a, sink))
            .collect(),
        doc_string: some_if_nonempty(&n.doc_string),
        metadata_props: props_to_proto(&n.metadata_props),
        device_configurations: n.device_configurations.clone(),
    }
}

fn attribute_to_proto(a: &Attribute, sink: &mut TensorSink) -> proto::AttributeProto {
    use proto::attribute_proto::AttributeType as T;
    let mut p = proto::AttributeProto {
        name: Some(a.name.clone()),
        doc_string: some_if_nonempty(&a.doc_string),
        ref_attr_name: some_if_nonempty(&a.ref_attr_name),
        ..Default::default()
    };
    // Attribute tensors stay inline: only initializers move to external data.
    let mut inline = TensorSink::Inline;
    let ty = match &a.value {
        AttrValue::Float(f) => {
            p.f = Some(*f);
            T::Float
        }
        AttrValue::Int(i) => {
            p.i = Some(*i);
            T::Int
        }
        AttrValue::String(s) => {
            p.s = Some(s.clone().into());
            T::String
        }
        AttrValue::Tensor(t) => {
            p.t = Some(tensor_to_proto(t, &mut inline));
            T::Tensor
        }
        AttrValue::Graph(g) => {
            p.g = Some(graph_to_proto(g, sink));
            T::Graph
        }
        AttrValue::Floats(v) => {
            p.floats = v.clone();
            T::Floats
        }
        AttrValue::Ints(v) => {
            p.ints = v.clone();
            T::Ints
        }
        AttrValue::Strings(v) => {
            p.strings = v.iter().map(|s| s.clone().into()).collect();
            T::Strings
        }
        AttrValue::Tensors(v) => {
            p.tensors = v.iter().map(|t| tensor_to_proto(t, &mut inline)).collect();
            T::Tensors
        }
        AttrValue::Graphs(v) => {
            p.graphs = v.iter().map(|g| graph_to_proto(g, sink)).collect();
            T::Graphs
        }
        AttrValue::Other(raw) => return (**raw).clone(),
    };
    p.r#type = Some(ty as i32);
    p
}

fn value_info_to_proto(v: &ValueInfo) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: Some(v.name.clone()),
        r#type: type_to_proto(&v.ty),
        doc_string: some_if_nonempty(&v.doc_string),
        metadata_props: props_to_proto(&v.metadata_props),
    }
}

pub(crate) fn tensor_to_proto(t: &NamedTensor, sink: &mut TensorSink) -> proto::TensorProto {
    let mut p = proto::TensorProto {
        dims: t.tensor.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(t.tensor.dtype().onnx_code()),
        name: some_if_nonempty(&t.name),
        doc_string: some_if_nonempty(&t.doc_string),
        ..Default::default()
    };
    if let TensorData::String(strings) = t.tensor.data() {
        p.string_data = strings.iter().map(|s| s.clone().into()).collect();
        return p;
    }
    let raw = t.tensor.to_raw_bytes().unwrap_or_default();
    match sink {
        TensorSink::External {
            location,
            threshold,
            buffer,
        } if raw.len() >= *threshold && !t.name.is_empty() => {
            let offset = buffer.len();
            buffer.extend_from_slice(&raw);
            p.data_location = Some(proto::tensor_proto::DataLocation::External as i32);
            p.external_data = props_to_proto(&[
                ("location".to_string(), location.to_string()),
                ("offset".to_string(), offset.to_string()),
                ("length".to_string(), raw.len().to_string()),
            ]);
        }
        _ => p.raw_data = Some(raw.into()),
    }
    p
}
