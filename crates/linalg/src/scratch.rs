//! Per-thread scratch buffers: the only memory kernels use beyond their inputs and outputs.
//! They grow to the largest request seen on that thread and are then reused, so a steady
//! stream of inferences allocates nothing.
//!
//! A closure given a buffer must not call into rayon: a worker that blocks in a nested
//! parallel call may run another task on the same thread, which would find its buffer taken.

use std::cell::RefCell;

/// One cache line of floats, so that buffers start 64-byte aligned (full-zmm loads from a
/// packed panel never straddle two lines).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; 16]);

thread_local! {
    static PANEL: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    static ROWS: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

fn with_buffer<R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<Line>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| {
        let mut lines = cell.borrow_mut();
        let needed = len.div_ceil(16);
        if lines.len() < needed {
            lines.resize(needed, Line([0.0; 16]));
        }
        let floats: &mut [f32] = {
            let ptr = lines.as_mut_ptr() as *mut f32;
            // SAFETY: `Line` is `repr(C)` around `[f32; 16]` with no padding (64 bytes, align
            // 64), so `needed` lines are `needed·16` initialised, exclusively borrowed floats.
            unsafe { std::slice::from_raw_parts_mut(ptr, needed * 16) }
        };
        f(&mut floats[..len])
    })
}

/// A 64-byte aligned buffer for packed GEMM panels.
pub(crate) fn with_panel_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_buffer(&PANEL, len, f)
}

/// A buffer for row-wise intermediates (pooling, depthwise); independent of the panel one.
pub(crate) fn with_row_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_buffer(&ROWS, len, f)
}

thread_local! {
    static STAGING_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static STAGING_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Two per-thread buffers for data that a whole parallel operation shares (a padded copy
/// of a convolution input, a staging output), held by the calling thread *across* rayon
/// calls. If this thread is already using them — a worker that, while waiting inside a
/// nested parallel call, picked up another such operation — fresh buffers are allocated
/// instead, so re-entrancy costs an allocation, never a panic.
pub(crate) fn with_staging<R>(
    len_a: usize,
    len_b: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> R,
) -> R {
    STAGING_A.with(|a| {
        STAGING_B.with(|b| match (a.try_borrow_mut(), b.try_borrow_mut()) {
            (Ok(mut a), Ok(mut b)) => {
                if a.len() < len_a {
                    a.resize(len_a, 0.0);
                }
                if b.len() < len_b {
                    b.resize(len_b, 0.0);
                }
                f(&mut a[..len_a], &mut b[..len_b])
            }
            _ => f(&mut vec![0.0; len_a], &mut vec![0.0; len_b]),
        })
    })
}
