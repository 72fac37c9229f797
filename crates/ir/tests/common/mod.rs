//! A small builder for hand-made test models.
#![allow(dead_code)]

use onnxide_ir::{
    AttrValue, Attribute, DType, Dim, Model, NamedTensor, Node, OpsetImport, Tensor, ValueInfo,
};

/// `"batch,3,640,640"` -> `[Param(batch), 3, 640, 640]`; `?` is unknown; `""` is a scalar.
pub fn shape(s: &str) -> Vec<Dim> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u64>() {
            Ok(v) => Dim::Fixed(v),
            Err(_) if p == "?" => Dim::Unknown,
            Err(_) => Dim::Param(p.to_string()),
        })
        .collect()
}

pub struct Builder {
    pub model: Model,
}

impl Builder {
    pub fn new(opset: i64) -> Builder {
        Builder {
            model: Model {
                ir_version: 8,
                opset_imports: vec![OpsetImport {
                    domain: String::new(),
                    version: opset,
                }],
                ..Default::default()
            },
        }
    }

    pub fn input(&mut self, name: &str, elem: DType, dims: &str) -> &mut Self {
        self.model
            .graph
            .inputs
            .push(ValueInfo::tensor(name, elem, shape(dims)));
        self
    }

    pub fn output(&mut self, name: &str) -> &mut Self {
        self.model.graph.outputs.push(ValueInfo {
            name: name.into(),
            ty: onnxide_ir::ValueType::Unknown,
            doc_string: String::new(),
            metadata_props: Vec::new(),
        });
        self
    }

    pub fn typed_output(&mut self, name: &str, elem: DType, dims: &str) -> &mut Self {
        self.model
            .graph
            .outputs
            .push(ValueInfo::tensor(name, elem, shape(dims)));
        self
    }

    pub fn init(&mut self, name: &str, t: Tensor) -> &mut Self {
        self.model.graph.initializers.push(NamedTensor {
            name: name.into(),
            doc_string: String::new(),
            tensor: t,
        });
        self
    }

    pub fn ints(&mut self, name: &str, v: &[i64]) -> &mut Self {
        self.init(name, Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap())
    }

    pub fn floats(&mut self, name: &str, v: &[f32]) -> &mut Self {
        self.init(name, Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap())
    }

    /// A zero f32 weight of the given shape.
    pub fn weight(&mut self, name: &str, dims: &[usize]) -> &mut Self {
        self.init(name, Tensor::zeros(DType::F32, dims.to_vec()).unwrap())
    }

    /// Appends a node named after its first output; returns it for attributes.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeRef<'_> {
        self.model.graph.nodes.push(Node {
            name: outputs
                .first()
                .map_or(String::new(), |o| format!("{o}_node")),
            op_type: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
        NodeRef(self.model.graph.nodes.last_mut().unwrap())
    }
}

pub struct NodeRef<'a>(pub &'a mut Node);

impl NodeRef<'_> {
    fn set(self, name: &str, value: AttrValue) -> Self {
        self.0.attributes.push(Attribute {
            name: name.into(),
            value,
            doc_string: String::new(),
            ref_attr_name: String::new(),
        });
        self
    }
    pub fn int(self, name: &str, v: i64) -> Self {
        self.set(name, AttrValue::Int(v))
    }
    pub fn ints(self, name: &str, v: &[i64]) -> Self {
        self.set(name, AttrValue::Ints(v.to_vec()))
    }
    pub fn floats(self, name: &str, v: &[f32]) -> Self {
        self.set(name, AttrValue::Floats(v.to_vec()))
    }
    pub fn string(self, name: &str, v: &str) -> Self {
        self.set(name, AttrValue::String(v.as_bytes().to_vec()))
    }
    pub fn tensor(self, name: &str, t: Tensor) -> Self {
        self.set(
            name,
            AttrValue::Tensor(NamedTensor {
                name: String::new(),
                doc_string: String::new(),
                tensor: t,
            }),
        )
    }
    pub fn domain(self, d: &str) -> Self {
        self.0.domain = d.into();
        self
    }
}

/// Evaluates a symbolic dim written by inference (`2*(floor((h - 1)/8) + 1)`): `+ - * /`,
/// parentheses, `floor(..)`, `ceil(..)`, integers and the names in `env`.
pub fn eval_dim(s: &str, env: &[(&str, f64)]) -> Option<f64> {
    let toks = tokens(s)?;
    let mut pos = 0;
    let v = sum(&toks, &mut pos, env)?;
    (pos == toks.len()).then_some(v)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
}

fn tokens(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == ' ' {
            i += 1;
        } else if c.is_ascii_digit() {
            let j = (i..b.len())
                .find(|&j| !b[j].is_ascii_digit())
                .unwrap_or(b.len());
            out.push(Tok::Num(s[i..j].parse().ok()?));
            i = j;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let j = (i..b.len())
                .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_'))
                .unwrap_or(b.len());
            out.push(Tok::Name(s[i..j].to_string()));
            i = j;
        } else if "+-*/()".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

fn sum(t: &[Tok], p: &mut usize, env: &[(&str, f64)]) -> Option<f64> {
    let mut v = product(t, p, env)?;
    while let Some(Tok::Op(op @ ('+' | '-'))) = t.get(*p) {
        *p += 1;
        let r = product(t, p, env)?;
        v = if *op == '+' { v + r } else { v - r };
    }
    Some(v)
}

fn product(t: &[Tok], p: &mut usize, env: &[(&str, f64)]) -> Option<f64> {
    let mut v = factor(t, p, env)?;
    while let Some(Tok::Op(op @ ('*' | '/'))) = t.get(*p) {
        *p += 1;
        let r = factor(t, p, env)?;
        v = if *op == '*' { v * r } else { v / r };
    }
    Some(v)
}

fn factor(t: &[Tok], p: &mut usize, env: &[(&str, f64)]) -> Option<f64> {
    let tok = t.get(*p)?.clone();
    *p += 1;
    match tok {
        Tok::Num(v) => Some(v),
        Tok::Op('(') => {
            let v = sum(t, p, env)?;
            (t.get(*p) == Some(&Tok::Op(')'))).then(|| *p += 1)?;
            Some(v)
        }
        Tok::Name(n) if (n == "floor" || n == "ceil") && t.get(*p) == Some(&Tok::Op('(')) => {
            let v = factor(t, p, env)?;
            Some(if n == "floor" { v.floor() } else { v.ceil() })
        }
        Tok::Name(n) => env.iter().find(|(k, _)| *k == n).map(|(_, v)| *v),
        Tok::Op(_) => None,
    }
}
