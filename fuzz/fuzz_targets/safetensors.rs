//! The safetensors reader (and its metadata convention) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.safetensors");
    if let Ok(ck) = onnxide_weights::load_safetensors_from_bytes(path, data) {
        for (_, t) in &ck.tensors {
            let _ = t.to_f32();
        }
    }
});
