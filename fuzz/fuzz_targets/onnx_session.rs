//! ONNX decoding, then `Session::new` and one run on small inputs, on arbitrary bytes: any
//! model must give an error or outputs, never a panic, an abort or a hang. The session gets a
//! 64 MB memory budget, 1,000 loop iterations, one thread and a 1 s deadline.
#![no_main]
use libfuzzer_sys::fuzz_target;
use onnxide_ir::{DType, Dim, Tensor, TensorData, ValueType};
use onnxide_runtime::{RunOptions, Session, SessionOptions};
use std::time::Duration;

/// A small input for `ty`: fixed dims up to 8 kept, larger ones and symbolic ones 2.
fn input(ty: &ValueType) -> Option<Tensor> {
    let ValueType::Tensor { elem, shape } = ty else {
        return None;
    };
    let dims: Vec<usize> = shape
        .as_ref()?
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) if *v <= 8 => *v as usize,
            _ => 2,
        })
        .collect();
    if dims.len() > 6 {
        return None;
    }
    let n: usize = dims.iter().product();
    let data = match (*elem)? {
        DType::F32 => TensorData::F32((0..n).map(|i| i as f32 * 0.5 - 1.0).collect()),
        DType::I64 => TensorData::I64((0..n).map(|i| i as i64 % 3).collect()),
        DType::I32 => TensorData::I32((0..n).map(|i| i as i32 % 3).collect()),
        DType::Bool => TensorData::Bool((0..n).map(|i| i % 2 == 0).collect()),
        DType::U8 => TensorData::U8((0..n).map(|i| i as u8).collect()),
        other => TensorData::zeros(other, n),
    };
    Tensor::new(dims, data).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = onnxide_ir::decode(data) else {
        return;
    };
    let options = SessionOptions {
        threads: Some(1),
        memory: Some(64 << 20),
        max_iterations: 1000,
        ..SessionOptions::default()
    };
    let Ok(session) = Session::new(&model, &options) else {
        return;
    };
    let mut feeds = Vec::new();
    for vi in session.inputs() {
        match input(&vi.ty) {
            Some(t) => feeds.push((vi.name.clone(), t)),
            None => return,
        }
    }
    let run = RunOptions {
        timeout: Some(Duration::from_secs(1)),
        ..RunOptions::default()
    };
    let _ = session.run_with(feeds, &run);
});
