//! Arbitrary text as a rulebook: loading must answer with a rulebook or
//! diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hutong::engine::kinds::parse("fuzz.toml", text);
    }
});
