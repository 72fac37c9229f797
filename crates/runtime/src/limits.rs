//! Resource limits a model cannot exceed (a leaf): the memory budget every tensor allocation
//! is checked against, the Loop/Scan iteration cap, and a run's deadline or cancel flag.
//!
//! The limits of the session being planned or run are installed on the thread that walks the
//! steps ([`enter`]); kernels reach them through [`alloc_elems`], [`try_vec`],
//! [`check_iterations`] and [`check_cancelled`]. A thread with no limits installed (a kernel's
//! parallel section) uses the defaults.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What one session (or one run) may use.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Bytes one run may hold in live tensors (each new tensor is checked before allocating).
    pub memory: u64,
    /// Iterations one Loop or Scan node may run.
    pub max_iterations: u64,
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: default_memory_budget(),
            max_iterations: DEFAULT_MAX_ITERATIONS,
            deadline: None,
            cancel: None,
        }
    }
}

/// Default cap on the iterations of one Loop or Scan node.
pub const DEFAULT_MAX_ITERATIONS: u64 = 10_000_000;

/// Half of the machine's physical memory (Linux `/proc/meminfo`), else 4 GiB.
pub fn default_memory_budget() -> u64 {
    static BUDGET: OnceLock<u64> = OnceLock::new();
    *BUDGET.get_or_init(|| physical_memory().map_or(4 << 30, |m| m / 2))
}

fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Why a limit stopped a kernel (read back by the planner to build the typed error).
#[derive(Clone, Debug)]
pub(crate) enum Stop {
    Memory {
        shape: Vec<usize>,
        bytes: Option<u64>,
        budget: u64,
    },
    Iterations {
        limit: u64,
    },
    Cancelled,
    Deadline,
}

struct State {
    limits: Limits,
    /// Bytes of the tensors the current run holds (kept by the planner's step loop).
    live: u64,
}

thread_local! {
    static CURRENT: RefCell<Option<State>> = const { RefCell::new(None) };
    static STOPPED: RefCell<Option<Stop>> = const { RefCell::new(None) };
}

/// Restores the previous limits of the thread when dropped.
pub(crate) struct Entered {
    previous: Option<State>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Installs `limits` on this thread until the guard is dropped.
pub(crate) fn enter(limits: Limits) -> Entered {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(State { limits, live: 0 }));
    Entered { previous }
}

fn with_limits<R>(f: impl FnOnce(&Limits, u64) -> R) -> R {
    CURRENT.with(|c| match &*c.borrow() {
        Some(s) => f(&s.limits, s.live),
        None => f(&Limits::default(), 0),
    })
}

/// Adds (or, negative, removes) bytes the current run holds.
pub(crate) fn track_live(delta: i128) {
    CURRENT.with(|c| {
        if let Some(s) = &mut *c.borrow_mut() {
            s.live = (s.live as i128 + delta).clamp(0, u64::MAX as i128) as u64;
        }
    });
}

/// Bytes the current run holds.
pub(crate) fn live() -> u64 {
    CURRENT.with(|c| c.borrow().as_ref().map_or(0, |s| s.live))
}

/// Resets the bytes the current run holds (after a subgraph returns).
pub(crate) fn set_live(bytes: u64) {
    CURRENT.with(|c| {
        if let Some(s) = &mut *c.borrow_mut() {
            s.live = bytes;
        }
    });
}

/// The stop a kernel recorded on this thread, if any (taken: a second call returns `None`).
pub(crate) fn take_stop() -> Option<Stop> {
    STOPPED.with(|s| s.borrow_mut().take())
}

fn stop(s: Stop, message: String) -> String {
    STOPPED.with(|c| *c.borrow_mut() = Some(s));
    message
}

/// Element count of a tensor of `shape` with `elem_bytes`-byte elements, checked: the count
/// and byte size must not overflow and must fit in the memory budget next to what the run
/// already holds. Call before allocating anything sized by a shape.
pub fn alloc_elems(shape: &[usize], elem_bytes: usize) -> Result<usize, String> {
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let bytes = n.and_then(|n| n.checked_mul(elem_bytes.max(1)));
    let bytes = bytes.and_then(|b| u64::try_from(b).ok());
    with_limits(|l, live| match (n, bytes) {
        (Some(n), Some(b)) if b.saturating_add(live) <= l.memory => Ok(n),
        _ => {
            let what = match bytes {
                Some(b) => format!("{b} bytes"),
                None => "more bytes than the address space holds".to_string(),
            };
            Err(stop(
                Stop::Memory {
                    shape: shape.to_vec(),
                    bytes,
                    budget: l.memory,
                },
                format!(
                    "a tensor of shape {shape:?} needs {what}, over the memory budget of {} bytes ({live} bytes in use)",
                    l.memory
                ),
            ))
        }
    })
}

/// An empty vector with room for `n` elements, from a count [`alloc_elems`] accepted;
/// allocation failure is an error, not an abort.
pub fn try_vec<T>(n: usize) -> Result<Vec<T>, String> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| format!("could not allocate {n} elements: {e}"))?;
    Ok(v)
}

/// A checked, reserved vector for a tensor of `shape`.
pub fn vec_for<T>(shape: &[usize]) -> Result<Vec<T>, String> {
    let n = alloc_elems(shape, std::mem::size_of::<T>())?;
    try_vec(n)
}

/// Fails when a Loop/Scan node would run more than the allowed iterations.
pub fn check_iterations(n: u64) -> Result<(), String> {
    with_limits(|l, _| {
        if n > l.max_iterations {
            Err(stop(
                Stop::Iterations {
                    limit: l.max_iterations,
                },
                format!(
                    "{n} iterations exceed the limit of {} (SessionOptions::max_iterations)",
                    l.max_iterations
                ),
            ))
        } else {
            Ok(())
        }
    })
}

/// Fails when the run's deadline passed or its cancel flag is set.
pub fn check_cancelled() -> Result<(), String> {
    with_limits(|l, _| {
        if l.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(stop(Stop::Cancelled, "the run was cancelled".into()));
        }
        if l.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(stop(Stop::Deadline, "the run passed its deadline".into()));
        }
        Ok(())
    })
}
