//! Planning: op lookup, topological order, constant folding, value slots and lifetimes.
//! Done once in [`crate::Session::new`]; [`crate::Session::run`] only walks the steps.

use crate::error::RuntimeError;
use crate::eval::{self, label};
use crate::kernel::{self, BuildCtx, Kernel, RunContext, Subgraph};
use crate::options::SessionOptions;
use crate::registry;
use crate::value::numel;
use onnxide_ir::{AttrValue, Graph, Model, Tensor, ValueInfo, ValueType};
use onnxide_linalg::Isa;
use std::collections::HashMap;
use std::sync::Arc;

/// One node to execute.
pub(crate) struct Step {
    pub name: String,
    pub op: String,
    pub kernel: Box<dyn Kernel>,
    /// Slot of each input (`None` = omitted optional input).
    pub inputs: Vec<Option<usize>>,
    /// Slot of each output (`None` = omitted optional output).
    pub outputs: Vec<Option<usize>>,
    /// Slots whose last reader is this step: dropped right after it runs.
    pub free_after: Vec<usize>,
    /// The `axis` attribute of a Concat node (the in-place Concat planning reads it).
    pub concat_axis: Option<i64>,
    /// Input position the kernel receives by value ([`Kernel::run_consuming`]): an in-place
    /// Concat's first input, which no other step reads.
    pub consume: Option<usize>,
    /// The first f32 buffer of `.0` values this step takes gets room for `.1` values: the
    /// step produces the first input of an in-place Concat of that output size.
    pub room: Option<(usize, usize)>,
}

pub(crate) struct Plan {
    pub steps: Vec<Step>,
    pub n_slots: usize,
    /// Values known before any run: initializers and folded constants.
    pub consts: Vec<(usize, Arc<Tensor>)>,
    /// Inputs the caller must feed, with their slots.
    pub inputs: Vec<ValueInfo>,
    pub input_slots: Vec<usize>,
    /// Graph inputs that have an initializer as default value: the caller may override them.
    pub overridable: HashMap<String, usize>,
    pub outputs: Vec<ValueInfo>,
    pub output_slots: Vec<usize>,
    /// Shape of each slot when it is static (every dim known before any run): constants, and
    /// values shape inference resolves from fixed input dims. The basis for buffer planning.
    pub static_shapes: Vec<Option<Vec<usize>>>,
    /// Nodes evaluated at plan time.
    pub folded: usize,
    /// Concat steps planned in place (their first input's buffer becomes their output).
    pub in_place_concats: usize,
    /// Per-op-type wall time, when `ONNXIDE_PROFILE` is set (printed when the session drops).
    pub profile: Option<Profile>,
    /// Freed f32 intermediates go back to the run's buffer pool for the fast kernels (optimize).
    pub recycle: bool,
}

/// Time and calls, and for a node its last output shape.
type Timing = (std::time::Duration, usize, Vec<usize>);

/// Accumulated kernel time per op type, and per node (with the node's first output shape).
#[derive(Default)]
pub(crate) struct Profile {
    per_op: std::sync::Mutex<HashMap<String, Timing>>,
    per_node: std::sync::Mutex<HashMap<String, Timing>>,
}

/// Nodes listed by the profile report (the slowest).
const PROFILE_TOP_NODES: usize = 25;

impl Profile {
    fn record(&self, step: &Step, d: std::time::Duration, shape: Option<&[usize]>) {
        if let Ok(mut m) = self.per_op.lock() {
            let e = m.entry(step.op.clone()).or_default();
            e.0 += d;
            e.1 += 1;
        }
        if let Ok(mut m) = self.per_node.lock() {
            let e = m.entry(format!("{} ({})", step.name, step.op)).or_default();
            e.0 += d;
            e.1 += 1;
            if let Some(s) = shape {
                e.2 = s.to_vec();
            }
        }
    }

    pub fn report(&self) -> String {
        let Ok(m) = self.per_op.lock() else {
            return String::new();
        };
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1 .0));
        let total: f64 = v.iter().map(|(_, (d, _, _))| d.as_secs_f64()).sum();
        let mut s = format!("onnxide profile: {:.1} ms in kernels\n", total * 1e3);
        for (op, (d, n, _)) in v {
            s.push_str(&format!(
                "  {op:<24} {:>9.2} ms {:>6} calls\n",
                d.as_secs_f64() * 1e3,
                n
            ));
        }
        if let Ok(nodes) = self.per_node.lock() {
            let mut v: Vec<_> = nodes.iter().collect();
            v.sort_by_key(|e| std::cmp::Reverse(e.1 .0));
            s.push_str(&format!(
                "slowest {PROFILE_TOP_NODES} nodes (ms per call, output shape):\n"
            ));
            for (node, (d, n, shape)) in v.into_iter().take(PROFILE_TOP_NODES) {
                s.push_str(&format!(
                    "  {:>8.3} ms  {node}  {shape:?}\n",
                    d.as_secs_f64() * 1e3 / (*n).max(1) as f64
                ));
            }
        }
        s
    }
}

/// Every op the registry lacks, with the nodes using it, including nodes of subgraphs.
fn collect_missing(graph: &Graph, missing: &mut Vec<(String, Vec<String>)>) {
    for node in &graph.nodes {
        if registry::lookup(&node.domain, &node.op_type).is_none() {
            let op = if node.domain.is_empty() || node.domain == "ai.onnx" {
                node.op_type.clone()
            } else {
                format!("{}::{}", node.domain, node.op_type)
            };
            match missing.iter_mut().find(|(o, _)| *o == op) {
                Some((_, nodes)) => nodes.push(label(node)),
                None => missing.push((op, vec![label(node)])),
            }
        }
        for a in &node.attributes {
            match &a.value {
                AttrValue::Graph(g) => collect_missing(g, missing),
                AttrValue::Graphs(gs) => gs.iter().for_each(|g| collect_missing(g, missing)),
                _ => {}
            }
        }
    }
}

/// Plans `model`; fast kernels (with `optimize`) are built for `isa`.
pub(crate) fn build(
    model: &Model,
    options: &SessionOptions,
    isa: Isa,
) -> Result<Plan, RuntimeError> {
    // Every missing op, with every node that uses it, in one error.
    let mut missing: Vec<(String, Vec<String>)> = Vec::new();
    collect_missing(&model.graph, &mut missing);
    if !missing.is_empty() {
        return Err(RuntimeError::UnsupportedOps { missing });
    }
    build_graph(model, options, isa, &model.graph, None)
}

/// Plans `graph`. `captures` is `None` for the main graph; for a subgraph (If / Loop bodies) it
/// lists the outer-scope values the subgraph reads, which become extra inputs after the
/// subgraph's own formal inputs.
pub(crate) fn build_graph(
    model: &Model,
    options: &SessionOptions,
    isa: Isa,
    graph: &Graph,
    captures: Option<&[String]>,
) -> Result<Plan, RuntimeError> {
    let order = onnxide_ir::topo::order(graph).map_err(|e| RuntimeError::Graph(e.to_string()))?;

    let mut slot_of: HashMap<String, usize> = HashMap::new();
    let mut n_slots = 0usize;
    let mut new_slot = |name: &str, slot_of: &mut HashMap<String, usize>| -> usize {
        let s = n_slots;
        n_slots += 1;
        slot_of.insert(name.to_string(), s);
        s
    };
    // Constant value per slot (initializers, then folded values).
    let mut konst: HashMap<usize, Arc<Tensor>> = HashMap::new();
    let input_names: std::collections::HashSet<&str> =
        graph.inputs.iter().map(|v| v.name.as_str()).collect();
    let mut overridable = HashMap::new();
    for init in &graph.initializers {
        let s = new_slot(&init.name, &mut slot_of);
        if input_names.contains(init.name.as_str()) {
            overridable.insert(init.name.clone(), s);
        }
        konst.insert(s, Arc::new(init.tensor.clone()));
    }
    let mut inputs = Vec::new();
    let mut input_slots = Vec::new();
    match captures {
        None => {
            for vi in graph.real_inputs() {
                let s = new_slot(&vi.name, &mut slot_of);
                inputs.push(vi.clone());
                input_slots.push(s);
            }
        }
        Some(caps) => {
            // Formal parameters first, then the captured outer values.
            for vi in &graph.inputs {
                let s = new_slot(&vi.name, &mut slot_of);
                inputs.push(vi.clone());
                input_slots.push(s);
            }
            for name in caps {
                if slot_of.contains_key(name) {
                    continue; // shadowed by a local definition
                }
                let s = new_slot(name, &mut slot_of);
                inputs.push(ValueInfo {
                    name: name.clone(),
                    ty: ValueType::Unknown,
                    doc_string: String::new(),
                    metadata_props: Vec::new(),
                });
                input_slots.push(s);
            }
        }
    }

    let mut steps: Vec<Step> = Vec::new();
    let mut folded = 0usize;
    // Plan-time evaluation has a run of its own (its buffers end up in the constants).
    let fold_run = RunContext::default();
    for &ni in &order {
        let node = &graph.nodes[ni];
        // Values the node's subgraphs read from this scope come after its own inputs.
        let node_captures: Vec<String> = {
            let mut v: Vec<String> = Vec::new();
            for r in onnxide_ir::topo::node_reads(node) {
                if !node.inputs.iter().any(|i| i == r) && !v.iter().any(|x| x == r) {
                    v.push(r.to_string());
                }
            }
            v
        };
        let mut in_slots = Vec::with_capacity(node.inputs.len() + node_captures.len());
        for name in node.inputs.iter().chain(&node_captures) {
            if name.is_empty() {
                in_slots.push(None);
                continue;
            }
            match slot_of.get(name) {
                Some(&s) => in_slots.push(Some(s)),
                None => {
                    return Err(RuntimeError::Graph(format!(
                        "node {} reads '{name}', which no node, input or initializer provides",
                        node.label()
                    )))
                }
            }
        }
        // Overridable initializers are not constants for the plan.
        let is_const = |s: &usize| konst.contains_key(s) && !overridable.values().any(|o| o == s);
        let consts: Vec<Option<&Tensor>> = in_slots
            .iter()
            .map(|s| {
                s.filter(|s| is_const(s))
                    .and_then(|s| konst.get(&s))
                    .map(|a| &**a)
            })
            .collect();
        let all_const = in_slots.iter().all(|s| s.is_none_or(|s| is_const(&s)));
        let opset = model.opset_version(&node.domain).unwrap_or(1);
        let builder = eval::lookup(node)?;
        let node_err = |message: String| eval::node_error(node, message);
        let compile = |g: &Graph, caps: &[String]| -> Result<Arc<dyn Subgraph>, String> {
            build_graph(model, options, isa, g, Some(caps))
                .map(|plan| Arc::new(plan) as Arc<dyn Subgraph>)
                .map_err(|e| format!("subgraph '{}': {e}", g.name))
        };
        let ctx = BuildCtx {
            node,
            opset,
            consts: consts.clone(),
            captures: node_captures.clone(),
            compile: &compile,
            isa,
            exact: options.exact,
        };
        // With optimize: a fast kernel where one fits (it keeps the reference as fallback).
        let fast = if options.optimize {
            crate::fast::build(&ctx, builder).map_err(node_err)?
        } else {
            None
        };
        let kernel = match fast {
            Some(k) => k,
            None => builder(&ctx).map_err(node_err)?,
        };
        let out_slots: Vec<Option<usize>> = node
            .outputs
            .iter()
            .map(|o| (!o.is_empty()).then(|| new_slot(o, &mut slot_of)))
            .collect();
        if options.optimize && all_const && eval::is_deterministic(&node.op_type) {
            // The kernel the step would run (the fast one where there is one), evaluated now.
            let outs = eval::run_on_constants(node, &*kernel, &fold_run, &consts)?;
            for (s, t) in out_slots.iter().zip(outs) {
                if let Some(s) = s {
                    konst.insert(*s, Arc::new(t));
                }
            }
            folded += 1;
            continue;
        }
        steps.push(Step {
            name: label(node),
            op: node.op_type.clone(),
            kernel,
            inputs: in_slots,
            outputs: out_slots,
            free_after: Vec::new(),
            concat_axis: (node.op_type == "Concat"
                && (node.domain.is_empty() || node.domain == "ai.onnx"))
                .then(|| node.attr_int("axis"))
                .flatten(),
            consume: None,
            room: None,
        });
    }

    let mut outputs = Vec::new();
    let mut output_slots = Vec::new();
    for vi in &graph.outputs {
        match slot_of.get(&vi.name) {
            Some(&s) => {
                outputs.push(vi.clone());
                output_slots.push(s);
            }
            None => {
                return Err(RuntimeError::Graph(format!(
                    "graph output '{}' is not produced by any node, input or initializer",
                    vi.name
                )))
            }
        }
    }

    // Lifetimes: each non-constant, non-output slot is freed after its last reader.
    let mut last_use: HashMap<usize, usize> = HashMap::new();
    for (si, step) in steps.iter().enumerate() {
        for s in step.inputs.iter().flatten() {
            last_use.insert(*s, si);
        }
        // Outputs nobody reads are freed right after they are made.
        for s in step.outputs.iter().flatten() {
            last_use.entry(*s).or_insert(si);
        }
    }
    for (s, si) in last_use {
        if !output_slots.contains(&s) && !konst.contains_key(&s) {
            steps[si].free_after.push(s);
        }
    }

    // Static shapes: constants exactly; other values from shape inference when every dim is
    // fixed (inference failing is not an error: those values are simply dynamic).
    let mut static_shapes: Vec<Option<Vec<usize>>> = vec![None; n_slots];
    // Values inferred to be f32 (the element type in-place Concats handle).
    let mut is_f32 = vec![false; n_slots];
    let inferred = if captures.is_none() {
        onnxide_ir::infer::infer(model).ok()
    } else {
        None
    };
    if let Some(inferred) = inferred {
        for (name, &s) in &slot_of {
            is_f32[s] = inferred.elem(name) == Some(onnxide_ir::DType::F32);
            if let Some(dims) = inferred.shape(name) {
                static_shapes[s] = dims
                    .iter()
                    .map(|d| match d {
                        onnxide_ir::Dim::Fixed(v) => usize::try_from(*v).ok(),
                        _ => None,
                    })
                    .collect();
            }
        }
    }
    for (s, t) in &konst {
        static_shapes[*s] = Some(t.shape().to_vec());
    }

    let in_place_concats = plan_in_place_concats(&mut steps, &static_shapes, &output_slots, |s| {
        is_f32.get(s).copied().unwrap_or(false) && !konst.contains_key(&s)
    });

    let mut consts: Vec<(usize, Arc<Tensor>)> = konst.into_iter().collect();
    consts.sort_by_key(|(s, _)| *s);
    Ok(Plan {
        steps,
        n_slots,
        consts,
        inputs,
        input_slots,
        overridable,
        outputs,
        output_slots,
        static_shapes,
        folded,
        in_place_concats,
        profile: (captures.is_none() && std::env::var_os("ONNXIDE_PROFILE").is_some())
            .then(Profile::default),
        recycle: options.optimize,
    })
}

/// Plans Concats in place: a Concat whose first input is made by an earlier step, read by no
/// other step (once by the Concat), not a graph output, and an f32 non-constant value
/// (`candidate`), and whose output has static dims with size 1 before the axis (a batch-1 channel concat: the output is the
/// inputs one after another) receives that input by value and appends the others to it; the
/// producing step is asked for a buffer with room for the whole output, so the producer
/// writes straight into the first slice of the output. Returns how many were planned.
fn plan_in_place_concats(
    steps: &mut [Step],
    static_shapes: &[Option<Vec<usize>>],
    output_slots: &[usize],
    candidate: impl Fn(usize) -> bool,
) -> usize {
    let mut readers: HashMap<usize, usize> = HashMap::new();
    let mut producer: HashMap<usize, usize> = HashMap::new();
    for (si, step) in steps.iter().enumerate() {
        for s in step.inputs.iter().flatten() {
            *readers.entry(*s).or_default() += 1;
        }
        for s in step.outputs.iter().flatten() {
            producer.insert(*s, si);
        }
    }
    let mut planned = 0;
    for si in 0..steps.len() {
        let step = &steps[si];
        let (Some(axis), Some(Some(first)), Some(Some(out))) =
            (step.concat_axis, step.inputs.first(), step.outputs.first())
        else {
            continue;
        };
        let (first, out) = (*first, *out);
        if readers.get(&first) != Some(&1) || output_slots.contains(&first) || !candidate(first) {
            continue;
        }
        let Some(&p) = producer.get(&first).filter(|&&p| p < si) else {
            continue;
        };
        let (Some(Some(first_shape)), Some(Some(out_shape))) =
            (static_shapes.get(first), static_shapes.get(out))
        else {
            continue;
        };
        let Ok(ax) = crate::value::axis(axis, out_shape.len()) else {
            continue;
        };
        if numel(&out_shape[..ax]) != 1 {
            continue;
        }
        steps[si].consume = Some(0);
        if steps[p].room.is_none() {
            steps[p].room = Some((numel(first_shape), numel(out_shape)));
        }
        planned += 1;
    }
    planned
}

/// Runs the plan's steps over `slots` (inputs and constants already filled in).
pub(crate) fn execute(
    plan: &Plan,
    run: &RunContext,
    slots: &mut [Option<Arc<Tensor>>],
) -> Result<(), RuntimeError> {
    for step in &plan.steps {
        let err = |message: String| RuntimeError::from_kernel(&step.name, &step.op, message);
        crate::limits::check_cancelled().map_err(err)?;
        // An input handed over by value: taken out of its slot (no other step reads it).
        let consumed = step.consume.and_then(|i| {
            let s = step.inputs.get(i).copied().flatten()?;
            match Arc::try_unwrap(slots[s].take()?) {
                Ok(t) => Some((i, t)),
                Err(shared) => {
                    slots[s] = Some(shared);
                    None
                }
            }
        });
        let outs = {
            let mut ins: Vec<Option<&Tensor>> = Vec::with_capacity(step.inputs.len());
            for (i, s) in step.inputs.iter().enumerate() {
                match s {
                    None => ins.push(None),
                    Some(_) if consumed.as_ref().is_some_and(|(c, _)| *c == i) => ins.push(None),
                    Some(s) => match slots[*s].as_deref() {
                        Some(t) => ins.push(Some(t)),
                        None => return Err(err(format!("input slot {s} has no value"))),
                    },
                }
            }
            let t0 = plan.profile.as_ref().map(|_| std::time::Instant::now());
            run.set_room(step.room);
            let r = match consumed {
                Some((i, t)) => kernel::guarded(|| step.kernel.run_consuming(run, &ins, i, t)),
                None => kernel::run_guarded(&*step.kernel, run, &ins),
            };
            run.set_room(None);
            let r = r.map_err(err)?;
            if let (Some(t0), Some(prof)) = (t0, &plan.profile) {
                let shape = r.first().map(|t| t.shape());
                prof.record(step, t0.elapsed(), shape);
            }
            r
        };
        let mut outs = outs.into_iter();
        for (i, s) in step.outputs.iter().enumerate() {
            let t = outs.next();
            if let Some(s) = s {
                match t {
                    Some(t) => {
                        crate::limits::track_live(t.byte_size() as i128);
                        slots[*s] = Some(Arc::new(t));
                    }
                    None => return Err(err(format!("the op did not produce output {i}"))),
                }
            }
        }
        for s in &step.free_after {
            let freed = slots[*s].take();
            if let Some(t) = &freed {
                crate::limits::track_live(-(t.byte_size() as i128));
            }
            if plan.recycle {
                if let Some(t) = freed.and_then(|t| Arc::try_unwrap(t).ok()) {
                    run.recycle(t);
                }
            }
        }
    }
    Ok(())
}

/// Runs a (sub)plan on inputs given in `plan.inputs` order; returns its outputs in order.
pub(crate) fn run_with(
    plan: &Plan,
    run: &RunContext,
    feeds: Vec<Option<Arc<Tensor>>>,
) -> Result<Vec<Tensor>, RuntimeError> {
    let mut slots: Vec<Option<Arc<Tensor>>> = vec![None; plan.n_slots];
    for (s, t) in &plan.consts {
        slots[*s] = Some(t.clone());
    }
    for (s, t) in plan.input_slots.iter().zip(feeds) {
        slots[*s] = t;
    }
    // The subgraph's values are counted while it runs; what it returns, by the caller's step.
    let live = crate::limits::live();
    let result = execute(plan, run, &mut slots);
    crate::limits::set_live(live);
    result?;
    plan.outputs
        .iter()
        .zip(&plan.output_slots)
        .map(|(vi, &s)| {
            slots[s].clone().map(Arc::unwrap_or_clone).ok_or_else(|| {
                RuntimeError::Graph(format!("output '{}' was not computed", vi.name))
            })
        })
        .collect()
}

impl Subgraph for Plan {
    fn run(
        &self,
        run: &RunContext,
        feeds: Vec<Option<Arc<Tensor>>>,
    ) -> Result<Vec<Tensor>, RuntimeError> {
        run_with(self, run, feeds)
    }
    fn output_count(&self) -> usize {
        self.outputs.len()
    }
}
