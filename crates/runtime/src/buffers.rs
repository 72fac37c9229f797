//! Recycled f32 buffers for large intermediates, one pool per run context.
//!
//! A freshly allocated large `Vec` comes from `mmap`, so every run would page-fault its
//! intermediates in again (at batch 8 that was ~115 K faults and ~0.3 s of kernel time per
//! YOLO11n run). Instead, the fast kernels take their outputs from here ([`BufferPool::take`]) and the
//! step loop hands the tensors it frees back ([`BufferPool::recycle`]): after the first run,
//! intermediates reuse the pages of earlier ones.
//!
//! Buffers have size-class capacities (four classes per octave, ≤ 25 % slack); a request
//! reuses an idle buffer of exactly its class. To keep peak memory at the level of the live
//! tensors, the pool learns each class's demand from the previous run (takes per run, and
//! the deficit at the run's start) and keeps a freed buffer only while a later take of its
//! class is still expected; [`BufferPool::end_run`] trims what the next run will not need.
//! A pool belongs to one run at a time (the session keeps the idle ones between runs), so
//! concurrent runs and other sessions never share, or disturb the statistics of, a pool.

use onnxide_ir::{Tensor, TensorData};
use std::collections::HashMap;

/// Buffers below this many f32 values (16 MiB) are left to the allocator: glibc serves
/// them from its heap once its dynamic mmap threshold has grown, and pooling them only
/// raised peak memory (YOLO11n batch 1: +30 MB, no speed-up). Above it, batch 8: 975 ->
/// 770 ms per run at 1 thread, peak RSS 277 -> 481 MB (onnxruntime: 533 MB).
const MIN_LEN: usize = 1 << 22;

#[derive(Default)]
struct Class {
    idle: Vec<Vec<f32>>,
    /// This run: takes so far, and the most takes ahead of recycles.
    takes: usize,
    recycled: usize,
    deficit: usize,
    /// The previous run: total takes, and the deficit at its peak.
    last_takes: usize,
    last_deficit: usize,
}

/// Idle buffers by size class, and what each class was asked for.
#[derive(Default)]
pub(crate) struct BufferPool {
    classes: HashMap<usize, Class>,
}

/// `len` rounded up to the next size class: a multiple of 1/4 of its power of two.
fn class(len: usize) -> usize {
    let top = usize::BITS - 1 - len.leading_zeros();
    let step = 1usize << top.saturating_sub(2);
    len.div_ceil(step) * step
}

impl BufferPool {
    /// A zeroed buffer of `len` values, reusing an idle buffer of its size class.
    pub(crate) fn take(&mut self, len: usize) -> Vec<f32> {
        if len < MIN_LEN {
            return vec![0f32; len];
        }
        let c = class(len);
        let k = self.classes.entry(c).or_default();
        k.takes += 1;
        k.deficit = k.deficit.max(k.takes.saturating_sub(k.recycled));
        let mut v = k.idle.pop().unwrap_or_else(|| Vec::with_capacity(c));
        v.clear();
        v.resize(len, 0.0);
        v
    }

    /// An empty buffer with room for `len` values (at least), for a kernel that fills it by
    /// appending: an idle buffer of its size class when large, a fresh allocation otherwise.
    pub(crate) fn take_empty(&mut self, len: usize) -> Vec<f32> {
        if len < MIN_LEN {
            return Vec::with_capacity(len);
        }
        let mut v = self.take(len);
        v.clear();
        v
    }

    /// Whether a buffer of `capacity` values is left to the allocator (not pooled): the
    /// planner's extra room for an in-place Concat is given only to those, so a pooled size
    /// class never holds buffers of another length.
    pub(crate) fn unpooled(capacity: usize) -> bool {
        capacity < MIN_LEN
    }

    /// Keeps the storage of a tensor the step loop no longer needs, if a take of its size
    /// class is still expected (later in this run, or at the start of the next).
    pub(crate) fn recycle(&mut self, t: Tensor) {
        let (_, data) = t.into_parts();
        if let TensorData::F32(v) = data {
            let c = v.capacity();
            if c >= MIN_LEN && class(c) == c {
                if let Some(k) = self.classes.get_mut(&c) {
                    k.recycled += 1;
                    let expected =
                        k.last_takes.max(k.takes).saturating_sub(k.takes) + k.last_deficit;
                    if k.idle.len() < expected {
                        k.idle.push(v);
                    }
                }
            }
        }
    }

    /// Ends a run: remembers each class's demand and trims idle buffers to what the next run
    /// needs before its first recycle.
    pub(crate) fn end_run(&mut self) {
        for k in self.classes.values_mut() {
            k.last_takes = k.takes;
            k.last_deficit = k.deficit;
            k.idle.truncate(k.deficit);
            (k.takes, k.recycled, k.deficit) = (0, 0, 0);
        }
        self.classes
            .retain(|_, k| k.last_takes > 0 || !k.idle.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_requests_with_bounded_slack() {
        for len in [
            MIN_LEN,
            MIN_LEN + 1,
            100_000,
            1 << 20,
            (1 << 20) + 1,
            13_107_200,
            7,
        ] {
            let c = class(len);
            assert!(c >= len && c <= len + len / 2, "{len} -> {c}");
            assert_eq!(class(c), c, "a class is its own class");
            let v = BufferPool::default().take(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
