use std::path::PathBuf;

/// Everything that can go wrong reading, writing or checking a model.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    /// Reading or writing a file failed. The cause is the `source`, not part of this message, so
    /// that a printed chain (`{:#}`, the CLI's one line) shows it once.
    #[error("{}: I/O error", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file is empty, not an ONNX model", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not an ONNX model ({reason})", path.display())]
    NotOnnx { path: PathBuf, reason: String },
    #[error("{}: tensor '{tensor}': {reason}", path.display())]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("{}: external data of tensor '{tensor}': {reason}", path.display())]
    ExternalData {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("node {node}: attribute '{attribute}': {reason}")]
    BadAttribute {
        node: String,
        attribute: String,
        reason: String,
    },
    #[error("the graph has a cycle through nodes {}", .0.join(", "))]
    Cycle(Vec<String>),
    #[error("the model does not pass the checker:\n  {}", .0.join("\n  "))]
    Check(Vec<String>),
    #[error("pass '{pass}' broke the graph:\n  {}", problems.join("\n  "))]
    Pass { pass: String, problems: Vec<String> },
    #[error("{}: {reason}", path.display())]
    Npy { path: PathBuf, reason: String },
    #[error("shape inference: node {node}: {reason}")]
    Inference { node: String, reason: String },
}

pub type Result<T, E = IrError> = std::result::Result<T, E>;
