//! The schema table's types and the generic rule for ops whose change at a boundary is only
//! added types or added attributes.

use super::table::SCHEMAS;
use onnxide_ir::{AttrValue, DType, Node};

/// An added attribute's default, as the schema states it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AttrDefault {
    Int(i64),
    Str(&'static str),
    None,
}

/// What a schema version changed against the one before it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    /// The op's first version.
    New,
    /// Only type constraints grew (these types were added); no signature change.
    Types(&'static [&'static str]),
    /// Attributes were added (with their defaults), and maybe types.
    Attrs(
        &'static [(&'static str, AttrDefault)],
        &'static [&'static str],
    ),
    /// Inputs, outputs or attribute meaning changed: needs an adapter.
    Other,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Version {
    pub since: i64,
    pub deprecated: bool,
    pub change: Change,
}

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
