//! [`SessionOptions`]: how a session is planned and run (read by the planner and the session).

/// How a [`Session`](crate::Session) is planned and run.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Worker threads for the heavy kernels; `None` = all cores.
    pub threads: Option<usize>,
    /// Fold constant subgraphs, fuse Conv+SiLU(+residual), and use the onnxide-linalg kernels
    /// (weights packed at plan time). `false`: the graph as given, on the reference kernels.
    pub optimize: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: None,
            optimize: true,
        }
    }
}
