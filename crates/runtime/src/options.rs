//! [`SessionOptions`]: how a session is planned and run (read by the planner and the session).

/// How a [`Session`](crate::Session) is planned and run.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Worker threads for the heavy kernels; `None` = all cores.
    pub threads: Option<usize>,
    /// Fold constant subgraphs, fuse Conv+SiLU(+residual), and use the onnxide-linalg kernels
    /// (weights packed at plan time). `false`: the graph as given, on the reference kernels.
    pub optimize: bool,
    /// Bit-identical arithmetic: every fast kernel sums in onnxruntime's (MLAS's) order, so
    /// outputs equal onnxruntime's (ORT_DISABLE_ALL) bit for bit where they do today.
    /// `false` (the default) lets the fast kernels use other algorithms (Winograd for 3×3
    /// stride-1 convolutions) whose results differ from onnxruntime's by rounding only, within
    /// onnxruntime's own ORT_ENABLE_ALL vs ORT_DISABLE_ALL spread (`tests/models.rs`).
    pub exact: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: None,
            optimize: true,
            exact: false,
        }
    }
}
