//! A restricted pickle machine.
//!
//! It decodes the opcodes `torch.save` writes (protocols 2 to 5, and the protocol 0/1
//! opcodes that are plain data) into an arena of inert values. Globals are resolved
//! against an allow-list when they are *loaded* (`GLOBAL`/`STACK_GLOBAL`), so a pickle
//! naming `os.system` fails before anything else happens; calls (`REDUCE`, `NEWOBJ`)
//! only ever build data: known torch rebuild functions become tensor descriptions,
//! classes become inert objects (class name, arguments and `__setstate__` state).
//! Nothing from the file is executed.
//!
//! The machine is iterative (no recursion); every value lives in one arena, so deep
//! nesting or reference cycles in a hostile file cannot overflow the stack, and all
//! memory is linear in the pickle length (every opcode consumes at least one byte).

use std::collections::HashMap;

use crate::WeightDType;

/// A value on the stack or inside a container. Containers live in the [`Heap`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum V {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Ref(usize),
}

/// Allow-listed globals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Global {
    OrderedDict,
    Set,
    FrozenSet,
    RebuildTensor,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// `torch.HalfStorage` etc.
    StorageType(WeightDType),
    /// `torch.float16` etc.
    TorchDType(WeightDType),
    /// `_codecs.encode` (only `(str, "latin1")`, as pickle protocol 2 writes bytes).
    CodecsEncode,
    /// `numpy.core.multiarray.scalar`
    NumpyScalar,
    /// A class that becomes an inert object (module classes, `torch.Size`, namespaces...).
    Class(String),
}

/// A tensor as the pickle describes it: a strided view into a storage.
#[derive(Debug, Clone)]
pub(crate) struct TensorRef {
    /// Zip key of the storage (`data/<key>`).
    pub key: String,
    pub dtype: WeightDType,
    /// Byte order of the storage is decided by the archive; offset/size/stride are in elements.
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Obj {
    Str(String),
    Bytes(Vec<u8>),
    BigInt(Vec<u8>),
    List(Vec<V>),
    Tuple(Vec<V>),
    Dict(Vec<(V, V)>),
    Set(Vec<V>),
    Global(Global),
    Object {
        class: String,
        args: Vec<V>,
        state: Option<V>,
        items: Vec<(V, V)>,
        list: Vec<V>,
    },
    Storage {
        key: String,
        dtype: WeightDType,
        numel: u64,
    },
    Tensor(TensorRef),
}

/// The arena every decoded container lives in.
#[derive(Debug, Default)]
pub(crate) struct Heap {
    pub objs: Vec<Obj>,
}

impl Heap {
    fn alloc(&mut self, o: Obj) -> V {
        self.objs.push(o);
        V::Ref(self.objs.len() - 1)
    }

    pub fn get(&self, v: V) -> Option<&Obj> {
        match v {
            V::Ref(i) => self.objs.get(i),
            _ => None,
        }
    }

    pub fn str(&self, v: V) -> Option<&str> {
        match self.get(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Entries of a dict-like value with Python semantics for repeated keys (first
    /// position, last value). Objects of dict subclasses expose their items.
    pub fn dict_items(&self, v: V) -> Option<Vec<(V, V)>> {
        let raw = match self.get(v)? {
            Obj::Dict(items) => items,
            Obj::Object { items, .. } => items,
            _ => return None,
        };
        #[derive(PartialEq, Eq, Hash)]
        enum Key<'a> {
            S(&'a str),
            I(i64),
            N,
        }
        let mut out: Vec<(V, V)> = Vec::with_capacity(raw.len());
        let mut index: HashMap<Key<'_>, usize> = HashMap::new();
        for &(k, val) in raw {
            let key = match k {
                V::Int(i) => Some(Key::I(i)),
                V::Bool(b) => Some(Key::I(b as i64)),
                V::None => Some(Key::N),
                _ => self.str(k).map(Key::S),
            };
            match key {
                Some(key) => {
                    if let Some(&i) = index.get(&key) {
                        out[i].1 = val;
                        continue;
                    }
                    index.insert(key, out.len());
                    out.push((k, val));
                }
                // Other keys (floats, tuples, objects): kept as they come.
                None => out.push((k, val)),
            }
        }
        Some(out)
    }

    /// `d[key]` for a dict-like value and a string key.
    pub fn dict_get(&self, d: V, key: &str) -> Option<V> {
        let raw = match self.get(d)? {
            Obj::Dict(items) => items,
            Obj::Object { items, .. } => items,
            _ => return None,
        };
        raw.iter()
            .rev()
            .find(|(k, _)| self.str(*k) == Some(key))
            .map(|&(_, v)| v)
    }

    /// Items of a sequence (list, tuple, set).
    pub fn seq(&self, v: V) -> Option<&[V]> {
        match self.get(v)? {
            Obj::List(x) | Obj::Tuple(x) | Obj::Set(x) => Some(x),
            _ => None,
        }
    }

    /// The instance state of an inert object (its `__dict__` as pickled).
    pub fn object_state(&self, v: V) -> Option<(&str, Option<V>)> {
        match self.get(v)? {
            Obj::Object { class, state, .. } => {
                // `__setstate__` state may be `(dict, slotstate)`.
                let st = state.and_then(|s| match self.get(s) {
                    Some(Obj::Tuple(t)) if t.len() == 2 && self.get(t[0]).is_some() => Some(t[0]),
                    _ => Some(s),
                });
                Some((class.as_str(), st))
            }
            _ => None,
        }
    }
}

/// Errors of the machine, turned into [`crate::WeightsError`] by the caller (who knows the path).
#[derive(Debug)]
pub(crate) enum PickleError {
    Bad { offset: usize, reason: String },
    Forbidden { offset: usize, global: String },
    Storage { key: String, reason: String },
}

type R<T> = Result<T, PickleError>;

/// Decides whether a storage may be loaded: gets the key and the number of bytes the
/// pickle declares; answers with an error message if the archive cannot back it.
pub(crate) type StorageCheck<'a> = &'a dyn Fn(&str, u64) -> Result<(), String>;

/// Resolve a global against the allow-list.
pub(crate) fn resolve_global(module: &str, name: &str) -> Option<Global> {
    let g = match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("builtins" | "__builtin__", "set") => Global::Set,
        ("builtins" | "__builtin__", "frozenset") => Global::FrozenSet,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor_v3") => Global::RebuildTensorV3,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("_codecs", "encode") => Global::CodecsEncode,
        ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Global::NumpyScalar,
        ("numpy", "dtype") => Global::Class("numpy.dtype".into()),
        ("torch", n) if n.ends_with("Storage") => {
            Global::StorageType(WeightDType::from_torch_name(n)?)
        }
        ("torch", "Size" | "device" | "Tensor") => Global::Class(format!("torch.{name}")),
        ("torch", n) => Global::TorchDType(WeightDType::from_torch_name(n)?),
        ("torch.nn.parameter", "Parameter") => Global::Class("torch.nn.parameter.Parameter".into()),
        ("types", "SimpleNamespace") => Global::Class("types.SimpleNamespace".into()),
        ("pathlib", "Path" | "PosixPath" | "WindowsPath" | "PurePosixPath" | "PureWindowsPath") => {
            Global::Class(format!("pathlib.{name}"))
        }
        (m, n)
            if is_class_name(n)
                && (m.starts_with("torch.nn.modules.") || m.starts_with("ultralytics.")) =>
        {
            Global::Class(format!("{m}.{n}"))
        }
        _ => return None,
    };
    Some(g)
}

/// Classes are CamelCase (a leading ASCII capital) and plain identifiers.
fn is_class_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const MAX_PROTOCOL: u8 = 5;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<V>,
    marks: Vec<usize>,
    memo: HashMap<u64, V>,
    heap: Heap,
    check: StorageCheck<'a>,
}

/// Run the pickle program in `data`; returns the arena and the final value.
pub(crate) fn unpickle(data: &[u8], check: StorageCheck<'_>) -> R<(Heap, V)> {
    let mut m = Machine {
        data,
        pos: 0,
        op_pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        heap: Heap::default(),
        check,
    };
    let v = m.run()?;
    Ok((m.heap, v))
}

impl<'a> Machine<'a> {
    fn bad<T>(&self, reason: impl Into<String>) -> R<T> {
        Err(PickleError::Bad {
            offset: self.op_pos,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: u64) -> R<&'a [u8]> {
        let remaining = (self.data.len() - self.pos) as u64;
        if n > remaining {
            return self.bad(format!(
                "truncated: needs {n} bytes, {remaining} left in data.pkl"
            ));
        }
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn line(&mut self) -> R<&'a str> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.bad("truncated: line without newline");
        };
        let l = &rest[..n];
        self.pos += n + 1;
        match std::str::from_utf8(l) {
            Ok(s) => Ok(s),
            Err(_) => self.bad("line is not UTF-8"),
        }
    }

    fn pop(&mut self) -> R<V> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.bad("stack underflow");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.bad("stack underflow"),
        }
    }
    fn top(&self) -> R<V> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.bad("stack underflow");
        }
        match self.stack.last() {
            Some(&v) => Ok(v),
            None => self.bad("stack underflow"),
        }
    }
    fn pop_mark(&mut self) -> R<Vec<V>> {
        let Some(m) = self.marks.pop() else {
            return self.bad("no MARK on the stack");
        };
        if m > self.stack.len() {
            return self.bad("MARK above the stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn push(&mut self, v: V) {
        self.stack.push(v);
    }
    fn alloc(&mut self, o: Obj) -> V {
        self.heap.alloc(o)
    }
    fn push_obj(&mut self, o: Obj) {
        let v = self.alloc(o);
        self.push(v);
    }
    fn str_of(&self, v: V, what: &str) -> R<String> {
        match self.heap.str(v) {
            Some(s) => Ok(s.to_string()),
            None => self.bad(format!("{what} is not a string")),
        }
    }
    fn int_of(&self, v: V, what: &str) -> R<i64> {
        match v {
            V::Int(i) => Ok(i),
            V::Bool(b) => Ok(b as i64),
            _ => self.bad(format!("{what} is not an integer")),
        }
    }
    fn uint_of(&self, v: V, what: &str) -> R<u64> {
        let i = self.int_of(v, what)?;
        if i < 0 {
            return self.bad(format!("{what} is negative ({i})"));
        }
        Ok(i as u64)
    }
    fn tuple_of(&self, v: V, what: &str) -> R<Vec<V>> {
        match self.heap.get(v) {
            Some(Obj::Tuple(t) | Obj::List(t)) => Ok(t.clone()),
            // torch.Size((...)) as an inert object
            Some(Obj::Object { class, args, .. }) if class == "torch.Size" && args.len() == 1 => {
                self.tuple_of(args[0], what)
            }
            _ => self.bad(format!("{what} is not a tuple")),
        }
    }
    fn ints_of(&self, v: V, what: &str) -> R<Vec<u64>> {
        let t = self.tuple_of(v, what)?;
        if t.len() > 64 {
            return self.bad(format!("{what} has {} dimensions", t.len()));
        }
        t.into_iter().map(|x| self.uint_of(x, what)).collect()
    }

    fn memo_put(&mut self, idx: u64) -> R<()> {
        let v = self.top()?;
        self.memo.insert(idx, v);
        Ok(())
    }
    fn memo_get(&mut self, idx: u64) -> R<()> {
        match self.memo.get(&idx) {
            Some(&v) => {
                self.push(v);
                Ok(())
            }
            None => self.bad(format!("memo key {idx} was never stored")),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> R<()> {
        match resolve_global(module, name) {
            Some(g) => {
                self.push_obj(Obj::Global(g));
                Ok(())
            }
            None => Err(PickleError::Forbidden {
                offset: self.op_pos,
                global: format!("{module}.{name}"),
            }),
        }
    }

    fn long_from_le(&mut self, b: &[u8]) -> V {
        if b.is_empty() {
            return V::Int(0);
        }
        if b.len() <= 8 {
            let neg = b[b.len() - 1] & 0x80 != 0;
            let mut a = if neg { [0xffu8; 8] } else { [0u8; 8] };
            a[..b.len()].copy_from_slice(b);
            return V::Int(i64::from_le_bytes(a));
        }
        self.alloc(Obj::BigInt(b.to_vec()))
    }

    fn run(&mut self) -> R<V> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > MAX_PROTOCOL {
                        return self.bad(format!("unsupported pickle protocol {p}"));
                    }
                }
                0x95 => {
                    self.u64()?;
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() > floor {
                        self.stack.pop();
                    } else {
                        self.pop_mark()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.push(v);
                }
                b'N' => self.push(V::None),
                0x88 => self.push(V::Bool(true)),
                0x89 => self.push(V::Bool(false)),
                b'I' => {
                    let l = self.line()?;
                    let v = match l {
                        "01" => V::Bool(true),
                        "00" => V::Bool(false),
                        s => match s.parse::<i64>() {
                            Ok(i) => V::Int(i),
                            Err(_) => return self.bad(format!("bad INT {s:?}")),
                        },
                    };
                    self.push(v);
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(V::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(V::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(V::Int(v as i64));
                }
                b'L' => {
                    let l = self.line()?;
                    let s = l.strip_suffix('L').unwrap_or(l);
                    match s.parse::<i64>() {
                        Ok(i) => self.push(V::Int(i)),
                        Err(_) => return self.bad(format!("bad or too large LONG {s:?}")),
                    }
                }
                0x8a => {
                    let n = self.u8()? as u64;
                    let b = self.take(n)?;
                    let v = self.long_from_le(b);
                    self.push(v);
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return self.bad("negative LONG4 length");
                    }
                    let b = self.take(n as u64)?;
                    let v = self.long_from_le(b);
                    self.push(v);
                }
                b'F' => {
                    let l = self.line()?;
                    match l.trim().parse::<f64>() {
                        Ok(f) => self.push(V::Float(f)),
                        Err(_) => return self.bad(format!("bad FLOAT {l:?}")),
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(V::Float(f64::from_be_bytes(a)));
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return self.bad("negative BINSTRING length");
                    }
                    let b = self.take(n as u64)?;
                    let s = b.iter().map(|&c| c as char).collect();
                    self.push_obj(Obj::Str(s));
                }
                b'U' => {
                    let n = self.u8()? as u64;
                    let b = self.take(n)?;
                    let s = b.iter().map(|&c| c as char).collect();
                    self.push_obj(Obj::Str(s));
                }
                b'V' => {
                    let l = self.line()?.to_string();
                    self.push_obj(Obj::Str(l));
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.u32()? as u64,
                        0x8c => self.u8()? as u64,
                        _ => self.u64()?,
                    };
                    let b = self.take(n)?;
                    let s = String::from_utf8_lossy(b).into_owned();
                    self.push_obj(Obj::Str(s));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as u64,
                        b'C' => self.u8()? as u64,
                        _ => self.u64()?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push_obj(Obj::Bytes(b));
                }
                b']' => self.push_obj(Obj::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::List(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?;
                    self.extend_list(target, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.extend_list(target, items)?;
                }
                b')' => self.push_obj(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_obj(Obj::Tuple(items));
                }
                b'}' => self.push_obj(Obj::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_obj(Obj::Dict(pairs));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?;
                    self.extend_dict(target, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let target = self.top()?;
                    self.extend_dict(target, pairs)?;
                }
                0x8f => self.push_obj(Obj::Set(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match target {
                        V::Ref(i) => match self.heap.objs.get_mut(i) {
                            Some(Obj::Set(s)) => s.extend(items),
                            _ => return self.bad("ADDITEMS target is not a set"),
                        },
                        _ => return self.bad("ADDITEMS target is not a set"),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Set(items));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let name = self.str_of(name, "STACK_GLOBAL name")?;
                    let module = self.str_of(module, "STACK_GLOBAL module")?;
                    self.global(&module, &name)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = self.tuple_of(args, "REDUCE arguments")?;
                    let v = self.call(func, args, 0)?;
                    self.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_of(args, "NEWOBJ arguments")?;
                    let v = self.call(cls, args, 0)?;
                    self.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_of(args, "NEWOBJ_EX arguments")?;
                    let v = self.call(cls, args, 0)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                }
                b'p' => {
                    let l = self.line()?;
                    let Ok(i) = l.parse::<u64>() else {
                        return self.bad(format!("bad PUT index {l:?}"));
                    };
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = self.u8()? as u64;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()? as u64;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                b'g' => {
                    let l = self.line()?;
                    let Ok(i) = l.parse::<u64>() else {
                        return self.bad(format!("bad GET index {l:?}"));
                    };
                    self.memo_get(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u64;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.u32()? as u64;
                    self.memo_get(i)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v);
                }
                b'P' => return self.bad("text PERSID is not used by torch; refused"),
                b'S' => return self.bad("protocol 0 STRING opcode is not supported"),
                b'i' | b'o' => return self.bad("protocol 0/1 INST/OBJ opcodes are not supported"),
                0x82..=0x84 => {
                    return self.bad("EXT opcodes (copyreg extension registry) are refused")
                }
                0x97 | 0x98 => return self.bad("out-of-band buffers (NEXT_BUFFER) are refused"),
                other => return self.bad(format!("unknown opcode 0x{other:02x}")),
            }
        }
    }

    fn pairs(&self, items: Vec<V>) -> R<Vec<(V, V)>> {
        if !items.len().is_multiple_of(2) {
            return self.bad("odd number of items for a dict");
        }
        Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    fn extend_list(&mut self, target: V, items: Vec<V>) -> R<()> {
        if let V::Ref(i) = target {
            match self.heap.objs.get_mut(i) {
                Some(Obj::List(l)) => {
                    l.extend(items);
                    return Ok(());
                }
                Some(Obj::Object { list, .. }) => {
                    list.extend(items);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.bad("APPEND target is not a list")
    }

    fn extend_dict(&mut self, target: V, pairs: Vec<(V, V)>) -> R<()> {
        if let V::Ref(i) = target {
            match self.heap.objs.get_mut(i) {
                Some(Obj::Dict(d)) => {
                    d.extend(pairs);
                    return Ok(());
                }
                Some(Obj::Object { items, .. }) => {
                    items.extend(pairs);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.bad("SETITEM target is not a dict")
    }

    fn build(&mut self, target: V, state: V) -> R<()> {
        if let V::Ref(i) = target {
            match self.heap.objs.get_mut(i) {
                Some(Obj::Object { state: s, .. }) => {
                    *s = Some(state);
                    return Ok(());
                }
                // Tensors (parameter state), dicts and sets: state carries nothing we use.
                Some(Obj::Tensor(_) | Obj::Dict(_) | Obj::Set(_) | Obj::List(_)) => return Ok(()),
                _ => {}
            }
        }
        self.bad("BUILD target is not an object")
    }

    fn persistent_load(&mut self, pid: V) -> R<V> {
        let t = self.tuple_of(pid, "persistent id")?;
        if t.len() != 5 || self.heap.str(t[0]) != Some("storage") {
            return self.bad("persistent id is not ('storage', type, key, location, numel)");
        }
        let dtype = match self.heap.get(t[1]) {
            Some(Obj::Global(Global::StorageType(d))) => *d,
            _ => return self.bad("persistent id storage type is not a torch storage class"),
        };
        let key = match self.heap.get(t[2]) {
            Some(Obj::Str(s)) => s.clone(),
            _ => match t[2] {
                V::Int(i) => i.to_string(),
                _ => return self.bad("storage key is not a string"),
            },
        };
        let numel = self.uint_of(t[4], "storage numel")?;
        let bytes = numel.checked_mul(dtype.size() as u64);
        let Some(bytes) = bytes else {
            return Err(PickleError::Storage {
                key,
                reason: format!("declared size {numel} elements overflows"),
            });
        };
        if let Err(reason) = (self.check)(&key, bytes) {
            return Err(PickleError::Storage { key, reason });
        }
        Ok(self.alloc(Obj::Storage { key, dtype, numel }))
    }

    /// `func(*args)` for an allow-listed global: builds data, runs nothing.
    fn call(&mut self, func: V, args: Vec<V>, depth: u32) -> R<V> {
        let g = match self.heap.get(func) {
            Some(Obj::Global(g)) => g.clone(),
            _ => return self.bad("call of something that is not an allow-listed global"),
        };
        match g {
            Global::OrderedDict => {
                let mut pairs = Vec::new();
                if let Some(&a) = args.first() {
                    for item in self.tuple_of(a, "OrderedDict items")? {
                        let kv = self.tuple_of(item, "OrderedDict item")?;
                        if kv.len() != 2 {
                            return self.bad("OrderedDict item is not a pair");
                        }
                        pairs.push((kv[0], kv[1]));
                    }
                }
                Ok(self.alloc(Obj::Dict(pairs)))
            }
            Global::Set | Global::FrozenSet => {
                let items = match args.first() {
                    Some(&a) => self.tuple_of(a, "set items")?,
                    None => Vec::new(),
                };
                Ok(self.alloc(Obj::Set(items)))
            }
            Global::RebuildTensor | Global::RebuildTensorV2 | Global::RebuildTensorV3 => {
                let need = match g {
                    Global::RebuildTensor => 4,
                    Global::RebuildTensorV2 => 6,
                    _ => 7,
                };
                if args.len() < need {
                    return self.bad(format!("{g:?} takes at least {need} arguments"));
                }
                let (key, sdtype, numel) = match self.heap.get(args[0]) {
                    Some(Obj::Storage { key, dtype, numel }) => (key.clone(), *dtype, *numel),
                    _ => return self.bad("tensor storage argument is not a storage"),
                };
                let offset = self.uint_of(args[1], "storage offset")?;
                let size = self.ints_of(args[2], "tensor size")?;
                let stride = self.ints_of(args[3], "tensor stride")?;
                if size.len() != stride.len() {
                    return self.bad("tensor size and stride differ in length");
                }
                let dtype = if let Global::RebuildTensorV3 = g {
                    match self.heap.get(args[6]) {
                        Some(Obj::Global(Global::TorchDType(d))) => *d,
                        _ => return self.bad("_rebuild_tensor_v3 dtype is not a torch dtype"),
                    }
                } else {
                    sdtype
                };
                // Number of elements of `dtype` the storage holds.
                let avail = numel.saturating_mul(sdtype.size() as u64) / dtype.size() as u64;
                let mut last = offset;
                let mut empty = false;
                for (&n, &s) in size.iter().zip(&stride) {
                    if n == 0 {
                        empty = true;
                        break;
                    }
                    let reach = (n - 1).checked_mul(s).and_then(|r| last.checked_add(r));
                    match reach {
                        Some(r) => last = r,
                        None => {
                            return Err(PickleError::Storage {
                                key,
                                reason: "tensor view overflows".into(),
                            })
                        }
                    }
                }
                if !empty && last >= avail {
                    return Err(PickleError::Storage {
                        key,
                        reason: format!(
                            "tensor view (offset {offset}, size {size:?}, stride {stride:?}) reaches \
                             element {last}, but the storage holds {avail} elements"
                        ),
                    });
                }
                Ok(self.alloc(Obj::Tensor(TensorRef {
                    key,
                    dtype,
                    offset,
                    size,
                    stride,
                })))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => match args.first() {
                Some(&t) if matches!(self.heap.get(t), Some(Obj::Tensor(_))) => Ok(t),
                _ => self.bad("_rebuild_parameter argument is not a tensor"),
            },
            Global::RebuildFromTypeV2 => {
                if args.len() < 3 || depth > 4 {
                    return self.bad("bad _rebuild_from_type_v2 call");
                }
                let inner = self.tuple_of(args[2], "_rebuild_from_type_v2 args")?;
                self.call(args[0], inner, depth + 1)
            }
            Global::CodecsEncode => {
                if args.len() != 2 {
                    return self.bad("_codecs.encode takes 2 arguments");
                }
                let s = self.str_of(args[0], "_codecs.encode text")?;
                let enc = self.str_of(args[1], "_codecs.encode encoding")?;
                if enc != "latin1" && enc != "latin-1" {
                    return self.bad(format!("_codecs.encode with encoding {enc:?} is refused"));
                }
                let mut b = Vec::with_capacity(s.len());
                for c in s.chars() {
                    let c = c as u32;
                    if c > 255 {
                        return self.bad("_codecs.encode: character outside latin-1");
                    }
                    b.push(c as u8);
                }
                Ok(self.alloc(Obj::Bytes(b)))
            }
            Global::NumpyScalar => {
                if args.len() != 2 {
                    return self.bad("numpy scalar takes 2 arguments");
                }
                self.numpy_scalar(args[0], args[1])
            }
            Global::Class(class) => Ok(self.alloc(Obj::Object {
                class,
                args,
                state: None,
                items: Vec::new(),
                list: Vec::new(),
            })),
            Global::StorageType(_) | Global::TorchDType(_) => {
                self.bad("calling a torch storage type or dtype is not supported")
            }
        }
    }

    fn numpy_scalar(&mut self, dtype: V, bytes: V) -> R<V> {
        let code = match self.heap.get(dtype) {
            Some(Obj::Object { class, args, .. }) if class == "numpy.dtype" && !args.is_empty() => {
                self.str_of(args[0], "numpy dtype code")?
            }
            _ => return self.bad("numpy scalar dtype is not a numpy.dtype"),
        };
        let b = match self.heap.get(bytes) {
            Some(Obj::Bytes(b)) => b.clone(),
            _ => return self.bad("numpy scalar data is not bytes"),
        };
        let need = |n: usize| -> bool { b.len() == n };
        let v = match code.as_str() {
            "f8" if need(8) => V::Float(f64::from_le_bytes(arr::<8>(&b))),
            "f4" if need(4) => V::Float(f32::from_le_bytes(arr::<4>(&b)) as f64),
            "f2" if need(2) => V::Float(half::f16::from_le_bytes(arr::<2>(&b)).to_f64()),
            "i8" if need(8) => V::Int(i64::from_le_bytes(arr::<8>(&b))),
            "i4" if need(4) => V::Int(i32::from_le_bytes(arr::<4>(&b)) as i64),
            "i2" if need(2) => V::Int(i16::from_le_bytes(arr::<2>(&b)) as i64),
            "i1" if need(1) => V::Int(b[0] as i8 as i64),
            "u8" if need(8) => V::Int(u64::from_le_bytes(arr::<8>(&b)) as i64),
            "u4" if need(4) => V::Int(u32::from_le_bytes(arr::<4>(&b)) as i64),
            "u2" if need(2) => V::Int(u16::from_le_bytes(arr::<2>(&b)) as i64),
            "u1" if need(1) => V::Int(b[0] as i64),
            "b1" if need(1) => V::Bool(b[0] != 0),
            _ => return self.bad(format!("unsupported numpy scalar dtype {code:?}")),
        };
        Ok(v)
    }
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}
