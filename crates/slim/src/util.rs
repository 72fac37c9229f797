//! Helpers shared by the passes: byte sizes of statically shaped values.

use onnxide_ir::DType;

/// Bytes of a tensor of `elem` and `shape`, with checked arithmetic (`None` on overflow).
pub fn byte_size(elem: DType, shape: &[u64]) -> Option<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(usize::try_from(d).ok()?)?;
    }
    elem.raw_len(n)
}
