//! The torch zip checkpoint reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = onnxide_weights::load_pt_from_bytes(std::path::Path::new("fuzz.pt"), data);
});
