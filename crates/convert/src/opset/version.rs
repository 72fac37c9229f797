//! The schema table's entry types (read by the generated `table.rs`).

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
