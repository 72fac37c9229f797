//! Recycled f32 buffers for large intermediates.
//!
//! A freshly allocated large `Vec` comes from `mmap`, so every run would page-fault its
//! intermediates in again (at batch 8 that was ~115 K faults and ~0.3 s of kernel time per
//! YOLO11n run). Instead, the step loop hands each large f32 tensor it frees back here
//! ([`recycle`]) and the fast kernels take their outputs from here ([`take`]): after the
//! first run, intermediates reuse the pages of earlier ones.
//!
//! The pool is per thread (the step loop runs on one thread of the session's pool) and
//! bounded in bytes, so it never holds more than a few runs' worth of unused buffers.

use onnxide_ir::{Tensor, TensorData};
use std::cell::RefCell;

/// Buffers below this many f32 values are left to the allocator.
const MIN_LEN: usize = 1 << 14;

/// Bytes of idle buffers a thread keeps.
const MAX_IDLE_BYTES: usize = 768 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A zeroed buffer of `len` values, reusing an idle buffer of capacity in `[len, 2·len]`.
pub(crate) fn take(len: usize) -> Vec<f32> {
    if len >= MIN_LEN {
        let reused = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let best = p
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            best.map(|i| p.swap_remove(i))
        });
        if let Some(mut v) = reused {
            v.clear();
            v.resize(len, 0.0);
            return v;
        }
    }
    vec![0f32; len]
}

/// Keeps the storage of a tensor the step loop no longer needs.
pub(crate) fn recycle(t: Tensor) {
    let (_, data) = t.into_parts();
    if let TensorData::F32(v) = data {
        if v.capacity() >= MIN_LEN {
            POOL.with(|p| {
                let mut p = p.borrow_mut();
                let idle: usize = p.iter().map(|b| b.capacity() * 4).sum();
                if idle + v.capacity() * 4 <= MAX_IDLE_BYTES {
                    p.push(v);
                }
            });
        }
    }
}
