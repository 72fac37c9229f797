//! [`Session`]: a planned model, run many times, from many threads.

use crate::buffers::BufferPool;
use crate::error::RuntimeError;
use crate::kernel::RunContext;
use crate::options::{RunOptions, SessionOptions};
use crate::plan::{self, Plan};
use onnxide_ir::{Dim, Model, Tensor, ValueInfo};
use onnxide_linalg::Isa;
use std::sync::{Arc, Mutex};

/// Counts describing a plan (for `onnxide info` / `bench`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanSummary {
    /// Nodes executed per run.
    pub steps: usize,
    /// Nodes evaluated once at plan time (constant subgraphs).
    pub folded: usize,
    /// Initializers and folded values.
    pub constants: usize,
    /// All values (graph inputs, initializers, node outputs).
    pub values: usize,
    /// Values whose shape is known before any run.
    pub static_values: usize,
    /// Concat steps run in place: their first input's producer writes into the start of the
    /// Concat's output buffer and the other inputs are appended (batch-1 channel concats).
    pub in_place_concats: usize,
    pub threads: usize,
}

/// A model planned for execution. `Send + Sync`: share one across threads.
///
/// Everything a run touches besides its inputs belongs to the session: the plan (with the
/// kernels built for the session's ISA), the thread pool, and the buffer pools runs borrow
/// (one per concurrent run). Sessions in one process share no state.
pub struct Session {
    plan: Plan,
    pool: rayon::ThreadPool,
    isa: Isa,
    /// Buffer pools of finished runs, lent to the next ones.
    idle_buffers: Mutex<Vec<BufferPool>>,
    /// Memory budget and iteration cap of every run.
    limits: crate::limits::Limits,
}

impl Session {
    /// Plans `model`: op lookup, topological order, constant folding, value lifetimes.
    /// Fails with [`RuntimeError::UnsupportedOps`] listing every op the executor lacks.
    pub fn new(model: &Model, options: &SessionOptions) -> Result<Session, RuntimeError> {
        Session::with_isa(model, options, Isa::detect())
    }

    /// Like [`Session::new`], with the fast kernels built for `isa` instead of the fastest
    /// flavour this CPU runs (a flavour the CPU lacks falls back to the fastest it has).
    /// For tests and benchmarks that compare flavours; results may differ between flavours
    /// in the last bits (FMA), never between runs.
    pub fn with_isa(
        model: &Model,
        options: &SessionOptions,
        isa: Isa,
    ) -> Result<Session, RuntimeError> {
        crate::validate::model(model, options.max_nesting)?;
        // Constant folding at load obeys the same memory budget as a run.
        let _limits = crate::limits::enter(options.limits());
        // Fusions rewrite a copy of the model; `optimize = false` plans the graph as given.
        let optimized = if options.optimize {
            crate::optimize::run(model)?
        } else {
            None
        };
        let model = optimized.as_ref().map_or(model, |(m, _)| m);
        // For developers: what the passes made of the model (best effort, never fails a plan).
        if let (Some(path), Some(_)) = (std::env::var_os("ONNXIDE_DUMP_OPTIMIZED"), &optimized) {
            let _ = onnxide_ir::save(model, std::path::Path::new(&path), &Default::default());
        }
        let plan = plan::build(model, options, isa)?;
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(n) = options.threads {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let n = if options.force_threads {
                n
            } else {
                n.min(cores)
            };
            builder = builder.num_threads(n.max(1));
        }
        let pool = builder
            .build()
            .map_err(|e| RuntimeError::ThreadPool(e.to_string()))?;
        Ok(Session {
            plan,
            pool,
            isa,
            idle_buffers: Mutex::new(Vec::new()),
            limits: options.limits(),
        })
    }

    /// Graph inputs the caller must feed (those that are not initializers).
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.plan.inputs
    }

    pub fn outputs(&self) -> &[ValueInfo] {
        &self.plan.outputs
    }

    /// What planning did: node, step and value counts.
    pub fn summary(&self) -> PlanSummary {
        let p = &self.plan;
        PlanSummary {
            steps: p.steps.len(),
            folded: p.folded,
            constants: p.consts.len(),
            values: p.n_slots,
            static_values: p.static_shapes.iter().filter(|s| s.is_some()).count(),
            in_place_concats: p.in_place_concats,
            threads: self.pool.current_num_threads(),
        }
    }

    /// The SIMD flavour the session's fast kernels were built for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Number of threads the session's kernels use.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs the model; returns every graph output, in graph order.
    pub fn run(
        &self,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        self.run_with(inputs, &RunOptions::default())
    }

    /// Runs the model with a deadline or a cancel flag ([`RunOptions`]).
    pub fn run_with(
        &self,
        inputs: Vec<(String, Tensor)>,
        options: &RunOptions,
    ) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        let mut limits = self.limits.clone();
        limits.deadline = options
            .timeout
            .and_then(|t| std::time::Instant::now().checked_add(t));
        limits.cancel = options.cancel.clone();
        let plan = &self.plan;
        let mut slots: Vec<Option<Arc<Tensor>>> = vec![None; plan.n_slots];
        for (s, t) in &plan.consts {
            slots[*s] = Some(t.clone());
        }
        let mut fed = vec![false; plan.inputs.len()];
        for (name, t) in inputs {
            if let Some(i) = plan.inputs.iter().position(|v| v.name == name) {
                if fed[i] {
                    return Err(RuntimeError::DuplicateInput { name });
                }
                check_input(&plan.inputs[i], &t)?;
                fed[i] = true;
                slots[plan.input_slots[i]] = Some(Arc::new(t));
            } else if let Some(&s) = plan.overridable.get(&name) {
                slots[s] = Some(Arc::new(t));
            } else {
                return Err(RuntimeError::UnknownInput {
                    name,
                    known: plan.inputs.iter().map(|v| v.name.clone()).collect(),
                });
            }
        }
        if let Some(i) = fed.iter().position(|f| !f) {
            return Err(RuntimeError::MissingInput {
                name: plan.inputs[i].name.clone(),
            });
        }
        let run = RunContext::new(self.lend_buffers());
        let (result, buffers) = self.pool.install(|| {
            let _limits = crate::limits::enter(limits);
            let result = plan::execute(plan, &run, &mut slots);
            (result, run.finish())
        });
        self.return_buffers(buffers);
        result?;
        let mut out = Vec::with_capacity(plan.outputs.len());
        for (vi, &s) in plan.outputs.iter().zip(&plan.output_slots) {
            let t = slots[s].clone().ok_or_else(|| {
                RuntimeError::Graph(format!("output '{}' was not computed", vi.name))
            })?;
            out.push((vi.name.clone(), Arc::unwrap_or_clone(t)));
        }
        Ok(out)
    }
}

impl Session {
    /// A buffer pool for a run: the one an earlier run left, if no other run holds it.
    fn lend_buffers(&self) -> BufferPool {
        self.idle_buffers
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .unwrap_or_default()
    }

    fn return_buffers(&self, buffers: BufferPool) {
        if let Ok(mut idle) = self.idle_buffers.lock() {
            idle.push(buffers);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = &self.plan.profile {
            eprint!("{}", p.report());
        }
    }
}

fn check_input(vi: &ValueInfo, t: &Tensor) -> Result<(), RuntimeError> {
    if let Some(expected) = vi.elem_type() {
        if expected != t.dtype() {
            return Err(RuntimeError::WrongDType {
                input: vi.name.clone(),
                expected: expected.to_string(),
                got: t.dtype().to_string(),
            });
        }
    }
    if let Some(dims) = vi.shape() {
        let ok = dims.len() == t.rank()
            && dims.iter().zip(t.shape()).all(|(d, &n)| match d {
                Dim::Fixed(v) => *v == n as u64,
                _ => true,
            });
        if !ok {
            return Err(RuntimeError::WrongShape {
                input: vi.name.clone(),
                expected: onnxide_ir::format_shape(Some(dims)),
                got: t.shape().to_vec(),
            });
        }
    }
    Ok(())
}
