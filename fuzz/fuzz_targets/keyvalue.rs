//! The CLI's key=value parser (compiled from the CLI's own source file) on arbitrary text:
//! whitespace-separated arguments against `export`'s keys, then every value parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/cli/src/keyvalue.rs"]
mod keyvalue;

const KEYS: [&str; 6] = ["model", "imgsz", "batch", "threads", "memory", "timeout"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<&str> = text.split_whitespace().collect();
    if let Ok(pairs) = keyvalue::parse(&args, &KEYS, &["half"]) {
        for (key, value) in pairs {
            let _ = keyvalue::parse_bool(key, value);
            let _ = keyvalue::parse_int(key, value);
            let _ = keyvalue::parse_count(key, value, 1);
            let _ = keyvalue::parse_bytes(key, value);
            let _ = keyvalue::parse_seconds(key, value);
            let _ = keyvalue::closest(value, &KEYS);
        }
    }
});
