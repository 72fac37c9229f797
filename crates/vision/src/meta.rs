//! What an Ultralytics ONNX export says about itself in `metadata_props` (Python reprs, read as
//! Ultralytics reads them with `ast.literal_eval`).

use crate::error::{Result, VisionError};
use std::collections::BTreeMap;

/// The task of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Boxes.
    Detect,
    /// Boxes and masks.
    Segment,
    /// Boxes and keypoints.
    Pose,
    /// Rotated boxes.
    Obb,
    /// Top-5 classes.
    Classify,
}

impl Task {
    /// Ultralytics' name (`detect`, `segment`, ...), also the `runs/<task>` folder.
    pub fn name(self) -> &'static str {
        match self {
            Task::Detect => "detect",
            Task::Segment => "segment",
            Task::Pose => "pose",
            Task::Obb => "obb",
            Task::Classify => "classify",
        }
    }

    /// From Ultralytics' name.
    pub fn parse(s: &str) -> Option<Task> {
        Some(match s {
            "detect" => Task::Detect,
            "segment" => Task::Segment,
            "pose" => Task::Pose,
            "obb" => Task::Obb,
            "classify" => Task::Classify,
            _ => return None,
        })
    }
}

/// A Python literal: what `ast.literal_eval` returns for the metadata values used here.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list or tuple.
    List(Vec<PyValue>),
    /// A dict, keys in order.
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    /// The integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            PyValue::Int(i) => Some(*i),
            PyValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    /// Truthiness as Python has it for the values metadata holds.
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(l) => !l.is_empty(),
            PyValue::Dict(d) => !d.is_empty(),
        }
    }
    /// A dict entry by string key.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(d) => d
                .iter()
                .find(|(k, _)| matches!(k, PyValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a Python literal (numbers, strings, `None`/`True`/`False`, lists, tuples, dicts).
pub fn parse_literal(text: &str) -> Result<PyValue> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> VisionError {
        VisionError::Metadata(format!(
            "cannot read Python literal: {what} at byte {}",
            self.i
        ))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn value(&mut self) -> Result<PyValue> {
        if self.depth > 64 {
            return Err(self.err("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => {
                self.depth += 1;
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        break;
                    }
                    let k = self.value()?;
                    if self.peek() != Some(b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    let v = self.value()?;
                    items.push((k, v));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
                self.depth -= 1;
                Ok(PyValue::Dict(items))
            }
            Some(open @ (b'[' | b'(')) => {
                let close = if open == b'[' { b']' } else { b')' };
                self.depth += 1;
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {}
                        _ => return Err(self.err("expected ',' or a closing bracket")),
                    }
                }
                self.depth -= 1;
                Ok(PyValue::List(items))
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    let Some(&c) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    if c == q {
                        break;
                    }
                    if c == b'\\' {
                        let Some(&e) = self.s.get(self.i) else {
                            return Err(self.err("unterminated string"));
                        };
                        self.i += 1;
                        out.push(match e {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                    } else {
                        out.push(c);
                    }
                }
                Ok(PyValue::Str(String::from_utf8_lossy(&out).into_owned()))
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || b"+-._".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                match word {
                    "None" => Ok(PyValue::None),
                    "True" => Ok(PyValue::Bool(true)),
                    "False" => Ok(PyValue::Bool(false)),
                    _ => {
                        if let Ok(i) = word.parse::<i64>() {
                            Ok(PyValue::Int(i))
                        } else if let Ok(f) = word.parse::<f64>() {
                            Ok(PyValue::Float(f))
                        } else {
                            Err(self.err("unknown token"))
                        }
                    }
                }
            }
            None => Err(self.err("unexpected end")),
        }
    }
}

/// The metadata the predict pipeline needs.
#[derive(Clone, Debug)]
pub struct ModelMeta {
    /// The task.
    pub task: Task,
    /// Class names by index.
    pub names: BTreeMap<usize, String>,
    /// Export image size `(h, w)`.
    pub imgsz: (usize, usize),
    /// Stride (32).
    pub stride: usize,
    /// Export batch size.
    pub batch: usize,
    /// Keypoints per object and values per keypoint (pose).
    pub kpt_shape: Option<(usize, usize)>,
    /// Exported with `dynamic=True`.
    pub dynamic: bool,
    /// The output is already NMS'd (`nms=True` or an end-to-end head).
    pub end2end: bool,
}

impl ModelMeta {
    /// Reads the metadata as Ultralytics' ONNX backend does. `get` looks a key up.
    pub fn from_props<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<ModelMeta> {
        let need = |k: &str| {
            get(k).ok_or_else(|| {
                VisionError::Metadata(format!(
                    "no '{k}' in metadata_props (not an Ultralytics export?)"
                ))
            })
        };
        let task = need("task")?;
        let task = Task::parse(task)
            .ok_or_else(|| VisionError::Metadata(format!("unknown task '{task}'")))?;
        let mut names = BTreeMap::new();
        if let PyValue::Dict(d) = parse_literal(need("names")?)? {
            for (k, v) in d {
                if let (Some(k), PyValue::Str(v)) = (k.as_int(), v) {
                    if k >= 0 {
                        names.insert(k as usize, v);
                    }
                }
            }
        }
        if names.is_empty() {
            return Err(VisionError::Metadata(
                "'names' is not a {int: str} dict".into(),
            ));
        }
        let int = |k: &str, default: usize| -> Result<usize> {
            match get(k) {
                None => Ok(default),
                Some(v) => v.trim().parse::<usize>().map_err(|_| {
                    VisionError::Metadata(format!("'{k}' is '{v}', not a whole number"))
                }),
            }
        };
        let stride = int("stride", 32)?.max(1);
        let batch = int("batch", 1)?.max(1);
        let imgsz = match get("imgsz").map(parse_literal).transpose()? {
            Some(PyValue::List(l)) if l.len() == 2 => match (l[0].as_int(), l[1].as_int()) {
                (Some(h), Some(w)) if h > 0 && w > 0 => (h as usize, w as usize),
                _ => return Err(VisionError::Metadata("'imgsz' is not [h, w]".into())),
            },
            Some(PyValue::Int(s)) if s > 0 => (s as usize, s as usize),
            None => (640, 640),
            Some(_) => return Err(VisionError::Metadata("'imgsz' is not [h, w]".into())),
        };
        let kpt_shape = match get("kpt_shape").map(parse_literal).transpose()? {
            Some(PyValue::List(l)) if l.len() == 2 => match (l[0].as_int(), l[1].as_int()) {
                (Some(k), Some(d)) if k > 0 && (d == 2 || d == 3) => Some((k as usize, d as usize)),
                _ => return Err(VisionError::Metadata("'kpt_shape' is not [k, 2|3]".into())),
            },
            _ => None,
        };
        let args = get("args")
            .map(parse_literal)
            .transpose()?
            .unwrap_or(PyValue::None);
        let arg = |k: &str| args.get(k).is_some_and(PyValue::truthy);
        let end2end = get("end2end")
            .map(parse_literal)
            .transpose()?
            .is_some_and(|v| v.truthy())
            || arg("nms");
        Ok(ModelMeta {
            task,
            names,
            imgsz,
            stride,
            batch,
            kpt_shape,
            dynamic: arg("dynamic"),
            end2end,
        })
    }

    /// The name of class `c` (its number when the names do not have it).
    pub fn name(&self, c: usize) -> String {
        self.names.get(&c).cloned().unwrap_or_else(|| c.to_string())
    }
}
