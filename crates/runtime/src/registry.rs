//! The op registry: the op families' tables (`ops/<family>.rs` and `fast/`), concatenated.
//! Each row maps (domain, op_type) to a builder that reads the node's attributes, opset
//! version and constant inputs into a typed kernel.

use crate::fast;
use crate::kernel::{Builder, Registration};
use crate::ops;

/// The ONNX ops, one table per family. Domain `""` is ai.onnx.
static ONNX_FAMILIES: &[&[Registration]] = &[
    ops::unary::OPS,
    ops::binary::OPS,
    ops::reshape::OPS,
    ops::concat::OPS,
    ops::slicing::OPS,
    ops::gather::OPS,
    ops::generate::OPS,
    ops::cast::OPS,
    ops::select::OPS,
    ops::matmul::OPS,
    ops::conv::OPS,
    ops::pool::OPS,
    ops::norm::OPS,
    ops::reduce::OPS,
    ops::resize::OPS,
    ops::nms::OPS,
    ops::grid::OPS,
    ops::rnn::OPS,
    ops::attention::OPS,
    ops::control::OPS,
    ops::quant::OPS,
    ops::loss::OPS,
];

/// Internal ops (the fusion pass's), looked up after the ONNX ones; not listed by
/// [`registered_ops`].
static INTERNAL_FAMILIES: &[&[Registration]] = &[fast::OPS];

fn onnx_rows() -> impl Iterator<Item = &'static Registration> {
    ONNX_FAMILIES.iter().flat_map(|family| family.iter())
}

/// The builder of (domain, op_type), if the executor runs that op.
pub(crate) fn lookup(domain: &str, op_type: &str) -> Option<Builder> {
    let domain = onnxide_ir::normalize_domain(domain);
    onnx_rows()
        .chain(INTERNAL_FAMILIES.iter().flat_map(|family| family.iter()))
        .find(|(d, o, _)| *d == domain && *o == op_type)
        .map(|(_, _, b)| *b)
}

/// The ops this executor supports, as (domain, op_type), sorted.
pub fn registered_ops() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = onnx_rows().map(|(d, o, _)| (*d, *o)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_registered_once() {
        let mut all: Vec<(&str, &str)> = onnx_rows()
            .chain(INTERNAL_FAMILIES.iter().flat_map(|family| family.iter()))
            .map(|(d, o, _)| (*d, *o))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "an op is registered by two families");
    }
}
