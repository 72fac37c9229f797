//! A small graph builder that names things the way Ultralytics' torch export does.
//!
//! Node names are module scopes plus the op type (`/model.0/conv/Conv`, `/model.23/Reshape_1`):
//! the first op of a type in a scope takes the bare name, later ones get `_1`, `_2`, ... .
//! Outputs are `<node name>_output_<i>`. Weights are initializers under their `state_dict`
//! names (`model.0.conv.weight`); small constants are initializers too (never `Constant`
//! nodes), shared when their contents are equal, as onnxslim leaves them.

use crate::error::{Result, YoloError};
use onnxide_ir::rewrite::{self, TensorKey};
use onnxide_ir::{AttrValue, Attribute, NamedTensor, Node, Tensor};
use std::collections::{HashMap, HashSet};

/// Where a module sits: its torch export scope and its `state_dict` key prefix.
///
/// torch names a scope after the module's path relative to the nearest ancestor that is not a
/// container (`Sequential`/`ModuleList`), which is why Detect's convs live in
/// `/model.23/cv2.0/cv2.0.0` and C2PSA's blocks in `/model.10/m/m.0`.
#[derive(Clone, Debug)]
pub struct Site {
    pub scope: String,
    pub key: String,
    /// For containers: the path relative to the nearest non-container ancestor.
    container_rel: Option<String>,
}

/// How a submodule is called, which decides whether it opens a scope of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary module (Conv, Bottleneck, ...).
    Module,
    /// `nn.Sequential`: called, so it opens a scope, and its children are named relative to it.
    Sequential,
    /// `nn.ModuleList`: never called, so no scope of its own.
    ModuleList,
}

impl Site {
    /// The root `DetectionModel.model` Sequential (layers are `model.<i>`).
    pub fn model_root() -> Site {
        Site {
            scope: String::new(),
            key: "model".into(),
            container_rel: Some("model".into()),
        }
    }

    /// Layer `i` of the model.
    pub fn layer(i: usize) -> Site {
        Site::model_root().sub(&i.to_string(), Kind::Module)
    }

    /// The submodule `name` (an attribute name or a container index).
    pub fn sub(&self, name: &str, kind: Kind) -> Site {
        let rel = match &self.container_rel {
            Some(r) => format!("{r}.{name}"),
            None => name.to_string(),
        };
        let scope = match kind {
            Kind::ModuleList => self.scope.clone(),
            Kind::Module | Kind::Sequential => format!("{}/{rel}", self.scope),
        };
        Site {
            scope,
            key: format!("{}.{name}", self.key),
            container_rel: match kind {
                Kind::Module => None,
                Kind::Sequential | Kind::ModuleList => Some(rel),
            },
        }
    }

    /// The same module called again: torch suffixes the scope (`/model.9/m_1`).
    pub fn reused(&self, call: usize) -> Site {
        let mut s = self.clone();
        if call > 0 {
            s.scope = format!("{}_{call}", self.scope);
        }
        s
    }
}

// Attribute shorthands for the blocks, on onnxide-ir's one set of builders.

pub fn attr(name: &str, value: AttrValue) -> Attribute {
    rewrite::attr(name, value)
}

pub fn attr_int(name: &str, v: i64) -> Attribute {
    rewrite::attr(name, v)
}

pub fn attr_ints(name: &str, v: &[i64]) -> Attribute {
    rewrite::attr(name, v)
}

pub fn attr_float(name: &str, v: f32) -> Attribute {
    rewrite::attr(name, v)
}

pub fn attr_str(name: &str, v: &str) -> Attribute {
    rewrite::attr(name, v)
}

/// Accumulates nodes and initializers for one graph.
pub struct GraphBuilder {
    opset: i64,
    nodes: Vec<Node>,
    initializers: Vec<NamedTensor>,
    initializer_names: HashSet<String>,
    /// Next suffix per `scope/op`.
    counters: HashMap<String, usize>,
    /// Constant contents -> initializer name, so equal constants are stored once.
    constants: HashMap<TensorKey, String>,
}

impl GraphBuilder {
    pub fn new(opset: i64) -> GraphBuilder {
        GraphBuilder {
            opset,
            nodes: Vec::new(),
            initializers: Vec::new(),
            initializer_names: HashSet::new(),
            counters: HashMap::new(),
            constants: HashMap::new(),
        }
    }

    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// `scope/op`, `scope/op_1`, ... in call order.
    fn next_name(&mut self, scope: &str, op: &str) -> String {
        let base = format!("{scope}/{op}");
        let n = self.counters.entry(base.clone()).or_insert(0);
        let name = if *n == 0 { base } else { format!("{base}_{n}") };
        *n += 1;
        name
    }

    /// Uses up the next name of `op` in `scope` without adding a node: torch counts ops that
    /// onnxslim later folds away, and mirroring that keeps the remaining names identical.
    pub fn skip_name(&mut self, scope: &str, op: &str) {
        self.next_name(scope, op);
    }

    /// Adds a node with one output and returns the output's name.
    pub fn node(
        &mut self,
        scope: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attribute>,
    ) -> String {
        self.node_n(scope, op, inputs, attrs, 1).remove(0)
    }

    /// Adds a node with `outputs` outputs and returns their names.
    pub fn node_n(
        &mut self,
        scope: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attribute>,
        outputs: usize,
    ) -> Vec<String> {
        let name = self.next_name(scope, op);
        let outs: Vec<String> = (0..outputs).map(|i| format!("{name}_output_{i}")).collect();
        self.push(name, op, inputs, attrs, outs.clone());
        outs
    }

    /// Adds a node whose single output has a given name (graph outputs such as `output0`).
    pub fn node_to(
        &mut self,
        scope: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attribute>,
        output: &str,
    ) -> String {
        let name = self.next_name(scope, op);
        self.push(name, op, inputs, attrs, vec![output.to_string()]);
        output.to_string()
    }

    /// Gives the value `old` (the output of an already added node, not yet consumed) the name
    /// `new`: for graph outputs produced inside a block, such as Segment's `output1`.
    pub fn rename_output(&mut self, old: &str, new: &str) -> Result<String> {
        let out = self
            .nodes
            .iter_mut()
            .rev()
            .flat_map(|n| n.outputs.iter_mut())
            .find(|o| o.as_str() == old)
            .ok_or_else(|| YoloError::Graph(format!("no node produces '{old}'")))?;
        *out = new.to_string();
        Ok(new.to_string())
    }

    fn push(
        &mut self,
        name: String,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attribute>,
        outputs: Vec<String>,
    ) {
        let node = rewrite::node(op)
            .name(name)
            .inputs(inputs.iter().copied())
            .outputs(outputs)
            .attributes(attrs);
        self.nodes.push(node.build());
    }

    /// Adds a named initializer (a weight). Names must be unique.
    pub fn initializer(&mut self, name: &str, tensor: Tensor) -> Result<String> {
        if !self.initializer_names.insert(name.to_string()) {
            return Err(YoloError::Graph(format!(
                "initializer '{name}' defined twice"
            )));
        }
        self.initializers.push(NamedTensor::new(name, tensor));
        Ok(name.into())
    }

    /// A constant initializer, shared with any earlier constant of equal dtype, shape and
    /// contents; new ones are named like torch's folded constants (`/model.23/Constant_3_output_0`).
    pub fn constant(&mut self, scope: &str, tensor: Tensor) -> Result<String> {
        let key = TensorKey::new(&tensor);
        if let Some(name) = self.constants.get(&key) {
            return Ok(name.clone());
        }
        let name = format!("{}_output_0", self.next_name(scope, "Constant"));
        self.initializer(&name, tensor)?;
        self.constants.insert(key, name.clone());
        Ok(name)
    }

    /// A 1-D int64 constant.
    pub fn const_i64s(&mut self, scope: &str, values: &[i64]) -> Result<String> {
        let t = Tensor::from_vec(vec![values.len()], values.to_vec()).map_err(graph_err)?;
        self.constant(scope, t)
    }

    /// A 0-d int64 constant.
    pub fn const_i64_scalar(&mut self, scope: &str, value: i64) -> Result<String> {
        self.constant(scope, Tensor::scalar(value))
    }

    /// A 0-d float constant.
    pub fn const_f32_scalar(&mut self, scope: &str, value: f32) -> Result<String> {
        self.constant(scope, Tensor::scalar(value))
    }

    /// A float constant of any shape.
    pub fn const_f32(
        &mut self,
        scope: &str,
        shape: Vec<usize>,
        values: Vec<f32>,
    ) -> Result<String> {
        let t = Tensor::from_vec(shape, values).map_err(graph_err)?;
        self.constant(scope, t)
    }

    // ---- ops whose form depends on the opset ----

    /// `Split` along `axis` into `sizes`: the sizes are an input from opset 13, an attribute before.
    pub fn split(&mut self, scope: &str, x: &str, sizes: &[i64], axis: i64) -> Result<Vec<String>> {
        if self.opset >= 13 {
            let s = self.const_i64s(scope, sizes)?;
            Ok(self.node_n(
                scope,
                "Split",
                &[x, &s],
                vec![attr_int("axis", axis)],
                sizes.len(),
            ))
        } else {
            Ok(self.node_n(
                scope,
                "Split",
                &[x],
                vec![attr_int("axis", axis), attr_ints("split", sizes)],
                sizes.len(),
            ))
        }
    }

    /// `Reshape` to a constant shape (`0` copies the input dim, `-1` is inferred).
    pub fn reshape_const(&mut self, scope: &str, x: &str, shape: &[i64]) -> Result<String> {
        let s = self.const_i64s(scope, shape)?;
        Ok(self.reshape(scope, x, &s))
    }

    /// `Reshape` to a shape tensor; `allowzero=0` is written from opset 14, where it exists.
    pub fn reshape(&mut self, scope: &str, x: &str, shape: &str) -> String {
        let attrs = if self.opset >= 14 {
            vec![attr_int("allowzero", 0)]
        } else {
            Vec::new()
        };
        self.node(scope, "Reshape", &[x, shape], attrs)
    }

    /// Nearest-neighbour upsampling by an integer factor (torch `nn.Upsample(scale_factor, 'nearest')`).
    pub fn resize_nearest(&mut self, scope: &str, x: &str, factor: f32) -> Result<String> {
        let scales = self.const_f32(scope, vec![4], vec![1.0, 1.0, factor, factor])?;
        // Opset 11/12 Resize requires the `roi` input: torch passes an empty float tensor.
        let roi = if self.opset >= 13 {
            String::new()
        } else {
            self.const_f32(scope, vec![0], Vec::new())?
        };
        let attrs = vec![
            attr_str("coordinate_transformation_mode", "asymmetric"),
            attr_float("cubic_coeff_a", -0.75),
            attr_str("mode", "nearest"),
            attr_str("nearest_mode", "floor"),
        ];
        Ok(self.node(scope, "Resize", &[x, &roi, &scales], attrs))
    }

    /// Adds a node with an explicit name and explicit output names (the NMS tail, whose names
    /// onnxslim rewrote and which no scope counter reproduces).
    pub fn raw(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attribute>,
        outputs: &[&str],
    ) {
        let outs = outputs.iter().map(|s| s.to_string()).collect();
        self.push(name.to_string(), op, inputs, attrs, outs);
    }

    /// Moves everything built so far one module down, as `NMSModel` wrapping the model as its
    /// `model` attribute does: node and value names `/x` become `/model/x`, weights `k` become
    /// `model.k`. `images` and the names in `keep` stay; `output0` becomes the name torch gives
    /// the producing node's output (it is no longer a graph output). Returns the new name of
    /// `output0`.
    pub fn nest(&mut self, keep: &[&str]) -> String {
        let rename = |x: &str| -> String {
            if x.is_empty() || x == "images" || keep.contains(&x) {
                x.to_string()
            } else if x.starts_with('/') {
                format!("/model{x}")
            } else {
                format!("model.{x}")
            }
        };
        let mut output0 = String::new();
        for n in &mut self.nodes {
            n.name = rename(&n.name);
            for i in &mut n.inputs {
                *i = rename(i);
            }
            for o in &mut n.outputs {
                if o == "output0" {
                    *o = format!("{}_output_0", n.name);
                    output0 = o.clone();
                } else {
                    *o = rename(o);
                }
            }
        }
        for t in &mut self.initializers {
            t.name = rename(&t.name);
        }
        self.initializer_names = self.initializers.iter().map(|t| t.name.clone()).collect();
        for v in self.constants.values_mut() {
            *v = rename(v);
        }
        output0
    }

    pub fn finish(self) -> (Vec<Node>, Vec<NamedTensor>) {
        (self.nodes, self.initializers)
    }
}

pub fn graph_err(e: impl std::fmt::Display) -> YoloError {
    YoloError::Graph(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_torch_naming() {
        let l23 = Site::layer(23);
        assert_eq!(l23.scope, "/model.23");
        let c = l23
            .sub("cv3", Kind::ModuleList)
            .sub("0", Kind::Sequential)
            .sub("0", Kind::Sequential)
            .sub("0", Kind::Module);
        assert_eq!(c.scope, "/model.23/cv3.0/cv3.0.0/cv3.0.0.0");
        assert_eq!(c.key, "model.23.cv3.0.0.0");
        let psa = Site::layer(10)
            .sub("m", Kind::Sequential)
            .sub("0", Kind::Module);
        assert_eq!(psa.scope, "/model.10/m/m.0");
        assert_eq!(psa.sub("attn", Kind::Module).scope, "/model.10/m/m.0/attn");
        let c3k = Site::layer(6)
            .sub("m", Kind::ModuleList)
            .sub("0", Kind::Module);
        assert_eq!(c3k.scope, "/model.6/m.0");
        let inner = c3k.sub("m", Kind::Sequential).sub("1", Kind::Module);
        assert_eq!(inner.scope, "/model.6/m.0/m/m.1");
        assert_eq!(inner.key, "model.6.m.0.m.1");
    }

    #[test]
    fn op_names_are_counted_per_scope() {
        let mut g = GraphBuilder::new(18);
        let a = g.node("/model.23", "Reshape", &["x", "s"], vec![]);
        let b = g.node("/model.23", "Reshape", &["x", "s"], vec![]);
        assert_eq!(a, "/model.23/Reshape_output_0");
        assert_eq!(b, "/model.23/Reshape_1_output_0");
        let c1 = g.const_i64s("/model.23", &[1, 64, -1]).unwrap();
        let c2 = g.const_i64s("/model.2", &[1, 64, -1]).unwrap();
        assert_eq!(c1, c2);
    }
}
