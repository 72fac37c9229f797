//! The kernel types every op family builds on: what a builder sees ([`BuildCtx`]), what it
//! returns ([`Kernel`]), how a kernel is run ([`run_guarded`]) and how an op family lists its
//! ops ([`Registration`]), and the state one run's kernels share ([`RunContext`]). Nearly a
//! leaf: it refers only to the error type and the buffer pool, so `ops/`, `fast/`, the
//! registry and the planner can all depend on it.

use crate::buffers::BufferPool;
use crate::error::RuntimeError;
use onnxide_ir::{Graph, Node, Tensor};
use onnxide_linalg::Isa;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// Kernel result: the message becomes [`crate::RuntimeError::Node`] with the node and op named.
pub type OpResult<T> = Result<T, String>;

/// A planned subgraph (an If branch, a Loop or Scan body) that a control-flow kernel runs.
/// The planner implements it; kernels see only this interface, so `ops/` does not depend on
/// the planner.
pub trait Subgraph: Send + Sync {
    /// Runs the subgraph on its formal inputs followed by the captured outer values; returns
    /// its outputs in order.
    fn run(
        &self,
        run: &RunContext,
        feeds: Vec<Option<Arc<Tensor>>>,
    ) -> Result<Vec<Tensor>, RuntimeError>;
    /// Number of outputs the subgraph returns.
    fn output_count(&self) -> usize;
}

/// Plans a subgraph given the names it captures from the enclosing scope.
pub type SubgraphCompiler<'a> = dyn Fn(&Graph, &[String]) -> Result<Arc<dyn Subgraph>, String> + 'a;

/// What a builder sees: the node, the opset version of its domain, and the inputs that are
/// constant at plan time (initializers and folded values), by input position.
pub struct BuildCtx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    pub consts: Vec<Option<&'a Tensor>>,
    /// Outer values the node's subgraphs read; the kernel receives them after its own inputs.
    pub captures: Vec<String>,
    /// Plans a subgraph whose extra inputs are the given captured names.
    pub compile: &'a SubgraphCompiler<'a>,
    /// The SIMD flavour the session chose; fast kernels build for it.
    pub isa: Isa,
    /// `SessionOptions::exact`: fast kernels keep onnxruntime's summation order.
    pub exact: bool,
}

impl BuildCtx<'_> {
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.node.attr_int(name).unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.node.attr_float(name).unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.node.attr_ints(name).map(<[i64]>::to_vec)
    }
    pub fn string(&self, name: &str, default: &str) -> String {
        self.node.attr_string(name).unwrap_or(default).to_string()
    }
    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        match self.node.attr(name) {
            Some(onnxide_ir::AttrValue::Floats(v)) => Some(v.clone()),
            _ => None,
        }
    }
    /// The constant value of input `i`, if it is known at plan time.
    pub fn konst(&self, i: usize) -> Option<&Tensor> {
        self.consts.get(i).copied().flatten()
    }
}

/// A planned op: runs on its inputs (`None` = omitted optional input) and returns its outputs
/// in order (trailing optional outputs may be left off).
pub trait Kernel: Send + Sync {
    fn run(&self, run: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>>;

    /// Runs with input `index` handed over by value: the planner proved that no other step
    /// reads it and that it is not a graph output, so a kernel may reuse its storage (an
    /// in-place Concat appends the other inputs to it). `inputs[index]` is `None`. By
    /// default the kernel borrows it, as [`Kernel::run`] does.
    fn run_consuming(
        &self,
        run: &RunContext,
        inputs: &[Option<&Tensor>],
        index: usize,
        owned: Tensor,
    ) -> OpResult<Vec<Tensor>> {
        let mut ins: Vec<Option<&Tensor>> = inputs.to_vec();
        if let Some(slot) = ins.get_mut(index) {
            *slot = Some(&owned);
        }
        self.run(run, &ins)
    }
}

/// The state the kernels of one run share, owned by that run (the session lends it an idle
/// buffer pool and takes it back afterwards): never a thread's or the process's, so two
/// runs or two sessions cannot disturb each other. Not `Sync`: it stays on the thread
/// walking the steps, out of the kernels' parallel sections.
#[derive(Default)]
pub struct RunContext {
    buffers: RefCell<BufferPool>,
    /// Set by the planner around one step: the first f32 buffer of exactly `.0` values that
    /// step takes gets room for `.1` (the in-place Concat that will append to it).
    room: Cell<Option<(usize, usize)>>,
}

impl RunContext {
    /// A context whose large output buffers come from (and go back to) `buffers`.
    pub(crate) fn new(buffers: BufferPool) -> RunContext {
        RunContext {
            buffers: RefCell::new(buffers),
            room: Cell::new(None),
        }
    }

    /// A zeroed f32 buffer of `len` values, recycled from earlier steps or runs when large.
    pub fn take_f32(&self, len: usize) -> Vec<f32> {
        match self.extra_room(len) {
            Some(capacity) => {
                let mut v = Vec::with_capacity(capacity);
                v.resize(len, 0.0);
                v
            }
            None => self.buffers.borrow_mut().take(len),
        }
    }

    /// An empty f32 buffer with room for at least `len` values, for kernels that fill their
    /// output by appending (no zeroing pass).
    pub fn take_empty_f32(&self, len: usize) -> Vec<f32> {
        match self.extra_room(len) {
            Some(capacity) => Vec::with_capacity(capacity),
            None => self.buffers.borrow_mut().take_empty(len),
        }
    }

    /// The capacity the planner asked for a buffer of `len` values, once (see `room`).
    fn extra_room(&self, len: usize) -> Option<usize> {
        match self.room.get() {
            Some((l, capacity))
                if l == len && capacity >= len && BufferPool::unpooled(capacity) =>
            {
                self.room.set(None);
                Some(capacity)
            }
            _ => None,
        }
    }

    /// For the planner: the next step's first f32 buffer of `len` values gets room for
    /// `capacity` values (`None` clears a request the step did not use).
    pub(crate) fn set_room(&self, room: Option<(usize, usize)>) {
        self.room.set(room);
    }

    /// Hands the storage of a tensor no step reads any more back to the pool.
    pub(crate) fn recycle(&self, t: Tensor) {
        self.buffers.borrow_mut().recycle(t);
    }

    /// Ends the run; returns the pool, trimmed to what the next run is expected to need.
    pub(crate) fn finish(self) -> BufferPool {
        let mut buffers = self.buffers.into_inner();
        buffers.end_run();
        buffers
    }
}

/// Runs a kernel; a panic inside it (a kernel bug) becomes an error message instead of
/// unwinding into the caller.
pub fn run_guarded(
    kernel: &dyn Kernel,
    run: &RunContext,
    inputs: &[Option<&Tensor>],
) -> OpResult<Vec<Tensor>> {
    guarded(|| kernel.run(run, inputs))
}

/// Runs `f` (a kernel call); a panic inside it becomes an error message.
pub(crate) fn guarded(f: impl FnOnce() -> OpResult<Vec<Tensor>>) -> OpResult<Vec<Tensor>> {
    // A limit recorded by an earlier kernel whose error was handled is not this one's.
    let _ = crate::limits::take_stop();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("internal error in the kernel: {what}"))
        }
    }
}

/// Builds a kernel for one node.
pub type Builder = fn(&BuildCtx) -> OpResult<Box<dyn Kernel>>;

/// One row of an op family's table: (domain, op_type, builder). Domain `""` is ai.onnx.
pub type Registration = (&'static str, &'static str, Builder);

/// A kernel from a closure (for simple ops whose whole state is captured).
pub struct FnKernel<F>(pub F);

impl<F> Kernel for FnKernel<F>
where
    F: Fn(&[Option<&Tensor>]) -> OpResult<Vec<Tensor>> + Send + Sync,
{
    fn run(&self, _: &RunContext, inputs: &[Option<&Tensor>]) -> OpResult<Vec<Tensor>> {
        (self.0)(inputs)
    }
}

/// Boxes a closure kernel.
pub fn kernel<F>(f: F) -> OpResult<Box<dyn Kernel>>
where
    F: Fn(&[Option<&Tensor>]) -> OpResult<Vec<Tensor>> + Send + Sync + 'static,
{
    Ok(Box::new(FnKernel(f)))
}
