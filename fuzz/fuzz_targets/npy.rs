//! The `.npy` reader on arbitrary bytes (and writing back what it read).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = onnxide_ir::npy::parse(data) {
        let _ = onnxide_ir::npy::to_bytes(&t);
    }
});
