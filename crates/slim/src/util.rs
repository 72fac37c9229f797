//! Helpers shared by the passes: byte sizes of statically shaped values, constant lookups,
//! attribute edits and the float arithmetic of the fusions.

use onnxide_ir::rewrite::{attr, GraphIndex};
use onnxide_ir::{AttrValue, DType, Graph, Node, Tensor};

/// Bytes of a tensor of `elem` and `shape`, with checked arithmetic (`None` on overflow).
pub fn byte_size(elem: DType, shape: &[u64]) -> Option<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(usize::try_from(d).ok()?)?;
    }
    elem.raw_len(n)
}

/// `n` is in the default ONNX domain.
pub fn default_domain(n: &Node) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// The constant (an initializer no graph input overrides) named `name`.
pub fn constant<'g>(g: &'g Graph, ix: &GraphIndex, name: &str) -> Option<&'g Tensor> {
    if name.is_empty() || !ix.is_constant(name) {
        return None;
    }
    g.initializer(name).map(|t| &t.tensor)
}

/// The integer constant named `name`, as i64s.
pub fn constant_ints(g: &Graph, ix: &GraphIndex, name: &str) -> Option<Vec<i64>> {
    constant(g, ix, name)?.to_i64_vec()
}

/// `value` is read by node `reader` only (no other node, no subgraph, no graph output).
pub fn only_read_by(ix: &GraphIndex, value: &str, reader: usize) -> bool {
    ix.sole_consumer(value) == Some(reader) && !ix.is_captured(value)
}

/// Sets attribute `name` of `n` to `value` (replacing it or appending it).
pub fn set_attr(n: &mut Node, name: &str, value: impl Into<AttrValue>) {
    let value = value.into();
    match n.attributes.iter_mut().find(|a| a.name == name) {
        Some(a) => a.value = value,
        None => n.attributes.push(attr(name, value)),
    }
}

/// Removes attribute `name` of `n`.
pub fn remove_attr(n: &mut Node, name: &str) {
    n.attributes.retain(|a| a.name != name);
}

/// The values of a float32 or float64 tensor, widened to f64 (`None` for other types).
pub fn float_values(t: &Tensor) -> Option<Vec<f64>> {
    match t.dtype() {
        DType::F32 | DType::F64 => t.to_f64_vec(),
        _ => None,
    }
}

/// A tensor of `dtype` (float32 or float64) from f64 values, each rounded once.
pub fn float_tensor(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> Option<Tensor> {
    match dtype {
        DType::F32 => Tensor::from_vec(shape, v.into_iter().map(|x| x as f32).collect()).ok(),
        DType::F64 => Tensor::from_vec(shape, v).ok(),
        _ => None,
    }
}

/// A constant that broadcasts against a `[N, C, ...]` value of rank `rank` as one number per
/// channel (every dim 1 but the channel dim, which is `channels` or 1), without growing it:
/// its `channels` values.
pub fn per_channel(t: &Tensor, rank: usize, channels: usize) -> Option<Vec<f64>> {
    let shape = t.shape();
    if shape.len() > rank || rank < 2 {
        return None;
    }
    let offset = rank - shape.len();
    let mut along_channel = false;
    for (k, &d) in shape.iter().enumerate() {
        let axis = offset + k;
        if axis == 1 && d == channels {
            along_channel = true;
        } else if d != 1 {
            return None;
        }
    }
    let v = float_values(t)?;
    if along_channel {
        (v.len() == channels).then_some(v)
    } else {
        let x = *v.first()?;
        (v.len() == 1).then(|| vec![x; channels])
    }
}

/// Which output channel each weight element of a Conv (`[M, C/g, k...]`) or ConvTranspose
/// (`[C, M/g, k...]`, output channel `(c / (C/g)) · M/g + j`) contributes to.
pub struct OutChannels {
    /// Elements per (row, column) pair: the product of the kernel dims.
    inner: usize,
    /// `weight[1]`.
    cols: usize,
    transposed: bool,
    /// ConvTranspose: input channels per group.
    c_per_group: usize,
    /// The number of output channels.
    pub count: usize,
}

impl OutChannels {
    /// `None` when the shape does not fit the group count.
    pub fn new(weight: &[usize], transposed: bool, group: usize) -> Option<OutChannels> {
        if weight.len() < 2 || group == 0 {
            return None;
        }
        let inner = weight[2..]
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
        weight[0].checked_mul(weight[1])?.checked_mul(inner)?;
        if !transposed {
            return Some(OutChannels {
                inner,
                cols: weight[1],
                transposed,
                c_per_group: 0,
                count: weight[0],
            });
        }
        if !weight[0].is_multiple_of(group) {
            return None;
        }
        Some(OutChannels {
            inner,
            cols: weight[1],
            transposed,
            c_per_group: weight[0] / group,
            count: weight[1].checked_mul(group)?,
        })
    }

    /// The output channel of weight element `i` (row-major); only called for `i` below the
    /// element count, so the divisors are not zero.
    pub fn of(&self, i: usize) -> usize {
        let row = i / (self.cols * self.inner);
        if !self.transposed {
            return row;
        }
        let j = (i / self.inner) % self.cols;
        (row / self.c_per_group) * self.cols + j
    }
}
