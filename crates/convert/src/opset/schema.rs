//! Lookups in the schema table and the helpers of the generic rule (ops whose change at a
//! boundary is only added types or added attributes).

use super::table::SCHEMAS;
pub(crate) use super::version::{AttrDefault, Change, Version};
use onnxide_ir::{AttrValue, DType, Node};

/// Boundaries whose signature did not change but whose meaning did (onnx's changelog); they
/// count as [`Change::Other`].
const SEMANTIC: &[(&str, i64)] = &[("Hardmax", 13), ("Pad", 19), ("Resize", 19)];

/// The schema versions of a default-domain op.
pub(crate) fn versions(op: &str) -> Option<&'static [Version]> {
    SCHEMAS
        .binary_search_by(|(name, _)| name.cmp(&op))
        .ok()
        .map(|i| SCHEMAS[i].1)
}

/// The change at `v`, with the semantic overrides applied.
pub(crate) fn change(op: &str, v: &Version) -> Change {
    if SEMANTIC.contains(&(op, v.since)) {
        Change::Other
    } else {
        v.change
    }
}

/// `tensor(float)` for FLOAT: the spelling of the schema's type constraints.
pub(crate) fn type_str(d: DType) -> String {
    format!("tensor({})", d.onnx_name().to_lowercase())
}

/// The attribute equals the schema default.
pub(crate) fn is_default(a: &AttrValue, d: AttrDefault) -> bool {
    match (a, d) {
        (AttrValue::Int(x), AttrDefault::Int(y)) => *x == y,
        (AttrValue::String(s), AttrDefault::Str(y)) => s.as_slice() == y.as_bytes(),
        _ => false,
    }
}

/// Removes attribute `name` from the node.
pub(crate) fn remove_attr(node: &mut Node, name: &str) {
    node.attributes.retain(|a| a.name != name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_versions_ascend() {
        assert!(SCHEMAS.windows(2).all(|w| w[0].0 < w[1].0));
        for (op, vs) in SCHEMAS {
            assert!(vs.windows(2).all(|w| w[0].since < w[1].since), "{op}");
            assert!(
                matches!(vs.first().map(|v| v.change), Some(Change::New)),
                "{op}"
            );
        }
        assert!(versions("Split").is_some() && versions("NoSuchOp").is_none());
    }
}
