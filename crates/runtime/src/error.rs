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
    /// A tensor would exceed the session's memory budget (`SessionOptions::memory`).
    #[error("node '{node}' ({op}): a tensor of shape {shape:?} needs {}, over the memory budget of {budget} bytes (SessionOptions::memory, CLI memory=)", .bytes.map_or("more bytes than the address space holds".to_string(), |b| format!("{b} bytes")))]
    MemoryBudget {
        node: String,
        op: String,
        shape: Vec<usize>,
        bytes: Option<u64>,
        budget: u64,
    },
    /// A Loop or Scan node would run more iterations than `SessionOptions::max_iterations`.
    #[error("node '{node}' ({op}): more than {limit} iterations (SessionOptions::max_iterations)")]
    IterationLimit {
        node: String,
        op: String,
        limit: u64,
    },
    /// The run's cancel flag was set; `node` is the step it stopped at.
    #[error("the run was cancelled at node '{node}' ({op})")]
    Cancelled { node: String, op: String },
    /// The run's deadline passed (`RunOptions::timeout`, CLI `timeout=`).
    #[error("the run passed its deadline at node '{node}' ({op})")]
    Deadline { node: String, op: String },
    /// The model breaks a rule checked at load: `node` (or the graph) and the offending field.
    #[error("invalid model: {where_}: {field}: {message}")]
    Invalid {
        where_: String,
        field: String,
        message: String,
    },
}

impl RuntimeError {
    /// A kernel's error message as the typed error: a limit the kernel hit (recorded by
    /// `limits`) becomes its own variant, anything else [`RuntimeError::Node`].
    pub(crate) fn from_kernel(node: &str, op: &str, message: String) -> RuntimeError {
        use crate::limits::Stop;
        let (node, op) = (node.to_string(), op.to_string());
        match crate::limits::take_stop() {
            Some(Stop::Memory {
                shape,
                bytes,
                budget,
            }) => RuntimeError::MemoryBudget {
                node,
                op,
                shape,
                bytes,
                budget,
            },
            Some(Stop::Iterations { limit }) => RuntimeError::IterationLimit { node, op, limit },
            Some(Stop::Cancelled) => RuntimeError::Cancelled { node, op },
            Some(Stop::Deadline) => RuntimeError::Deadline { node, op },
            None => RuntimeError::Node { node, op, message },
        }
    }
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
