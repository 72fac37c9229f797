//! The restricted pickle machine on arbitrary bytes (storages always accepted, so
//! tensor rebuilding and JSON conversion are reached too).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = onnxide_weights::fuzzing::unpickle(data);
});
