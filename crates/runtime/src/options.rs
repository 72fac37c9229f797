//! [`SessionOptions`] and [`RunOptions`]: how a session is planned and run (read by the
//! planner and the session).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// How a [`Session`](crate::Session) is planned and run.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Worker threads for the heavy kernels; `None` = all cores. More than the machine's
    /// logical cores is capped to that count unless `force_threads` is set.
    pub threads: Option<usize>,
    /// Use `threads` as given even above the logical core count.
    pub force_threads: bool,
    /// Fold constant subgraphs, fuse Conv+SiLU(+residual), and use the onnxide-linalg kernels
    /// (weights packed at plan time). `false`: the graph as given, on the reference kernels.
    pub optimize: bool,
    /// Bit-identical arithmetic: every fast kernel sums in onnxruntime's (MLAS's) order, so
    /// outputs equal onnxruntime's (ORT_DISABLE_ALL) bit for bit where they do today.
    /// `false` (the default) lets the fast kernels use other algorithms (Winograd for 3×3
    /// stride-1 convolutions) whose results differ from onnxruntime's by rounding only, within
    /// onnxruntime's own ORT_ENABLE_ALL vs ORT_DISABLE_ALL spread (`tests/models.rs`).
    pub exact: bool,
    /// Memory budget in bytes for the tensors of one run (and for constant folding at load):
    /// a tensor that would take the run past it fails with
    /// [`RuntimeError::MemoryBudget`](crate::RuntimeError::MemoryBudget) before anything is
    /// allocated. `None`: half of the machine's physical memory ([`default_memory_budget`]).
    pub memory: Option<u64>,
    /// Iterations one Loop or Scan node may run (default 10,000,000).
    pub max_iterations: u64,
    /// How deeply subgraphs (If/Loop/Scan bodies) may nest (default 32).
    pub max_nesting: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: None,
            force_threads: false,
            optimize: true,
            exact: false,
            memory: None,
            max_iterations: crate::limits::DEFAULT_MAX_ITERATIONS,
            max_nesting: 32,
        }
    }
}

impl SessionOptions {
    pub(crate) fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            memory: self.memory.unwrap_or_else(default_memory_budget),
            max_iterations: self.max_iterations,
            deadline: None,
            cancel: None,
        }
    }
}

/// The default memory budget: half of the machine's physical memory (4 GiB when unknown).
pub fn default_memory_budget() -> u64 {
    crate::limits::default_memory_budget()
}

/// Per-run settings of [`Session::run_with`](crate::Session::run_with).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Wall-clock time the run may take; checked before every step (and every Loop/Scan
    /// iteration's steps): [`RuntimeError::Deadline`](crate::RuntimeError::Deadline).
    pub timeout: Option<Duration>,
    /// Set it (from any thread) to stop the run at its next step:
    /// [`RuntimeError::Cancelled`](crate::RuntimeError::Cancelled).
    pub cancel: Option<Arc<AtomicBool>>,
}
