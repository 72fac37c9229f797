//! Helpers shared by the passes: static shapes and byte sizes from inference facts.

use onnxide_ir::infer::Inferred;
use onnxide_ir::{DType, Dim};

/// The shape of `value` when inference knows every dim as a number.
pub fn static_shape(facts: &Inferred, value: &str) -> Option<Vec<u64>> {
    facts
        .shape(value)?
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// Bytes of a tensor of `elem` and `shape`, with checked arithmetic (`None` on overflow).
pub fn byte_size(elem: DType, shape: &[u64]) -> Option<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(usize::try_from(d).ok()?)?;
    }
    elem.raw_len(n)
}
