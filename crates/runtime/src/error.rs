//! The executor's typed errors.

/// Everything that can go wrong planning or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model uses ops the executor lacks: every missing op with the nodes that use it.
    #[error("unsupported ops: {}", format_missing(.missing))]
    UnsupportedOps { missing: Vec<(String, Vec<String>)> },
    #[error("unknown input '{name}' (the model's inputs are: {})", .known.join(", "))]
    UnknownInput { name: String, known: Vec<String> },
    #[error("missing input '{name}'")]
    MissingInput { name: String },
    #[error("input '{name}' given more than once")]
    DuplicateInput { name: String },
    #[error("input '{input}': expected element type {expected}, got {got}")]
    WrongDType {
        input: String,
        expected: String,
        got: String,
    },
    #[error("input '{input}': expected shape {expected}, got {got:?}")]
    WrongShape {
        input: String,
        expected: String,
        got: Vec<usize>,
    },
    /// A node failed while planning (bad attributes, bad constant inputs) or running.
    #[error("node '{node}' ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    /// The graph itself is malformed (a cycle, a value nobody produces, ...).
    #[error("invalid graph: {0}")]
    Graph(String),
    #[error("could not start the thread pool: {0}")]
    ThreadPool(String),
}

fn format_missing(missing: &[(String, Vec<String>)]) -> String {
    missing
        .iter()
        .map(|(op, nodes)| {
            let shown: Vec<&str> = nodes.iter().take(5).map(String::as_str).collect();
            let more = if nodes.len() > 5 {
                format!(", ... ({} nodes)", nodes.len())
            } else {
                String::new()
            };
            format!("{op} (used by {}{more})", shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
