//! The torch zip checkpoint (`torch.save` since torch 1.6): `<root>/data.pkl`,
//! `<root>/data/<key>` storages, `<root>/byteorder`, `<root>/.format_version`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};
use std::path::Path;

use serde_json::{Map, Number, Value as Json};

use crate::error::io_err;
use crate::pickle::{self, Heap, Obj, PickleError, TensorRef, V};
use crate::{Checkpoint, CheckpointMeta, Task, WeightTensor, WeightsError};

/// Depth limit for walking the decoded object graph (module nesting, JSON values).
const MAX_DEPTH: usize = 64;
/// How much larger than the whole file a compressed entry may be once inflated.
const MAX_EXPANSION: u64 = 4;
/// Budget of one flattening: modules visited plus bytes of their names.
const MAX_MODULE_VISITS: usize = 64 << 20;

type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

pub(crate) fn load_pt_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint, WeightsError> {
    let zip_err = |reason: String| WeightsError::Zip {
        path: path.to_path_buf(),
        reason,
    };
    if !bytes.starts_with(b"PK\x03\x04") && !bytes.starts_with(b"PK\x05\x06") {
        return Err(crate::sniff_error(path, bytes));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_err(e.to_string()))?;
    let file_len = bytes.len() as u64;

    // The record prefix: torch writes `<stem>/data.pkl`; accept the shallowest data.pkl.
    let prefix = zip
        .file_names()
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .filter(|p| p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
        .min_by_key(|p| p.len())
        .map(str::to_string)
        .ok_or_else(|| zip_err("no data.pkl entry (is this a torch checkpoint?)".into()))?;

    let mut sizes: HashMap<String, u64> = HashMap::new();
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| zip_err(e.to_string()))?;
        sizes.insert(f.name().to_string(), f.size());
    }

    let pkl = read_entry(&mut zip, &format!("{prefix}data.pkl"), file_len)
        .map_err(|r| zip_err(format!("data.pkl: {r}")))?;
    let big_endian = match sizes.contains_key(&format!("{prefix}byteorder")) {
        true => {
            let b = read_entry(&mut zip, &format!("{prefix}byteorder"), file_len)
                .map_err(|r| zip_err(format!("byteorder: {r}")))?;
            match b.trim_ascii() {
                b"little" => false,
                b"big" => true,
                other => {
                    return Err(zip_err(format!(
                        "byteorder is {:?}, expected \"little\" or \"big\"",
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
        false => false,
    };

    let check = |key: &str, need: u64| -> Result<(), String> {
        match sizes.get(&format!("{prefix}data/{key}")) {
            None => Err(format!("no archive entry {prefix}data/{key}")),
            Some(&have) if need > have => Err(format!(
                "declared size {need} bytes exceeds its archive entry ({have} bytes)"
            )),
            Some(_) => Ok(()),
        }
    };
    let (heap, root) = pickle::unpickle(&pkl, &check).map_err(|e| match e {
        PickleError::Bad { offset, reason } => WeightsError::Pickle {
            path: path.to_path_buf(),
            offset,
            reason,
        },
        PickleError::Forbidden { offset, global } => WeightsError::ForbiddenGlobal {
            path: path.to_path_buf(),
            offset,
            global,
        },
        PickleError::Storage { key, reason } => WeightsError::Storage {
            path: path.to_path_buf(),
            key,
            reason,
        },
    })?;

    let mut store = Storages {
        zip,
        prefix,
        cache: HashMap::new(),
        big_endian,
        file_len,
        budget: file_len.saturating_mul(2).saturating_add(16 << 20),
        path,
    };
    let structure = |reason: String| WeightsError::Structure {
        path: path.to_path_buf(),
        reason,
    };

    // What is the model? A checkpoint dict (ema or model), a pickled module, or a plain state_dict.
    let (model, top) = match heap.get(root) {
        Some(Obj::Dict(_)) => {
            let ema = heap.dict_get(root, "ema").filter(|v| *v != V::None);
            let model = heap.dict_get(root, "model").filter(|v| *v != V::None);
            match ema.or(model) {
                Some(m) => (m, Some(root)),
                None => {
                    // A bare state_dict {name: tensor}.
                    let items = heap.dict_items(root).unwrap_or_default();
                    let all_tensors = !items.is_empty()
                        && items
                            .iter()
                            .all(|(k, v)| heap.str(*k).is_some() && is_tensor(&heap, *v));
                    if !all_tensors {
                        let keys: Vec<String> = items
                            .iter()
                            .filter_map(|(k, _)| heap.str(*k).map(str::to_string))
                            .take(20)
                            .collect();
                        return Err(structure(format!(
                            "checkpoint has neither `ema` nor `model` (keys: {keys:?})"
                        )));
                    }
                    let mut tensors = Vec::with_capacity(items.len());
                    for (k, v) in items {
                        let name = heap.str(k).unwrap_or_default().to_string();
                        if let Some(Obj::Tensor(t)) = heap.get(v) {
                            tensors.push((name, store.materialize(t)?));
                        }
                    }
                    let meta = CheckpointMeta {
                        args: Json::Object(Map::new()),
                        source: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                        ..Default::default()
                    };
                    return Ok(Checkpoint {
                        tensors,
                        meta,
                        source: path.to_path_buf(),
                    });
                }
            }
        }
        Some(Obj::Object { .. }) => (root, None),
        _ => {
            return Err(structure(
                "data.pkl holds neither a checkpoint dict nor a module".into(),
            ))
        }
    };
    if heap.object_state(model).is_none() {
        return Err(structure("`model` is not a module object".into()));
    }

    let mut refs = Vec::new();
    let mut visits = MAX_MODULE_VISITS;
    flatten(&heap, model, String::new(), &mut refs, 0, &mut visits).map_err(structure)?;
    let mut tensors = Vec::with_capacity(refs.len());
    for (name, t) in refs {
        tensors.push((name, store.materialize(t)?));
    }

    let mut meta = read_meta(&heap, model, top, &mut store)?;
    meta.source = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Checkpoint {
        tensors,
        meta,
        source: path.to_path_buf(),
    })
}

fn is_tensor(heap: &Heap, v: V) -> bool {
    matches!(heap.get(v), Some(Obj::Tensor(_)))
}

/// Read a whole archive entry, refusing entries larger than the file can back.
fn read_entry(zip: &mut Zip<'_>, name: &str, file_len: u64) -> Result<Vec<u8>, String> {
    let f = zip.by_name(name).map_err(|e| e.to_string())?;
    let declared = f.size();
    // torch writes stored entries; a compressed entry may not expand past a small
    // multiple of the whole file (no zip bombs).
    let limit = match f.compression() {
        zip::CompressionMethod::Stored => file_len,
        _ => file_len.saturating_mul(MAX_EXPANSION),
    };
    if declared > limit {
        return Err(format!(
            "entry declares {declared} bytes, more than the file can hold"
        ));
    }
    let mut out = Vec::with_capacity(declared.min(file_len) as usize);
    f.take(declared)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 != declared {
        return Err(format!(
            "entry is truncated ({} of {declared} bytes)",
            out.len()
        ));
    }
    Ok(out)
}

struct Storages<'a> {
    zip: Zip<'a>,
    prefix: String,
    cache: HashMap<String, Vec<u8>>,
    big_endian: bool,
    file_len: u64,
    /// Bytes of tensor data still allowed (bounds broadcast views with zero strides).
    budget: u64,
    path: &'a Path,
}

impl Storages<'_> {
    fn err(&self, key: &str, reason: impl Into<String>) -> WeightsError {
        WeightsError::Storage {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn materialize(&mut self, t: &TensorRef) -> Result<WeightTensor, WeightsError> {
        let key = &t.key;
        if !self.cache.contains_key(key) {
            let name = format!("{}data/{key}", self.prefix);
            let data =
                read_entry(&mut self.zip, &name, self.file_len).map_err(|r| self.err(key, r))?;
            self.cache.insert(key.clone(), data);
        }
        let storage = self.cache.get(key).map(Vec::as_slice).unwrap_or_default();
        let el = t.dtype.size() as u64;
        let mut numel: u64 = 1;
        for &n in &t.size {
            numel = numel
                .checked_mul(n)
                .ok_or_else(|| self.err(key, "tensor size overflows"))?;
        }
        let nbytes = numel
            .checked_mul(el)
            .ok_or_else(|| self.err(key, "tensor size overflows"))?;
        if nbytes > self.budget {
            return Err(self.err(
                key,
                format!("tensor of {nbytes} bytes exceeds what the file size can justify"),
            ));
        }
        self.budget -= nbytes;
        let mut out = Vec::with_capacity(nbytes as usize);
        if numel > 0 {
            let el = el as usize;
            let nd = t.size.len();
            // Row-major contiguous? Then one copy.
            let mut contiguous = true;
            let mut expect = 1u64;
            for d in (0..nd).rev() {
                if t.size[d] != 1 && t.stride[d] != expect {
                    contiguous = false;
                }
                expect = expect.saturating_mul(t.size[d]);
            }
            let get = |start: u64, len: u64| -> Option<&[u8]> {
                let s = usize::try_from(start.checked_mul(el as u64)?).ok()?;
                let l = usize::try_from(len.checked_mul(el as u64)?).ok()?;
                storage.get(s..s.checked_add(l)?)
            };
            if contiguous {
                let src = get(t.offset, numel)
                    .ok_or_else(|| self.err(key, "tensor reaches past the end of its storage"))?;
                out.extend_from_slice(src);
            } else {
                let mut idx = vec![0u64; nd];
                loop {
                    let mut e = t.offset;
                    for (i, s) in idx.iter().zip(&t.stride) {
                        e += i * s;
                    }
                    let src = get(e, 1).ok_or_else(|| {
                        self.err(key, "tensor view reaches past the end of its storage")
                    })?;
                    out.extend_from_slice(src);
                    // odometer
                    let mut d = nd;
                    loop {
                        if d == 0 {
                            break;
                        }
                        d -= 1;
                        idx[d] += 1;
                        if idx[d] < t.size[d] {
                            break;
                        }
                        idx[d] = 0;
                    }
                    if idx.iter().all(|&i| i == 0) {
                        break;
                    }
                }
            }
            if self.big_endian && el > 1 {
                for c in out.chunks_exact_mut(el) {
                    c.reverse();
                }
            }
        }
        Ok(WeightTensor {
            dtype: t.dtype,
            shape: t.size.iter().map(|&n| n as usize).collect(),
            data: out,
        })
    }
}

/// torch's `state_dict()` order: this module's `_parameters`, then its persistent
/// `_buffers`, then each child in `_modules` insertion order.
fn flatten<'h>(
    heap: &'h Heap,
    module: V,
    prefix: String,
    out: &mut Vec<(String, &'h TensorRef)>,
    depth: usize,
    visits: &mut usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("modules nested deeper than {MAX_DEPTH} levels"));
    }
    // Each visit costs its name length: shared submodules (a DAG) or long names cannot
    // make the flattening (or its names) grow beyond a fixed budget.
    let cost = 1 + prefix.len();
    if *visits < cost {
        return Err("module graph too large (shared submodules or huge names?)".into());
    }
    *visits -= cost;
    let Some((class, state)) = heap.object_state(module) else {
        return Err(format!("`{prefix}` is not a module object"));
    };
    let Some(state) = state else {
        return Err(format!("module `{prefix}` ({class}) has no state"));
    };
    let tensor_of = |v: V, name: &str| -> Result<Option<&'h TensorRef>, String> {
        match heap.get(v) {
            Some(Obj::Tensor(t)) => Ok(Some(t)),
            None if v == V::None => Ok(None),
            _ => Err(format!("`{prefix}{name}` is not a tensor")),
        }
    };
    if let Some(params) = heap.dict_get(state, "_parameters") {
        for (k, v) in heap.dict_items(params).unwrap_or_default() {
            let name = heap.str(k).unwrap_or_default();
            if let Some(t) = tensor_of(v, name)? {
                out.push((format!("{prefix}{name}"), t));
            }
        }
    }
    if let Some(buffers) = heap.dict_get(state, "_buffers") {
        let non_persistent: Vec<&str> = heap
            .dict_get(state, "_non_persistent_buffers_set")
            .and_then(|s| heap.seq(s))
            .unwrap_or_default()
            .iter()
            .filter_map(|&v| heap.str(v))
            .collect();
        for (k, v) in heap.dict_items(buffers).unwrap_or_default() {
            let name = heap.str(k).unwrap_or_default();
            if non_persistent.contains(&name) {
                continue;
            }
            if let Some(t) = tensor_of(v, name)? {
                out.push((format!("{prefix}{name}"), t));
            }
        }
    }
    if let Some(children) = heap.dict_get(state, "_modules") {
        for (k, v) in heap.dict_items(children).unwrap_or_default() {
            if v == V::None {
                continue;
            }
            let name = heap.str(k).unwrap_or_default();
            flatten(heap, v, format!("{prefix}{name}."), out, depth + 1, visits)?;
        }
    }
    Ok(())
}

fn read_meta(
    heap: &Heap,
    model: V,
    top: Option<V>,
    store: &mut Storages<'_>,
) -> Result<CheckpointMeta, WeightsError> {
    let mut meta = CheckpointMeta::default();
    let state = heap.object_state(model).and_then(|(_, s)| s);
    let attr = |name: &str| state.and_then(|s| heap.dict_get(s, name));

    if let Some(y) = attr("yaml") {
        if y != V::None {
            meta.yaml = Some(to_json(heap, y));
        }
    }
    if let Some(n) = attr("names") {
        meta.names = names_of(heap, n);
    }
    if let Some(s) = attr("stride") {
        match heap.get(s) {
            Some(Obj::Tensor(t)) => meta.stride = store.materialize(t)?.to_f32()?,
            _ => {
                if let Json::Array(a) = to_json(heap, s) {
                    meta.stride = a
                        .iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect();
                }
            }
        }
    }
    let mut args = match attr("args") {
        Some(a) => to_json(heap, a),
        None => Json::Null,
    };
    if let Some(top) = top {
        if let Some(Json::Object(train)) =
            heap.dict_get(top, "train_args").map(|a| to_json(heap, a))
        {
            match &mut args {
                Json::Object(m) => m.extend(train),
                _ => args = Json::Object(train),
            }
        }
        meta.version = heap
            .dict_get(top, "version")
            .and_then(|v| heap.str(v))
            .map(str::to_string);
        meta.date = heap
            .dict_get(top, "date")
            .and_then(|v| heap.str(v))
            .map(str::to_string);
    }
    if args.is_null() {
        args = Json::Object(Map::new());
    }

    // Task: the model's `task` attribute, else args.task, else the head class.
    let attr_task = attr("task")
        .and_then(|t| heap.str(t))
        .and_then(Task::from_name);
    let args_task = args
        .get("task")
        .and_then(|t| t.as_str())
        .and_then(Task::from_name);
    let head_task = head_class(heap, model).and_then(|c| Task::from_head_class(&c));
    let class_task = heap
        .object_state(model)
        .and_then(|(c, _)| Task::from_model_class(c));
    meta.task = attr_task.or(head_task).or(class_task).or(args_task);
    meta.args = args;
    Ok(meta)
}

/// Class name (last dotted component) of the model's last layer (`model.model[-1]`).
fn head_class(heap: &Heap, model: V) -> Option<String> {
    let (_, st) = heap.object_state(model)?;
    let mods = heap.dict_get(st?, "_modules")?;
    let seq = heap.dict_get(mods, "model")?;
    let (_, st) = heap.object_state(seq)?;
    let mods = heap.dict_get(st?, "_modules")?;
    let (_, last) = heap.dict_items(mods)?.into_iter().last()?;
    let (class, _) = heap.object_state(last)?;
    Some(class.rsplit('.').next().unwrap_or(class).to_string())
}

fn names_of(heap: &Heap, v: V) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    if let Some(items) = heap.dict_items(v) {
        for (k, name) in items {
            let key = match k {
                V::Int(i) => Some(i),
                _ => heap.str(k).and_then(|s| s.parse().ok()),
            };
            if let (Some(key), Some(name)) = (key, heap.str(name)) {
                out.insert(key, name.to_string());
            }
        }
    } else if let Some(seq) = heap.seq(v) {
        for (i, &name) in seq.iter().enumerate() {
            if let Some(name) = heap.str(name) {
                out.insert(i as i64, name.to_string());
            }
        }
    }
    out
}

/// A decoded pickle value as JSON: None → null, tuples and sets → arrays, dict keys as
/// strings, namespaces → their attributes, paths → strings, tensors → a description.
pub(crate) fn to_json(heap: &Heap, v: V) -> Json {
    let mut budget = MAX_JSON_NODES;
    json_rec(heap, v, 0, &mut budget)
}

/// Work budget of one conversion (values visited plus string bytes copied): shared
/// references (a DAG) cannot make it exponential.
const MAX_JSON_NODES: usize = 1 << 20;

fn json_rec(heap: &Heap, v: V, depth: usize, budget: &mut usize) -> Json {
    if depth > MAX_DEPTH || *budget == 0 {
        return Json::Null;
    }
    *budget -= 1;
    match v {
        V::None => Json::Null,
        V::Bool(b) => Json::Bool(b),
        V::Int(i) => Json::Number(i.into()),
        V::Float(f) => Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
        V::Ref(_) => match heap.get(v) {
            None => Json::Null,
            Some(o) => match o {
                Obj::Str(s) if charge(budget, s.len()) => Json::String(s.clone()),
                Obj::Bytes(b) if charge(budget, b.len()) => {
                    Json::String(String::from_utf8_lossy(b).into_owned())
                }
                Obj::Str(_) | Obj::Bytes(_) => Json::Null,
                Obj::BigInt(b) => Json::String(format!("<int of {} bytes>", b.len())),
                Obj::List(x) | Obj::Tuple(x) | Obj::Set(x) if charge(budget, x.len()) => {
                    Json::Array(
                        x.iter()
                            .map(|&e| json_rec(heap, e, depth + 1, budget))
                            .collect(),
                    )
                }
                Obj::List(_) | Obj::Tuple(_) | Obj::Set(_) => Json::Null,
                Obj::Dict(_) => dict_json(heap, v, depth, budget),
                Obj::Global(g) => Json::String(format!("{g:?}")),
                Obj::Storage { key, .. } => Json::String(format!("<storage {key}>")),
                Obj::Tensor(t) => serde_json::json!({
                    "__tensor__": { "dtype": t.dtype.torch_name(), "shape": t.size }
                }),
                Obj::Object {
                    class, args, items, ..
                } => {
                    let short = class.rsplit('.').next().unwrap_or(class);
                    if class.starts_with("pathlib.") {
                        let parts: Vec<String> = args
                            .iter()
                            .filter_map(|&a| heap.str(a).map(str::to_string))
                            .collect();
                        return Json::String(parts.join("/"));
                    }
                    if class == "torch.device" || class == "numpy.dtype" {
                        return args
                            .first()
                            .map(|&a| json_rec(heap, a, depth + 1, budget))
                            .unwrap_or(Json::Null);
                    }
                    if !items.is_empty() {
                        return dict_json(heap, v, depth, budget);
                    }
                    match heap.object_state(v).and_then(|(_, s)| s) {
                        Some(s) if heap.dict_items(s).is_some() => {
                            let mut j = dict_json(heap, s, depth, budget);
                            if short.ends_with("Model") || class.starts_with("torch.nn.") {
                                // Modules: name them only (their tensors are in the state dict).
                                j = serde_json::json!({ "__class__": class });
                            }
                            j
                        }
                        _ => serde_json::json!({ "__class__": class }),
                    }
                }
            },
        },
    }
}

/// Take `n` units from the budget (false, and nothing taken, if it cannot pay).
fn charge(budget: &mut usize, n: usize) -> bool {
    if *budget < n {
        *budget = 0;
        return false;
    }
    *budget -= n;
    true
}

fn dict_json(heap: &Heap, v: V, depth: usize, budget: &mut usize) -> Json {
    let raw_len = match heap.get(v) {
        Some(Obj::Dict(d)) => d.len(),
        Some(Obj::Object { items, .. }) => items.len(),
        _ => 0,
    };
    if !charge(budget, raw_len) {
        return Json::Null;
    }
    let mut m = Map::new();
    for (k, val) in heap.dict_items(v).unwrap_or_default() {
        let key = match k {
            V::Int(i) => i.to_string(),
            V::Bool(b) => b.to_string(),
            V::Float(f) => f.to_string(),
            V::None => "null".to_string(),
            V::Ref(_) => match heap.get(k) {
                Some(Obj::Str(s)) if charge(budget, s.len()) => s.clone(),
                Some(Obj::Str(_)) => return Json::Null,
                _ => format!("<key {}>", m.len()),
            },
        };
        m.insert(key, json_rec(heap, val, depth + 1, budget));
    }
    Json::Object(m)
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|e| io_err(path, e))
}
